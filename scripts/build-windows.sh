#!/usr/bin/env bash
# Build the kraken-sentry workspace for Windows (x86_64-pc-windows-gnu) on Debian, with Debian's
# Rust toolchain and std built from source (see scripts/windows-env.sh), then print the path of
# every .exe built, one per line, on stdout. Cargo's progress and diagnostics go to stderr.
#
# Usage: scripts/build-windows.sh [cargo build args...]
#   scripts/build-windows.sh                 # whole workspace, debug
#   scripts/build-windows.sh --release       # whole workspace, release
#   scripts/build-windows.sh -p sentry       # one package
# --workspace is added unless the arguments already select packages.
# Output: target/windows/x86_64-pc-windows-gnu/{debug,release}/. The first build compiles std
# (about 2 minutes on 2 cores); later ones are incremental.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/windows-env.sh
source scripts/windows-env.sh

args=("$@")
if ! windows_has_package_selection "${args[@]}"; then
  args=(--workspace "${args[@]}")
fi

messages="$(mktemp "${TMPDIR:-/tmp}/build-windows.XXXXXX.json")"
trap 'rm -f "$messages"' EXIT

started=$SECONDS
windows_cargo build --message-format=json-render-diagnostics "${args[@]}" >"$messages"
echo "build-windows: built in $((SECONDS - started)) s (target dir $CARGO_TARGET_DIR)" >&2

# Cargo's JSON messages, one object per line: the compiler-artifact ones that produced an
# executable. Paths are extracted with sed (no jq/python needed); they contain no '"'.
grep '"reason":"compiler-artifact"' "$messages" |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' |
  sort -u
