//! Whether the bases can take more records now: the back-pressure a logger that reads from a
//! source the OS keeps (the Windows event log) obeys, so that the source is the buffer and the
//! spool never fills with records that would push out others.
//!
//! [`SpoolPressure::check`] says, for one logger:
//! - [`Delivery::Open`] with a byte budget for this run when every base that wants the logger's
//!   records has room (and always when no base is configured: records go to the local output);
//! - [`Delivery::Hold`] when bases are configured but none has connected this logger yet: a
//!   fresh install keeps its events in the OS's log until its first link asks for them;
//! - [`Delivery::Pause`] when a wanted base's spool is past [`PAUSE_FRACTION`] of its bound
//!   (unless the logger's own records there take no more than an equal share of that line
//!   among the source readers with records there, [`own_share`]: then up to the budget line),
//!   or
//!   the store refuses writes (records of other loggers wait in memory and are retried first;
//!   after a refused write of a source reader, for [`super::sink::REFUSED_PAUSE`]).
//!
//! A base whose spool is past that line and that has had nothing acknowledged for
//! [`STALLED_AFTER`] (or `[spool] away_after_ms`) while the agent ran (counted from the agent's
//! start when nothing was acknowledged since) is away, not slow: it no longer holds back the
//! other bases that want the logger's records, until its spool is seen back under the line (a
//! check that judges the bases looks at every configured one), across restarts too (the store
//! keeps the mark). Reading goes on for the others, and its spool keeps
//! its bound as a full spool does (its oldest records dropped, performance records first, a
//! drop report saying so). A base that returns does not stop the others while it drains; one
//! that drains slower than records come keeps losing its oldest. Otherwise one dead base of two
//! would stop the other's security events until the OS's log wrapped, and then both would lose
//! them. When every base that wants the records is past the line (for this logger: past its
//! share, or past the budget line), reading pauses however long they have been away: the OS's
//! log is then the only buffer left.
//!
//! A budget (what the run wants, within the room) is held for its run: several event loggers
//! checking at once share the room rather than each being given all of it (three loggers each
//! filling the same 15 % would pass the bound and drop older security records). The run
//! settles it to the bytes it made; those stay held until the logger's next check, by when
//! they are committed and counted in the spool.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::SpoolSink;
use crate::loggers::delivery::{Delivery, DeliveryGate};
use crate::store::{Store, StoreError};

/// Above this share of its bound, a base's spool takes no more records from source readers
/// (but from those holding little of it, up to [`BUDGET_FRACTION`]: [`own_share`]).
pub const PAUSE_FRACTION: f64 = 0.75;

/// A run may fill a base's spool up to this share of its bound.
const BUDGET_FRACTION: f64 = 0.9;

/// A logger whose records take no more than an equal share of a base's pause line among the
/// source readers with records there (loggers with a saved position: event loggers; at least
/// two) is not what filled that spool past it: it reads on, up to the budget line. Any local user can write Application events (and PowerShell's
/// Operational ones); without this, a flood of them past the line would pause the Security
/// logger as well, for as long as the flood lasts. One flood or several, each flooding logger
/// soon holds more than its share and waits; a logger that holds little reads on.
fn own_share(pause_at: u64, holders: u64) -> u64 {
    pause_at / holders.max(2)
}

/// How long a base past the pause line may go without an acknowledgement before it is taken as
/// away, unless configured (`[spool] away_after_ms`): well above the time between
/// acknowledgements of a live base on the slowest link the sender allows for (three 1 MiB
/// batches at 8 KiB/s: about 6.5 minutes).
pub const STALLED_AFTER: Duration = Duration::from_secs(10 * 60);

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
    /// When the agent started: a base with nothing acknowledged since has been away since then.
    started: Instant,
    /// [`STALLED_AFTER`], or as configured.
    stalled_after: Duration,
    /// The bases taken as away.
    away: Mutex<HashSet<String>>,
}

