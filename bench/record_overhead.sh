#!/usr/bin/env bash
# Overhead of `flightlog record` on an exec-heavy script: N short commands (default 1,000),
# bare vs under `flightlog record` (all layers, and ptrace only) vs strace.
#
#   bench/record_overhead.sh            # uses target/release/flightlog if built, else debug
#   N=2000 RUNS=5 FLIGHTLOG_BIN=/path/to/flightlog bench/record_overhead.sh
#
# Each configuration runs RUNS times (default 5); the table shows the median wall time and the
# ratio to bare. stdin is /dev/null, so the recorder uses pipes (no PTY).
set -euo pipefail

N=${N:-1000}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${FLIGHTLOG_BIN:-}
if [[ -z "$BIN" ]]; then
  if [[ -x "$here/target/release/flightlog" ]]; then BIN="$here/target/release/flightlog"
  else BIN="$here/target/debug/flightlog"; fi
fi
[[ -x "$BIN" ]] || { echo "no flightlog binary at $BIN (cargo build --release)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/work"
cat > "$tmp/work/agent.sh" <<SH
#!/bin/sh
i=0
while [ \$i -lt $N ]; do /bin/true; i=\$((i+1)); done
SH
chmod +x "$tmp/work/agent.sh"
export FLIGHTLOG_DB="$tmp/db/flightlog.db"

# median of the arguments (integers)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# Runs a configuration RUNS times; prints "wall_ms cpu_ms" (medians). CPU is user+system time
# of the whole process tree (tracer included), less sensitive to other load than wall time.
measure() {
  local walls=() cpus=()
  for _ in $(seq "$RUNS"); do
    local out
    out=$(cd "$tmp/work" && /usr/bin/time -f '%e %U %S' "$@" </dev/null 2>&1 >/dev/null | tail -1)
    read -r e u s <<<"$out"
    walls+=("$(awk -v e="$e" 'BEGIN {printf "%d", e*1000}')")
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%d", (u+s)*1000}')")
  done
  echo "$(median "${walls[@]}") $(median "${cpus[@]}")"
}

declare -a names walls cpus
run() {
  local name=$1; shift
  local r; r=$(measure "$@")
  names+=("$name"); walls+=("${r% *}"); cpus+=("${r#* }")
}

run "bare" ./agent.sh
run "flightlog record (all layers)" "$BIN" record -- ./agent.sh
run "flightlog record --no-watch --no-proxy" "$BIN" record --no-watch --no-proxy -- ./agent.sh
run "flightlog record --no-trace" "$BIN" record --no-trace -- ./agent.sh
if command -v strace >/dev/null; then
  run "strace -f -e trace=execve" strace -f -o /dev/null -e trace=execve ./agent.sh
  run "strace -f --seccomp-bpf -e trace=execve" strace -f --seccomp-bpf -o /dev/null -e trace=execve ./agent.sh
fi
# A peer that does part of the job: asciinema records the terminal only (pip install asciinema).
if command -v asciinema >/dev/null; then
  run "asciinema rec (terminal only, peer)" asciinema rec --quiet --overwrite -c ./agent.sh "$tmp/peer.cast"
fi

echo
echo "$N short commands, median of $RUNS runs, $BIN"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-42s %9s %7s %9s %7s\n' "configuration" "wall ms" "x bare" "cpu ms" "x bare"
for i in "${!names[@]}"; do
  printf '%-42s %9s %7s %9s %7s\n' "${names[$i]}" "${walls[$i]}" \
    "$(awk -v a="${walls[$i]}" -v b="${walls[0]}" 'BEGIN {printf "%.2f", a/b}')" "${cpus[$i]}" \
    "$(awk -v a="${cpus[$i]}" -v b="${cpus[0]}" 'BEGIN {printf "%.2f", a/b}')"
done
