#!/usr/bin/env bash
# One table of ratios: each flightlog figure beside an anchor measured in the same run, and the
# target of issue 18 / PRODUCT.md section 4 as a ratio or a bound.
#
#   nice -n 10 bench/ratios.sh                 # uses target/release/flightlog (cargo build --release)
#   DCG=/path/to/dcg RUNS=31 bench/ratios.sh   # with dcg's hook as a peer on the same payload
#   DCG=$(bench/install-dcg.sh) bench/ratios.sh    # dcg installed at a pinned version
#   FLIGHTLOG_BENCH_EVENTS=200000 bench/ratios.sh   # a smaller verify store (default 1,000,000)
#   PG_EVENTS=1000000 bench/ratios.sh               # the team-store session's size (default 200,000)
#
# Anchors: a bare process start (/bin/true, same stdin), the least a durable hook can do
# (bench/hook_floor.c), the least a hook writing into SQLite can do (bench/sqlite_floor.c),
# dcg (when DCG is given), binary COPY into PostgreSQL for the push, SQLite for the replay, strace and
# asciinema on the same 1,000-command script, sha256sum over the same bytes as verify, and a
# plain SQLite insert loop on the same disk (from `cargo bench -p flightlog-formats --bench
# store`, run once here). Process figures are medians of RUNS interleaved rounds (bare, hook,
# dcg, bare, hook, dcg, ...), so a slow spell of the machine hits each alike; a ratio is the
# ratio of the medians. Prints a Markdown table on stdout, progress on stderr.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-21}
N=${N:-1000}
BIN=${FLIGHTLOG_BIN:-$here/target/release/flightlog}
[[ -x "$BIN" ]] || { echo "no flightlog binary at $BIN (cargo build --release)" >&2; exit 2; }
transcript=${TRANSCRIPT:-$here/../shared/data/claude-code/4d5611e5-241a-462a-8d15-5122611a9569.jsonl}
[[ -f "$transcript" ]] || { echo "no transcript at $transcript (set TRANSCRIPT)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
real_home=$HOME # cargo and rustup live there
export HOME=$tmp/home XDG_DATA_HOME=$tmp/home/data
mkdir -p "$HOME" "$tmp/work"
unset FLIGHTLOG_SESSION FLIGHTLOG_POLICY FLIGHTLOG_GUARD

# Microseconds one command takes (bash's own clock: no process of its own around it).
us() {
  local s=$EPOCHREALTIME e
  "$@" >/dev/null 2>&1 || true
  e=$EPOCHREALTIME
  echo $(( 10#${e/./} - 10#${s/./} ))
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.2f ms", u/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
holds() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN {print (a/b <= r ? "yes" : "**no**")}'; }

# --- the payload and the script ---------------------------------------------------------------
payload=$tmp/pre.json
printf '%s' '{"session_id":"bench","transcript_path":"/t.jsonl","cwd":"/w","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"npm test","description":"Run test suite"},"tool_use_id":"toolu_01"}' > "$payload"
cat > "$tmp/work/agent.sh" <<SH
#!/bin/sh
i=0
while [ \$i -lt $N ]; do /bin/true; i=\$((i+1)); done
SH
chmod +x "$tmp/work/agent.sh"

hookdb=$tmp/hook.db
guarddb=$tmp/guard.db
hook() { "$BIN" --db "$hookdb" hook claude-code < "$payload"; }
hook_guard() { FLIGHTLOG_GUARD=1 "$BIN" --db "$guarddb" hook claude-code < "$payload"; }
bare() { /bin/true < "$payload"; }
dcg() { "$DCG" < "$payload"; }
hook; hook_guard # the stores exist before the first timed run
# The least a durable hook can do (bench/hook_floor.c: read stdin, append 1 KB, fdatasync), when a
# C compiler is there: what any process that makes one write durable pays on this disk.
floor_bin=
if command -v cc >/dev/null && cc -O2 -o "$tmp/hook_floor" "$here/bench/hook_floor.c" 2>/dev/null; then
  floor_bin=$tmp/hook_floor
fi
floor() { "$floor_bin" "$tmp/floor.log" < "$payload"; }
# The least a hook that keeps its events in SQLite can do (bench/sqlite_floor.c: open the store
# set up as flightlog's, insert the payload as one row, commit), built against the SQLite
# amalgamation that rusqlite bundles: the same SQLite as flightlog's, with the same DIRSYNC flag.
sqlite_bin=
sqlite_ver=$(awk '/^name = "libsqlite3-sys"/ {getline; gsub(/"/, "", $3); print $3}' "$here/Cargo.lock")
amalgamation=$(ls -d "${CARGO_HOME:-$real_home/.cargo}"/registry/src/*/"libsqlite3-sys-$sqlite_ver"/sqlite3 2>/dev/null | head -1)
# Compiled once per SQLite version and source (a minute or two) and kept in the cache.
cached=${XDG_CACHE_HOME:-$real_home/.cache}/flightlog/sqlite_floor-$sqlite_ver-$(cksum < "$here/bench/sqlite_floor.c" | cut -d' ' -f1)
if [[ -x "$cached" ]]; then
  sqlite_bin=$cached
elif [[ -n "$amalgamation" ]] && command -v cc >/dev/null; then
  echo "== compiling bench/sqlite_floor.c against SQLite from libsqlite3-sys $sqlite_ver" >&2
  mkdir -p "$(dirname "$cached")"
  if cc -O2 -DSQLITE_DISABLE_DIRSYNC -DSQLITE_THREADSAFE=1 -I "$amalgamation" -o "$cached.tmp" \
    "$here/bench/sqlite_floor.c" "$amalgamation/sqlite3.c" -lpthread -ldl -lm 2>/dev/null; then
    mv "$cached.tmp" "$cached"
    sqlite_bin=$cached
  fi
fi
sqlite_floor() { "$sqlite_bin" "$tmp/floor.db" < "$payload"; }
[[ -n "$sqlite_bin" ]] && sqlite_floor

echo "== hook: $RUNS interleaved rounds" >&2
declare -a t_bare t_hook t_guard t_dcg t_floor t_sqlite
for _ in $(seq "$RUNS"); do
  t_bare+=("$(us bare)")
  [[ -n "$floor_bin" ]] && t_floor+=("$(us floor)")
  [[ -n "$sqlite_bin" ]] && t_sqlite+=("$(us sqlite_floor)")
  t_hook+=("$(us hook)")
  t_guard+=("$(us hook_guard)")
  [[ -n "${DCG:-}" ]] && t_dcg+=("$(us dcg)")
done
l_hook=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== record on $N commands: $RUNS interleaved rounds" >&2
export FLIGHTLOG_DB=$tmp/record.db
script() { (cd "$tmp/work" && ./agent.sh </dev/null); }
rec() { (cd "$tmp/work" && "$BIN" record -- ./agent.sh </dev/null); }
st() { (cd "$tmp/work" && strace -f --seccomp-bpf -o /dev/null -e trace=execve ./agent.sh </dev/null); }
asc() { (cd "$tmp/work" && asciinema rec --quiet --overwrite -c ./agent.sh "$tmp/peer.cast" </dev/null); }
declare -a r_bare r_rec r_st r_asc
rounds=$(( RUNS < 7 ? RUNS : 7 ))
for _ in $(seq "$rounds"); do
  r_bare+=("$(us script)")
  r_rec+=("$(us rec)")
  command -v strace >/dev/null && r_st+=("$(us st)")
  command -v asciinema >/dev/null && r_asc+=("$(us asc)")
done
unset FLIGHTLOG_DB
l_rec=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== import of $(du -h "$transcript" | cut -f1) transcript: $RUNS rounds" >&2
imp() { rm -f "$tmp"/imp.db*; "$BIN" --db "$tmp/imp.db" import claude-code "$transcript"; }
declare -a i_imp i_bare
for _ in $(seq "$RUNS"); do
  i_bare+=("$(us bare)")
  i_imp+=("$(us imp)")
done
l_imp=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== store: append, verify, plain SQLite, sha256sum (cargo bench, once)" >&2
HOME=$real_home FLIGHTLOG_BENCH_DIR=$tmp FLIGHTLOG_BENCH_TABLE=$tmp/store.md \
  cargo bench --quiet --manifest-path "$here/Cargo.toml" -p flightlog-formats --bench store >/dev/null 2>&1
l_store=$(cut -d' ' -f1-3 /proc/loadavg)
field() { grep -F "$1" "$tmp/store.md" | head -1 | cut -d'|' -f3 | sed 's/^ *//'; }
append=$(field "append, batches of 1000" | awk '{print $1}')
plain=$(field "plain SQLite insert loop" | awk '{print $1}')
verify_line=$(field "verify ")
verify_rate=$(awk '{print $1}' <<<"$verify_line")
verify_s=$(sed 's/.*(\(.*\) s).*/\1/' <<<"$verify_line")
sha_s=$(field "sha256sum over" | awk '{print $1}')
verify_n=$(grep -F "| verify " "$tmp/store.md" | sed 's/| verify \([0-9]*\) events.*/\1/')

# The team store: the replay bench's push rate beside its anchor (the same rows by binary COPY
# into a table without triggers, same server, same run), and the replay's first frame from
# PostgreSQL beside the same replay from SQLite. Needs PostgreSQL's server binaries
# (scripts/pg-cluster.sh finds or installs them); PG_EVENTS sets the session's size.
PG_EVENTS=${PG_EVENTS:-200000}
team=
# The cluster's directory is made outside $tmp: initdb runs as the postgres user, who cannot
# enter $tmp (mode 0700, root's).
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/flightlog-pg.XXXXXX")
if pg_url=$(HOME=$real_home "$here/scripts/pg-cluster.sh" start "$pg_dir" 2>/dev/null); then
  echo "== team store: push and replay of $PG_EVENTS events, SQLite then PostgreSQL (cargo bench)" >&2
  replay() {
    HOME=$real_home TMPDIR=$tmp REPLAY_BENCH_EVENTS=$PG_EVENTS \
      cargo bench --quiet --manifest-path "$here/Cargo.toml" -p flightlog-viewer --bench replay 2>/dev/null
  }
  replay > "$tmp/replay-sqlite.txt" || true
  REPLAY_BENCH_PG_URL=$pg_url replay > "$tmp/replay-pg.txt" || true
  HOME=$real_home "$here/scripts/pg-cluster.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  team=yes
else
  rm -rf "$pg_dir"
fi
l_team=$(cut -d' ' -f1-3 /proc/loadavg)

b=$(median "${t_bare[@]}"); h=$(median "${t_hook[@]}"); g=$(median "${t_guard[@]}")
rb=$(median "${r_bare[@]}"); rr=$(median "${r_rec[@]}")
ib=$(median "${i_bare[@]}"); ii=$(median "${i_imp[@]}")

echo "| what | flightlog | anchor (same run) | ratio | target | holds |"
echo "|---|---:|---|---:|---|---|"
echo "| hook, guard off (median of $RUNS) | $(ms "$h") | bare process start $(ms "$b") | $(ratio "$h" "$b") | <= 1.75x bare | $(holds "$h" "$b" 1.75) |"
if [[ -n "$floor_bin" ]]; then
  f=$(median "${t_floor[@]}")
  echo "| floor: read stdin, append 1 KB, fdatasync (C, median of $RUNS) | $(ms "$f") | bare process start $(ms "$b") | $(ratio "$f" "$b") | | |"
  echo "| hook, guard off, against that floor | $(ms "$h") | floor $(ms "$f") | $(ratio "$h" "$f") | | |"
fi
if [[ -n "$sqlite_bin" ]]; then
  q=$(median "${t_sqlite[@]}")
  echo "| floor: one row into a SQLite store set up as ours, one commit (C, median of $RUNS) | $(ms "$q") | bare process start $(ms "$b") | $(ratio "$q" "$b") | | |"
  echo "| hook, guard off, against the SQLite floor | $(ms "$h") | SQLite floor $(ms "$q") | $(ratio "$h" "$q") | | |"
fi
echo "| hook, guard on (median of $RUNS) | $(ms "$g") | bare process start $(ms "$b") | $(ratio "$g" "$b") | <= 1.75x bare | $(holds "$g" "$b" 1.75) |"
if [[ -n "${DCG:-}" ]]; then
  d=$(median "${t_dcg[@]}")
  echo "| hook, guard on, against dcg | $(ms "$g") | dcg's hook $(ms "$d") | $(ratio "$g" "$d") | <= 0.5x dcg | $(holds "$g" "$d" 0.5) |"
else
  echo "| hook against dcg | | not measured (DCG=path not given) | | <= 0.5x dcg | |"
fi
echo "| record, $N short commands (median of $rounds) | $(ms "$rr") | bare script $(ms "$rb") | $(ratio "$rr" "$rb") | <= 1.15x bare | $(holds "$rr" "$rb" 1.15) |"
if [[ ${#r_st[@]} -gt 0 ]]; then
  s=$(median "${r_st[@]}")
  echo "| record against strace | $(ms "$rr") | \`strace -f --seccomp-bpf -e trace=execve\` $(ms "$s") | $(ratio "$rr" "$s") | < 1x strace | $(holds "$rr" "$s" 0.999) |"
fi
if [[ ${#r_asc[@]} -gt 0 ]]; then
  a=$(median "${r_asc[@]}")
  echo "| record against asciinema (terminal only) | $(ms "$rr") | \`asciinema rec\` $(ms "$a") | $(ratio "$rr" "$a") | | |"
fi
echo "| import, $(du -h "$transcript" | cut -f1) Claude Code transcript (median of $RUNS) | $(ms "$ii") | bare process start $(ms "$ib") | $(ratio "$ii" "$ib") | <= 100 ms | $(awk -v u="$ii" 'BEGIN {print (u <= 100000 ? "yes" : "**no**")}') |"
echo "| append, batches of 1,000, redacted, durable | $append events/s | plain SQLite inserts $plain rows/s | $(awk -v a="$append" -v b="$plain" 'BEGIN {printf "%.2fx", a/b}') | >= 150k/s | $(awk -v a="$append" 'BEGIN {print (a >= 150000 ? "yes" : "**no**")}') |"
echo "| verify, $verify_n events | $verify_rate M events/s ($verify_s s) | sha256sum, same bytes, $sha_s s | $(awk -v a="$verify_s" -v b="$sha_s" 'BEGIN {printf "%.2fx", a/b}') | >= 2M/s, within 2x | $(awk -v r="$verify_rate" -v a="$verify_s" -v b="$sha_s" 'BEGIN {print (r >= 2 && a/b <= 2 ? "yes" : "**no**")}') |"
if [[ -n "$team" ]]; then
  push=$(sed -n 's/^push: .* = \([0-9]*\) events\/s.*/\1/p' "$tmp/replay-pg.txt")
  anchor=$(sed -n 's/^push anchor: .*: \([0-9]*\) rows\/s.*/\1/p' "$tmp/replay-pg.txt")
  first() { grep -F "| open + first frame" "$1" | head -1 | cut -d'|' -f3 | awk '{print $1}'; }
  fs=$(first "$tmp/replay-sqlite.txt"); fp=$(first "$tmp/replay-pg.txt")
  if [[ -n "$push" && -n "$anchor" ]]; then
    echo "| push to the team store, $PG_EVENTS events | $push events/s | binary COPY into a table without triggers $anchor rows/s | $(awk -v a="$push" -v b="$anchor" 'BEGIN {printf "%.2fx", a/b}') | >= 50k/s | $(awk -v a="$push" 'BEGIN {print (a >= 50000 ? "yes" : "**no**")}') |"
  else
    echo "| push to the team store | | not measured (see $tmp/replay-pg.txt) | | >= 50k/s | |"
  fi
  if [[ -n "$fs" && -n "$fp" ]]; then
    echo "| replay from PostgreSQL, $PG_EVENTS events: open + first frame | $fp ms | the same replay from SQLite $fs ms | $(awk -v a="$fp" -v b="$fs" 'BEGIN {printf "%.2fx", a/b}') | <= 300 ms | $(awk -v a="$fp" 'BEGIN {print (a <= 300 ? "yes" : "**no**")}') |"
  fi
else
  echo "| team store (push, replay from PostgreSQL) | | not measured (no PostgreSQL server binaries: scripts/pg-cluster.sh) | | | |"
fi
echo
echo "Load average (1, 5, 15 min) after each part: hook $l_hook; record $l_rec; import $l_imp; store $l_store; team store $l_team; $(nproc) cores."
