//! The base's intake: how much received, not yet committed record data it holds, and how fast
//! one sentry may send.
//!
//! * **Bytes.** Every batch takes its encoded size from its sentry's budget and from the
//!   base's, at the moment it is dispatched (so in arrival order), and gives it back once it is
//!   committed. A batch (an acknowledged call) that does not fit is refused at once, and so is
//!   every later batch on its connection, which is then closed: the sentry keeps them spooled
//!   and sends them again after reconnecting (refusing only the one would let the next, stored,
//!   make the base skip it as a resend). A post (an original sentry's `onLog`, which cannot be
//!   sent again) waits for room instead; posts of a session run one after another, so its
//!   connection stops being read. One sentry flooding with maximal frames therefore holds at
//!   most its own budget, and other sentries' batches still find room.
//! * **Rate.** A token bucket per sentry (`records_per_second`, bursts of ten seconds' worth):
//!   records over it are stored, but their acknowledgement waits until the bucket has paid for
//!   them, and a sender with a few batches in flight slows to the rate. Nothing is dropped.
//!   The first wait of a sentry in a minute is noted as an event (`quota-throttled`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest an acknowledgement waits for the rate: below a sentry's 30 s acknowledgement limit.
pub const MAX_ACK_DELAY: Duration = Duration::from_secs(20);
/// How many seconds of the rate a bucket holds.
const BURST_SECONDS: f64 = 10.0;
/// Least time between two `quota-throttled` events of a sentry.
const THROTTLE_EVENT_EVERY: Duration = Duration::from_secs(60);

/// `[intake]` of `base.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeLimits {
    /// Encoded bytes of records received and not yet committed, over all sentries.
    pub max_bytes: u64,
    /// The same, for one sentry.
    pub max_bytes_per_sentry: u64,
    /// Records per second one sentry may send, sustained (0: no limit).
    pub records_per_second: u32,
}

impl Default for IntakeLimits {
    /// 256 MiB in all, 32 MiB per sentry (four maximal frames), 10,000 records/s per sentry.
    fn default() -> Self {
        IntakeLimits { max_bytes: 256 << 20, max_bytes_per_sentry: 32 << 20, records_per_second: 10_000 }
    }
}

impl IntakeLimits {
    /// The first value out of range, as `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let (least, most) = (1u64 << 20, 1u64 << 32);
        for (key, value) in
            [("max_bytes", self.max_bytes), ("max_bytes_per_sentry", self.max_bytes_per_sentry)]
        {
            if !(least..most).contains(&value) {
                return Err((key, format!("must be 1 MiB to 4 GiB (in bytes), got {value}")));
            }
        }
        if self.max_bytes_per_sentry > self.max_bytes {
            return Err(("max_bytes_per_sentry", "must not exceed max_bytes".into()));
        }
        Ok(())
    }
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the base holds {0} bytes of this sentry's records not yet stored; send again later")]
    SentryFull(u64),
    #[error("the base holds {0} bytes of records not yet stored; send again later")]
    BaseFull(u64),
    #[error("an earlier batch on this connection was refused; send again later")]
    EarlierRefused,
}

/// Room taken in the intake; given back when dropped.
#[derive(Debug)]
pub struct IntakePermit {
    _sentry: OwnedSemaphorePermit,
    _base: OwnedSemaphorePermit,
}

/// The intake of one base.
#[derive(Debug)]
pub struct Intake {
    limits: IntakeLimits,
    base: Arc<Semaphore>,
    sentries: Mutex<HashMap<String, Lane>>,
    /// Connections whose batches are refused from now on.
    refusing: Mutex<HashSet<u64>>,
}

/// One sentry's share.
#[derive(Debug)]
struct Lane {
    bytes: Arc<Semaphore>,
    /// Tokens (records) in the bucket; negative while acknowledgements wait.
    tokens: f64,
    filled_at: Instant,
    last_throttle_event: Option<Instant>,
}

