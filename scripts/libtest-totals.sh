# Test runs and their totals, sourced by scripts/test.sh and scripts/test-linux-agent.sh.
# shellcheck shell=bash

# run_tests LOG ARGS...: runs the tests `cargo test ARGS` selects (ARGS: --workspace, --test
# NAME, ...) and writes their output to the terminal and to LOG; returns the runner's exit
# status. Where cargo-nextest is installed it runs them (every test in its own process, the
# binaries side by side: .config/nextest.toml), else cargo test. nextest does not run doc tests:
# with --doc-tests first, `cargo test --doc` runs them too (same LOG, its status counted).
run_tests() {
  local log="$1" doc=0 rc=0
  shift
  if [ "${1:-}" = "--doc-tests" ]; then
    doc=1
    shift
  fi
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$doc" -eq 1 ]; then
      cargo test --locked --doc "$@" 2>&1 | tee -a "$log"
      [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    fi
  else
    cargo test --locked --no-fail-fast "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
  fi
  return "$rc"
}

# libtest_totals LOG RC: sums the tests LOG says passed and failed (cargo test's "test result:"
# lines and cargo-nextest's "Summary" line; a test that timed out counts as failed) into the
# shell variables `passed` and `failed`. RC is the runner's exit status: a non-zero one with no
# failed test counts as one failure (the build or a test binary failed before reporting).
libtest_totals() {
  local log="$1" rc="$2"
  # shellcheck disable=SC2034 # passed and failed are the caller's
  passed=$(awk '/^test result:|^ *Summary \[/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) s += $i } END { print s + 0 }' "$log")
  failed=$(awk '/^test result:|^ *Summary \[/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/ || $(i + 1) == "timed") s += $i } END { print s + 0 }' "$log")
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
  fi
}
