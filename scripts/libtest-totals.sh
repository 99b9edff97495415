# libtest_totals LOG RC: sums the "test result:" lines cargo test wrote to LOG into the shell
# variables `passed` and `failed`. RC is cargo's exit status: a non-zero one with no failed test
# counts as one failure (the build or a test binary failed before reporting). Sourced by
# scripts/test.sh and scripts/test-linux-agent.sh.
# shellcheck shell=bash
libtest_totals() {
  local log="$1" rc="$2"
  passed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^passed/) s += $i } END { print s + 0 }' "$log")
  failed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^failed/) s += $i } END { print s + 0 }' "$log")
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
  fi
}
