//! A time limit per input, proportional to its size: whatever a target does with an input must
//! take at most `BASE` plus `PER_MIB` for each MiB of it. Linear work stays far below that even
//! under the sanitizers on a loaded machine; quadratic work on a large input (a map of many keys
//! with one repeated took seconds for 400 kB) does not, and fails the input as a crash would, so
//! that libFuzzer keeps it. (libFuzzer's own `-timeout`, set by `scripts/fuzz.sh`, catches what
//! never returns.)

use std::time::{Duration, Instant};

/// Allowed for any input, however small.
const BASE: Duration = Duration::from_millis(500);
/// Allowed in addition for each MiB of input.
const PER_MIB: Duration = Duration::from_secs(2);

/// Runs `work` on `data` and panics if it took longer than the limit for an input this long.
pub fn within_limit<T>(data: &[u8], work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    let elapsed = started.elapsed();
    let limit = BASE + PER_MIB.mul_f64(data.len() as f64 / f64::from(1u32 << 20));
    assert!(elapsed <= limit, "slow input: {} bytes took {elapsed:?} (limit {limit:?})", data.len());
    result
}