/// What the rate asks of a batch's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDelay {
    /// How long the acknowledgement waits.
    pub wait: Duration,
    /// True when this wait should be noted as an event.
    pub report: bool,
}

impl Intake {
    pub fn new(limits: IntakeLimits) -> Arc<Intake> {
        Arc::new(Intake {
            limits,
            base: Arc::new(Semaphore::new(permits(limits.max_bytes))),
            sentries: Mutex::new(HashMap::new()),
            refusing: Mutex::new(HashSet::new()),
        })
    }

    /// Takes room for `bytes` of `guid`'s records arriving on `connection`, or refuses (and
    /// refuses every later batch of that connection, see the module documentation).
    pub fn try_admit(&self, connection: u64, guid: &str, bytes: usize) -> Result<IntakePermit, Refused> {
        let mut refusing = self.refusing.lock().unwrap_or_else(PoisonError::into_inner);
        if refusing.contains(&connection) {
            return Err(Refused::EarlierRefused);
        }
        let lane = self.lane_bytes(guid);
        let admitted = match lane.try_acquire_many_owned(self.share(bytes, self.limits.max_bytes_per_sentry))
        {
            Err(_) => Err(Refused::SentryFull(self.limits.max_bytes_per_sentry)),
            Ok(sentry) => match self
                .base
                .clone()
                .try_acquire_many_owned(self.share(bytes, self.limits.max_bytes_per_sentry))
            {
                Err(_) => Err(Refused::BaseFull(self.limits.max_bytes)),
                Ok(base) => Ok(IntakePermit { _sentry: sentry, _base: base }),
            },
        };
        if admitted.is_err() {
            refusing.insert(connection);
        }
        admitted
    }

    /// Takes room for `bytes` of `guid`'s records, waiting for it (for posts).
    pub async fn admit(&self, guid: &str, bytes: usize) -> IntakePermit {
        let lane = self.lane_bytes(guid);
        let sentry = lane.acquire_many_owned(self.share(bytes, self.limits.max_bytes_per_sentry)).await;
        let base =
            self.base.clone().acquire_many_owned(self.share(bytes, self.limits.max_bytes_per_sentry)).await;
        match (sentry, base) {
            (Ok(sentry), Ok(base)) => IntakePermit { _sentry: sentry, _base: base },
            // The semaphores are never closed.
            _ => unreachable!("intake semaphores are never closed"),
        }
    }

    /// Forgets a closed connection's refusal.
    pub fn connection_closed(&self, connection: u64) {
        self.refusing.lock().unwrap_or_else(PoisonError::into_inner).remove(&connection);
    }

    /// Charges `records` to `guid`'s bucket: how long their acknowledgement waits.
    pub fn charge(&self, guid: &str, records: usize) -> RateDelay {
        let rate = f64::from(self.limits.records_per_second);
        if rate == 0.0 || records == 0 {
            return RateDelay { wait: Duration::ZERO, report: false };
        }
        let capacity = rate * BURST_SECONDS;
        let now = Instant::now();
        let mut sentries = self.sentries.lock().unwrap_or_else(PoisonError::into_inner);
        let lane = sentries.entry(guid.to_owned()).or_insert_with(|| self.new_lane(capacity));
        let elapsed = now.duration_since(lane.filled_at).as_secs_f64();
        lane.tokens = (lane.tokens + elapsed * rate).min(capacity) - records as f64;
        lane.filled_at = now;
        if lane.tokens >= 0.0 {
            return RateDelay { wait: Duration::ZERO, report: false };
        }
        let wait = Duration::from_secs_f64(-lane.tokens / rate).min(MAX_ACK_DELAY);
        let report = lane.last_throttle_event.is_none_or(|at| now.duration_since(at) >= THROTTLE_EVENT_EVERY);
        if report {
            lane.last_throttle_event = Some(now);
        }
        RateDelay { wait, report }
    }

