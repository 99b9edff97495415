#!/usr/bin/env bash
# The whole test suite, as CI and a new developer run it on a fresh Debian 12 machine:
#
#   1. scripts/setup-debian.sh   installs what the build and the tests need (idempotent; root/sudo)
#   2. formatting and lints      cargo fmt --check and cargo clippy -D warnings, where the toolchain
#                                has them (rustup's does; Debian's cargo-web does not), for Linux
#                                and, where the toolchain has a Windows std, for Windows; no two
#                                modules of a crate import each other (scripts/module-cycles.py)
#   3. Linux tests               unit, integration and doc tests of the workspace: cargo nextest
#                                (.config/nextest.toml) and cargo test --doc, or cargo test where
#                                cargo-nextest is not installed
#   4. Windows tests             every test exe built for x86_64-pc-windows-gnu, run under Wine
#                                (scripts/test-windows.sh)
#   5. Windows sentry, Linux     kraken-sentry.exe under Wine linked to kraken-base serve on
#      base                      loopback, also with the test wevtapi.dll: Security events
#                                across a SIGKILL and an archived log, once each
#                                (scripts/test-wine-sentry.sh)
#   5b. Windows event log        the live event log code (real wevtapi calls) under Wine against
#                                the test wevtapi.dll of tools/wevtapi-shim
#                                (scripts/test-wine-eventlog.sh)
#   5c. Windows installer        the NSIS installer (scripts/build-installer.sh) in a fresh Wine
#       and NT service           prefix: silent install linked to a Linux base, service stop,
#                                upgrade, uninstall, a bad configuration, /PURGE
#                                (scripts/test-wine-installer.sh)
#   6. Linux agent as shipped    the static build (scripts/build-linux-agent.sh) put through the
#                                sentry's and the base's integration tests
#                                (scripts/test-linux-agent.sh)
#   6b. Linux packages           kraken-sentry and kraken-base .deb (scripts/build-deb.sh, with
#                                step 6's agent) checked with lintian and systemd-analyze,
#                                installed, run, removed and purged (scripts/test-deb.sh; needs
#                                root or sudo, else skipped, a failure only when CI=true)
#
# Each runner prints its own summary; the last lines are `windows: N passed, M failed`,
# `wine-sentry: N passed, M failed`, `wine-eventlog: N passed, M failed`,
# `wine-installer: N passed, M failed`,
# `linux-agent: N passed, M failed`, `deb: N passed, M failed` and
# `linux: N passed, M failed`. Exits non-zero if any step fails (the Windows step still runs
# after a Linux failure, so one run shows both).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=scripts/libtest-totals.sh
source scripts/libtest-totals.sh

bash scripts/setup-debian.sh || { echo "test: set-up failed" >&2; exit 1; }
setup_seconds=$SECONDS

# Nothing is edited between this suite's builds, so incremental compilation's caches (a GB or
# more) would buy nothing.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# The suite's builds (Linux, Windows, the static agent) and the Wine prefix take about
# NEEDED_GIB of disk from a clean clone: say so up front rather than fail half-way with ENOSPC.
NEEDED_GIB=10
mkdir -p target
free_kib=$(df -Pk target | awk 'NR == 2 { print $4 }')
echo "== disk: $((free_kib / 1048576)) GiB free for target/ (a clean run needs about $NEEDED_GIB GiB)"
if [ "${free_kib:-0}" -lt $((NEEDED_GIB * 1048576)) ]; then
  echo "test: warning: less than $NEEDED_GIB GiB free; the builds may fail with 'No space left on device'" >&2
fi

# step NAME: ends the step before it with its time, starts NAME (times go in the summary).
step_name=""
step_started=$SECONDS
step_times=()
step() {
  if [ -n "$step_name" ]; then
    step_times+=("$step_name $((SECONDS - step_started)) s")
  fi
  step_name="$1"
  step_started=$SECONDS
  if [ -n "$1" ]; then echo "== $1"; fi
}

status=0
if cargo fmt --version >/dev/null 2>&1; then
  step "cargo fmt --check"
  cargo fmt --all -- --check || { echo "test: cargo fmt reports unformatted code" >&2; status=1; }
