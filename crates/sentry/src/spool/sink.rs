//! The spool's record sink and its wake-up signal.
//!
//! [`SpoolSink`] takes every run's records and, for each base that connected the record's
//! logger, commits the encoded record to that base's spool (one transaction per run), then
//! wakes the base links' senders. The senders ([`super::sender`]) read batches back in order and
//! delete them once acknowledged.
//!
//! Each spooled record carries `seq`, its logger's sequence number: consecutive over every
//! record of that logger ever spooled (saved with the spool, so it survives restarts), so a
//! base can tell a gap or a duplicate. Records of performance loggers are marked droppable: a
//! full spool drops them first (then process checks, then event records: `super::queries`).
//! Every drop is itself reported to the base that lost records, as a record of the logger
//! [`DROP_REPORT_LOGGER`] (logtype `spool-drop`): a full spool drops it after the performance
//! records, before the security ones, and never the newest report of a base.
//!
//! A write the store refuses (a full disk, an I/O error) loses nothing at once: its records
//! wait in memory, sequence numbers kept, and go first at the next write. Past
//! [`PENDING_MAX_BYTES`] the oldest waiting records are dropped (performance records first),
//! counted per base, and reported like a full spool's once the store takes writes again, so a
//! base always learns of a gap.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use kraken_codec::Value;
use sentry_protocol::LogRecord;
use sentry_protocol::record::params;
use tokio::sync::Notify;

use super::queries::{DropClass, SpoolEntry};
use crate::loggers::{LoggerFactory, RecordSink};
use crate::store::cursors::POSITION_CURSOR;
use crate::store::{Store, StoreError};

/// The logger name of the records that report a spool drop.
pub const DROP_REPORT_LOGGER: &str = "sentry-spool";

/// The most bytes of records kept in memory while the store refuses writes.
pub const PENDING_MAX_BYTES: usize = 16 << 20;

/// How long source readers wait after the store refused one of their writes (they read those
/// records again, so reading at once would only map them again for another refusal).
pub const REFUSED_PAUSE: Duration = Duration::from_secs(10);

/// Spools records for the bases that want them.
pub struct SpoolSink {
    store: Arc<Store>,
    max_bytes: u64,
    /// Factories whose records are performance metrics (dropped first).
    performance_factories: HashSet<&'static str>,
    /// Factories whose records their next run makes again (dropped next).
    periodic_factories: HashSet<&'static str>,
    /// Records the store refused, waiting for the next write. Its lock also makes spool
    /// writes one at a time, so drop reports (made by any logger's thread) number in order.
    pending: Mutex<Pending>,
    /// Woken after every commit.
    pub wake: Arc<Notify>,
    /// When each base's drops were last logged: a spool that stays full (a base away for long)
    /// drops at every write, and says so at most every [`DROP_WARNING_EVERY`].
    drops_logged: Mutex<BTreeMap<String, Instant>>,
    /// Bases are configured: a positioned run whose logger no base takes any more (the last one
    /// disconnected it while it read) is not committed, so its position holds, as the delivery
    /// gate holds a logger no base has connected.
    bases_configured: bool,
}

/// How often a base's drops are logged at most (each log line gives the total so far; every
/// drop still makes a report for the base).
const DROP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// What a refused write left to spool.
#[derive(Default)]
struct Pending {
    entries: Vec<SpoolEntry>,
    /// The last sequence number given per logger, ahead of the store's.
    sequences: BTreeMap<String, i64>,
    bytes: usize,
    /// Records dropped from memory per base, not yet reported.
    lost: BTreeMap<String, u64>,
    /// When the store last refused a positioned write (none since it took one).
    refused_at: Option<Instant>,
}