impl SpoolPressure {
    pub fn new(store: Arc<Store>, sink: Arc<SpoolSink>, bases: Vec<String>, max_bytes: u64) -> Self {
        // Taken as away before a restart, a base stays so until seen under the line: one that
        // never acknowledged anything would otherwise hold the others back for the away time
        // after every start.
        let away = bases
            .iter()
            .filter(|base| {
                store.spool_away(base).unwrap_or_else(|error| {
                    tracing::warn!("base {base}: whether it was away is unknown: {error}");
                    false
                })
            })
            .cloned()
            .collect();
        SpoolPressure {
            store,
            sink,
            bases,
            max_bytes,
            held: Mutex::default(),
            started: Instant::now(),
            stalled_after: STALLED_AFTER,
            away: Mutex::new(away),
        }
    }

    /// The same, taking a base past the line as away after `after` without acknowledgements
    /// rather than [`STALLED_AFTER`] (shorter only for bases on fast links: see there).
    pub fn away_after(mut self, after: Duration) -> Self {
        self.stalled_after = after;
        self
    }

    /// Whether `base`, its spool past the pause line or not (`past_line`), is away: past it
    /// with nothing acknowledged for the away time while this agent ran, or taken as away
    /// before (by this run or an earlier one: the mark is kept in the store) and not seen back
    /// under the line since. Says so when it becomes so, and when it no longer is. The mark's
    /// copy in the store is for the next start only: failing to keep it is a warning.
    fn away(&self, base: &str, past_line: bool) -> bool {
        let mut marked = self.away.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let keep = |away: bool| {
            if let Err(error) = self.store.set_spool_away(base, away) {
                tracing::warn!("base {base}: could not keep whether it is away for the next start: {error}");
            }
        };
        if !past_line {
            if marked.remove(base) {
                keep(false);
                tracing::info!(
                    "base {base}: its spool is back under the line; its room holds event records back again"
                );
            }
            return false;
        }
        if marked.contains(base) {
            return true;
        }
        let drained = self.store.spool_last_drained(base);
        let silent_for = drained.unwrap_or(self.started).elapsed();
        if silent_for < self.stalled_after {
            return false;
        }
        marked.insert(base.to_owned());
        keep(true);
        let since = if drained.is_some() { "" } else { " (since the agent started)" };
        tracing::warn!(
            "base {base}: nothing acknowledged for {} s{since} and its spool past {} % of its bound: \
             taken as away, it no longer holds back other bases' event records; its spool drops its \
             oldest records at its bound",
            silent_for.as_secs(),
            PAUSE_FRACTION * 100.0
        );
        true
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
        // Every configured base is looked at from here, none skipped by an early return, so
        // that each one's away mark follows its spool: a base is taken as away only when it is
        // past the line and wants these records, and is no longer so once seen under the line.
        for base in self.bases.iter().filter(|base| !subscribers.contains(base)) {
            if self.store.spool_bytes(base)? <= pause_at {
                self.away(base, false);
            }
        }
        let (mut draining, mut slow, mut full) = (0, None, None);
        for base in &subscribers {
            let used = self.store.spool_bytes(base)?;
            let away = self.away(base, used > pause_at);
            // Past the line but short of the budget line, for a logger holding little of it.
            let past_line = used > pause_at
                && (used >= fill_to
                    || self.store.spool_logger_bytes(base, logger)?
                        > own_share(pause_at, self.store.spool_readers_holding(base, logger)?));
            if past_line {
                let pause = format!(
                    "the spool for base {base} holds {used} of {} bytes; reading waits until it drains",
                    self.max_bytes
                );
                // Away, it holds back no other base; slow, it holds back all.
                if away {
                    full.get_or_insert(pause)
                } else {
                    slow.get_or_insert(pause)
                };
                continue;
            }
            draining += 1;
            budget = budget.min(fill_to.saturating_sub(used).saturating_sub(others));
        }
        if let Some(pause) = slow {
            return Ok(Delivery::Pause(pause));
        }
        if let (0, Some(pause)) = (draining, full) {
            return Ok(Delivery::Pause(pause)); // every base wanting the records is past the line
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
    use crate::spool::{DropClass, SpoolEntry};
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
            class: DropClass::Kept,
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
    fn a_logger_holding_little_of_a_spool_past_the_line_reads_on_to_the_budget_line() {
        // A flood of Application events (any local user can write them) fills the spool past
        // the line: the application logger pauses, the security logger does not, until the
        // budget line.
        let dir = temp_data_dir("pressure-share");
        let store = Arc::new(Store::open(&dir).unwrap());
        let sink = Arc::new(SpoolSink::new(store.clone(), 1_000, &standard_factories()));
        let pressure = SpoolPressure::new(store.clone(), sink, vec!["central".into()], 1_000);
        // Source readers: loggers with a saved position (performance loggers have none).
        for logger in ["application", "security", "powershell"] {
            let row = crate::store::LoggerRow::stopped(logger, "windows-event-logger");
            store.insert_logger(&row).unwrap();
            store.save_cursor(logger, crate::store::cursors::POSITION_CURSOR, "p").unwrap();
        }
        for logger in ["application", "security"] {
            store.subscribe("central", logger).unwrap();
        }
        let entry = |logger: &str, bytes: usize| SpoolEntry {
            base: "central".into(),
            logger: logger.into(),
            record: vec![0; bytes],
            class: DropClass::Kept,
        };
        // 780 of 1,000 bytes: past the line (750), short of the budget line (900). Two loggers
        // hold records: each one's share of the line is 375 bytes.
        store.spool_append(&[entry("security", 50), entry("application", 730)], &[], &[], 1_000).unwrap();
        assert!(matches!(pressure.check("application", u64::MAX).unwrap(), Delivery::Pause(_)));
        assert_eq!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: 120 });
        let ack_all = |store: &Store| {
            let ids: Vec<i64> =
                store.spool_batch("central", 10, usize::MAX).unwrap().iter().map(|r| r.id).collect();
            store.spool_ack("central", &ids).unwrap();
        };
        // The same 780 bytes, Security's past its share: it waits too.
        ack_all(&store);
        assert_eq!(store.spool_logger_bytes("central", "application").unwrap(), 0);
        store.spool_append(&[entry("security", 380), entry("application", 400)], &[], &[], 1_000).unwrap();
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(_)));
        assert!(matches!(pressure.check("application", u64::MAX).unwrap(), Delivery::Pause(_)));
        // Two floods (Application and PowerShell's log), neither past half the line: among three
        // readers with records each one's share is 250 bytes, so both wait and Security, holding
        // little, reads on; at the budget line every logger waits.
        store.subscribe("central", "powershell").unwrap();
        ack_all(&store);
        let floods = [entry("application", 300), entry("powershell", 300), entry("security", 200)];
        store.spool_append(&floods, &[], &[], 1_000).unwrap();
        assert!(matches!(pressure.check("powershell", u64::MAX).unwrap(), Delivery::Pause(_)));
        assert!(matches!(pressure.check("application", u64::MAX).unwrap(), Delivery::Pause(_)));
        assert_eq!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: 100 });
        // Performance records are no reader's: they take nobody's share (among four, Security's
        // 200 bytes would be past it).
        store.subscribe("central", "cpu").unwrap();
        let cpu = SpoolEntry { class: DropClass::Performance, ..entry("cpu", 10) };
        store.spool_append(&[cpu], &[], &[], 1_000).unwrap();
        assert_eq!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: 90 });
        // Readers are known from the store, not from who asked since the start: a flood that
        // asks first after a restart is still one of three.
        let sink = Arc::new(SpoolSink::new(store.clone(), 1_000, &standard_factories()));
        let restarted = SpoolPressure::new(store.clone(), sink, vec!["central".into()], 1_000);
        assert!(matches!(restarted.check("powershell", u64::MAX).unwrap(), Delivery::Pause(_)));
        store.spool_append(&[entry("security", 90)], &[], &[], 1_000).unwrap();
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(_)));
        drop((pressure, restarted, store)); // Windows cannot delete an open file
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A store whose bases `central` and `standby` both want logger `security`'s records, a
    /// sink with a 1,000-byte bound, and the bases' names.
    fn two_bases(test: &str) -> (std::path::PathBuf, Arc<Store>, Arc<SpoolSink>, Vec<String>) {
        let dir = temp_data_dir(test);
        let store = Arc::new(Store::open(&dir).unwrap());
        let sink = Arc::new(SpoolSink::new(store.clone(), 1_000, &standard_factories()));
        let bases = vec!["central".to_owned(), "standby".to_owned()];
        for base in &bases {
            store.subscribe(base, "security").unwrap();
        }
        (dir, store, sink, bases)
    }

    /// A security record of `bytes` for `base`.
    fn entry(base: &str, bytes: usize) -> SpoolEntry {
        SpoolEntry {
            base: base.into(),
            logger: "security".into(),
            record: vec![0; bytes],
            class: DropClass::Kept,
        }
    }

    #[test]
    fn a_base_away_holds_back_no_other_base_and_every_base_past_the_line_pauses() {
        let (dir, store, sink, bases) = two_bases("pressure-away");
        // The standby base is past the line (800 of 1,000 bytes), the central one has room.
        store.spool_append(&[entry("standby", 800), entry("central", 100)], &[], &[], 1_000).unwrap();
        let patient = SpoolPressure::new(store.clone(), sink.clone(), bases.clone(), 1_000)
            .away_after(Duration::from_secs(3600));
        assert!(
            matches!(patient.check("security", u64::MAX).unwrap(), Delivery::Pause(reason) if reason.contains("standby")),
            "not away long enough: it holds the others back"
        );
        let pressure =
            SpoolPressure::new(store.clone(), sink, bases, 1_000).away_after(Duration::from_secs(1));
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(_)));
        std::thread::sleep(Duration::from_millis(1300));
        // Nothing acknowledged since the agent started: away. The budget is the central base's.
        assert_eq!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: 800 });
        pressure.settle("security", 0);
        // It returns: records acknowledged, but still past the line, it stays away while it
        // drains (it would stop the others for as long otherwise).
        let oldest = store.spool_batch("standby", 1, usize::MAX).unwrap()[0].id;
        store.spool_append(&[entry("standby", 100)], &[], &[], 1_000).unwrap();
        store.spool_ack("standby", &[oldest]).unwrap();
        store.spool_append(&[entry("standby", 700)], &[], &[], 1_000).unwrap();
        assert_eq!(store.spool_bytes("standby").unwrap(), 800);
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { .. }));
        pressure.settle("security", 0);
        // Back under the line, then past it again with records acknowledged lately: slow, not
        // away, so it holds the others back.
        let oldest = store.spool_batch("standby", 1, usize::MAX).unwrap()[0].id;
        store.spool_ack("standby", &[oldest]).unwrap();
        assert_eq!(store.spool_bytes("standby").unwrap(), 700);
        assert_eq!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { budget_bytes: 200 });
        pressure.settle("security", 0);
        store.spool_append(&[entry("standby", 100)], &[], &[], 1_000).unwrap();
        assert_eq!(store.spool_bytes("standby").unwrap(), 800);
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(_)));
        std::thread::sleep(Duration::from_millis(1300));
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { .. }));
        // Every base wanting the records past the line: reading pauses, however long away.
        store.spool_append(&[entry("central", 700)], &[], &[], 1_000).unwrap();
        std::thread::sleep(Duration::from_millis(1300));
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(_)));
        drop((patient, pressure, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_base_taken_as_away_stays_so_after_a_restart_until_seen_under_the_line() {
        let (dir, store, sink, bases) = two_bases("pressure-mark-kept");
        // The standby never acknowledged anything: away an away time after the start.
        store.spool_append(&[entry("standby", 800)], &[], &[], 1_000).unwrap();
        let pressure = |store: &Arc<Store>, sink: &Arc<SpoolSink>| {
            SpoolPressure::new(store.clone(), sink.clone(), bases.clone(), 1_000)
                .away_after(Duration::from_secs(1))
        };
        let first = pressure(&store, &sink);
        assert!(matches!(first.check("security", u64::MAX).unwrap(), Delivery::Pause(_)));
        std::thread::sleep(Duration::from_millis(1300));
        assert!(matches!(first.check("security", u64::MAX).unwrap(), Delivery::Open { .. }));
        drop((first, store, sink));
        // Restarted: still away, at once.
        let store = Arc::new(Store::open(&dir).unwrap());
        let sink = Arc::new(SpoolSink::new(store.clone(), 1_000, &standard_factories()));
        assert!(matches!(
            pressure(&store, &sink).check("security", u64::MAX).unwrap(),
            Delivery::Open { .. }
        ));
        // Seen under the line, the mark goes, for the next start too.
        let oldest = store.spool_batch("standby", 1, usize::MAX).unwrap()[0].id;
        store.spool_ack("standby", &[oldest]).unwrap();
        assert!(matches!(
            pressure(&store, &sink).check("security", u64::MAX).unwrap(),
            Delivery::Open { .. }
        ));
        assert!(!store.spool_away("standby").unwrap());
        drop((store, sink));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_away_mark_follows_the_spool_while_another_base_pauses_reading() {
        let (dir, store, sink, bases) = two_bases("pressure-marks");
        let ack_oldest = |base: &str| {
            let oldest = store.spool_batch(base, 1, usize::MAX).unwrap()[0].id;
            store.spool_ack(base, &[oldest]).unwrap();
        };
        let pressure =
            SpoolPressure::new(store.clone(), sink, bases, 1_000).away_after(Duration::from_secs(1));
        store.spool_append(&[entry("standby", 800)], &[], &[], 1_000).unwrap();
        std::thread::sleep(Duration::from_millis(1300));
        assert!(
            matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { .. }),
            "standby away"
        );
        pressure.settle("security", 0);
        // The central base falls behind (past the line, acknowledging): reading pauses, while the
        // standby drains under the line, seen at the same check.
        store.spool_append(&[entry("central", 100), entry("central", 700)], &[], &[], 1_000).unwrap();
        ack_oldest("central");
        store.spool_append(&[entry("central", 100)], &[], &[], 1_000).unwrap();
        ack_oldest("standby");
        assert!(
            matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(r) if r.contains("central"))
        );
        // The standby past the line again, having acknowledged lately: slow, not away.
        store.spool_append(&[entry("standby", 800)], &[], &[], 1_000).unwrap();
        ack_oldest("central");
        assert!(
            matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(r) if r.contains("standby")),
            "its old mark was dropped when it was seen under the line"
        );
        // Taken as away again, then no longer wanting the records while it drains: its mark
        // still follows its spool, so once it wants them again, past the line and acknowledging,
        // it is slow.
        std::thread::sleep(Duration::from_millis(1300));
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { .. }), "away");
        pressure.settle("security", 0);
        store.unsubscribe("standby", "security").unwrap();
        ack_oldest("standby");
        assert!(matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Open { .. }));
        pressure.settle("security", 0);
        store.subscribe("standby", "security").unwrap();
        store.spool_append(&[entry("standby", 800)], &[], &[], 1_000).unwrap();
        assert!(
            matches!(pressure.check("security", u64::MAX).unwrap(), Delivery::Pause(r) if r.contains("standby")),
            "its mark was dropped while it wanted no records"
        );
        drop((pressure, store));
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
            class: DropClass::Kept,
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
