#!/usr/bin/env bash
# Tests the Linux packages on this machine: builds them (scripts/build-deb.sh; KRAKEN_AGENT_BIN
# passes an agent already built by scripts/build-linux-agent.sh), checks their contents, runs
# lintian on both (no errors allowed; warnings are printed), shellcheck on the scripts where it
# is installed, then installs, runs, removes and purges each package for real:
#
#   kraken-sentry  dpkg -i; the layout and modes; the unit enabled and accepted by
#                  `systemd-analyze verify`; the installed agent run with the installed
#                  configuration writes records to /var/log/kraken-sentry and its state to
#                  /var/lib/kraken-sentry; the unit's capability bounding set lets netstat find
#                  the owner of another user's socket, and neither capability alone does
#   kraken-base    dpkg -i; the PKI its postinst makes (keys 0600, directory 0700); the unit;
#                  the installed base serves with the installed configuration and its admin
#                  API answers; a sentry configured from that PKI links to it
#   both           dpkg -r keeps the configuration, keys and state; reinstalling keeps an edited
#                  configuration; dpkg -P removes them all
#
# CI may not run systemd as PID 1: the maintainer scripts must then succeed and only enable the
# units, which is checked; where systemd runs, the test checks that postinst started each
# service, stops it and goes on the same way. Needs root (dpkg -i): as another user it uses
# sudo if it can, else prints `deb: skipped (needs root)` and fails only when CI=true. It
# refuses to run where either package is already installed, since it purges them at the end.
# Prints one line per check, then `deb: N passed, M failed`.
#
# `check` runs each check's command indirectly: a function, or a compound condition as an eval
# string (expanded when it runs, hence in single quotes).
# shellcheck disable=SC2016,SC2317
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "deb: skipped (needs root)"
  [ "${CI:-}" != true ]
  exit
fi
# as_root COMMAND...: COMMAND as root. Programs started in the background are started with
# "${SUDO[@]}" directly instead, so that $! is the program (or sudo, which passes signals on),
# not a subshell running this function.
as_root() { "${SUDO[@]}" "$@"; }

