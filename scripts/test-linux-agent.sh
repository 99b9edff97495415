#!/usr/bin/env bash
# Tests the Linux agent as shipped: runs the layout tool's tests (tools/linux-agent), builds the
# agent (scripts/build-linux-agent.sh: static musl binary, code laid out by a profile), checks it
# is one self-contained executable, then runs the workspace's integration tests with it in place
# of the development build (KRAKEN_SENTRY_BIN; the sentry's and the base's tests run the agent).
# Prints the runners' summaries, then `linux-agent: N passed, M failed`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
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

KRAKEN_SENTRY_BIN="$agent" cargo test --locked --workspace --test '*' 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
libtest_totals "$log" "$rc"
passed=$((passed + layout_passed))
failed=$((failed + checks_failed))
echo "linux-agent: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
