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

now_ns() { date +%s%N; }

# median of the arguments (integers)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

measure() { # name, command...
  local name=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(now_ns)
    (cd "$tmp/work" && "$@" </dev/null >/dev/null 2>&1) || true
    e=$(now_ns)
    times+=($(( (e - s) / 1000000 )))
  done
  median "${times[@]}"
}

declare -a names results
run() { names+=("$1"); results+=("$(measure "$@")"); }

run "bare" ./agent.sh
run "flightlog record (all layers)" "$BIN" record -- ./agent.sh
run "flightlog record --no-watch --no-proxy" "$BIN" record --no-watch --no-proxy -- ./agent.sh
run "flightlog record --no-trace" "$BIN" record --no-trace -- ./agent.sh
if command -v strace >/dev/null; then
  run "strace -f -e trace=execve" strace -f -o /dev/null -e trace=execve ./agent.sh
  run "strace -f --seccomp-bpf -e trace=execve" strace -f --seccomp-bpf -o /dev/null -e trace=execve ./agent.sh
fi

bare=${results[0]}
echo
echo "$N short commands, median of $RUNS runs ($(basename "$BIN") at $BIN)"
printf '%-42s %10s %8s\n' "configuration" "wall ms" "x bare"
for i in "${!names[@]}"; do
  printf '%-42s %10s %8s\n' "${names[$i]}" "${results[$i]}" "$(awk -v a="${results[$i]}" -v b="$bare" 'BEGIN {printf "%.2f", a/b}')"
done