passed=0
failed=0
# check NAME COMMAND...: runs COMMAND, counts and prints the outcome.
check() {
  local name="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "  ok    $name"
  else
    failed=$((failed + 1))
    echo "  FAIL  $name"
  fi
}
finish() {
  echo "deb: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

for package in kraken-sentry kraken-base; do
  state="$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)"
  if [ -n "$state" ] && [ "$state" != not-installed ]; then
    echo "test-deb: $package is on this machine ($state); the test installs and purges it: remove it first" >&2
    failed=1
    finish
  fi
done

systemd_running=false
if [ -d /run/systemd/system ]; then
  systemd_running=true
fi
echo "== systemd as the running init: $systemd_running"

work="$(mktemp -d "${TMPDIR:-/tmp}/test-deb.XXXXXX")"
chmod 0755 "$work"
pids=()
installed=()
# On any exit, nothing this script started keeps running and neither package stays installed.
cleanup() {
  local pid package
  for pid in "${pids[@]}"; do
    as_root kill -KILL "$pid" 2>/dev/null || true
  done
  for package in "${installed[@]}"; do
    as_root dpkg -P "$package" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build (scripts/build-deb.sh)"
build_started=$SECONDS
if ! bash scripts/build-deb.sh >"$work/built.txt"; then
  check "build-deb.sh builds both packages" false
  finish
fi
cat "$work/built.txt"
echo "build-deb.sh took $((SECONDS - build_started)) s"
version="$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)"
sentry_deb="target/deb/kraken-sentry_${version}_amd64.deb"
base_deb="target/deb/kraken-base_${version}_amd64.deb"
check "build-deb.sh builds both packages" test -s "$sentry_deb" -a -s "$base_deb"

echo "== contents"
# has DEB MODE PATH: the package holds PATH with MODE (ls -l style) owned by root/root.
has() {
  dpkg-deb -c "$1" | awk -v mode="$2" -v path="./$3" '$1 == mode && $2 == "root/root" && $6 == path { found = 1 } END { exit !found }'
}
# fields DEB FIELD...: the control fields, as dpkg-deb -f prints them.
fields() { dpkg-deb -f "$@"; }
# packaged PACKAGE CONFIG: the package's program, unit, configuration directory (0750) and file
# (the only conffile), copyright and changelog, with their modes.
packaged() {
  local deb="target/deb/${1}_${version}_amd64.deb"
  has "$deb" -rwxr-xr-x "usr/bin/$1" &&
    has "$deb" -rw-r--r-- "lib/systemd/system/$1.service" &&
    has "$deb" drwxr-x--- "etc/$1/" &&
    has "$deb" -rw-r--r-- "etc/$1/$2" &&
    has "$deb" -rw-r--r-- "usr/share/doc/$1/copyright" &&
    has "$deb" -rw-r--r-- "usr/share/doc/$1/changelog.gz" &&
    [ "$(dpkg-deb -I "$deb" conffiles)" = "/etc/$1/$2" ]
}
# static FILE: an executable with no loader and no shared library.
static() { ! readelf -lW "$1" | grep -q INTERP && ! readelf -dW "$1" | grep -q NEEDED; }
check "kraken-sentry: Version $version, amd64, no Depends" \
  test "$(fields "$sentry_deb" Version Architecture Depends)" = "Version: $version
Architecture: amd64"
check "kraken-sentry: the agent, unit, configuration (conffile) and docs" packaged kraken-sentry sentry.toml
dpkg-deb -x "$sentry_deb" "$work/sentry-tree"
check "kraken-sentry: the packaged agent is static (no loader, no shared library)" \
  static "$work/sentry-tree/usr/bin/kraken-sentry"
check "kraken-sentry: the packaged unit is packaging/linux/kraken-sentry.service" \
  cmp -s "$work/sentry-tree/lib/systemd/system/kraken-sentry.service" packaging/linux/kraken-sentry.service
base_depends="$(fields "$base_deb" Depends)"
echo "kraken-base Depends: $base_depends"
check "kraken-base: Version $version, amd64" \
  test "$(fields "$base_deb" Version Architecture)" = "Version: $version
Architecture: amd64"
check "kraken-base: Depends on libc6, as dpkg-shlibdeps found" \
  grep -q '^libc6 (>= [0-9.]*)' <<<"$base_depends"
check "kraken-base: the base, unit, configuration (conffile) and docs" packaged kraken-base base.toml

echo "== lintian"
# lintian_ok DEB: lintian's findings on DEB, printed; fails on an error (E:) only.
lintian_ok() {
  local rc=0
  lintian "$1" >"$work/lintian.txt" 2>&1 || rc=$?
  sed 's/^/    /' "$work/lintian.txt"
  [ "$rc" -eq 0 ] && ! grep -q '^E: ' "$work/lintian.txt"
}
check "lintian kraken-sentry: no error" lintian_ok "$sentry_deb"
check "lintian kraken-base: no error" lintian_ok "$base_deb"

# Lint: this script, build-deb.sh and the maintainer scripts (POSIX sh) are clean.
shellcheck_ok() {
  shellcheck scripts/build-deb.sh scripts/test-deb.sh &&
    shellcheck -s sh packaging/linux/kraken-*/postinst packaging/linux/kraken-*/prerm packaging/linux/kraken-*/postrm
}
if command -v shellcheck >/dev/null; then
  check "shellcheck: build-deb.sh, test-deb.sh and the maintainer scripts" shellcheck_ok
else
  echo "== shellcheck not installed: skipped"
fi

# mode PATH: PATH's octal mode and owner, as root sees it.
mode() { as_root stat -c '%a %U:%G' "$1"; }
# modes MODE PATH...: each PATH has MODE ("700 root:root").
modes() {
  local want="$1" path
  shift
  for path in "$@"; do
    [ "$(mode "$path")" = "$want" ] || { echo "    $path: $(mode "$path"), not $want"; return 1; }
  done
}
# exists PATH...: each PATH exists (as root sees it); absent PATH...: none does.
exists() {
  local path
  for path in "$@"; do
    as_root test -e "$path" || { echo "    $path is missing"; return 1; }
  done
}
absent() {
  local path
  for path in "$@"; do
    ! as_root test -e "$path" -o -L "$path" || { echo "    $path is still there"; return 1; }
  done
}
# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS.
wait_for() {
  local seconds="$1" i
  shift
  for ((i = 0; i < seconds; i++)); do
    if "$@" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  return 1
}
# running PID: PID is still alive.
running() { as_root kill -0 "$1" 2>/dev/null; }
# forget PID: PID is no longer this script's to stop.
forget() {
  local pid kept=()
  for pid in "${pids[@]}"; do
    [ "$pid" = "$1" ] || kept+=("$pid")
  done
  pids=("${kept[@]}")
}
# stop PID: SIGTERM, as systemd stops a service; true if it exits 0 within 30 s (else it is
# killed).
stop() {
  local pid="$1" rc=0 i
  as_root kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    running "$pid" || break
    sleep 1
  done
  as_root kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  forget "$pid"
  return "$rc"
}
# enabled UNIT: deb-systemd-helper's link for WantedBy=multi-user.target.
enabled() {
  [ "$(readlink "/etc/systemd/system/multi-user.target.wants/$1")" = "/lib/systemd/system/$1" ]
}
# postinst_started PACKAGE: where systemd runs, postinst started the service (stopped here, so
# that the test runs the program itself); without systemd it is not running.
postinst_started() {
  if $systemd_running; then
    systemctl is-active --quiet "$1" && as_root systemctl stop "$1"
  else
    if systemctl is-active --quiet "$1" 2>/dev/null; then
      return 1
    fi
  fi
}
# package_state PACKAGE: dpkg's state of PACKAGE (installed, config-files, not-installed...).
package_state() {
  local state
  state="$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)"
  echo "${state:-not-installed}"
}
# installed_files PACKAGE CONFIG: the program, the unit and the configuration (directory 0750).
installed_files() {
  [ -x "/usr/bin/$1" ] && [ -f "/lib/systemd/system/$1.service" ] &&
    modes "750 root:root" "/etc/$1" && exists "/etc/$1/$2"
}
# port_free PORT: nothing listens on TCP PORT.
port_free() { [ -z "$(ss -H -ltn "sport = :$1")" ]; }
# unit_links_gone UNIT: neither deb-systemd-helper's enablement nor its mask is left.
unit_links_gone() {
  absent "/etc/systemd/system/multi-user.target.wants/$1" "/etc/systemd/system/$1"
}

echo "== kraken-sentry: install"
installed+=(kraken-sentry)
check "dpkg -i kraken-sentry (maintainer scripts succeed; systemd running: $systemd_running)" \
  as_root dpkg -i "$sentry_deb"
check "installed: /usr/bin/kraken-sentry, the unit, /etc/kraken-sentry (0750) with sentry.toml" \
  installed_files kraken-sentry sentry.toml
check "postinst: /var/lib/kraken-sentry 0700, /var/log/kraken-sentry 0750" eval \
  'modes "700 root:root" /var/lib/kraken-sentry && modes "750 root:root" /var/log/kraken-sentry'
check "postinst: the unit is enabled" enabled kraken-sentry.service
check "postinst: the service is started where systemd runs, and only there" postinst_started kraken-sentry
check "systemd-analyze verify accepts the installed kraken-sentry.service" \
  as_root systemd-analyze verify /lib/systemd/system/kraken-sentry.service
as_root systemd-analyze security --offline=true /lib/systemd/system/kraken-sentry.service 2>/dev/null |
  tail -n 1 | sed 's/^/    /' || true

echo "== kraken-sentry: run as installed"
records=/var/log/kraken-sentry/records.jsonl
"${SUDO[@]}" /usr/bin/kraken-sentry run --config /etc/kraken-sentry/sentry.toml >"$work/sentry.log" 2>&1 &
agent=$!
pids+=("$agent")
check "the installed agent writes records to $records" wait_for 60 as_root test -s "$records"
check "it stops cleanly on SIGTERM (exit 0)" stop "$agent"
sed 's/^/    /' "$work/sentry.log" | tail -n 4
as_root head -n 1 "$records" | cut -c1-150 | sed 's/^/    /' || true
# default_loggers: the state store in /var/lib/kraken-sentry holds the four default loggers.
default_loggers() {
  local names
  names="$(as_root /usr/bin/kraken-sentry logger list --config /etc/kraken-sentry/sentry.toml |
    awk 'NR > 1 { print $1 }' | sort | tr '\n' ' ')"
  echo "    loggers: $names"
  exists /var/lib/kraken-sentry/state.sqlite3 && [ "$names" = "cpu disk memory network " ]
}
check "its state is in /var/lib/kraken-sentry: the four default loggers" default_loggers

echo "== kraken-sentry: the unit's capabilities"
caps="$(sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/kraken-sentry.service)"
echo "    CapabilityBoundingSet=$caps"
cap_list=()
for cap in $caps; do
  cap="${cap#CAP_}"
  cap_list+=("${cap,,}")
done
# A socket of another user (nobody), listening on loopback.
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(300)' >"$work/nobody-port" &
nobody=$!
pids+=("$nobody")
wait_for 10 test -s "$work/nobody-port" || true
nobody_port="$(cat "$work/nobody-port")"
# owner_found CAP...: as root with only CAP... in its bounding set (as the unit runs it),
# `kraken-sentry exec netstat` names the pid that owns nobody's socket.
owner_found() {
  local set="-all" cap
  for cap in "$@"; do
    set+=",+$cap"
  done
  as_root setpriv --bounding-set="$set" --inh-caps=-all /usr/bin/kraken-sentry exec netstat |
    /usr/bin/python3 -c "import json, sys
sockets = json.load(sys.stdin)['tcp']
sys.exit(not any(s['local_port'] == $nobody_port and s['pid'] == $nobody for s in sockets))"
}
check "with the unit's capabilities (${cap_list[*]}), netstat finds the owner of nobody's socket" \
  owner_found "${cap_list[@]}"
for cap in "${cap_list[@]}"; do
  others=()
  for other in "${cap_list[@]}"; do
    [ "$other" = "$cap" ] || others+=("$other")
  done
  check "without $cap it does not: the capability is needed" eval '! owner_found "${others[@]}"'
done
as_root kill "$nobody" 2>/dev/null || true
wait "$nobody" 2>/dev/null || true
forget "$nobody"

echo "== kraken-base: install"
for port in 7140 7141; do
  port_free "$port" || echo "test-deb: port $port is in use here; the base cannot serve" >&2
done
installed+=(kraken-base)
check "dpkg -i kraken-base (maintainer scripts succeed; systemd running: $systemd_running)" \
  as_root dpkg -i "$base_deb"
check "installed: /usr/bin/kraken-base, the unit, /etc/kraken-base (0750) with base.toml" \
  installed_files kraken-base base.toml
check "postinst: /var/lib/kraken-base 0700" modes "700 root:root" /var/lib/kraken-base
check "postinst: a PKI in /etc/kraken-base/pki (0700, keys 0600)" eval \
  'modes "700 root:root" /etc/kraken-base/pki &&
   modes "600 root:root" /etc/kraken-base/pki/ca.key /etc/kraken-base/pki/base.key &&
   exists /etc/kraken-base/pki/ca.pem /etc/kraken-base/pki/base.pem /etc/kraken-base/pki/crl.pem'
check "postinst: the unit is enabled" enabled kraken-base.service
check "postinst: the service is started where systemd runs, and only there" postinst_started kraken-base
check "systemd-analyze verify accepts the installed kraken-base.service" \
  as_root systemd-analyze verify /lib/systemd/system/kraken-base.service
as_root systemd-analyze security --offline=true /lib/systemd/system/kraken-base.service 2>/dev/null |
  tail -n 1 | sed 's/^/    /' || true

echo "== kraken-base: serve as installed, the installed sentry linked to it"
"${SUDO[@]}" /usr/bin/kraken-base serve --config /etc/kraken-base/base.toml >"$work/base.log" 2>&1 &
base=$!
pids+=("$base")
check "the installed base serves: its admin API answers (kraken-base sentries)" \
  wait_for 30 as_root /usr/bin/kraken-base sentries --config /etc/kraken-base/base.toml
# The sentry configured as the README says: a certificate from the base's CA, the key 0600.
guid="deb-test"
as_root /usr/bin/kraken-base pki issue "$guid" /etc/kraken-base/pki >/dev/null
as_root install -m 0644 /etc/kraken-base/pki/ca.pem /etc/kraken-sentry/ca.pem
as_root install -m 0644 "/etc/kraken-base/pki/$guid.pem" /etc/kraken-sentry/sentry.pem
as_root install -m 0600 "/etc/kraken-base/pki/$guid.key" /etc/kraken-sentry/sentry.key
as_root sed -i "s/^#guid = .*/guid = \"$guid\"/" /etc/kraken-sentry/sentry.toml
as_root tee -a /etc/kraken-sentry/sentry.toml >/dev/null <<'TOML'
[[base]]
name = "local"
address = "127.0.0.1"
certificate = "/etc/kraken-sentry/sentry.pem"
key = "/etc/kraken-sentry/sentry.key"
ca = "/etc/kraken-sentry/ca.pem"
TOML
"${SUDO[@]}" /usr/bin/kraken-sentry run --config /etc/kraken-sentry/sentry.toml >"$work/sentry-linked.log" 2>&1 &
agent=$!
pids+=("$agent")
# linked: the base lists the sentry as connected.
linked() {
  as_root /usr/bin/kraken-base sentries --config /etc/kraken-base/base.toml | grep -q "^$guid  connected"
}
check "the installed sentry links to the installed base ($guid connected)" wait_for 60 linked
check "the sentry stops cleanly on SIGTERM (exit 0)" stop "$agent"
check "the base stops cleanly on SIGTERM (exit 0)" stop "$base"
tail -n 2 "$work/sentry-linked.log" "$work/base.log" | sed 's/^/    /'

echo "== kraken-sentry: remove, install again, purge"
# edited_config: sentry.toml still has the guid set above.
edited_config() { as_root grep -q "^guid = \"$guid\"" /etc/kraken-sentry/sentry.toml; }
check "dpkg -r kraken-sentry" as_root dpkg -r kraken-sentry
check "removed: the agent and the unit are gone" absent /usr/bin/kraken-sentry /lib/systemd/system/kraken-sentry.service
check "removed: the edited configuration, the key (0600), the state and the records stay" eval \
  'edited_config && modes "600 root:root" /etc/kraken-sentry/sentry.key &&
   exists /var/lib/kraken-sentry/state.sqlite3 "$records" && [ "$(package_state kraken-sentry)" = config-files ]'
check "dpkg -i again: the edited configuration is kept, the unit enabled again" eval \
  'as_root dpkg -i "$sentry_deb" && edited_config && enabled kraken-sentry.service && postinst_started kraken-sentry'
check "dpkg -r, dpkg -P kraken-sentry" eval 'as_root dpkg -r kraken-sentry && as_root dpkg -P kraken-sentry'
check "purged: /etc/kraken-sentry, /var/lib/kraken-sentry, /var/log/kraken-sentry and the unit's links are gone" eval \
  'absent /etc/kraken-sentry /var/lib/kraken-sentry /var/log/kraken-sentry && unit_links_gone kraken-sentry.service &&
   [ "$(package_state kraken-sentry)" = not-installed ]'

echo "== kraken-base: remove, purge"
check "dpkg -r kraken-base" as_root dpkg -r kraken-base
check "removed: the base and the unit are gone" absent /usr/bin/kraken-base /lib/systemd/system/kraken-base.service
check "removed: the configuration, the PKI and the storage stay" \
  exists /etc/kraken-base/base.toml /etc/kraken-base/pki/ca.key /var/lib/kraken-base/base.sqlite3 \
  /var/lib/kraken-base/admin.token
check "dpkg -P kraken-base" as_root dpkg -P kraken-base
check "purged: /etc/kraken-base, /var/lib/kraken-base and the unit's links are gone" eval \
  'absent /etc/kraken-base /var/lib/kraken-base && unit_links_gone kraken-base.service &&
   [ "$(package_state kraken-base)" = not-installed ]'
installed=()

finish
