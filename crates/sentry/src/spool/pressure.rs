//! Whether the bases can take more records now: the back-pressure a logger that reads from a
//! source the OS keeps (the Windows event log) obeys, so that the source is the buffer and the
//! spool never fills with records that would push out others.
//!
//! [`SpoolPressure::check`] says, for one logger:
//! - [`Delivery::Open`] with a byte budget for this run when every base that wants the logger's
//!   records has room (and always when no base is configured: records go to the local output);
//! - [`Delivery::Hold`] when bases are configured but none has connected this logger yet: a
//!   fresh install keeps its events in the OS's log until its first link asks for them;
//! - [`Delivery::Pause`] when a wanted base's spool is past [`PAUSE_FRACTION`] of its bound, or
//!   the store refuses writes (records of other loggers wait in memory and are retried first;
//!   after a refused write of a source reader, for [`super::sink::REFUSED_PAUSE`]).
//!
//! A budget (what the run wants, within the room) is held for its run: several event loggers
//! checking at once share the room rather than each being given all of it (three loggers each
//! filling the same 15 % would pass the bound and drop older security records). The run
//! settles it to the bytes it made; those stay held until the logger's next check, by when
//! they are committed and counted in the spool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::SpoolSink;
use crate::loggers::delivery::{Delivery, DeliveryGate};
use crate::store::{Store, StoreError};

/// Above this share of its bound, a base's spool takes no more records from source readers.
pub const PAUSE_FRACTION: f64 = 0.75;

/// A run may fill a base's spool up to this share of its bound.
const BUDGET_FRACTION: f64 = 0.9;

/// How long a logger's held bytes count at most: a logger that stopped or was removed does
/// not check again.
const HELD_AT_MOST: Duration = Duration::from_secs(60);

/// The spool's state as the loggers see it.
pub struct SpoolPressure {
    store: Arc<Store>,
    sink: Arc<SpoolSink>,
    /// The configured bases (empty: the agent runs without a base).
    bases: Vec<String>,
    max_bytes: u64,
    /// Bytes each logger's run holds, and since when.
    held: Mutex<HashMap<String, (u64, Instant)>>,
}

impl SpoolPressure {
    pub fn new(store: Arc<Store>, sink: Arc<SpoolSink>, bases: Vec<String>, max_bytes: u64) -> Self {
        SpoolPressure { store, sink, bases, max_bytes, held: Mutex::default() }
    }

    /// What `logger` may do this run, wanting to make up to `wants_bytes` of records.
    pub fn check(&self, logger: &str, wants_bytes: u64) -> Result<Delivery, StoreError> {
        if self.bases.is_empty() {
            return Ok(Delivery::Open { budget_bytes: u64::MAX });
        }
        let subscribers = self.store.subscribers(logger)?;
        if subscribers.is_empty() {
            return Ok(Delivery::Hold(format!(
                "no base has connected logger {logger} yet; its events wait in their source"
            )));
        }
        if !self.sink.retry_refused() {
            return Ok(Delivery::Pause("the spool refuses writes (records wait in memory)".into()));
        }
        let pause_at = (self.max_bytes as f64 * PAUSE_FRACTION) as u64;
        let fill_to = (self.max_bytes as f64 * BUDGET_FRACTION) as u64;
        let mut held = self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        held.remove(logger); // its last run's records are committed by now
        held.retain(|_, (_, since)| since.elapsed() < HELD_AT_MOST);
        // Held by other loggers, whichever bases they write to (an overestimate for a base).
        let others: u64 = held.values().map(|(bytes, _)| *bytes).fold(0, u64::saturating_add);
        let mut budget = wants_bytes;
        for base in &subscribers {
            let used = self.store.spool_bytes(base)?;
            if used > pause_at {
                return Ok(Delivery::Pause(format!(
                    "the spool for base {base} holds {used} of {} bytes; reading waits until it drains",
                    self.max_bytes
                )));
            }
            budget = budget.min(fill_to.saturating_sub(used).saturating_sub(others));
        }
        held.insert(logger.to_owned(), (budget, Instant::now()));
        Ok(Delivery::Open { budget_bytes: budget })
    }

