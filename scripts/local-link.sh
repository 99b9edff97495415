#!/usr/bin/env bash
# Sourced, not run: the configuration of a kraken-base and one sentry linked to it over mutual
# TLS on loopback, as scripts/quickstart.sh runs them and scripts/build-linux-agent.sh profiles
# the agent with them.
#
# local_link_configs BASE_BIN DIR GUID SENTRY_PORT ADMIN_PORT INTERVAL_MS [SETUP_MS] writes, under
# DIR (SETUP_MS, default 10000: how long each step of setting up a connection may take, the TLS
# handshake on both sides included, and the base's whole wait for a new sentry's hello; a
# profile run under valgrind needs far longer):
#   pki/          a CA with the base's certificate and the sentry GUID's (kept if already there)
#   base.toml     the base on 127.0.0.1:SENTRY_PORT (admin API on ADMIN_PORT), storage in
#                 base-data/, every sentry logger connected
#   sentry.toml   the sentry GUID linked to that base, state in sentry-data/, loggers every
#                 INTERVAL_MS, records also written to sentry-records.jsonl, listFiles allowed
#                 within DIR
local_link_configs() {
  local base_bin="$1" dir="$2" guid="$3" sentry_port="$4" admin_port="$5" interval_ms="$6"
  local setup_ms="${7:-10000}"
  [ -f "$dir/pki/ca.key" ] || "$base_bin" pki init "$dir/pki" >&2
  [ -f "$dir/pki/crl.pem" ] || "$base_bin" pki crl "$dir/pki" >&2
  [ -f "$dir/pki/$guid.pem" ] || "$base_bin" pki issue "$guid" "$dir/pki" >&2

  cat >"$dir/base.toml" <<TOML
listen = "127.0.0.1:$sentry_port"
data_dir = "$dir/base-data"
certificate = "$dir/pki/base.pem"
key = "$dir/pki/base.key"
sentry_ca = "$dir/pki/ca.pem"
sentry_crl = "$dir/pki/crl.pem"
connect_all_loggers = true
handshake_timeout_ms = $setup_ms
[connections]
hello_timeout_ms = $setup_ms
[admin]
listen = "127.0.0.1:$admin_port"
TOML

  cat >"$dir/sentry.toml" <<TOML
guid = "$guid"
data_dir = "$dir/sentry-data"
[loggers]
default_interval_ms = $interval_ms
[commands]
list_files_roots = ["$dir"]
[output]
path = "$dir/sentry-records.jsonl"
[links]
setup_timeout_ms = $setup_ms
[[base]]
name = "local"
address = "127.0.0.1"
port = $sentry_port
certificate = "$dir/pki/$guid.pem"
key = "$dir/pki/$guid.key"
ca = "$dir/pki/ca.pem"
TOML
}