impl Pending {
    /// Keeps `entries` (after those already waiting), dropping the oldest past the bound in
    /// the order a full spool does ([`DropClass::DROP_ORDER`]).
    fn keep(&mut self, entries: Vec<SpoolEntry>, sequences: BTreeMap<String, i64>) {
        self.bytes += entries.iter().map(|e| e.record.len()).sum::<usize>();
        self.entries.extend(entries);
        self.sequences.extend(sequences);
        if self.bytes <= PENDING_MAX_BYTES {
            return;
        }
        let mut dropped = vec![false; self.entries.len()];
        for class in DropClass::DROP_ORDER {
            for (index, entry) in self.entries.iter().enumerate() {
                if self.bytes <= PENDING_MAX_BYTES {
                    break;
                }
                if dropped[index] || entry.class != class {
                    continue;
                }
                dropped[index] = true;
                self.bytes -= entry.record.len();
                *self.lost.entry(entry.base.clone()).or_default() += 1;
            }
        }
        let mut index = 0;
        self.entries.retain(|_| {
            index += 1;
            !dropped[index - 1]
        });
    }
}

impl SpoolSink {
    /// A sink keeping each base's spool within `max_bytes`; `factories` tells which loggers
    /// make performance records.
    pub fn new(store: Arc<Store>, max_bytes: u64, factories: &[Arc<dyn LoggerFactory>]) -> Self {
        let performance_factories = factories.iter().filter(|f| f.performance()).map(|f| f.name()).collect();
        let periodic_factories = factories.iter().filter(|f| f.periodic()).map(|f| f.name()).collect();
        SpoolSink {
            store,
            max_bytes,
            performance_factories,
            periodic_factories,
            pending: Mutex::default(),
            wake: Arc::new(Notify::new()),
            drops_logged: Mutex::default(),
            bases_configured: false,
        }
    }

    /// Says whether bases are configured (see `bases_configured`).
    pub fn with_bases_configured(mut self, configured: bool) -> Self {
        self.bases_configured = configured;
        self
    }

    /// When a full spool drops `logger`'s records.
    fn drop_class(&self, logger: &str) -> Result<DropClass, StoreError> {
        let row = self.store.logger(logger)?;
        let factory = row.as_ref().map(|row| row.factory.as_str());
        Ok(match factory {
            Some(factory) if self.performance_factories.contains(factory) => DropClass::Performance,
            Some(factory) if self.periodic_factories.contains(factory) => DropClass::Periodic,
            _ => DropClass::Kept,
        })
    }

    /// Tells each base that lost records how many, in a record of its own.
    fn report_drops(&self, losses: &[(String, u64)]) -> Result<(), StoreError> {
        let mut reports = Vec::with_capacity(losses.len());
        let mut seq = self.store.spool_sequence(DROP_REPORT_LOGGER)?;
        for (base, dropped) in losses {
            let (_, _, dropped_total) = self.store.spool_stats(base)?;
            if self.drop_warning_due(base) {
                tracing::warn!(%base, dropped, dropped_total, "spool full: the oldest records were dropped");
            }
            let message = format!("spool for base {base} full: {dropped} oldest records dropped");
            let report = LogRecord {
                date: SystemTime::now(),
                logger: DROP_REPORT_LOGGER.into(),
                params: params(
                    "spool-drop",
                    message,
                    [
                        ("base", Value::from(base.as_str())),
                        ("dropped", Value::I64(*dropped as i64)),
                        ("dropped_total", Value::I64(dropped_total as i64)),
                        ("max_bytes", Value::I64(i64::try_from(self.max_bytes).unwrap_or(i64::MAX))),
                    ],
                ),
            };
            seq += 1;
            reports.push(SpoolEntry {
                base: base.clone(),
                logger: DROP_REPORT_LOGGER.into(),
                record: report.entry_bytes(seq),
                class: DropClass::Kept,
            });
        }
        // Room for a report costs a performance record or an older report where there is one;
        // the totals (the next report's dropped_total) count whatever it cost.
        let losses = self.store.spool_append(&reports, &[(DROP_REPORT_LOGGER, seq)], &[], self.max_bytes)?;
        for (base, dropped) in losses {
            // Its warning was just given (or is due later), with the totals that count these.
            tracing::debug!(%base, dropped, "spool full: records dropped to make room for a drop report");
        }
        Ok(())
    }

