#!/usr/bin/env bash
# Quickstart: a base with embedded storage and a local sentry linked to it over mutual TLS, on
# this machine, with the sentry's default loggers (cpu, memory, network, disk) connected and
# running every 5 s. Everything lives under target/quickstart/ (KRAKEN_QUICKSTART_DIR to move
# it): the PKI, both configurations, the base's SQLite storage and the sentry's state.
#
# The base listens on 127.0.0.1:7140 (sentries) and 127.0.0.1:7141 (admin API); the sentry
# runs in the foreground until Ctrl-C, which stops both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/local-link.sh
source scripts/local-link.sh
bash scripts/setup-debian.sh >&2
cargo build --release --locked -p sentry -p kraken-base >&2

dir="$(mkdir -p "${KRAKEN_QUICKSTART_DIR:-target/quickstart}" && cd "${KRAKEN_QUICKSTART_DIR:-target/quickstart}" && pwd)"
base_bin="$PWD/target/release/kraken-base"
sentry_bin="$PWD/target/release/kraken-sentry"
guid=local-sentry

local_link_configs "$base_bin" "$dir" "$guid" 7140 7141 5000

"$base_bin" serve --config "$dir/base.toml" 2>"$dir/base.log" &
base_pid=$!
trap 'kill "$base_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  [ -f "$dir/base-data/admin.token" ] && break
  sleep 0.1
done

cat >&2 <<TEXT

kraken-base is running (log: $dir/base.log); the sentry "$guid" starts now and links to it.
In another terminal, from $PWD:
  target/release/kraken-base sentries --config $dir/base.toml
  target/release/kraken-base logs --config $dir/base.toml --follow
  target/release/kraken-base call --config $dir/base.toml $guid getNetStat
  curl -H "Authorization: Bearer \$(cat $dir/base-data/admin.token)" http://127.0.0.1:7141/api/sentries
Ctrl-C stops the sentry and the base.

TEXT
"$sentry_bin" run --config "$dir/sentry.toml"
