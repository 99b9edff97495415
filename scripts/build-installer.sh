#!/usr/bin/env bash
# Builds the Windows installer: the agent for x86_64-pc-windows-gnu with the `agent` profile
# (smallest code), stripped, packed by NSIS (packaging/windows/kraken-sentry.nsi) into
# target/installer/kraken-sentry-<version>-x86_64-setup.exe. Prints the installer's path on
# stdout and the sizes on stderr. Needs scripts/setup-debian.sh's packages (mingw-w64, the
# Debian Rust toolchain with std sources, nsis).
#
# Usage: scripts/build-installer.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/windows-env.sh
source scripts/windows-env.sh

version="$(sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n 1)"
[ -n "$version" ] || { echo "build-installer: no version in Cargo.toml" >&2; exit 1; }

started=$SECONDS
windows_cargo build --profile agent -p sentry --bin kraken-sentry >&2
built="$CARGO_TARGET_DIR/x86_64-pc-windows-gnu/agent/kraken-sentry.exe"
out_dir="$WINDOWS_REPO_ROOT/target/installer"
mkdir -p "$out_dir"
exe="$out_dir/kraken-sentry.exe"
x86_64-w64-mingw32-strip -o "$exe" "$built"
setup="$out_dir/kraken-sentry-$version-x86_64-setup.exe"
# The version resource wants four numbers: 1.2.3-beta.1 -> 1.2.3.0.
numbers="${version%%[-+]*}"
makensis -V2 -NOCD -DVERSION="$version" -DVERSION_QUAD="$numbers.0" -DEXE="$exe" -DOUTFILE="$setup" \
  packaging/windows/kraken-sentry.nsi >&2

size() { stat -c %s "$1"; }
echo "build-installer: built in $((SECONDS - started)) s; kraken-sentry.exe $(size "$built") bytes," \
  "stripped $(size "$exe"); installer $(size "$setup") bytes" >&2
echo "$setup"
