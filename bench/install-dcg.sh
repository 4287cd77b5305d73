#!/usr/bin/env bash
# Installs dcg (destructive_command_guard, a peer guard hook, from crates.io) at a pinned version
# into a cache directory, for bench/ratios.sh to time beside `flightlog hook`. Prints its path.
#
#   DCG=$(bench/install-dcg.sh) bench/ratios.sh
set -euo pipefail
# 0.13.0 with its own lock file: 0.16.0's lock file names a webpki-roots release that the
# registry no longer serves, and 0.14 and 0.15 are not in it. Some of those dependencies
# declare rust-version 1.96 but build with this project's 1.95, hence --ignore-rust-version.
version=${DCG_VERSION:-0.13.0}
root=${XDG_CACHE_HOME:-$HOME/.cache}/flightlog/dcg-$version
if [[ ! -x "$root/bin/dcg" ]]; then
  echo "installing destructive_command_guard $version into $root (a release build, some minutes)" >&2
  cargo install --quiet --locked --ignore-rust-version destructive_command_guard --version "$version" --root "$root" >&2
fi
echo "$root/bin/dcg"
