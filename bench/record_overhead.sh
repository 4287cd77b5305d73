#!/usr/bin/env bash
# Overhead of `flightlog record` on an exec-heavy script: N short commands (default 1,000),
# bare vs under `flightlog record` (all layers, and ptrace only) vs strace, and the floors of
# bench/trace_floor.c (tracers that do no work of their own; x86_64, needs cc).
#
#   bench/record_overhead.sh            # uses target/release/flightlog if built, else debug
#   N=2000 RUNS=5 FLIGHTLOG_BIN=/path/to/flightlog bench/record_overhead.sh
#
# RUNS rounds (default 5), each running every configuration once; the table shows median wall
# and CPU times and the median of the per-round ratios to bare. stdin is /dev/null, so the recorder uses pipes (no PTY).
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

# One timed run: prints "wall_ms cpu_ms". CPU is user+system time of the whole process tree
# (tracer included), less sensitive to other load than wall time.
once() {
  local out
  out=$(cd "$tmp/work" && /usr/bin/time -f '%e %U %S' "$@" </dev/null 2>&1 >/dev/null | tail -1)
  read -r e u s <<<"$out"
  echo "$(awk -v e="$e" 'BEGIN {printf "%d", e*1000}') $(awk -v u="$u" -v s="$s" 'BEGIN {printf "%d", (u+s)*1000}')"
}

# The configurations, in order; the first is the baseline.
declare -a names cmds
add() { names+=("$1"); shift; cmds+=("$*"); }
add "bare" ./agent.sh
add "flightlog record (all layers)" "$BIN" record -- ./agent.sh
add "flightlog record --no-watch --no-proxy" "$BIN" record --no-watch --no-proxy -- ./agent.sh
add "flightlog record --no-trace" "$BIN" record --no-trace -- ./agent.sh
if command -v strace >/dev/null; then
  add "strace -f -e trace=execve" strace -f -o /dev/null -e trace=execve ./agent.sh
  add "strace -f --seccomp-bpf -e trace=execve" strace -f --seccomp-bpf -o /dev/null -e trace=execve ./agent.sh
fi
# Floors: tracers that follow every descendant and do no work of their own
# (bench/trace_floor.c, when a C compiler is there): the stops flightlog's tracer takes; a
# seccomp filter that stops at execve/execveat only, with the fork events that keep
# descendants traced; and no ptrace at all, execve and exit_group as seccomp user
# notifications. Each prints its stop counts to stderr.
if [[ $(uname -m) == x86_64 ]] && command -v cc >/dev/null && cc -O2 -o "$tmp/trace_floor" "$here/bench/trace_floor.c" 2>/dev/null; then
  add "floor: ptrace fork and exec events" "$tmp/trace_floor" events ./agent.sh
  add "floor: ptrace seccomp execve, fork events" "$tmp/trace_floor" seccomp ./agent.sh
  add "floor: seccomp notify execve, exit_group" "$tmp/trace_floor" notify ./agent.sh
fi
# A peer that does part of the job: asciinema records the terminal only (pip install asciinema).
if command -v asciinema >/dev/null; then
  add "asciinema rec (terminal only, peer)" asciinema rec --quiet --overwrite -c ./agent.sh "$tmp/peer.cast"
fi

# Rounds interleave the configurations (bare, A, B, ..., bare, A, B, ...), so a slow spell of
# the machine hits every configuration alike; each ratio is the median of the per-round ratios
# to that round's bare run.
declare -A wall cpu ratio cratio
for r in $(seq "$RUNS"); do
  bw=0; bc=0
  for i in "${!names[@]}"; do
    read -r w c <<<"$(once ${cmds[$i]})"
    wall[$i]+="$w "; cpu[$i]+="$c "
    if [[ $i == 0 ]]; then bw=$w; bc=$c; fi
    ratio[$i]+="$(awk -v a="$w" -v b="$bw" 'BEGIN {printf "%d", a*1000/b}') "
    cratio[$i]+="$(awk -v a="$c" -v b="$bc" 'BEGIN {printf "%d", a*1000/(b>0?b:1)}') "
  done
done

echo
echo "$N short commands, $RUNS interleaved rounds (medians), $BIN"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-42s %9s %7s %9s %7s\n' "configuration" "wall ms" "x bare" "cpu ms" "x bare"
for i in "${!names[@]}"; do
  # shellcheck disable=SC2086
  printf '%-42s %9s %7s %9s %7s\n' "${names[$i]}" "$(median ${wall[$i]})" \
    "$(awk -v r="$(median ${ratio[$i]})" 'BEGIN {printf "%.2f", r/1000}')" "$(median ${cpu[$i]})" \
    "$(awk -v r="$(median ${cratio[$i]})" 'BEGIN {printf "%.2f", r/1000}')"
done
