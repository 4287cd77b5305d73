#!/usr/bin/env bash
# Installs the real coding agents the end-to-end tests drive (tests/e2e/agents.rs), at pinned
# versions, into a cache directory that is reused between runs:
#
#   Claude Code  @anthropic-ai/claude-code  (npm)
#   Codex CLI    @openai/codex              (npm)
#   Gemini CLI   @google/gemini-cli         (npm)
#   Aider        aider-chat                 (PyPI, in its own virtualenv)
#
# Each agent lives in "$FLIGHTLOG_AGENTS_DIR/<agent>-<version>/" and is skipped when that version
# is already there. The tests look in the same place (same variable, same default).
#
# Exit status: 0 when every agent is installed; 1 when an install failed. When the package
# registries cannot be reached at all, it prints why and exits 0 unless FLIGHTLOG_REQUIRE_AGENTS=1
# (CI sets it): the agent tests then say they skipped, with that reason.
set -euo pipefail

CLAUDE_VERSION=2.1.197
CODEX_VERSION=0.171.0
GEMINI_VERSION=0.61.0
AIDER_VERSION=0.86.2

dir="${FLIGHTLOG_AGENTS_DIR:-$HOME/.cache/flightlog/agents}"
mkdir -p "$dir"
require="${FLIGHTLOG_REQUIRE_AGENTS:-0}"
[ -n "${CI:-}" ] && require=1

unreachable() {
  echo "agents: $1"
  if [ "$require" = 1 ]; then
    echo "agents: FLIGHTLOG_REQUIRE_AGENTS=1 (or CI) is set, so this is an error"
    exit 1
  fi
  echo "agents: the real-agent tests will say they skipped"
  # Left for the tests to print as their skip reason.
  echo "$1" >"$dir/UNAVAILABLE"
  exit 0
}

failed=0

# cached WHAT DIR EXE: whether DIR holds a finished install of WHAT (EXE there, DIR/.installed);
# says which, and when it does not, clears DIR for a new one.
cached() {
  local what=$1 prefix=$2 exe=$3
  if [ -x "$exe" ] && [ -f "$prefix/.installed" ]; then
    echo "agents: $what already in $prefix"
    return 0
  fi
  echo "agents: installing $what into $prefix"
  rm -rf "$prefix"
  return 1
}

# finish WHAT DIR COMMAND...: runs the install COMMAND (its output to DIR/install.log) and marks
# DIR finished; on failure shows the log's end and records the failure.
finish() {
  local what=$1 prefix=$2
  shift 2
  if "$@" >"$prefix/install.log" 2>&1; then
    touch "$prefix/.installed"
  else
    echo "agents: installing $what failed:"
    tail -20 "$prefix/install.log"
    failed=1
    return 1
  fi
}

# npm_agent NAME PACKAGE VERSION BIN: npm install into $dir/NAME-VERSION (its own prefix).
npm_agent() {
  local name=$1 pkg=$2 version=$3 bin=$4
  local prefix="$dir/$name-$version"
  if ! cached "$pkg@$version" "$prefix" "$prefix/node_modules/.bin/$bin"; then
    mkdir -p "$prefix"
    # A private package.json keeps npm from walking up to some other project.
    printf '{"name":"flightlog-agent-%s","private":true}\n' "$name" >"$prefix/package.json"
    finish "$pkg@$version" "$prefix" npm install --prefix "$prefix" --no-audit --no-fund \
      --loglevel=error "$pkg@$version" || return 0
  fi
  echo "agents: $bin=$prefix/node_modules/.bin/$bin"
}

pip_agent() {
  local venv="$dir/aider-$AIDER_VERSION"
  if ! cached "aider-chat==$AIDER_VERSION" "$venv" "$venv/bin/aider"; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      echo "agents: python3 -m venv failed (Debian: apt-get install python3-venv)"
      failed=1
      return
    fi
    finish "aider-chat==$AIDER_VERSION" "$venv" "$venv/bin/pip" install --quiet \
      --disable-pip-version-check "aider-chat==$AIDER_VERSION" || return 0
  fi
  echo "agents: aider=$venv/bin/aider"
}

have_all() {
  [ -f "$dir/claude-code-$CLAUDE_VERSION/.installed" ] &&
    [ -f "$dir/codex-$CODEX_VERSION/.installed" ] &&
    [ -f "$dir/gemini-$GEMINI_VERSION/.installed" ] &&
    [ -f "$dir/aider-$AIDER_VERSION/.installed" ]
}

if ! have_all; then
  command -v npm >/dev/null 2>&1 || unreachable "npm is not installed"
  command -v python3 >/dev/null 2>&1 || unreachable "python3 is not installed"
  # One cheap look-up per registry tells "unreachable" apart from "install failed".
  npm view "@openai/codex@$CODEX_VERSION" version >/dev/null 2>&1 ||
    unreachable "the npm registry is unreachable ($(npm config get registry))"
  python3 - <<'EOF' || unreachable "the PyPI index is unreachable"
import urllib.request, sys
try:
    urllib.request.urlopen("https://pypi.org/simple/aider-chat/", timeout=20).read(1)
except Exception as e:
    sys.exit(1)
EOF
fi
rm -f "$dir/UNAVAILABLE"

npm_agent claude-code @anthropic-ai/claude-code "$CLAUDE_VERSION" claude
npm_agent codex @openai/codex "$CODEX_VERSION" codex
npm_agent gemini @google/gemini-cli "$GEMINI_VERSION" gemini
pip_agent

exit "$failed"
