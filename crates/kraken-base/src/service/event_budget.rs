//! How much a sentry may store as events (`loggerAdded`, `loggerStarted`...): a bucket of
//! bytes per sentry that refills with time. A sentry sends a few events when its loggers
//! change; one that sends them without end (a compromised or broken agent) would otherwise
//! fill the base's disk, which records' quotas do not cover, and hold the storage's write lock
//! from every other sentry. Over its budget, an event is refused (the sentry's call fails) and
//! the refusals are logged, at most once a minute per sentry with how many there were.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A sentry's budget when full: a sentry adding and starting 256 loggers at once (about 2 KB
/// an event) stays well inside it.
pub const EVENT_BURST_BYTES: u64 = 4 << 20;
/// What a sentry's budget regains each second (about 350 MB a day at most).
pub const EVENT_REFILL_BYTES_PER_SECOND: u64 = 4 << 10;
/// What an event costs at least, whatever its size (its row, its indexes).
pub const EVENT_MIN_COST: u64 = 256;
/// How often refusals are logged, per sentry.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// The event budgets of all sentries.
pub struct EventBudget {
    burst: u64,
    refill_per_second: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// One sentry's budget.
struct Bucket {
    bytes: u64,
    updated: Instant,
    /// Refusals since they were last logged, and when that was.
    refused: u64,
    logged: Option<Instant>,
}

impl Default for EventBudget {
    fn default() -> Self {
        EventBudget::new(EVENT_BURST_BYTES, EVENT_REFILL_BYTES_PER_SECOND)
    }
}

impl EventBudget {
    /// Budgets of `burst` bytes, regaining `refill_per_second` bytes a second.
    pub fn new(burst: u64, refill_per_second: u64) -> Self {
        EventBudget { burst, refill_per_second, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes an event of `bytes` (subject and detail) out of `guid`'s budget; false, and the
    /// refusal counted and logged now and then, when the budget does not hold it.
    pub fn take(&self, guid: &str, bytes: usize) -> bool {
        self.take_at(guid, bytes, Instant::now())
    }

    fn take_at(&self, guid: &str, bytes: usize, now: Instant) -> bool {
        let cost = (bytes as u64).max(EVENT_MIN_COST);
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(guid.to_owned()).or_insert(Bucket {
            bytes: self.burst,
            updated: now,
            refused: 0,
            logged: None,
        });
        let elapsed = now.saturating_duration_since(bucket.updated);
        let regained = (elapsed.as_secs_f64() * self.refill_per_second as f64) as u64;
        if regained > 0 {
            bucket.bytes = bucket.bytes.saturating_add(regained).min(self.burst);
            bucket.updated = now;
        }
        if bucket.bytes >= cost {
            bucket.bytes -= cost;
            return true;
        }
        bucket.refused += 1;
        if bucket.logged.is_none_or(|at| now.saturating_duration_since(at) >= REFUSAL_LOG_EVERY) {
            tracing::warn!(
                %guid,
                refused = bucket.refused,
                burst = self.burst,
                refill_per_second = self.refill_per_second,
                "sentry events over the sentry's budget refused"
            );
            bucket.refused = 0;
            bucket.logged = Some(now);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_budget_refills_with_time() {
        let budget = EventBudget::new(10_000, 1_000);
        let start = Instant::now();
        let taken = (0..100).filter(|_| budget.take_at("s1", 1_000, start)).count();
        assert_eq!(taken, 10, "the burst holds ten events of 1,000 bytes");
        assert!(!budget.take_at("s1", 1_000, start + Duration::from_millis(500)), "half refilled");
        assert!(budget.take_at("s1", 1_000, start + Duration::from_secs(1)), "a second refills 1,000");
        assert!(budget.take_at("s2", 1_000, start), "another sentry has a budget of its own");
        // Refilling stops at the burst.
        let later = start + Duration::from_secs(3_600);
        assert_eq!((0..100).filter(|_| budget.take_at("s1", 1_000, later)).count(), 10);
    }

    #[test]
    fn small_events_cost_a_minimum_and_a_huge_one_never_fits() {
        let budget = EventBudget::new(EVENT_MIN_COST * 4, 0);
        let now = Instant::now();
        assert_eq!((0..10).filter(|_| budget.take_at("s1", 1, now)).count(), 4);
        assert!(!EventBudget::new(1_000, 10).take_at("s1", 1_001, now));
    }
}
