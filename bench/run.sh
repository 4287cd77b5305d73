#!/usr/bin/env bash
# Runs every benchmark and writes BENCHMARKS.md: one table per area, each figure beside the
# anchor that gives it meaning and the target from PRODUCT.md section 4.
#
#   bench/run.sh                  # full sizes (1M-event sessions; about 10 minutes on 2 cores)
#   QUICK=1 bench/run.sh          # smaller sizes, for a smoke run
#
# Comparisons use strace (apt-get install strace) and asciinema (pip install asciinema) when
# they are installed.
#
# Benchmarks never run as tests. Numbers depend on the machine and its load: the table records
# both, and the load average when each part ran.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
out=${OUT:-BENCHMARKS.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ -n "${QUICK:-}" ]]; then
  export FLIGHTLOG_BENCH_EVENTS=200000 FLIGHTLOG_BENCH_RUNS=100 RUNS=3
else
  export FLIGHTLOG_BENCH_EVENTS=${FLIGHTLOG_BENCH_EVENTS:-1000000} FLIGHTLOG_BENCH_RUNS=${FLIGHTLOG_BENCH_RUNS:-500} RUNS=${RUNS:-5}
fi
export FLIGHTLOG_BENCH_DIR=$tmp

echo "== building (release)" >&2
cargo build --release --workspace --quiet
export FLIGHTLOG_BIN=$here/target/release/flightlog

load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== ratios against anchors in the same run" >&2
l0=$(load)
bench/ratios.sh > "$tmp/ratios.md"

echo "== store: appends, verify, anchors" >&2
l1=$(load)
FLIGHTLOG_BENCH_TABLE=$tmp/store.md cargo bench --quiet -p flightlog-formats --bench store >/dev/null
echo "== whole process: hook, import" >&2
l2=$(load)
FLIGHTLOG_BENCH_TABLE=$tmp/process.md cargo bench --quiet -p flightlog-tests --bench process >/dev/null
echo "== record overhead" >&2
l3=$(load)
bench/record_overhead.sh > "$tmp/record.md"
echo "== replay on a large session" >&2
l4=$(load)
cargo bench --quiet -p flightlog-viewer --bench replay > "$tmp/replay.md" 2>/dev/null
echo "== catalogue decision" >&2
l6=$(load)
cargo bench --quiet -p flightlog-analysis --bench decision > "$tmp/decision.md" 2>/dev/null
echo "== peak memory" >&2
l5=$(load)
mem() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
db=$tmp/mem.db
transcript=$here/../shared/data/claude-code/4d5611e5-241a-462a-8d15-5122611a9569.jsonl
imp_kb=$(mem "$FLIGHTLOG_BIN" --db "$db" import claude-code "$transcript")
ver_kb=$(mem "$FLIGHTLOG_BIN" --db "$db" verify --all)
hook_kb=$(echo '{"session_id":"m","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t","tool_input":{"command":"ls"}}' | /usr/bin/time -f '%M' "$FLIGHTLOG_BIN" --db "$db" hook claude-code 2>&1 >/dev/null | tail -1)

{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bench/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), rustc $(rustc --version | cut -d' ' -f2)."
  echo "Targets are PRODUCT.md section 4. Load averages show what else the machine was doing."
  echo
  echo "## Ratios against anchors measured in the same run ($(date -u +%Y-%m-%d), load $l0 on $(nproc) cores)"
  echo
  echo "\`bench/ratios.sh\` (RUNS=$RUNS; \`DCG=path\` adds dcg's hook on the same payload). Every flightlog"
  echo "figure is beside an anchor timed in the same run, interleaved with it."
  echo
  cat "$tmp/ratios.md"
  echo
  echo "## Store (load $l1)"
  echo
  echo "\`cargo bench -p flightlog-formats --bench store\` (FLIGHTLOG_BENCH_EVENTS=$FLIGHTLOG_BENCH_EVENTS)"
  echo
  echo "| what | result | anchor |"
  echo "|---|---|---|"
  cat "$tmp/store.md"
  echo
  echo "## Whole process (load $l2)"
  echo
  echo "\`cargo bench -p flightlog-tests --bench process\` ($FLIGHTLOG_BENCH_RUNS runs each)"
  echo
  echo "| what | median | p99 | anchor |"
  echo "|---|---|---|---|"
  cat "$tmp/process.md"
  echo
  echo "## record overhead (load $l3)"
  echo
  echo "\`bench/record_overhead.sh\`"
  echo
  cat "$tmp/record.md"
  echo
  echo "## Replay on a large session (load $l4)"
  echo
  echo "\`cargo bench -p flightlog-viewer --bench replay\`"
  echo
  cat "$tmp/replay.md"
  echo
  echo "## Catalogue decision (load $l6)"
  echo
  echo "\`cargo bench -p flightlog-analysis --bench decision\` ($FLIGHTLOG_BENCH_RUNS runs)"
  echo
  cat "$tmp/decision.md"
  echo
  echo "## Peak memory (load $l5)"
  echo
  echo "| command | max RSS |"
  echo "|---|---|"
  echo "| \`flightlog import claude-code\` (3 MB transcript) | $((imp_kb / 1024)) MB |"
  echo "| \`flightlog verify --all\` (that store) | $((ver_kb / 1024)) MB |"
  echo "| \`flightlog hook claude-code\` | $((hook_kb / 1024)) MB |"
  echo
  # Hand-written notes (targets held or not, what limits them, improvements) are kept.
  if [[ -f "$out" ]] && grep -q '^<!-- notes -->' "$out"; then
    sed -n '/^<!-- notes -->/,$p' "$out"
  else
    echo "<!-- notes -->"
  fi
} > "$out.new"
mv "$out.new" "$out"
echo "wrote $out" >&2
