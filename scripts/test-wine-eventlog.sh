#!/usr/bin/env bash
# The live Windows Event Log code under Wine: runs crates/sentry-host/tests/wevtapi_live.rs (the
# real wevtapi.dll calls of sentry-host's windows/eventlog.rs) against the test wevtapi.dll of
# tools/wevtapi-shim, which keeps its event log in a directory.
#
# Usage: scripts/test-wine-eventlog.sh [test-binary args...]   (needs scripts/setup-debian.sh)
#
# What it does:
#   1. builds tools/wevtapi-shim/wevtapi.dll with mingw-w64 gcc into target/wevtapi-shim/;
#   2. builds the test exe for x86_64-pc-windows-gnu (windows_cargo, scripts/windows-env.sh) and
#      finds it in cargo's JSON messages; prepares the Wine prefix (scripts/wine-prefix.sh);
#   3. copies the exe and the DLL into a directory of their own (target/wine-eventlog/bin), so
#      that only this run loads the shim: the exe in target/windows keeps Wine's builtin
#      wevtapi.dll when scripts/test-windows.sh runs it, and checks the "unavailable" behaviour;
#   4. runs it under Wine with WINEDLLOVERRIDES extended by wevtapi=n (the native DLL beside
#      the exe, never Wine's builtin) and KRAKEN_WEVTAPI_DIR naming a fresh event log directory
#      (target/wine-eventlog/log, given to Wine as a Z: path), stdin from /dev/null and output
#      to a file (never through a pipe: Wine's background processes keep pipes open), under a
#      time limit (KRAKEN_WINDOWS_TEST_TIMEOUT seconds, default 600).
#
# As in test-windows.sh, a crashed exe's exit code under Wine may be 0, so the run passes only if
# the exe exits 0 AND prints libtest's `test result: ok.` line. The last line printed is
# `wine-eventlog: N passed, M failed` (M counts 1 more when the exe crashed, timed out or printed
# no result). Exit status: 0 if everything passed, 1 if not.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail_early() {
  echo "test-wine-eventlog: $1" >&2
  echo "wine-eventlog: 0 passed, 1 failed"
  exit 1
}

# The Windows environment (Debian's rustc for the Windows build, Wine) for this script only.
# shellcheck source=scripts/windows-env.sh
source scripts/windows-env.sh

timeout_s="${KRAKEN_WINDOWS_TEST_TIMEOUT:-600}"
work="$WINDOWS_REPO_ROOT/target/wine-eventlog"
bin="$work/bin"
log_dir="$work/log"
mkdir -p "$work"

# --- 1. The shim ---------------------------------------------------------------------------------
shim_dll="$(scripts/build-wevtapi-shim.sh)" || fail_early "the wevtapi.dll shim did not build"

# --- 2. The test exe and the prefix --------------------------------------------------------------
messages="$work/cargo-messages.json"
started=$SECONDS
# With the whole workspace's features, as test-windows.sh built it: nothing left to build after
# it (one package alone would rebuild the dependencies whose features differ).
if ! windows_cargo test --no-run --locked --workspace --test wevtapi_live \
  --message-format=json-render-diagnostics >"$messages"; then
  fail_early "the Windows test build failed"
fi
echo "test-wine-eventlog: built in $((SECONDS - started)) s" >&2
# The one test exe: the compiler-artifact message whose "profile" has "test":true (cargo's paths
# here contain no '"' or '\').
exe="$(grep '"reason":"compiler-artifact"' "$messages" | grep '"profile":{[^}]*"test":true' |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
[ -n "$exe" ] && [ -f "$exe" ] || fail_early "no test exe in $messages"
scripts/wine-prefix.sh >&2 || fail_early "the Wine prefix could not be prepared"

# --- 3. A directory of their own -----------------------------------------------------------------
rm -rf "$bin" "$log_dir"
mkdir -p "$bin" "$log_dir"
cp -f "$exe" "$bin/wevtapi_live.exe"
cp -f "$shim_dll" "$bin/wevtapi.dll"

# --- 4. Run --------------------------------------------------------------------------------------
# One Wine run at a time per prefix (test-windows.sh takes the same lock); fd 8 is closed for Wine.
exec 8>"$WINEPREFIX.run.lock"
if ! flock -n 8; then
  echo "test-wine-eventlog: waiting for another run using $WINEPREFIX" >&2
  flock 8
fi
stop_wine() { "$WINDOWS_WINESERVER" -k </dev/null >/dev/null 2>&1 8>&- || true; }
trap stop_wine EXIT

out="$work/output.txt"
wine_log_dir="Z:${log_dir//\//\\}"
echo
echo "     Running tests/wevtapi_live.rs under Wine with the wevtapi.dll shim (KRAKEN_WEVTAPI_DIR=$wine_log_dir)"
rc=0
(cd "$WINDOWS_REPO_ROOT/crates/sentry-host" &&
  WINEDLLOVERRIDES="$WINEDLLOVERRIDES;wevtapi=n" KRAKEN_WEVTAPI_DIR="$wine_log_dir" \
    exec timeout --kill-after=10 "$timeout_s" "$WINDOWS_WINE" "$bin/wevtapi_live.exe" "$@" \
    </dev/null >"$out" 2>&1 8>&-) || rc=$?
tr -d '\r' <"$out" >"$out.tmp" && mv -f "$out.tmp" "$out"
cat "$out"

result="$(grep -E '^test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed;' "$out" | tail -n 1 || true)"
passed=0
failed=0
problem=""
if [[ "$result" =~ ^test\ result:\ [A-Za-z]+\.\ ([0-9]+)\ passed\;\ ([0-9]+)\ failed\; ]]; then
  passed="${BASH_REMATCH[1]}"
  failed="${BASH_REMATCH[2]}"
fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  problem="timed out after ${timeout_s} s"
elif [ -z "$result" ]; then
  problem="no 'test result:' line (crashed? exit code $rc)"
elif [[ "$result" != "test result: ok."* ]] || [ "$failed" -ne 0 ]; then
  problem="$failed test(s) failed"
elif [ "$rc" -ne 0 ]; then
  problem="exit code $rc after 'test result: ok.'"
fi
if [ -n "$problem" ]; then
  [ "$failed" -ne 0 ] || failed=1
  echo "test-wine-eventlog: FAILED: $problem (output: $out, event log: $log_dir)"
fi
echo "wine-eventlog: $passed passed, $failed failed"
[ -z "$problem" ]
