#!/usr/bin/env bash
# Builds the Linux agent to ship: one static `kraken-sentry` executable (musl libc, no PIE, no
# shared libraries) whose code and constants in use are laid out together, so that few of its
# pages become resident. Prints the binary's path on stdout; progress goes to stderr.
#
#   1. Build for x86_64-unknown-linux-musl with the `agent` profile. Debian's Rust has no prebuilt
#      std for musl, so std is built from source as for Windows (scripts/windows-env.sh explains
#      why RUSTC and RUSTC_BOOTSTRAP are set). C code (SQLite, ring) is compiled with musl-gcc.
#      Rust's std needs an unwinder: libunwind.a from Debian's LLVM (libunwind-14-dev), plus the
#      one glibc function that archive calls (tools/linux-agent/fortify_shim.c).
#   2. Run that build twice under valgrind (lackey), recording every address it executes or
#      reads: alone, with the four default loggers at 1 s writing records to a file, for
#      STANDALONE_SECONDS; then as a deployed agent: linked to a base over mutual TLS
#      (kraken-base serve on loopback, fresh PKI), shipping records and answering each host
#      command the base calls. SIGTERM ends both.
#   3. Link again with GNU ld and a linker script that places the sections holding those
#      addresses first in .text and .rodata, the first run's before those the second adds (ld's
#      default script for a static executable, with the lists that tools/linux-agent/layout.py
#      finds from the first link's map). Why: a page
#      fault on an executable maps the cached pages around it too (fault-around, 64 KiB), so code
#      run once at start-up, scattered over the whole text, made nearly all of it resident; laid
#      out together it fills a third as many pages. Code or data the profile missed still works,
#      from the rest of the binary.
#
# Needs what scripts/setup-debian.sh installs (musl-tools, libunwind-14-dev, valgrind, python3
# and the rust-web toolchain). The profile's base is KRAKEN_BASE_BIN if set (test-linux-agent.sh
# passes the one its test build made), else a debug build of kraken-base. Output:
# target/linux-agent/kraken-sentry, with the first link's map (unordered.map), the touched
# addresses (touched-alone.txt, touched-linked.txt) and the linker script (agent-<hash>.ld).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/local-link.sh
source scripts/local-link.sh
repo="$(pwd)"

target=x86_64-unknown-linux-musl
out="$repo/target/linux-agent"
STANDALONE_SECONDS="${STANDALONE_SECONDS:-15}"
libs="$out/lib"
mkdir -p "$libs"

started=$SECONDS
echo "build-linux-agent: 1/3 building the agent (and kraken-base, for the profile)" >&2
if [ -n "${KRAKEN_BASE_BIN:-}" ]; then
  base_bin="$KRAKEN_BASE_BIN"
  [ -x "$base_bin" ] || { echo "build-linux-agent: KRAKEN_BASE_BIN=$base_bin is not an executable" >&2; exit 1; }
else
  cargo build --locked -p kraken-base --bin kraken-base >&2
  base_bin="$repo/target/debug/kraken-base"
fi

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
# (The first build compiles std: a few minutes.)
"$cargo" rustc "${build_args[@]}" -- -C "link-arg=-Wl,-Map=$out/unordered.map" >&2
cp "$built" "$out/kraken-sentry.unordered"

echo "build-linux-agent: 2/3 recording what the agent runs and reads, alone then linked" >&2
work="$(mktemp -d "${TMPDIR:-/tmp}/linux-agent-profile.XXXXXX")"
base_pid=
agent_pid=
reader_pid=
# On any exit, nothing this script started is left running.
trap 'for pid in $agent_pid $reader_pid $base_pid; do kill -KILL "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT
rm -f "$out"/touched*.txt
mkfifo "$work/trace"

