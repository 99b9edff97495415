#!/usr/bin/env bash
# Builds the test-only wevtapi.dll of tools/wevtapi-shim (see its README) with mingw-w64 gcc into
# target/wevtapi-shim/wevtapi.dll and prints that path. Nothing shipped uses it: the Wine tests
# put it beside a Windows exe and run that with wevtapi=n in WINEDLLOVERRIDES.
#
# Usage: scripts/build-wevtapi-shim.sh   (needs scripts/setup-debian.sh to have run)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tools/wevtapi-shim"
dll="$root/target/wevtapi-shim/wevtapi.dll"
mkdir -p "$(dirname "$dll")"
echo "build-wevtapi-shim: building $dll" >&2
x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -shared -s -o "$dll.tmp" "$src/wevtapi.c" "$src/wevtapi.def"
mv -f "$dll.tmp" "$dll"
echo "$dll"