    /// Whether a drop in `base`'s spool is to be logged: at most once every
    /// [`DROP_WARNING_EVERY`] per base.
    fn drop_warning_due(&self, base: &str) -> bool {
        let mut logged = self.drops_logged.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = logged.get(base).is_none_or(|at| at.elapsed() >= DROP_WARNING_EVERY);
        if due {
            logged.insert(base.to_owned(), Instant::now());
        }
        due
    }
}

impl RecordSink for SpoolSink {
    fn write(&self, records: &[LogRecord]) -> io::Result<()> {
        self.spool(records, None).map(drop)
    }

    fn write_positioned(&self, records: &[LogRecord], logger: &str, position: &str) -> io::Result<bool> {
        self.spool(records, Some((logger, position)))
    }

    fn save_position(&self, logger: &str, position: &str) -> io::Result<bool> {
        self.store
            .save_cursor(logger, POSITION_CURSOR, position)
            .map(|()| true)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

impl SpoolSink {
    /// True while records the store refused wait in memory (see the module doc), and for
    /// [`REFUSED_PAUSE`] after it refused a positioned write.
    pub fn refusing(&self) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        !pending.entries.is_empty()
            || !pending.lost.is_empty()
            || pending.refused_at.is_some_and(|at| at.elapsed() < REFUSED_PAUSE)
    }

    /// Tries to spool the records waiting in memory; true if none wait any more.
    pub fn retry_refused(&self) -> bool {
        if self.refusing() {
            let _ = self.spool(&[], None);
        }
        !self.refusing()
    }

    /// Spools `records` for the bases that want them. With a `(logger, position)`, the position
    /// is saved in the same transaction when any record was spooled (the result says whether),
    /// and records the store refuses are not kept in memory: the logger reads them again.
    fn spool(&self, records: &[LogRecord], positioned: Option<(&str, &str)>) -> io::Result<bool> {
        let to_io = |e: StoreError| io::Error::other(e.to_string());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut entries = Vec::new();
        // (logger, last sequence number given) of the loggers in this write.
        let mut sequences: Vec<(String, i64)> = Vec::new();
        // A run's records come from one logger: look its subscribers up once, not per record.
        let mut subscribers: Option<(&str, Vec<String>, DropClass)> = None;
        for record in records {
            let logger = record.logger.as_str();
            if subscribers.as_ref().is_none_or(|(current, _, _)| *current != logger) {
                let bases = self.store.subscribers(logger).map_err(to_io)?;
                let class = if bases.is_empty() {
                    DropClass::Kept
                } else {
                    self.drop_class(logger).map_err(to_io)?
                };
                subscribers = Some((logger, bases, class));
            }
            let Some((_, bases, class)) = subscribers.as_ref() else { continue };
            if bases.is_empty() {
                if self.bases_configured && positioned.is_some() {
                    return Err(io::Error::other(format!(
                        "no base takes logger {logger} any more: its position holds and its records wait \
                         in their source"
                    )));
                }
                continue;
            }
            let seq = match sequences.iter_mut().find(|(name, _)| name == logger) {
                Some((_, last)) => {
                    *last = last.saturating_add(1);
                    *last
                }
                None => {
                    let last = match pending.sequences.get(logger) {
                        Some(&waiting) => waiting,
                        None => self.store.spool_sequence(logger).map_err(to_io)?,
                    };
                    sequences.push((logger.to_owned(), last.saturating_add(1)));
                    last.saturating_add(1)
                }
            };
            // Encoded once, straight from the record (`{logger, date, msg, params, seq}`).
            let mut encoded = record.entry_bytes(seq);
            for (index, base) in bases.iter().enumerate() {
                // Each base's row needs its own bytes; the last takes the encoding itself.
                let record =
                    if index + 1 == bases.len() { std::mem::take(&mut encoded) } else { encoded.clone() };
                entries.push(SpoolEntry {
                    base: base.clone(),
                    logger: logger.to_owned(),
                    record,
                    class: *class,
                });
            }
        }
        if entries.is_empty() && pending.entries.is_empty() && pending.lost.is_empty() {
            return Ok(false);
        }
        let positions: Vec<(&str, &str)> = positioned.filter(|_| !entries.is_empty()).into_iter().collect();
        // What waits from refused writes goes first, with its own sequence numbers (moved, not
        // copied: in the usual case nothing waits and this is the new records alone).
        let Pending { entries: mut all, sequences: mut all_sequences, lost: waiting_lost, .. } =
            std::mem::take(&mut *pending);
        let waiting = (all.len(), all_sequences.clone());
        all.extend(entries);
        all_sequences.extend(sequences);
        let saved: Vec<(&str, i64)> =
            all_sequences.iter().map(|(logger, last)| (logger.as_str(), *last)).collect();
        let appended = self.store.spool_append(&all, &saved, &positions, self.max_bytes);
        let mut losses = match appended {
            Ok(losses) => losses,
            Err(error) => {
                pending.lost = waiting_lost;
                if positioned.is_some() {
                    // A positioned logger's records are read again from its source, not kept.
                    all.truncate(waiting.0);
                    all_sequences = waiting.1;
                    pending.refused_at = Some(Instant::now());
                }
                pending.keep(all, all_sequences);
                return Err(io::Error::other(format!(
                    "{error}; {} records wait in memory for the next write",
                    pending.entries.len()
                )));
            }
        };
        for (base, lost) in waiting_lost {
            match losses.iter_mut().find(|(name, _)| *name == base) {
                Some((_, dropped)) => *dropped += lost,
                None => losses.push((base, lost)),
            }
        }
        self.wake.notify_waiters();
        if !losses.is_empty()
            && let Err(error) = self.report_drops(&losses)
        {
            // Reported at a later write, however long the store refuses. The records and the
            // position are committed all the same: this write is done.
            tracing::warn!(%error, "cannot spool the report of dropped records; a later write makes it");
            for (base, lost) in losses {
                *pending.lost.entry(base).or_default() += lost;
            }
        }
        Ok(!positions.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loggers::standard_factories;
    use crate::store::LoggerRow;
    use kraken_codec::Map;

    fn logger(name: &str, factory: &str) -> LoggerRow {
        LoggerRow {
            name: name.into(),
            factory: factory.into(),
            description: None,
            config: Default::default(),
            interval_ms: 0,
            running: false,
        }
    }

    fn record(logger: &str, n: i32) -> LogRecord {
        LogRecord {
            date: SystemTime::now(),
            logger: logger.into(),
            params: params("t", "x".repeat(200), [("n", Value::I32(n))]),
        }
    }

    #[test]
    fn records_the_store_refuses_wait_in_memory_and_keep_their_numbers() {
        let dir = std::env::temp_dir().join(format!("kraken-spool-refused-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        store.insert_logger(&logger("procs", "process-check")).unwrap();
        store.subscribe("central", "procs").unwrap();
        let sink = SpoolSink::new(store.clone(), 1 << 30, &standard_factories());
        sink.write(&[record("procs", 0)]).unwrap();

        // A full disk: each write is refused, and says its records wait.
        store.refuse_growth(true);
        for run in 0..3 {
            let error = sink.write(&(1..=40).map(|n| record("procs", run * 40 + n)).collect::<Vec<_>>());
            let message = error.expect_err("the store cannot grow").to_string();
            assert!(message.contains("wait in memory for the next write"), "{message}");
        }
        // Room again: the next write spools everything, in order, numbered without a gap.
        store.refuse_growth(false);
        sink.write(&[record("procs", 121)]).unwrap();
        let spooled: Vec<(i64, i32)> = store
            .spool_batch("central", 1_000, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| {
                let map = kraken_codec::decode(&r.record).unwrap().as_map().unwrap().clone();
                let n = map["params"].as_map().unwrap()["n"].as_i64().unwrap() as i32;
                (map["seq"].as_i64().unwrap(), n)
            })
            .collect();
        let expected: Vec<(i64, i32)> = (0..=121).map(|n| (i64::from(n) + 1, n)).collect();
        assert_eq!(spooled, expected);
        drop((sink, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_positioned_write_commits_its_position_with_the_records_and_is_never_kept_in_memory() {
        let dir = std::env::temp_dir().join(format!("kraken-spool-positioned-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        store.insert_logger(&logger("security", "windows-event-logger")).unwrap();
        store.subscribe("central", "security").unwrap();
        let sink = SpoolSink::new(store.clone(), 1 << 30, &standard_factories());
        assert!(sink.write_positioned(&[record("security", 1)], "security", "p1").unwrap());
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap().as_deref(), Some("p1"));

        store.refuse_growth(true);
        let many: Vec<LogRecord> = (0..40).map(|n| record("security", 100 + n)).collect();
        assert!(sink.write_positioned(&many, "security", "p2").is_err(), "a full disk refuses the write");
        assert!(sink.pending.lock().unwrap().entries.is_empty(), "read again from their source, not kept");
        assert!(sink.refusing(), "source readers pause rather than map the same records again at once");
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap().as_deref(), Some("p1"));
        store.refuse_growth(false);
        assert!(sink.write_positioned(&[record("security", 2)], "security", "p2").unwrap());
        assert!(!sink.refusing(), "a write taken ends the pause");
        let seqs: Vec<i64> = store
            .spool_batch("central", 100, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| kraken_codec::decode(&r.record).unwrap().as_map().unwrap()["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2], "numbered without a gap across the refused write");
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap().as_deref(), Some("p2"));
        // Nobody subscribed: the spool leaves the position to be saved after the other sinks.
        store.unsubscribe("central", "security").unwrap();
        assert!(!sink.write_positioned(&[record("security", 3)], "security", "p3").unwrap());
        assert!(sink.save_position("security", "p3").unwrap());
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap().as_deref(), Some("p3"));
        drop((sink, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_record_is_spooled_with_the_drop_class_its_factory_gives() {
        let dir = std::env::temp_dir().join(format!("kraken-spool-classes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        for (name, factory) in
            [("cpu", "cpu-usage"), ("procs", "process-check"), ("security", "windows-event-logger")]
        {
            store.insert_logger(&logger(name, factory)).unwrap();
            store.subscribe("central", name).unwrap();
        }
        let sink = SpoolSink::new(store.clone(), 1 << 30, &standard_factories());
        sink.write(&[record("cpu", 1), record("procs", 2)]).unwrap();
        assert!(sink.write_positioned(&[record("security", 3)], "security", "p").unwrap());
        let classes: Vec<(String, i64)> = {
            let connection = store.lock();
            let mut rows = connection.prepare("SELECT logger, droppable FROM spool ORDER BY id").unwrap();
            rows.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let expected =
            [("cpu", DropClass::Performance), ("procs", DropClass::Periodic), ("security", DropClass::Kept)];
        assert_eq!(classes, expected.map(|(logger, class)| (logger.to_owned(), class as i64)));
        drop((sink, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn with_bases_configured_a_run_whose_logger_no_base_takes_any_more_is_not_committed() {
        // The last base disconnected the logger while it read: the records are not lost with a
        // position saved past them; they wait in their source, as for a logger never connected.
        let dir = std::env::temp_dir().join(format!("kraken-spool-unsubscribed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        store.insert_logger(&logger("security", "windows-event-logger")).unwrap();
        let sink = SpoolSink::new(store.clone(), 1 << 30, &standard_factories()).with_bases_configured(true);
        let sinks = crate::loggers::SinkSet::default();
        sinks.add(Arc::new(sink));
        assert!(!sinks.write_positioned(&[record("security", 1)], "security", "p1"));
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap(), None, "the position holds");
        // A run that read nothing moves its position as before (passing over, say).
        assert!(sinks.write_positioned(&[], "security", "p0"));
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap().as_deref(), Some("p0"));
        store.subscribe("central", "security").unwrap();
        assert!(sinks.write_positioned(&[record("security", 1)], "security", "p1"));
        assert_eq!(store.spool_batch("central", 10, usize::MAX).unwrap().len(), 1);
        drop((sinks, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn past_its_bound_memory_drops_the_oldest_waiting_records_and_counts_them() {
        let mut pending = Pending::default();
        let entry = |n: u8| SpoolEntry {
            base: "central".into(),
            logger: "procs".into(),
            record: vec![n; PENDING_MAX_BYTES / 2],
            class: DropClass::Kept,
        };
        pending.keep(vec![entry(1), entry(2)], BTreeMap::from([("procs".to_owned(), 2)]));
        pending.keep(vec![entry(3)], BTreeMap::from([("procs".to_owned(), 3)]));
        assert_eq!(
            pending.entries.iter().map(|e| e.record[0]).collect::<Vec<_>>(),
            [2, 3],
            "the oldest goes"
        );
        assert_eq!(pending.lost, BTreeMap::from([("central".to_owned(), 1)]));
        assert_eq!((pending.sequences["procs"], pending.bytes), (3, PENDING_MAX_BYTES));
    }

    #[test]
    fn past_its_bound_memory_drops_performance_records_before_older_security_ones() {
        let mut pending = Pending::default();
        let entry = |n: u8, droppable: bool| SpoolEntry {
            base: "central".into(),
            logger: if droppable { "cpu" } else { "security" }.into(),
            record: vec![n; PENDING_MAX_BYTES / 4],
            class: if droppable { DropClass::Performance } else { DropClass::Kept },
        };
        pending.keep(vec![entry(1, false), entry(2, true), entry(3, false)], BTreeMap::new());
        pending.keep(vec![entry(4, true), entry(5, false)], BTreeMap::new());
        let kept: Vec<u8> = pending.entries.iter().map(|e| e.record[0]).collect();
        assert_eq!(kept, [1, 3, 4, 5], "the oldest performance record goes, not the older security one");
        pending.keep(vec![entry(6, false), entry(7, false)], BTreeMap::new());
        let kept: Vec<u8> = pending.entries.iter().map(|e| e.record[0]).collect();
        assert_eq!(kept, [3, 5, 6, 7], "then the other performance record, then the oldest security one");
        assert_eq!(pending.lost, BTreeMap::from([("central".to_owned(), 3)]));
        assert_eq!(pending.bytes, PENDING_MAX_BYTES);
    }

    /// The records waiting for `central`, decoded, oldest first.
    fn waiting_records(store: &Store) -> Vec<Map> {
        store
            .spool_batch("central", 100, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| kraken_codec::decode(&r.record).unwrap().as_map().unwrap().clone())
            .collect()
    }

    /// A new store in `dir` with a performance logger (`cpu`) and a security one (`procs`),
    /// both connected by the base `central`.
    fn store_with_cpu_and_procs(dir: &std::path::Path) -> Arc<Store> {
        let _ = std::fs::remove_dir_all(dir);
        let store = Arc::new(Store::open(dir).unwrap());
        store.insert_logger(&logger("cpu", "cpu-usage")).unwrap();
        store.insert_logger(&logger("procs", "process-check")).unwrap();
        for name in ["cpu", "procs"] {
            store.subscribe("central", name).unwrap();
        }
        store
    }

    #[test]
    fn drop_reports_piling_up_in_a_full_spool_never_push_out_its_security_records() {
        assert_eq!(super::super::queries::DROP_REPORT_ROWS, format!("logger = '{DROP_REPORT_LOGGER}'"));
        let dir = std::env::temp_dir().join(format!("kraken-spool-reports-{}", std::process::id()));
        let store = store_with_cpu_and_procs(&dir);
        let probe = SpoolSink::new(store.clone(), u64::MAX, &standard_factories());
        probe.write(&[record("procs", 0)]).unwrap();
        let one = store.spool_bytes("central").unwrap();
        let first = store.spool_batch("central", 1, usize::MAX).unwrap();
        store.spool_ack("central", &[first[0].id]).unwrap();
        // Ten security records fill the spool; then the base stays away while a performance
        // logger writes on: each of its records is dropped, and each drop reported.
        let sink = SpoolSink::new(store.clone(), 10 * one + one / 2, &standard_factories());
        for n in 1..=10 {
            sink.write(&[record("procs", n)]).unwrap();
        }
        for n in 0..30 {
            sink.write(&[record("cpu", n)]).unwrap();
        }
        let waiting = waiting_records(&store);
        let of = |logger: &str| waiting.iter().filter(|r| r["logger"] == Value::from(logger)).count();
        assert!(of("procs") >= 9, "at most one security record for the first report: {waiting:?}");
        let reports = of(DROP_REPORT_LOGGER);
        assert!((1..=2).contains(&reports), "the newest (and one more, where it fits): {reports} of 30");
        assert!(store.spool_bytes("central").unwrap() <= 10 * one + one / 2);
        assert_eq!(of("cpu"), 0);
        let report = waiting.iter().rev().find(|r| r["logger"] == Value::from(DROP_REPORT_LOGGER)).unwrap();
        let total = report["params"].as_map().unwrap()["dropped_total"].as_i64().unwrap();
        assert!(total >= 30, "every cpu record counted: {total}");
        drop((probe, sink, store));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_spool_drops_performance_records_first_and_reports_the_drop() {
        let dir = std::env::temp_dir().join(format!("kraken-spool-sink-{}", std::process::id()));
        let store = store_with_cpu_and_procs(&dir);
        let sink = SpoolSink::new(store.clone(), 2_000, &standard_factories());
        sink.write(&[record("procs", 1)]).unwrap();
        sink.write(&(0..5).map(|n| record("cpu", n)).collect::<Vec<_>>()).unwrap();
        sink.write(&[record("procs", 2)]).unwrap();

        let waiting = waiting_records(&store);
        let loggers: Vec<&str> = waiting.iter().map(|r| r["logger"].as_str().unwrap()).collect();
        assert_eq!(
            loggers.iter().filter(|l| **l == "procs").count(),
            2,
            "security records kept: {loggers:?}"
        );
        let report =
            waiting.iter().find(|r| r["logger"] == Value::from(DROP_REPORT_LOGGER)).expect("no report");
        let report_params = report["params"].as_map().unwrap();
        assert_eq!(report_params["logtype"], Value::from("spool-drop"));
        let dropped = report_params["dropped"].as_i64().unwrap();
        let (_, _, dropped_total) = store.spool_stats("central").unwrap();
        assert!(dropped >= 1 && dropped as u64 <= dropped_total, "{dropped} of {dropped_total}");
        let seqs = |logger: &str| -> Vec<i64> {
            waiting
                .iter()
                .filter(|r| r["logger"] == Value::from(logger))
                .map(|r| r["seq"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(seqs("procs"), [1, 2], "each logger counts its own records");
        assert!(seqs("cpu").windows(2).all(|w| w[1] == w[0] + 1) && seqs("cpu").last() == Some(&5));
        let cpu_left = loggers.iter().filter(|l| **l == "cpu").count() as u64;
        assert_eq!(cpu_left + dropped_total, 5, "every cpu record is either waiting or counted as dropped");
        drop(sink);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
