#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh Debian 12 machine for building and testing kraken-sentry.
#
# Installs, from Debian's own archive only:
#   - gcc-mingw-w64-x86-64: linker and C compiler for the x86_64-pc-windows-gnu target
#   - rustc-web, cargo-web, rust-web-src: a Rust 1.96 toolchain whose std can be built for Windows
#   - wine64, wine: runs the Windows test binaries
#   - pkg-config, ca-certificates: ordinary build needs
#   - iproute2, procps: `ip`, `ss` and `ps`, the independent sources the host-fact tests and
#     benchmarks compare against
#   - musl-tools, libunwind-14-dev, valgrind, python3: the static Linux agent to ship
#     (scripts/build-linux-agent.sh: musl libc and C compiler, an unwinder for std, and the
#     profile and script that lay out its code and constants)
#   - nsis: makensis, which builds the Windows installer (scripts/build-installer.sh)
#   - clickhouse-server: the base's ClickHouse storage tests start their own server
#     (unprivileged, free ports, a temp dir; the package's own service is left alone)
#   - rsyslog, rsyslog-gnutls: the receiver the base's forwarding test sends syslog to over TLS
#     (the test starts its own rsyslogd, unprivileged, on a free port; where systemd runs, the
#     package also starts the system's rsyslog service, as on any host that installs it)
#   - chromium, chromium-driver: the headless browser the console test drives over WebDriver
#   - dpkg-dev, lintian, systemd, shellcheck: the Linux packages (scripts/build-deb.sh builds
#     them with dpkg-deb and reads the base's library needs with dpkg-shlibdeps;
#     scripts/test-deb.sh checks them with lintian, their units with systemd-analyze verify and
#     its own scripts and the maintainer scripts with shellcheck)
# With --bench it also installs the peers the benchmarks compare against:
#   - collectd-core: the C metrics daemon of the agent-footprint benchmark
# Run as root (or with sudo). Safe to run again: packages already present are skipped.
set -euo pipefail

packages=(
  gcc-mingw-w64-x86-64
  rustc-web
  cargo-web
  rust-web-src
  wine64
  wine
  nsis
  clickhouse-server
  rsyslog
  rsyslog-gnutls
  chromium
  chromium-driver
  pkg-config
  ca-certificates
  iproute2
  procps
  musl-tools
  libunwind-14-dev
  valgrind
  python3
  dpkg-dev
  lintian
  systemd
  shellcheck
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(collectd-core)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-debian: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

echo "setup-debian: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup-debian: done"
