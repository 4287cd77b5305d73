#!/usr/bin/env bash
# Runs every cargo-fuzz target (coverage-guided libFuzzer) for a bounded time, keeping the corpus
# under fuzz/corpus/<target>/. The checks themselves live in fuzz/checks (a workspace member); on a
# stable toolchain, `cargo test -p flightlog-fuzz-checks` (run by .ci/run) replays every corpus and
# generated inputs for FUZZ_SECONDS per target (default 10).
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh redact verify_jsonl
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash leaves its input
# in fuzz/artifacts/<target>/ and makes this script exit 1: turn it into a regression test in the
# crate that owns the code, then fix it. New corpus entries are merged back (`-merge=1`) so the
# committed corpus stays small.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
ALL=(hook_normalize verify_jsonl redact known policy decode import sanitize http_reader)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: needs nightly and cargo-fuzz: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
  exit 2
fi

cargo +nightly fuzz build -O
failed=()
for t in "${TARGETS[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  new="$(mktemp -d "corpus/$t/.tmpXXXX")"
  echo "== $t: ${SECONDS_EACH}s"
  if ! cargo +nightly fuzz run -O "$t" "$new" "$corpus" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -timeout=10 \
      -max_len=262144 -print_final_stats=1 2>&1 | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' ; then
    :
  fi
  if ls "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
    failed+=("$t")
  fi
  # Keep only inputs that add coverage.
  cargo +nightly fuzz cmin -O "$t" "$corpus" >/dev/null 2>&1 || true
  rm -rf "$new"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (see fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: ${#TARGETS[@]} targets, ${SECONDS_EACH}s each, no crash"
