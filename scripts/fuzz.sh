#!/usr/bin/env bash
# Fuzzes with cargo-fuzz (libFuzzer) for a given number of seconds (default 600), seeded by
# fuzz/seeds.py with every golden vector and with large hostile shapes (many keys, many small
# maps, deep nesting). Targets: `decode` (the codec, default), `rpc_frames` (framing and message
# reading), `json` (typed and plain JSON, serde into values), `evtx_file` (the .evtx file source
# and the mapping, seeded with testdata/evtx) and `event_xml` (the event mapping and the query
# check, seeded with hand-written events). Usage:
# scripts/fuzz.sh [SECONDS] [TARGET]. Needs `cargo install cargo-fuzz`. Stable toolchains need
# RUSTC_BOOTSTRAP=1 for the sanitizer flags; this script sets it.
#
# Slowness fails an input as a crash does: each target checks its own time per input (500 ms
# plus 4 to 20 s per MiB by target, fuzz/fuzz_targets/common/time_limit.rs), and libFuzzer's
# -timeout catches an input that never returns. Inputs may be up to 1 MiB, so that costly
# shapes fit.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
target="${2:-decode}"
corpus="fuzz/corpus/$target"
python3 fuzz/seeds.py "$corpus" "$target"
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=20 -max_len=1048576 -rss_limit_mb=4096 -print_final_stats=1
