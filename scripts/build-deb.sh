#!/usr/bin/env bash
# Builds the two Linux packages with dpkg-deb, into target/deb/:
#
#   kraken-sentry_<version>_amd64.deb   the static agent of scripts/build-linux-agent.sh at
#                                       /usr/bin/kraken-sentry, /etc/kraken-sentry/sentry.toml
#                                       (conffile), the unit kraken-sentry.service
#   kraken-base_<version>_amd64.deb     `cargo build --release -p kraken-base` at
#                                       /usr/bin/kraken-base (Depends: from dpkg-shlibdeps),
#                                       /etc/kraken-base/base.toml (conffile), kraken-base.service
#
# <version> is the workspace's version (Cargo.toml). Everything else comes from
# packaging/linux/: the units, the example configurations, each package's control template,
# maintainer scripts, conffiles and lintian overrides, and the copyright file. The changelog
# is made here, dated by the last commit. The packages are native (the version has no Debian
# revision: they are built by the project itself), so it is changelog.gz, as policy 12.7 asks.
#
# The agent build takes 3 to 6 minutes (it profiles the agent each time); KRAKEN_AGENT_BIN
# names an agent already built by scripts/build-linux-agent.sh to package instead, and
# KRAKEN_BASE_RELEASE_BIN a kraken-base built by `cargo build --release -p kraken-base`. Maintainer:
# DEBFULLNAME and DEBEMAIL if set, else the author of the last commit. Prints each package's
# path and size on stdout; progress goes to stderr. Needs dpkg-dev (scripts/setup-debian.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
umask 022

started=$SECONDS
out="$repo/target/deb"
packaging="$repo/packaging/linux"

version="$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)"
[ -n "$version" ] || { echo "build-deb: no version in Cargo.toml's [workspace.package]" >&2; exit 1; }
if [ -n "${DEBFULLNAME:-}" ] && [ -n "${DEBEMAIL:-}" ]; then
  maintainer="$DEBFULLNAME <$DEBEMAIL>"
else
  maintainer="$(git log -1 --format='%an <%ae>')"
fi
# The packages' time (file times, changelog date): the last commit's, for dpkg-deb only (the
# C build scripts of the dependencies rebuild when SOURCE_DATE_EPOCH changes).
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"

echo "build-deb: version $version, maintainer $maintainer" >&2
if [ -n "${KRAKEN_AGENT_BIN:-}" ]; then
  agent="$KRAKEN_AGENT_BIN"
  [ -x "$agent" ] || { echo "build-deb: KRAKEN_AGENT_BIN=$agent is not an executable" >&2; exit 1; }
  echo "build-deb: packaging the agent $agent" >&2
else
  echo "build-deb: building the static agent (scripts/build-linux-agent.sh)" >&2
  agent="$(bash scripts/build-linux-agent.sh)"
fi
# A package without Depends must hold a static executable: no loader, no shared library.
if readelf -lW "$agent" | grep -q INTERP || readelf -dW "$agent" | grep -q NEEDED; then
  echo "build-deb: $agent is dynamically linked; the kraken-sentry package needs the static build" >&2
  exit 1
fi
if [ -n "${KRAKEN_BASE_RELEASE_BIN:-}" ]; then
  base="$KRAKEN_BASE_RELEASE_BIN"
  [ -x "$base" ] || { echo "build-deb: KRAKEN_BASE_RELEASE_BIN=$base is not an executable" >&2; exit 1; }
  echo "build-deb: packaging the base $base" >&2
else
  echo "build-deb: building kraken-base (cargo build --release)" >&2
  cargo build --release --locked -p kraken-base --bin kraken-base >&2
  base="$repo/target/release/kraken-base"
fi

rm -rf "$out/stage"
mkdir -p "$out/stage"

# stage PACKAGE BINARY UNIT CONFIG: the package's tree under target/deb/stage/PACKAGE, control
# files included, except the control file itself.
stage() {
  local package="$1" binary="$2" unit="$3" config="$4"
  local root="$out/stage/$package"
  local doc="$root/usr/share/doc/$package"
  install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$doc" \
    "$root/usr/share/lintian/overrides"
  # Stripped as Debian policy asks (symbols only: no loaded section changes, so the agent's
  # code layout stays as built).
  install -m 0755 "$binary" "$root/usr/bin/$package"
  strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/$package"
  install -m 0644 "$packaging/$unit" "$root/lib/systemd/system/$unit"
  # The configuration directory is root's alone: keys go there (0600).
  install -d -m 0750 "$root/etc/$package"
  install -m 0644 "$packaging/$config" "$root/etc/$package/$config"
  install -m 0644 "$packaging/copyright" "$doc/copyright"
  install -m 0644 "$packaging/$package/lintian-overrides" "$root/usr/share/lintian/overrides/$package"
  {
    echo "$package ($version) unstable; urgency=medium"
    echo
    echo "  * Built from the kraken-sentry workspace by scripts/build-deb.sh, commit"
    echo "    $(git rev-parse --short=12 HEAD)."
    echo
    echo " -- $maintainer  $(date -u -R -d "@$epoch")"
  } | gzip -9n >"$doc/changelog.gz"
  chmod 0644 "$doc/changelog.gz"
  for script in postinst prerm postrm; do
    install -m 0755 "$packaging/$package/$script" "$root/DEBIAN/$script"
  done
  install -m 0644 "$packaging/$package/conffiles" "$root/DEBIAN/conffiles"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/md5sums"
}

# control PACKAGE DEPENDS: DEBIAN/control from the template.
control() {
  local package="$1" depends="$2" root="$out/stage/$1"
  local size
  size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  sed -e "s|@VERSION@|$version|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@INSTALLED_SIZE@|$size|" \
    -e "s|@DEPENDS@|$depends|" "$packaging/$package/control.in" >"$root/DEBIAN/control"
  if grep -q '@[A-Z_]*@' "$root/DEBIAN/control"; then
    echo "build-deb: $package: a placeholder is left in the control file" >&2
    exit 1
  fi
}

stage kraken-sentry "$agent" kraken-sentry.service sentry.toml
control kraken-sentry ""

stage kraken-base "$base" kraken-base.service base.toml
# The base is linked against glibc: dpkg-shlibdeps reads which libraries, and which versions of
# them, it needs (it wants a debian/control naming the package, so it runs in a scratch dir).
shlibs="$(mktemp -d "${TMPDIR:-/tmp}/kraken-shlibs.XXXXXX")"
trap 'rm -rf "$shlibs"' EXIT
mkdir "$shlibs/debian"
printf 'Source: kraken-base\n\nPackage: kraken-base\nArchitecture: amd64\n' >"$shlibs/debian/control"
depends="$(cd "$shlibs" && dpkg-shlibdeps -O -e"$out/stage/kraken-base/usr/bin/kraken-base" |
  sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependency for kraken-base" >&2; exit 1; }
control kraken-base "$depends"

for package in kraken-sentry kraken-base; do
  deb="$out/${package}_${version}_amd64.deb"
  rm -f "$deb"
  SOURCE_DATE_EPOCH="$epoch" dpkg-deb --root-owner-group -Zxz --build "$out/stage/$package" "$deb" >&2
done
echo "build-deb: done in $((SECONDS - started)) s" >&2
for package in kraken-sentry kraken-base; do
  deb="$out/${package}_${version}_amd64.deb"
  echo "$deb $(stat -c %s "$deb") bytes ($(du -h --apparent-size "$deb" | cut -f1))"
done
