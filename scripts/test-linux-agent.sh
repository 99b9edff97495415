#!/usr/bin/env bash
# Tests the Linux agent as shipped: runs the layout tool's tests (tools/linux-agent), builds the
# agent (scripts/build-linux-agent.sh: static musl binary, code laid out by a profile), checks it
# is one self-contained executable, then runs the workspace's integration tests with it in place
# of the development build (KRAKEN_SENTRY_BIN): the sentry's and the base's tests that start the agent.
# Prints the runners' summaries, then `linux-agent: N passed, M failed`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=scripts/libtest-totals.sh
source scripts/libtest-totals.sh

log=target/linux-agent-test-output.txt
mkdir -p target

# The layout tool's own tests first: unittest ends with "Ran N tests", then "OK" or
# "FAILED (failures=F, errors=E)".
python3 tools/linux-agent/test_layout.py 2>&1 | tee "$log.layout"
layout_ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' "$log.layout")
layout_failed=$(sed -n 's/^FAILED (\(.*\))$/\1/p' "$log.layout" | tr ',' '\n' | awk -F= '{ s += $2 } END { print s + 0 }')
layout_passed=$((${layout_ran:-0} - layout_failed))
if [ -z "$layout_ran" ] || { [ "$layout_failed" -eq 0 ] && ! grep -qx 'OK' "$log.layout"; }; then
  layout_passed=0
  layout_failed=1 # the tests did not run
fi

# The integration tests are built first, with the whole workspace's features as test.sh's Linux
# step built them (nothing to do after it; a build of one package alone would rebuild the
# dependencies whose features differ), and their kraken-base is the profile's base.
if ! cargo test --locked --workspace --test '*' --no-run >&2 ||
  ! agent="$(KRAKEN_BASE_BIN="$PWD/target/debug/kraken-base" bash scripts/build-linux-agent.sh)"; then
  echo "linux-agent: $layout_passed passed, $((1 + layout_failed)) failed (the build failed)"
  exit 1
fi

checks_failed=$layout_failed
headers="$(readelf -lW "$agent")"
if grep -q 'INTERP' <<<"$headers"; then
  echo "linux-agent: $agent asks for a dynamic loader; it should be static" >&2
  checks_failed=$((checks_failed + 1))
fi

# Only the test binaries that start the agent run again: the others (codec, storage, hostile
# peers...) do not touch it and ran in the Linux step. A new test that starts the agent belongs
# in these lists; the loop below fails the step when a test file that starts it is missing.
sentry_tests=(agent_e2e cli_codec cli_eventlog cli_exec)
base_tests=(admin_api base_nodes clickhouse_e2e console e2e eventlog_e2e forward_syslog)
missed=0
unlisted() { # file, pattern that starts the agent, listed names
  local file="$1" pattern="$2" name
  shift 2
  name="$(basename "$file" .rs)"
  grep -qE "$pattern" "$file" && [[ " $* " != *" $name "* ]]
}
for file in crates/sentry/tests/*.rs; do
  if unlisted "$file" 'common::' "${sentry_tests[@]}"; then
    echo "linux-agent: $file starts the agent but is not in this script's list" >&2
    missed=$((missed + 1))
  fi
done
for file in crates/kraken-base/tests/*.rs; do
  case "$file" in */wine_*) continue ;; esac # Wine-only: they skip on Linux
  if unlisted "$file" '[^_[:alnum:]]sentry\(&|sentry_bin\(\)' "${base_tests[@]}"; then
    echo "linux-agent: $file starts the agent but is not in this script's list" >&2
    missed=$((missed + 1))
  fi
done
test_args=()
for name in "${sentry_tests[@]}" "${base_tests[@]}"; do test_args+=(--test "$name"); done
rc=0
KRAKEN_SENTRY_BIN="$agent" run_tests "$log" --workspace "${test_args[@]}" || rc=$?
checks_failed=$((checks_failed + missed))
libtest_totals "$log" "$rc"
passed=$((passed + layout_passed))
failed=$((failed + checks_failed))
echo "linux-agent: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
