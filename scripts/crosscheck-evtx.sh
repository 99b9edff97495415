#!/usr/bin/env bash
# Compares `kraken-sentry eventlog read` with python-evtx, an independent parser, record by
# record, on the given .evtx files (or directories of them): see tools/evtx-crosscheck/README.md.
# A developer's check, not part of scripts/test.sh: it needs PyPI, and the files worth running it
# on are public sample sets the project does not carry.
#
# Usage: scripts/crosscheck-evtx.sh FILE.evtx|DIR...
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || { echo "usage: $0 FILE.evtx|DIR..." >&2; exit 2; }

venv=target/evtx-crosscheck-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --require-virtualenv -r tools/evtx-crosscheck/requirements.txt
fi
cargo build --release --quiet -p sentry --bin kraken-sentry

files=()
for arg in "$@"; do
  if [ -d "$arg" ]; then
    while IFS= read -r -d '' file; do files+=("$file"); done \
      < <(find "$arg" -type f -iname '*.evtx' -print0 | sort -z)
  else
    files+=("$arg")
  fi
done
exec "$venv/bin/python" tools/evtx-crosscheck/compare.py \
  --sentry target/release/kraken-sentry "${files[@]}"