# profile_start NAME CONFIG: the agent under lackey in the background (pid in agent_pid), its
# trace through a FIFO to layout.py (pid in reader_pid), its own output to NAME.log.
profile_start() {
  python3 tools/linux-agent/layout.py touched <"$work/trace" >"$out/touched-$1.txt" &
  reader_pid=$!
  valgrind --tool=lackey --trace-mem=yes --log-fd=3 "$out/kraken-sentry.unordered" run \
    --config "$2" 3>"$work/trace" >"$work/$1.log" 2>&1 &
  agent_pid=$!
}
# profile_stop NAME RECORDS: stop the agent as a service manager would (SIGTERM; killed if it
# has not stopped within a minute), then check the run wrote records and a trace.
profile_stop() {
  kill -TERM "$agent_pid" 2>/dev/null || true
  local status=0 waited=0
  while kill -0 "$agent_pid" 2>/dev/null && [ "$waited" -lt 60 ]; do
    sleep 1
    waited=$((waited + 1))
  done
  kill -KILL "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" || status=$?
  wait "$reader_pid" || true
  agent_pid=
  reader_pid=
  if [ ! -s "$2" ] || [ ! -s "$out/touched-$1.txt" ]; then
    echo "build-linux-agent: the $1 profile run failed (exit $status):" >&2
    tail -n 20 "$work/$1.log" >&2
    exit 1
  fi
}

cat >"$work/alone.toml" <<EOF
data_dir = "$work/alone-data"
[loggers]
default_interval_ms = 1000
[output]
path = "$work/alone.jsonl"
EOF
profile_start alone "$work/alone.toml"
# Traced, the agent starts slowly: the seconds count from its first records (at most 5 minutes).
for _ in $(seq 1 300); do
  [ -s "$work/alone.jsonl" ] && break
  sleep 1
done
sleep "$STANDALONE_SECONDS"
profile_stop alone "$work/alone.jsonl"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sentry_port="$(free_port)"
admin_port="$(free_port)"
guid=profile
# Under lackey every memory access is traced: a TLS handshake takes far longer than the 5-10 s a
# real link allows, so the profile's link allows 5 minutes for each step of setting up.
local_link_configs "$base_bin" "$work" "$guid" "$sentry_port" "$admin_port" 1000 300000
"$base_bin" serve --config "$work/base.toml" 2>"$work/base.log" &
base_pid=$!
disown "$base_pid" # stopped by the exit trap, without the shell reporting it
profile_start linked "$work/sentry.toml"
linked=false
for _ in $(seq 1 120); do
  if timeout 30 "$base_bin" call --config "$work/base.toml" "$guid" getSystemInfo >/dev/null 2>&1; then
    linked=true
    break
  fi
  sleep 1
done
if $linked; then
  for method in getProcesses getNetStat getArpCache getArpCache6 getRoutingTable getRoutingTable6 \
    getDiskPartitions getNetworkInterfaces getLoggers getLoggerFactories listFiles; do
    if ! reply="$(timeout 120 "$base_bin" call --config "$work/base.toml" "$guid" "$method" 2>&1)"; then
      # Under valgrind a process list can outlast the base's 30 s call timeout; the agent
      # still finishes it, traced, while the other calls go on.
      echo "build-linux-agent: $method: $(tail -n 1 <<<"$reply") (the profile goes on)" >&2
    fi
  done
  sleep 5 # a few more logger cycles, shipped to the base
else
  echo "build-linux-agent: the agent never linked to the base in the profile run:" >&2
  tail -n 20 "$work/linked.log" "$work/base.log" >&2
  exit 1
fi
profile_stop linked "$work/sentry-records.jsonl"

echo "build-linux-agent: 3/3 linking what it touched together" >&2
# ld's own script for `-static -no-pie -z relro -z now` (as rustc links), with the touched sections pulled to the start of .text
# and of .rodata.
echo 'int main(void) { return 0; }' >"$work/empty.c"
musl-gcc -static -no-pie -Wl,-z,relro,-z,now -Wl,--verbose "$work/empty.c" -o "$work/empty" |
  awk '/^======/ { inside = !inside; next } inside' >"$work/default.ld"
python3 tools/linux-agent/layout.py script "$out/unordered.map" "$work/default.ld" \
  "$out/touched-alone.txt" "$out/touched-linked.txt" >"$work/agent.ld"
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
