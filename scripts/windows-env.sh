#!/usr/bin/env bash
# Environment for building kraken-sentry for Windows (x86_64-pc-windows-gnu) on Debian and for
# running the result under Wine. Meant to be sourced, by build-windows.sh, wine-prefix.sh and
# test-windows.sh, or by hand in an interactive shell:
#
#     source scripts/windows-env.sh
#     windows_cargo build --workspace
#     "$WINDOWS_WINE" "$CARGO_TARGET_DIR/x86_64-pc-windows-gnu/debug/kraken-sentry.exe" </dev/null >out.txt 2>&1
#
# How the build works: Debian's Rust (rustc-web/cargo-web, /usr/bin/rustc and /usr/bin/cargo) has
# no prebuilt std for Windows, so std is built from source (rust-web-src) with -Zbuild-std, which
# needs RUSTC_BOOTSTRAP=1 on a stable compiler. RUSTC must point at Debian's rustc: otherwise cargo
# picks the rustup rustc on PATH and build-std fails against Debian's std sources. The linker is
# mingw-w64's gcc, set through the environment rather than a committed .cargo/config.toml so that
# a plain `cargo build` with a normal Windows toolchain keeps working. Windows artifacts go to their
# own target dir (target/windows) so they never invalidate the host build's fingerprints.
#
# Sourcing this file changes RUSTC and RUSTC_BOOTSTRAP for the whole shell; a host `cargo build`
# run later in the same shell would use Debian's rustc. Use a subshell if that matters.
#
# Overridable from the environment before sourcing:
#   KRAKEN_WINDOWS_WORKSPACE   the cargo workspace to build/test (default: this repository)
#   KRAKEN_WINDOWS_TARGET_DIR  cargo target dir (default: <workspace>/target/windows)
#   KRAKEN_WINE_PREFIX         Wine prefix (default: <this repository>/target/wine-prefix)
#   KRAKEN_WINDOWS_RUSTC / KRAKEN_WINDOWS_CARGO  (default: /usr/bin/rustc, /usr/bin/cargo)
#   KRAKEN_WINE                the 64-bit Wine loader (default: /usr/lib/wine/wine64, else wine64)
# shellcheck shell=bash

# Root of this repository (the directory above scripts/), whatever the caller's cwd.
WINDOWS_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WINDOWS_WORKSPACE="$(cd "${KRAKEN_WINDOWS_WORKSPACE:-$WINDOWS_REPO_ROOT}" && pwd)"
WINDOWS_TARGET=x86_64-pc-windows-gnu
WINDOWS_CARGO="${KRAKEN_WINDOWS_CARGO:-/usr/bin/cargo}"
WINDOWS_SHIM_SRC="$WINDOWS_REPO_ROOT/tools/wine-shim"

if [ -n "${KRAKEN_WINE:-}" ]; then
  WINDOWS_WINE="$KRAKEN_WINE"
elif [ -x /usr/lib/wine/wine64 ]; then
  WINDOWS_WINE=/usr/lib/wine/wine64 # Debian 12's wine64 package; not on PATH
else
  WINDOWS_WINE="$(command -v wine64 || command -v wine || echo wine64)"
fi
if [ -x /usr/lib/wine/wineserver64 ]; then
  WINDOWS_WINESERVER=/usr/lib/wine/wineserver64
else
  WINDOWS_WINESERVER="$(command -v wineserver || echo wineserver)"
fi

export WINDOWS_REPO_ROOT WINDOWS_WORKSPACE WINDOWS_TARGET WINDOWS_CARGO WINDOWS_SHIM_SRC
export WINDOWS_WINE WINDOWS_WINESERVER

# --- Rust toolchain -----------------------------------------------------------------------------
export RUSTC="${KRAKEN_WINDOWS_RUSTC:-/usr/bin/rustc}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_DIR="${KRAKEN_WINDOWS_TARGET_DIR:-$WINDOWS_WORKSPACE/target/windows}"
# Lets `windows_cargo run` / `windows_cargo test` (without --no-run) execute exes under Wine too.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINDOWS_WINE"
# A RUSTC_WRAPPER (e.g. sccache) set up for the rustup toolchain would be wrong here.
unset RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER

# --- Wine ---------------------------------------------------------------------------------------
export WINEPREFIX="${KRAKEN_WINE_PREFIX:-$WINDOWS_REPO_ROOT/target/wine-prefix}"
export WINEARCH=win64
export WINEDEBUG=-all
# bcryptprimitives: always the native shim (Wine 8.0 has no builtin one; later Wines may).
# mscoree/mshtml disabled: no Mono/Gecko install prompts, and nothing here needs them.
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree=;mshtml="

# windows_cargo SUBCOMMAND [ARGS...]: Debian's cargo for the Windows target, std built from source.
#   windows_cargo build --workspace --release
#   windows_cargo test --workspace --no-run --message-format=json-render-diagnostics
windows_cargo() {
  local subcommand="$1"
  shift
  (
    cd "$WINDOWS_WORKSPACE"
    "$WINDOWS_CARGO" "$subcommand" -Zbuild-std=std,panic_abort --target "$WINDOWS_TARGET" "$@"
  )
}

# windows_has_package_selection ARGS...: true if ARGS already select packages, so callers
# must not add --workspace themselves.
windows_has_package_selection() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      --) return 1 ;;
      -p | -p* | --package | --package=* | --workspace | --all | --manifest-path | --manifest-path=*) return 0 ;;
    esac
  done
  return 1
}
