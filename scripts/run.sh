#!/usr/bin/env bash
# Builds kraken-sentry (release) and runs it with the given arguments, e.g.
#   bash scripts/run.sh exec netstat --format table
#   bash scripts/run.sh codec decode 0a060d020d040d06
# Installs the Debian packages it needs first (scripts/setup-debian.sh; idempotent).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-debian.sh >&2
cargo build --release --locked -p sentry --bin kraken-sentry >&2
exec target/release/kraken-sentry "$@"
