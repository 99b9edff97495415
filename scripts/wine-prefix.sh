#!/usr/bin/env bash
# Prepare the dedicated Wine prefix that runs kraken-sentry's Windows test binaries
# (default target/wine-prefix, see scripts/windows-env.sh). Idempotent and quick when done before.
#
# Steps, each only when needed:
#   1. build the bcryptprimitives.dll shim (tools/wine-shim) with mingw-w64 gcc; Wine 8.0 lacks
#      ProcessPrng, without which every Rust exe exits at once with code 53;
#   2. create the prefix (wineboot -i) and set the Windows version to 10 (winecfg /v win10);
#   3. copy the shim into the prefix's system32.
# A stamp file records the hash of the shim's sources, the build command and the Wine version;
# a change in any of them rebuilds and reinstalls the shim. Delete the prefix directory to start
# from scratch. Wine's own output goes to target/wine-prefix.log (never through a pipe: Wine's
# background processes would keep it open).
#
# Usage: scripts/wine-prefix.sh [--force]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/windows-env.sh
source scripts/windows-env.sh

force=0
case "${1:-}" in
  "") ;;
  --force) force=1 ;;
  *)
    echo "usage: $0 [--force]" >&2
    exit 2
    ;;
esac

shim_out_dir="$WINDOWS_REPO_ROOT/target/wine-shim"
shim_dll="$shim_out_dir/bcryptprimitives.dll"
shim_cc=(x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -shared -nostdlib -Wl,--entry,DllMain -s)
shim_libs=(-lkernel32 -ladvapi32)
system32="$WINEPREFIX/drive_c/windows/system32"
stamp="$WINEPREFIX/.kraken-prefix-stamp"
log="$WINEPREFIX.log"

mkdir -p "$(dirname "$WINEPREFIX")" "$shim_out_dir"

# Serialise concurrent runs (e.g. two test-windows.sh at once) on the same prefix.
exec 9>"$WINEPREFIX.lock"
flock 9

wine_version="$("$WINDOWS_WINE" --version 2>/dev/null </dev/null || echo unknown)"
wanted_stamp="$(
  {
    cat "$WINDOWS_SHIM_SRC/bcryptprimitives.c" "$WINDOWS_SHIM_SRC/bcryptprimitives.def"
    echo "${shim_cc[*]} ${shim_libs[*]}"
    echo "$wine_version"
  } | sha256sum | cut -d' ' -f1
)"

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted_stamp" ] &&
  [ -f "$WINEPREFIX/system.reg" ] && cmp -s "$shim_dll" "$system32/bcryptprimitives.dll"; then
  echo "wine-prefix: $WINEPREFIX is ready"
  exit 0
fi

started=$SECONDS

# 1. The shim.
echo "wine-prefix: building $shim_dll"
"${shim_cc[@]}" -o "$shim_dll.tmp" \
  "$WINDOWS_SHIM_SRC/bcryptprimitives.c" "$WINDOWS_SHIM_SRC/bcryptprimitives.def" "${shim_libs[@]}"
mv -f "$shim_dll.tmp" "$shim_dll"

# Runs a Wine command with its output appended to the log, failing with the log's tail.
wine_logged() {
  echo "+ $*" >>"$log"
  # 9>&-: Wine's long-lived processes must not inherit (and keep holding) the lock.
  if ! "$@" </dev/null >>"$log" 2>&1 9>&-; then
    echo "wine-prefix: '$*' failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
}

# 2. The prefix itself.
: >"$log"
if [ "$force" -eq 1 ] || [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "wine-prefix: creating $WINEPREFIX (wine: $wine_version)"
  wine_logged "$WINDOWS_WINE" wineboot -i
  wine_logged "$WINDOWS_WINESERVER" -w
  wine_logged "$WINDOWS_WINE" winecfg /v win10
  wine_logged "$WINDOWS_WINESERVER" -w
fi

# 3. The shim into system32 (a Wine with a builtin bcryptprimitives leaves a placeholder there;
#    WINEDLLOVERRIDES=bcryptprimitives=n,b from windows-env.sh makes this native copy win).
if [ ! -d "$system32" ]; then
  echo "wine-prefix: $system32 missing after wineboot; see $log" >&2
  exit 1
fi
cp -f "$shim_dll" "$system32/bcryptprimitives.dll.tmp"
mv -f "$system32/bcryptprimitives.dll.tmp" "$system32/bcryptprimitives.dll"

echo "$wanted_stamp" >"$stamp"
echo "wine-prefix: $WINEPREFIX ready in $((SECONDS - started)) s"
