#!/usr/bin/env bash
# Tests the Linux agent as shipped: builds it (scripts/build-linux-agent.sh: static musl binary,
# code laid out by a profile), checks it is one self-contained executable, then runs the sentry's
# integration tests and the base's end-to-end tests with it in place of the development build
# (KRAKEN_SENTRY_BIN). Prints the runner's summaries, then `linux-agent: N passed, M failed`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log=target/linux-agent-test-output.txt
mkdir -p target
if ! agent="$(bash scripts/build-linux-agent.sh)"; then
  echo "linux-agent: 0 passed, 1 failed (the build failed)"
  exit 1
fi

failed=0
if readelf -lW "$agent" | grep -q 'INTERP'; then
  echo "linux-agent: $agent asks for a dynamic loader; it should be static" >&2
  failed=1
fi

KRAKEN_SENTRY_BIN="$agent" cargo test --locked -p sentry -p kraken-base --test '*' 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^passed/) s += $i } END { print s + 0 }' "$log")
failed=$((failed + $(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^failed/) s += $i } END { print s + 0 }' "$log")))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the build or a test binary failed before reporting
fi
echo "linux-agent: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
