#!/usr/bin/env bash
# Build kraken-sentry's tests for Windows (x86_64-pc-windows-gnu) and run every test exe under Wine.
#
# Usage: scripts/test-windows.sh [cargo test args...] [-- test-binary args...]
#   scripts/test-windows.sh                        # all lib, bin and integration tests
#   scripts/test-windows.sh -p kraken-codec        # one package
#   scripts/test-windows.sh -- --test-threads=1    # pass args to every test exe
# --workspace is added unless the cargo args already select packages. Doc tests are not run
# (cargo cannot run them for a cross target).
#
# What it does:
#   1. `cargo test --no-run --message-format=json-render-diagnostics` for the Windows target
#      through windows_cargo (scripts/windows-env.sh), and collects the test exes from cargo's
#      JSON (compiler-artifact messages whose "profile" has "test":true);
#   2. scripts/wine-prefix.sh (the prefix and its ProcessPrng shim, once);
#   3. runs each exe under wine64, in its crate's directory, with stdin from /dev/null and its
#      output to a file (never through a pipe: Wine's background processes keep pipes open),
#      under a time limit (KRAKEN_WINDOWS_TEST_TIMEOUT seconds, default 600, per exe); prints the
#      output and checks it.
#
# A crashed exe's exit code under Wine is only the low 8 bits of the NTSTATUS and may be 0, so an
# exe passes only if it exits 0 AND its output ends with libtest's `test result: ok. ...` line.
# The last line printed is the overall summary, `windows: N passed, M failed`, where N and M add
# up libtest's counts and M also counts 1 for each exe that crashed, timed out or printed no
# result line. Exit status: 0 if everything passed, 1 if not, 101 if the build failed.
# Per-exe output files stay in target/windows/wine-test-output/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/windows-env.sh
source scripts/windows-env.sh

timeout_s="${KRAKEN_WINDOWS_TEST_TIMEOUT:-600}"

# Split the arguments at the first `--`.
cargo_args=()
test_args=()
while [ "$#" -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    test_args=("$@")
    break
  fi
  cargo_args+=("$1")
  shift
done
if ! windows_has_package_selection "${cargo_args[@]}"; then
  cargo_args=(--workspace "${cargo_args[@]}")
fi

out_dir="$CARGO_TARGET_DIR/wine-test-output"
mkdir -p "$out_dir"
rm -f "$out_dir"/*.txt
messages="$out_dir/cargo-messages.json"

# --- 1. Build ------------------------------------------------------------------------------------
started=$SECONDS
if ! windows_cargo test --no-run --message-format=json-render-diagnostics "${cargo_args[@]}" >"$messages"; then
  echo "test-windows: the Windows test build failed" >&2
  exit 101
fi
echo "test-windows: tests built in $((SECONDS - started)) s" >&2

# The test exes, in order of their source path: cargo's compiler-artifact messages whose
# "profile" has "test":true. Parsed with grep/sed (no jq/python needed); cargo's paths here
# contain no '"' or '\'. Each line becomes <label> TAB <exe> TAB <crate dir>.
exes=()
dirs=()
labels=()
while IFS=$'\t' read -r label exe dir; do
  labels+=("$label")
  exes+=("$exe")
  dirs+=("$dir")
done < <(
  grep '"reason":"compiler-artifact"' "$messages" | grep '"profile":{[^}]*"test":true' |
    while IFS= read -r line; do
      exe="$(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' <<<"$line")"
      manifest="$(sed -n 's/.*"manifest_path":"\([^"]*\)".*/\1/p' <<<"$line")"
      src="$(sed -n 's/.*"target":{[^}]*"src_path":"\([^"]*\)".*/\1/p' <<<"$line")"
      [ -n "$exe" ] || continue
      dir="$(dirname "$manifest")"
      [ -d "$dir" ] || dir="$WINDOWS_WORKSPACE"
      printf '%s\t%s\t%s\n' "${src#"$WINDOWS_WORKSPACE"/}" "$exe" "$dir"
    done | sort -t $'\t' -k1,1 -k2,2 -u
)

# --- 2. Wine prefix ------------------------------------------------------------------------------
scripts/wine-prefix.sh >&2

# --- 3. Run --------------------------------------------------------------------------------------
# Only one run at a time per prefix; fd 8 is closed for Wine so that its processes cannot keep
# holding the lock.
exec 8>"$WINEPREFIX.run.lock"
if ! flock -n 8; then
  echo "test-windows: waiting for another run using $WINEPREFIX" >&2
  flock 8
fi

# A persistent wineserver saves Wine's start-up for each exe; on exit it is killed, which also
# ends anything a test left running in this (dedicated) prefix.
stop_wine() {
  "$WINDOWS_WINESERVER" -k </dev/null >/dev/null 2>&1 8>&- || true
}
trap stop_wine EXIT
"$WINDOWS_WINESERVER" -p </dev/null >/dev/null 2>&1 8>&- || true

total_passed=0
total_failed=0
bad_exes=()
for i in "${!exes[@]}"; do
  exe="${exes[$i]}"
  name="$(basename "$exe" .exe)"
  out="$out_dir/$name.txt"
  echo
  echo "     Running ${labels[$i]} under Wine (${exe#"$WINDOWS_WORKSPACE"/})"
  exe_started=$SECONDS
  rc=0
  : >"$out"
  (cd "${dirs[$i]}" &&
    exec timeout --kill-after=10 "$timeout_s" \
      "$WINDOWS_WINE" "$exe" "${test_args[@]}" </dev/null >"$out" 2>&1 8>&-) || rc=$?
  elapsed=$((SECONDS - exe_started))
  tr -d '\r' <"$out" >"$out.tmp" && mv -f "$out.tmp" "$out"
  cat "$out"

  result="$(grep -E '^test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed;' "$out" | tail -n 1 || true)"
  passed=0
  failed=0
  problem=""
  if [[ "$result" =~ ^test\ result:\ [A-Za-z]+\.\ ([0-9]+)\ passed\;\ ([0-9]+)\ failed\; ]]; then
    passed="${BASH_REMATCH[1]}"
    failed="${BASH_REMATCH[2]}"
  fi
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    problem="timed out after ${timeout_s} s"
  elif [ -z "$result" ]; then
    problem="no 'test result:' line (crashed? exit code $rc)"
  elif [[ "$result" != "test result: ok."* ]] || [ "$failed" -ne 0 ]; then
    problem="$failed test(s) failed"
  elif [ "$rc" -ne 0 ]; then
    problem="exit code $rc after 'test result: ok.'"
  fi
  if [ -n "$problem" ]; then
    # An exe that broke without libtest counting a failure still counts as one failure.
    if [ "$failed" -eq 0 ]; then
      failed=1
    fi
    bad_exes+=("${labels[$i]}: $problem (output: $out)")
    echo "test-windows: FAILED ${labels[$i]} in ${elapsed} s: $problem"
  fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done

echo
echo "test-windows: ran ${#exes[@]} test exe(s) under $("$WINDOWS_WINE" --version 2>/dev/null </dev/null || echo Wine)"
for bad in "${bad_exes[@]}"; do
  echo "test-windows: FAILED $bad"
done
echo "windows: $total_passed passed, $total_failed failed"
if [ "${#bad_exes[@]}" -ne 0 ] || [ "$total_failed" -ne 0 ]; then
  exit 1
fi