    /// `logger`'s run made `bytes` of records: only those stay held.
    pub fn settle(&self, logger: &str, bytes: u64) {
        let mut held = self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((held_bytes, _)) = held.get_mut(logger) {
            *held_bytes = bytes.min(*held_bytes);
        }
    }
}

impl DeliveryGate for SpoolPressure {
    fn check(&self, logger: &str, wants_bytes: u64) -> Result<Delivery, String> {
        SpoolPressure::check(self, logger, wants_bytes).map_err(|e| e.to_string())
    }

    fn settle(&self, logger: &str, bytes: u64) {
        SpoolPressure::settle(self, logger, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loggers::standard_factories;
    use crate::spool::SpoolEntry;
    use crate::store::database::tests::temp_data_dir;

    #[test]
    fn open_without_bases_held_until_connected_paused_when_nearly_full() {
        let dir = temp_data_dir("pressure");
        let store = Arc::new(Store::open(&dir).unwrap());
        let sink = Arc::new(SpoolSink::new(store.clone(), 1_000, &standard_factories()));
        let alone = SpoolPressure::new(store.clone(), sink.clone(), Vec::new(), 1_000);
        // (All of it is dropped before the directory goes: Windows cannot delete an open file.)
        assert_eq!(alone.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: u64::MAX });

        let linked = SpoolPressure::new(store.clone(), sink, vec!["central".into()], 1_000);
        assert!(matches!(linked.check("security", u64::MAX).unwrap(), Delivery::Hold(_)));
        store.subscribe("central", "security").unwrap();
        assert_eq!(linked.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: 900 });
        let entry = |bytes: usize| SpoolEntry {
            base: "central".into(),
            logger: "security".into(),
            record: vec![0; bytes],
            droppable: false,
        };
        store.spool_append(&[entry(700)], &[], &[], 1_000).unwrap();
        assert_eq!(linked.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: 200 });
        store.spool_append(&[entry(100)], &[], &[], 1_000).unwrap();
        assert!(
            matches!(linked.check("security", u64::MAX).unwrap(), Delivery::Pause(reason) if reason.contains("800 of 1000"))
        );
        drop((alone, linked, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loggers_checking_at_once_share_the_room_a_budget_holds() {
        let dir = temp_data_dir("pressure-shared");
        let store = Arc::new(Store::open(&dir).unwrap());
        let sink = Arc::new(SpoolSink::new(store.clone(), 1_000, &standard_factories()));
        let pressure = SpoolPressure::new(store.clone(), sink, vec!["central".into()], 1_000);
        for logger in ["security", "system", "application"] {
            store.subscribe("central", logger).unwrap();
        }
        let open = |budget_bytes| Delivery::Open { budget_bytes };
        assert_eq!(pressure.check("security", u64::MAX).unwrap(), open(900));
        assert_eq!(pressure.check("system", u64::MAX).unwrap(), open(0), "all of it held by security's run");
        // security's run made 300 bytes; system's read nothing.
        pressure.settle("security", 300);
        pressure.settle("system", 0);
        assert_eq!(pressure.check("application", u64::MAX).unwrap(), open(600));
        pressure.settle("application", 100);
        // Committed: security's next check counts them in the spool, no longer as held.
        let entry = SpoolEntry {
            base: "central".into(),
            logger: "security".into(),
            record: vec![0; 300],
            droppable: false,
        };
        store.spool_append(&[entry], &[], &[], 1_000).unwrap();
        assert_eq!(pressure.check("security", u64::MAX).unwrap(), open(900 - 300 - 100));
        // A run wanting less holds only that.
        assert_eq!(pressure.check("application", 50).unwrap(), open(50));
        pressure.settle("application", 50);
        // A settle asks no more than was given.
        pressure.settle("security", 10_000);
        assert_eq!(pressure.check("system", u64::MAX).unwrap(), open(900 - 300 - 500 - 50));
        drop((pressure, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
