#!/usr/bin/env bash
# Builds the Linux agent to ship: one static `kraken-sentry` executable (musl libc, no PIE, no
# shared libraries) whose executed code is laid out together, so that few of its pages become
# resident. Prints the binary's path on stdout; progress goes to stderr.
#
#   1. Build for x86_64-unknown-linux-musl with the `agent` profile. Debian's Rust has no prebuilt
#      std for musl, so std is built from source as for Windows (scripts/windows-env.sh explains
#      why RUSTC and RUSTC_BOOTSTRAP are set). C code (SQLite, ring) is compiled with musl-gcc.
#      Rust's std needs an unwinder: libunwind.a from Debian's LLVM (libunwind-14-dev), plus the
#      one glibc function that archive calls (tools/linux-agent/fortify_shim.c).
#   2. Run that build for PROFILE_SECONDS under valgrind (lackey) with the four default loggers
#      at a 1 s interval, recording every address it executes or reads (start-up included).
#   3. Link again with GNU ld and a linker script that places the sections holding those
#      addresses first in .text and .rodata (ld's default script for a static executable, with
#      the lists that tools/linux-agent/layout.py finds from the first link's map). Why: a page fault on an executable maps the cached pages around
#      it too (fault-around, 64 KiB), so code run once at start-up scattered over the whole text
#      made nearly all of it resident; laid out together it fills a third as many pages. The
#      same holds for constants. Code or data the profile missed still works, from the rest.
#
# Needs what scripts/setup-debian.sh installs (musl-tools, libunwind-14-dev, valgrind, python3
# and the rust-web toolchain). Output: target/linux-agent/kraken-sentry, with the first link's
# map (unordered.map), the touched lines (touched.txt) and the linker script (agent-<hash>.ld) beside it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"

PROFILE_SECONDS="${PROFILE_SECONDS:-20}"
target=x86_64-unknown-linux-musl
out="$repo/target/linux-agent"
libs="$out/lib"
mkdir -p "$libs"

export RUSTC="${KRAKEN_LINUX_AGENT_RUSTC:-/usr/bin/rustc}"
cargo="${KRAKEN_LINUX_AGENT_CARGO:-/usr/bin/cargo}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$out/cargo"
export CC_x86_64_unknown_linux_musl=musl-gcc
export AR_x86_64_unknown_linux_musl=ar
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=musl-gcc
unset RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no \
-C relocation-model=static -L native=$libs -C link-arg=-lkraken_fortify"

ln -sf /usr/lib/llvm-14/lib/libunwind.a "$libs/libunwind.a"
musl-gcc -O2 -c tools/linux-agent/fortify_shim.c -o "$libs/fortify_shim.o"
ar rcs "$libs/libkraken_fortify.a" "$libs/fortify_shim.o"

build_args=(-Zbuild-std=std,panic_abort --target "$target" --profile agent --locked -p sentry --bin kraken-sentry)
built="$CARGO_TARGET_DIR/$target/agent/kraken-sentry"

started=$SECONDS
echo "build-linux-agent: 1/3 building (the first build compiles std: a few minutes)" >&2
"$cargo" rustc "${build_args[@]}" -- -C "link-arg=-Wl,-Map=$out/unordered.map" >&2
cp "$built" "$out/kraken-sentry.unordered"

echo "build-linux-agent: 2/3 recording what it runs and reads in ${PROFILE_SECONDS} s" >&2
work="$(mktemp -d "${TMPDIR:-/tmp}/linux-agent-profile.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cat >"$work/sentry.toml" <<EOF
data_dir = "$work/data"
[loggers]
default_interval_ms = 1000
[output]
path = "$work/records.jsonl"
EOF
# valgrind's trace goes to fd 3, the pipe; the agent's own output to agent.log.
status=0
{ timeout -s INT "$PROFILE_SECONDS" valgrind --tool=lackey --trace-mem=yes --log-fd=3 \
  "$out/kraken-sentry.unordered" run --config "$work/sentry.toml" 3>&1 >"$work/agent.log" 2>&1 |
  python3 tools/linux-agent/layout.py touched >"$out/touched.txt"; } || status=$?
if [ ! -s "$work/records.jsonl" ] || [ ! -s "$out/touched.txt" ]; then
  echo "build-linux-agent: the profiling run failed (exit $status):" >&2
  tail -20 "$work/agent.log" >&2
  exit 1
fi

echo "build-linux-agent: 3/3 linking what it touched together" >&2
# ld's own script for `-static -no-pie`, with the touched sections pulled to the start of .text
# and of .rodata.
echo 'int main(void) { return 0; }' >"$work/empty.c"
musl-gcc -static -no-pie -Wl,--verbose "$work/empty.c" -o "$work/empty" |
  awk '/^======/ { inside = !inside; next } inside' >"$work/default.ld"
python3 tools/linux-agent/layout.py script "$out/unordered.map" "$out/touched.txt" "$work/default.ld" \
  >"$work/agent.ld"
# Cargo keys a build by its arguments, not by the files they name: the script's name carries a
# hash of its text, so a new layout always links again.
rm -f "$out"/agent-*.ld
script="$out/agent-$(sha256sum "$work/agent.ld" | cut -c1-16).ld"
mv "$work/agent.ld" "$script"
"$cargo" rustc "${build_args[@]}" -- -C "link-arg=-Wl,-T,$script" >&2
cp "$built" "$out/kraken-sentry"
rm -f "$out/kraken-sentry.unordered"
echo "build-linux-agent: done in $((SECONDS - started)) s" >&2
echo "$out/kraken-sentry"