    fn lane_bytes(&self, guid: &str) -> Arc<Semaphore> {
        let capacity = f64::from(self.limits.records_per_second) * BURST_SECONDS;
        let mut sentries = self.sentries.lock().unwrap_or_else(PoisonError::into_inner);
        sentries.entry(guid.to_owned()).or_insert_with(|| self.new_lane(capacity)).bytes.clone()
    }

    fn new_lane(&self, capacity: f64) -> Lane {
        Lane {
            bytes: Arc::new(Semaphore::new(permits(self.limits.max_bytes_per_sentry))),
            tokens: capacity,
            filled_at: Instant::now(),
            last_throttle_event: None,
        }
    }

    /// Permits for `bytes`: at least one, at most `budget` (a batch larger than a sentry's
    /// budget takes all of it, and as much of the base's).
    fn share(&self, bytes: usize, budget: u64) -> u32 {
        (bytes as u64).clamp(1, budget.min(u64::from(u32::MAX))) as u32
    }
}

fn permits(bytes: u64) -> usize {
    bytes.min(u64::from(u32::MAX)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> IntakeLimits {
        IntakeLimits { max_bytes: 3 << 20, max_bytes_per_sentry: 2 << 20, records_per_second: 100 }
    }

    #[test]
    fn a_sentry_over_its_share_is_refused_and_stays_refused_on_that_connection() {
        let intake = Intake::new(limits());
        let first = intake.try_admit(1, "a", 1 << 20).unwrap();
        let _second = intake.try_admit(1, "a", 1 << 20).unwrap();
        assert_eq!(intake.try_admit(1, "a", 10).unwrap_err(), Refused::SentryFull(2 << 20));
        drop(first);
        // Room again, but not for that connection: its earlier batch was refused.
        assert_eq!(intake.try_admit(1, "a", 10).unwrap_err(), Refused::EarlierRefused);
        intake.connection_closed(1);
        intake.try_admit(2, "a", 10).unwrap();
    }

    #[test]
    fn one_sentry_flooding_leaves_room_for_another_until_the_base_is_full() {
        let intake = Intake::new(limits());
        let _flood = intake.try_admit(1, "flood", 8 << 20).unwrap(); // takes its whole share
        assert!(intake.try_admit(1, "flood", 1).is_err());
        let _other = intake.try_admit(2, "other", 1 << 20).unwrap();
        assert_eq!(intake.try_admit(3, "third", 1).unwrap_err(), Refused::BaseFull(3 << 20));
    }

    #[test]
    fn the_rate_delays_acknowledgements_instead_of_dropping() {
        let intake = Intake::new(limits());
        // A burst of ten seconds' worth passes at once.
        assert_eq!(intake.charge("a", 1_000).wait, Duration::ZERO);
        let over = intake.charge("a", 300);
        assert!(over.report);
        assert!((2.9..=3.1).contains(&over.wait.as_secs_f64()), "{over:?}");
        let more = intake.charge("a", 100_000);
        assert_eq!(more.wait, MAX_ACK_DELAY);
        assert!(!more.report, "reported once a minute");
        assert_eq!(intake.charge("b", 10).wait, Duration::ZERO, "sentries have their own buckets");
    }

    #[tokio::test]
    async fn a_post_waits_for_room() {
        let intake = Intake::new(limits());
        let held = intake.try_admit(1, "a", 2 << 20).unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), intake.admit("a", 10)).await;
        assert!(waiting.is_err(), "admitted over the share");
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), intake.admit("a", 10)).await.unwrap();
    }

    #[test]
    fn limits_are_checked() {
        assert!(IntakeLimits::default().check().is_ok());
        let inverted =
            IntakeLimits { max_bytes: 2 << 20, max_bytes_per_sentry: 4 << 20, records_per_second: 0 };
        assert_eq!(inverted.check().unwrap_err().0, "max_bytes_per_sentry");
        assert!(IntakeLimits { max_bytes: 10, ..Default::default() }.check().is_err());
    }
}
