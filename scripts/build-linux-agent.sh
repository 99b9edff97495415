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
#   2. Run that build for PROFILE_SECONDS under valgrind's callgrind with the four default
#      loggers at a 1 s interval, recording every function it executes (start-up included).
#   3. Link again with GNU ld and a linker script that places the sections of those functions
#      first in .text (ld's default script for a static executable, with one line added). Why: a page fault on an executable maps the cached pages around
#      it too (fault-around, 64 KiB), so code run once at start-up scattered over the whole text
#      made nearly all of it resident; laid out together it fills a third as many pages.
#      Functions the profile missed still work, from the rest of the text.
#
# Needs what scripts/setup-debian.sh installs (musl-tools, libunwind-14-dev, valgrind and the
# rust-web toolchain). Output: target/linux-agent/kraken-sentry, with the list of functions run
# (functions-run.txt) and the linker script (agent.ld) beside it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"

PROFILE_SECONDS="${PROFILE_SECONDS:-15}"
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
"$cargo" build "${build_args[@]}" >&2
cp "$built" "$out/kraken-sentry.unordered"

echo "build-linux-agent: 2/3 recording the functions run in ${PROFILE_SECONDS} s" >&2
work="$(mktemp -d "${TMPDIR:-/tmp}/linux-agent-profile.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cat >"$work/sentry.toml" <<EOF
data_dir = "$work/data"
[loggers]
default_interval_ms = 1000
[output]
path = "$work/records.jsonl"
EOF
status=0
timeout -s INT "$PROFILE_SECONDS" valgrind --tool=callgrind --demangle=no --compress-strings=no \
  --dump-instr=no --callgrind-out-file="$work/callgrind.out" \
  "$out/kraken-sentry.unordered" run --config "$work/sentry.toml" \
  >"$work/agent.log" 2>&1 || status=$?
if [ ! -s "$work/records.jsonl" ] || [ ! -s "$work/callgrind.out" ]; then
  echo "build-linux-agent: the profiling run failed (exit $status):" >&2
  tail -20 "$work/agent.log" >&2
  exit 1
fi
# Every function named as run (fn=) or called (cfn=).
sed -n 's/^c\{0,1\}fn=//p' "$work/callgrind.out" | grep -v -e '^(' -e '^0x' | sort -u \
  >"$out/functions-run.txt"
echo "build-linux-agent: $(wc -l <"$out/functions-run.txt") functions run" >&2

echo "build-linux-agent: 3/3 linking them together" >&2
# ld's own script for `-static -no-pie`, with the executed functions' sections (-ffunction-sections
# names them .text.<symbol>, or .text.unlikely.<symbol> for code Rust marks cold) pulled to the
# start of .text. Symbols are mangled: letters, digits, '_', '$' and '.', none of them a wildcard.
echo 'int main(void) { return 0; }' >"$work/empty.c"
musl-gcc -static -no-pie -Wl,--verbose "$work/empty.c" -o "$work/empty" |
  awk '/^======/ { inside = !inside; next } inside' >"$work/default.ld"
grep -q '^  \.text  *:$' "$work/default.ld" || { echo "build-linux-agent: unexpected ld script" >&2; exit 1; }
awk -v functions="$out/functions-run.txt" '
  { print }
  text && /^  \{$/ {
    printf "    *(\n"
    while ((getline name <functions) > 0) printf "      .text.%s .text.unlikely.%s\n", name, name
    printf "    )\n"
    text = 0
  }
  /^  \.text  *:$/ { text = 1 }
' "$work/default.ld" >"$out/agent.ld"
"$cargo" rustc "${build_args[@]}" -- -C "link-arg=-Wl,-T,$out/agent.ld" >&2
cp "$built" "$out/kraken-sentry"
rm -f "$out/kraken-sentry.unordered"
echo "build-linux-agent: done in $((SECONDS - started)) s" >&2
echo "$out/kraken-sentry"
