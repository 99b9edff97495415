#!/usr/bin/env bash
# The Windows sentry against the Linux base: builds kraken-sentry.exe for x86_64-pc-windows-gnu
# and the test-only wevtapi.dll (scripts/build-wevtapi-shim.sh), then runs the ignored tests of
# crates/kraken-base/tests/wine_sentry.rs, which start `kraken-base serve` (Linux) and
# `wine64 kraken-sentry.exe run` and check what the base gets: once with Wine's own wevtapi.dll
# (no event log), once with the shim beside a copy of the exe (an event log in a directory).
#
# Usage: scripts/test-wine-sentry.sh   (needs scripts/setup-debian.sh to have run)
# Prints libtest's summary and, last, `wine-sentry: N passed, M failed`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The Windows half in a subshell: windows-env.sh switches the shell to Debian's rustc.
windows_facts="$(
  set -e
  # shellcheck source=scripts/windows-env.sh
  source scripts/windows-env.sh
  # The exe that test-windows.sh's build made (nothing to rebuild after it): a build of the
  # sentry alone would rebuild every dependency whose features differ from the workspace's.
  windows_cargo test --no-run --locked --workspace >&2
  scripts/wine-prefix.sh >&2
  printf '%s\n%s\n%s\n%s\n' "$CARGO_TARGET_DIR/$WINDOWS_TARGET/debug/kraken-sentry.exe" "$WINDOWS_WINE" \
    "$WINEPREFIX" "$WINDOWS_WINESERVER"
)" || { echo "test-wine-sentry: the Windows build failed" >&2; echo "wine-sentry: 0 passed, 1 failed"; exit 1; }
{ read -r exe; read -r wine; read -r prefix; read -r wineserver; } <<<"$windows_facts"
shim_dll="$(scripts/build-wevtapi-shim.sh)" ||
  { echo "test-wine-sentry: the wevtapi.dll shim did not build" >&2; echo "wine-sentry: 0 passed, 1 failed"; exit 1; }

# One Wine run at a time per prefix (test-windows.sh takes the same lock).
exec 8>"$prefix.run.lock"
flock 8
stop_wine() { WINEPREFIX="$prefix" "$wineserver" -k </dev/null >/dev/null 2>&1 8>&- || true; }
trap stop_wine EXIT

mkdir -p target
log=target/wine-sentry-test-output.txt
KRAKEN_WINDOWS_SENTRY_EXE="$exe" KRAKEN_WINE_LOADER="$wine" WINEPREFIX="$prefix" \
  KRAKEN_WEVTAPI_SHIM_DLL="$shim_dll" \
  cargo test --locked --workspace --test wine_sentry -- --ignored --test-threads=1 8>&- >"$log" 2>&1
rc=$?
cat "$log"
result="$(grep -E '^test result:' "$log" | tail -n 1)"
passed=0
failed=0
if [[ "$result" =~ ([0-9]+)\ passed\;\ ([0-9]+)\ failed ]]; then
  passed="${BASH_REMATCH[1]}"
  failed="${BASH_REMATCH[2]}"
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "wine-sentry: $passed passed, $failed failed"
exit "$rc"
