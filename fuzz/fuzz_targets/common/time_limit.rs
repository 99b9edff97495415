//! A time limit per input, proportional to its size: whatever a target does with an input must
//! take at most `BASE` plus a target's allowance for each MiB of it. Linear work stays below
//! that under the sanitizers (each target's allowance is a few times what its heaviest seeds
//! take); quadratic work on a large input (a map of many keys with one repeated took seconds for
//! 400 kB) does not, and fails the input as a crash would, so that libFuzzer keeps it.
//! (libFuzzer's own `-timeout`, set by `scripts/fuzz.sh`, catches what never returns.)

use std::time::{Duration, Instant};

/// Allowed for any input, however small.
const BASE: Duration = Duration::from_millis(500);

/// Runs `work` on `data` and panics if it took longer than [`BASE`] plus `per_mib` for each MiB
/// of `data`.
pub fn within_limit<T>(data: &[u8], per_mib: Duration, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    let elapsed = started.elapsed();
    let limit = BASE + per_mib.mul_f64(data.len() as f64 / f64::from(1u32 << 20));
    assert!(elapsed <= limit, "slow input: {} bytes took {elapsed:?} (limit {limit:?})", data.len());
    result
}
