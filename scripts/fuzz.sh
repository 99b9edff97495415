#!/usr/bin/env bash
# Fuzzes with cargo-fuzz (libFuzzer) for a given number of seconds (default 600), seeded with
# every golden vector's bytes. Targets: `decode` (the codec, default) and `rpc_frames` (framing
# and message reading). Usage: scripts/fuzz.sh [SECONDS] [TARGET]. Needs `cargo install cargo-fuzz`.
# Stable toolchains need RUSTC_BOOTSTRAP=1 for the sanitizer flags; this script sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
target="${2:-decode}"
corpus="fuzz/corpus/$target"
mkdir -p "$corpus"
python3 - "$corpus" <<'PY'
import json, sys, os
corpus = sys.argv[1]
doc = json.load(open("crates/kraken-codec/tests/data/vectors.json"))
for v in doc["vectors"]:
    for key in ("hex", "hex_jdk6_7_order"):
        h = v.get(key)
        if h:
            with open(os.path.join(corpus, f"{v['name']}_{key}"), "wb") as f:
                f.write(bytes.fromhex(h))
PY
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1
