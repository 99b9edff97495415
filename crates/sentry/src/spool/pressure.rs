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

use std::sync::Arc;

use super::SpoolSink;
use crate::loggers::delivery::{Delivery, DeliveryGate};
use crate::store::{Store, StoreError};

/// Above this share of its bound, a base's spool takes no more records from source readers.
pub const PAUSE_FRACTION: f64 = 0.75;

/// A run may fill a base's spool up to this share of its bound.
const BUDGET_FRACTION: f64 = 0.9;

/// The spool's state as the loggers see it.
pub struct SpoolPressure {
    store: Arc<Store>,
    sink: Arc<SpoolSink>,
    /// The configured bases (empty: the agent runs without a base).
    bases: Vec<String>,
    max_bytes: u64,
}

impl SpoolPressure {
    pub fn new(store: Arc<Store>, sink: Arc<SpoolSink>, bases: Vec<String>, max_bytes: u64) -> Self {
        SpoolPressure { store, sink, bases, max_bytes }
    }

    /// What `logger` may do this run.
    pub fn check(&self, logger: &str) -> Result<Delivery, StoreError> {
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
        let mut budget = u64::MAX;
        for base in &subscribers {
            let used = self.store.spool_bytes(base)?;
            if used > pause_at {
                return Ok(Delivery::Pause(format!(
                    "the spool for base {base} holds {used} of {} bytes; reading waits until it drains",
                    self.max_bytes
                )));
            }
            budget = budget.min(fill_to.saturating_sub(used));
        }
        Ok(Delivery::Open { budget_bytes: budget })
    }
}

impl DeliveryGate for SpoolPressure {
    fn check(&self, logger: &str) -> Result<Delivery, String> {
        SpoolPressure::check(self, logger).map_err(|e| e.to_string())
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
        assert_eq!(alone.check("security").unwrap(), Delivery::Open { budget_bytes: u64::MAX });

        let linked = SpoolPressure::new(store.clone(), sink, vec!["central".into()], 1_000);
        assert!(matches!(linked.check("security").unwrap(), Delivery::Hold(_)));
        store.subscribe("central", "security").unwrap();
        assert_eq!(linked.check("security").unwrap(), Delivery::Open { budget_bytes: 900 });
        let entry = |bytes: usize| SpoolEntry {
            base: "central".into(),
            logger: "security".into(),
            record: vec![0; bytes],
            droppable: false,
        };
        store.spool_append(&[entry(700)], &[], &[], 1_000).unwrap();
        assert_eq!(linked.check("security").unwrap(), Delivery::Open { budget_bytes: 200 });
        store.spool_append(&[entry(100)], &[], &[], 1_000).unwrap();
        assert!(
            matches!(linked.check("security").unwrap(), Delivery::Pause(reason) if reason.contains("800 of 1000"))
        );
        drop((alone, linked, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
