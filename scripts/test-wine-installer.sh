#!/usr/bin/env bash
# The Windows installer under Wine: builds it (scripts/build-installer.sh), makes a fresh Wine
# prefix (target/wine-installer-prefix, with the same ProcessPrng shim as the test prefix), then
# runs the ignored test crates/kraken-base/tests/wine_installer.rs, which installs, stops,
# upgrades and removes the KrakenSentry service against a Linux `kraken-base serve`.
#
# Usage: scripts/test-wine-installer.sh   (needs scripts/setup-debian.sh to have run)
# Prints libtest's summary and, last, `wine-installer: N passed, M failed`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/libtest-totals.sh
source scripts/libtest-totals.sh

prefix="$PWD/target/wine-installer-prefix"
facts="$(
  set -e
  # shellcheck source=scripts/windows-env.sh
  source scripts/windows-env.sh
  installer="$(scripts/build-installer.sh)"
  # A fresh prefix each run: nothing of an earlier install may linger.
  # (-w: until the old server has gone, or it would serve the new prefix half-made.)
  WINEPREFIX="$prefix" "$WINDOWS_WINESERVER" -k >/dev/null 2>&1 || true
  WINEPREFIX="$prefix" "$WINDOWS_WINESERVER" -w >/dev/null 2>&1 || true
  rm -rf "$prefix"
  KRAKEN_WINE_PREFIX="$prefix" scripts/wine-prefix.sh >&2
  printf '%s\n%s\n%s\n' "$installer" "$WINDOWS_WINE" "$WINDOWS_WINESERVER"
)" || { echo "test-wine-installer: the installer or the prefix could not be made" >&2; echo "wine-installer: 0 passed, 1 failed"; exit 1; }
{ read -r installer; read -r wine; read -r wineserver; } <<<"$facts"

stop_wine() {
  WINEPREFIX="$prefix" "$wineserver" -k </dev/null >/dev/null 2>&1 || true
  WINEPREFIX="$prefix" "$wineserver" -w </dev/null >/dev/null 2>&1 || true
}
trap stop_wine EXIT
# Wine derives a file's DACL from its Unix mode (others' read bit: Everyone may read) and does
# not store the DACLs a program sets, so the protected folder `service install` makes is not
# seen there, and the service would refuse the key the installer copied (BUG-47's check). With
# umask 077 for Wine (its server creates the files), the installer's files are private, as the
# protected folder makes them on Windows. The wineserver that made the prefix is stopped so the
# test's one starts with this umask.
stop_wine
umask 077

mkdir -p target
log=target/wine-installer-test-output.txt
# --workspace: built with the features the Linux step built everything with (nothing to build).
KRAKEN_WINDOWS_INSTALLER="$installer" KRAKEN_WINE_LOADER="$wine" WINEPREFIX="$prefix" \
  cargo test --locked --workspace --test wine_installer -- --ignored --nocapture >"$log" 2>&1
rc=$?
cat "$log"
libtest_totals "$log" "$rc"
echo "wine-installer: $passed passed, $failed failed"
exit "$rc"