else
  echo "== cargo fmt not available with this toolchain: skipped"
fi
if cargo clippy --version >/dev/null 2>&1; then
  step "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings || { echo "test: clippy failed" >&2; status=1; }
  # The Windows code too, where the toolchain has a std for Windows (rustup's target
  # x86_64-pc-windows-gnu): lints need no linker, so no -Zbuild-std.
  windows_std="$(rustc --print target-libdir --target x86_64-pc-windows-gnu 2>/dev/null || true)"
  if [ -n "$windows_std" ] && compgen -G "$windows_std/libstd-*.rlib" >/dev/null; then
    step "cargo clippy (Windows target)"
    cargo clippy --workspace --all-targets --locked --target x86_64-pc-windows-gnu \
      --target-dir target/windows-clippy -- -D warnings || { echo "test: clippy (Windows) failed" >&2; status=1; }
  else
    echo "== cargo clippy for Windows skipped: this toolchain has no std for x86_64-pc-windows-gnu"
  fi
else
  echo "== cargo clippy not available with this toolchain: skipped"
fi

step "module import cycles (scripts/module-cycles.py)"
python3 scripts/module-cycles.py --self-test || { echo "test: the cycle checker's self-test failed" >&2; status=1; }
python3 scripts/module-cycles.py || { echo "test: modules of a crate import each other" >&2; status=1; }

step "Linux tests (cargo nextest, or cargo test without it)"
linux_log=target/linux-test-output.txt
linux_rc=0
run_tests "$linux_log" --doc-tests --workspace || linux_rc=$?
libtest_totals "$linux_log" "$linux_rc"
[ "$linux_rc" -eq 0 ] || status=1

step "Windows tests (Wine)"
bash scripts/test-windows.sh || status=1

# The .deb's kraken-base, a release build of about 3 minutes, is built from here on in the
# background, in a target directory of its own (no lock shared with the builds below): the Wine
# steps mostly leave a core idle (one Wine process at a time, the Windows agent's link as one
# codegen unit). The package step waits for it.
deb_base_dir="$PWD/target/deb-base"
deb_base_log=target/deb-base-build.txt
CARGO_TARGET_DIR="$deb_base_dir" cargo build --release --locked -p kraken-base --bin kraken-base \
  >"$deb_base_log" 2>&1 &
deb_base_pid=$!
trap 'kill "$deb_base_pid" 2>/dev/null' EXIT

step "Windows sentry against the Linux base (Wine)"
bash scripts/test-wine-sentry.sh || status=1

step "Windows event log through the test wevtapi.dll (Wine)"
bash scripts/test-wine-eventlog.sh || status=1

step "Windows installer and NT service (NSIS, Wine)"
bash scripts/test-wine-installer.sh || status=1

step "Linux agent as shipped (static musl build)"
linux_agent_rc=0
bash scripts/test-linux-agent.sh || linux_agent_rc=$?
[ "$linux_agent_rc" -eq 0 ] || status=1

step "Linux packages (.deb)"
# The packages take the agent the step above built, when it passed (building it again would
# take 3 more minutes); else build-deb.sh builds it.
deb_env=()
if [ "$linux_agent_rc" -eq 0 ] && [ -x target/linux-agent/kraken-sentry ]; then
  deb_env+=(KRAKEN_AGENT_BIN="$PWD/target/linux-agent/kraken-sentry")
fi
# The background build of the base (else build-deb.sh builds it, and reports its failure).
if wait "$deb_base_pid"; then
  deb_env+=(KRAKEN_BASE_RELEASE_BIN="$deb_base_dir/release/kraken-base")
else
  echo "test: the background release build of kraken-base failed ($deb_base_log):" >&2
  tail -n 30 "$deb_base_log" >&2
fi
env "${deb_env[@]}" bash scripts/test-deb.sh || status=1

step ""
echo "== time per step (setup-debian.sh: $setup_seconds s; all: $SECONDS s)"
printf '   %s\n' "${step_times[@]}"
echo "== disk: target/ holds $(du -sh target | cut -f1)"
echo "linux: $passed passed, $failed failed"
exit "$status"
