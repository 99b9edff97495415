//! The Windows event logger's whole pipeline driven by a scripted event log, in one process:
//! the logger runner, the real spool (SQLite), back-pressure, a real link (mutual TLS) and a
//! real base storing in SQLite. Each error the Windows API can return is injected into the log
//! while the logger runs, and the base is checked to hold every event exactly once, plus the
//! gap and error records the documented behaviour promises. (The same with an `.evtx` file and
//! the real binaries, SIGKILL included, is `eventlog_e2e.rs`.)

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, base_config, eventually, fixture, start_base};
use kraken_base::storage::{RecordFilter, StoredRecord};
use kraken_codec::Value;
use sentry::commands::{CommandContext, MethodTable, SentryService};
use sentry::link::{LinkSettings, run_link};
use sentry::loggers::factory::validate_options;
use sentry::loggers::runner::LoggerRunner;
use sentry::loggers::windows_event::{EventLoggerConfig, EventLoggerRun, WindowsEventFactory};
use sentry::loggers::{FactoryContext, SinkSet, standard_factories};
use sentry::spool::{DROP_REPORT_LOGGER, SpoolAccess, SpoolPressure, SpoolSink};
use sentry::store::Store;
use sentry_host_facts::eventlog::archive_fill::ArchiveFill;
use sentry_host_facts::eventlog::scripted::{Call, ScriptedApi, file_events};
use sentry_host_facts::eventlog::{EventSource, LiveOptions, StartAt, SubscriptionSource};

const LOGGER: &str = "security";
const GUID: &str = "sentry-1";
/// The spool's bound: small, so that a base away fills it past the pause mark quickly.
const SPOOL_BYTES: u64 = 256 * 1024;
const WAIT: Duration = Duration::from_secs(30);

/// The sentry's side: its store, spool and sinks, the logger's runner and its link.
struct Sentry {
    store: Arc<Store>,
    spool: Arc<SpoolSink>,
    sinks: Arc<SinkSet>,
    context: FactoryContext,
    runner: LoggerRunner,
    link: Option<tokio::task::JoinHandle<()>>,
}

impl Sentry {
    fn new(fixture: &Fixture) -> Sentry {
        let store = Arc::new(Store::open(&fixture.dir.join("sentry")).unwrap());
        let spool = Arc::new(SpoolSink::new(store.clone(), SPOOL_BYTES, &standard_factories()));
        let sinks = Arc::new(SinkSet::default());
        sinks.add(spool.clone());
        let pressure = SpoolPressure::new(store.clone(), spool.clone(), vec!["local".into()], SPOOL_BYTES);
        let context = FactoryContext {
            host: Arc::new(sentry_host_facts::SystemHost),
            store: store.clone(),
            delivery: Some(Arc::new(pressure)),
        };
        // As the base asking for the logger's records does (connectLogChannel).
        // Stored as the agent's registry stores it (only a stored logger's position is saved).
        store
            .insert_logger(&sentry::store::LoggerRow {
                name: LOGGER.into(),
                factory: "windows-event-logger".into(),
                description: None,
                config: Default::default(),
                interval_ms: 50,
                running: true,
            })
            .unwrap();
        store.subscribe("local", LOGGER).unwrap();
        Sentry { store, spool, sinks, context, runner: LoggerRunner::new(LOGGER), link: None }
    }

    /// Starts the logger over `log`, as the agent does at boot: from the saved bookmark, or
    /// from the oldest record the first time.
    fn start_logger(&self, log: &ScriptedApi) {
        self.start_logger_over(Box::new(Self::live(log)));
    }

    /// The live source of `log`, as the logger reads it.
    fn live(log: &ScriptedApi) -> SubscriptionSource<ScriptedApi> {
        let live = LiveOptions { start_at: StartAt::Oldest, batch_size: 100, ..LiveOptions::default() };
        SubscriptionSource::new(log.clone(), "Security", live)
    }

    /// Starts the logger over `source`.
    fn start_logger_over(&self, source: Box<dyn EventSource>) {
        let mut props = kraken_codec::Map::new();
        props.insert("event_source", Value::from("Security"));
        props.insert("start_at", Value::from("oldest"));
        props.insert("batch_size", Value::I32(100));
        props.insert("max_events_per_run", Value::I32(500));
        let config =
            EventLoggerConfig::from_options(&validate_options(&WindowsEventFactory, &props).unwrap())
                .unwrap();
        let run = EventLoggerRun::new(&self.context, LOGGER, config, source);
        self.runner.start(Duration::from_millis(50), Box::new(run), self.sinks.clone()).unwrap();
    }

    fn stop_logger(&self) {
        assert!(self.runner.stop(Duration::from_secs(10)), "the logger did not stop");
    }

    fn connect(&mut self, fixture: &Fixture) {
        let mut table = MethodTable::new();
        table.register(&[], sentry::commands::log_channel::METHODS);
        let service = SentryService::new(Arc::new(table), Arc::new(CommandContext::for_this_host()));
        let settings = LinkSettings {
            base: base_config(fixture, GUID, &fixture.dir.join("pki")),
            guid: GUID.into(),
            max_backoff: Duration::from_millis(200),
            setup_timeout: Duration::from_secs(10),
            spool: Some(SpoolAccess { store: self.store.clone(), wake: self.spool.wake.clone() }),
            loggers: None,
        };
        self.link = Some(tokio::spawn(run_link(settings, service, None)));
    }

    fn disconnect(&mut self) {
        if let Some(link) = self.link.take() {
            link.abort();
        }
    }
}

/// The base's records of the logger, by logtype.
fn stored(fixture: &Fixture) -> BTreeMap<String, Vec<StoredRecord>> {
    let filter = RecordFilter { logger: Some(LOGGER.into()), limit: 1_000_000, ..Default::default() };
    let mut by_type: BTreeMap<String, Vec<StoredRecord>> = BTreeMap::new();
    for (_, record) in fixture.base.storage.records(&filter).unwrap() {
        by_type.entry(record.logtype.clone().unwrap_or_default()).or_default().push(record);
    }
    by_type
}

/// The record ids of the events the base holds, in the order stored.
fn event_ids(fixture: &Fixture) -> Vec<u64> {
    stored(fixture)
        .remove("system")
        .unwrap_or_default()
        .iter()
        .map(|record| record.params_json()["record_id"].as_u64().expect("record_id"))
        .collect()
}

/// Waits until the base holds exactly the events `expected` (each once, in order).
async fn until_stored(fixture: &Fixture, expected: impl IntoIterator<Item = u64>, what: &str) {
    let expected: Vec<u64> = expected.into_iter().collect();
    let arrived = eventually(WAIT, || event_ids(fixture).len() >= expected.len()).await;
    // A little longer: anything sent twice would show now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids = event_ids(fixture);
    assert!(
        arrived && ids == expected,
        "{what}: the base holds {} events, not {}: {:?}",
        ids.len(),
        expected.len(),
        {
            let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
            ids.iter().for_each(|id| *counts.entry(*id).or_default() += 1);
            let expected: std::collections::BTreeSet<u64> = expected.iter().copied().collect();
            let missing: Vec<u64> =
                expected.iter().filter(|id| !counts.contains_key(id)).take(10).copied().collect();
            let twice: Vec<u64> =
                counts.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).take(10).collect();
            format!("missing {missing:?}, twice {twice:?}")
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_error_ends_with_each_event_at_the_base_once() {
    let mut fixture = fixture("eventlog-pipeline").await;
    let log = ScriptedApi::new("Security");
    let mut sentry = Sentry::new(&fixture);
    sentry.connect(&fixture);
    log.append_many(300, "Microsoft-Windows-Security-Auditing", 4624);
    sentry.start_logger(&log);
    until_stored(&fixture, 1..=300, "first read").await;

    // 1734: a batch too large for the RPC bound; the batch is halved until it passes.
    log.set_max_batch(30);
    log.fail_next(Call::Next, 1734);
    log.append_many(200, "Microsoft-Windows-Security-Auditing", 4625);
    until_stored(&fixture, 1..=500, "after 1734").await;

    // 15011 / 15012: the query result went stale; resubscribed from the bookmark.
    for code in [15011, 15012] {
        let first = log.append_many(50, "Microsoft-Windows-Security-Auditing", 4720).0;
        log.fail_next(Call::Next, code);
        log.append_many(50, "Microsoft-Windows-Security-Auditing", 4732);
        until_stored(&fixture, 1..first + 100, &format!("after {code}")).await;
    }
    // 4317 and 259: nothing to read now; the next run reads what came since.
    for code in [4317, 259] {
        log.fail_next(Call::Next, code);
        let (_, last) = log.append_many(50, "Service Control Manager", 7045);
        until_stored(&fixture, 1..=last, &format!("after {code}")).await;
    }
    // A bookmark that cannot be made: the run fails and its events are read again.
    log.fail_next(Call::Bookmark, 1450);
    let (_, last) = log.append_many(50, "Microsoft-Windows-PowerShell", 4104);
    until_stored(&fixture, 1..=last, "after a bookmark failure").await;
    assert!(sentry.runner.stats().failed_runs >= 1, "the bookmark failure was not a failed run");

    // An event that cannot be rendered: an eventlog-error record in its place, the rest once.
    log.fail_next(Call::Render, 1450);
    let (first, last) = log.append_many(20, "Microsoft-Windows-Security-Auditing", 4624);
    let arrived = eventually(WAIT, || event_ids(&fixture).len() as u64 == last - 1).await;
    let errors = stored(&fixture).remove("eventlog-error").unwrap_or_default();
    assert!(
        arrived && errors.len() == 1,
        "{} events, {} error records",
        event_ids(&fixture).len(),
        errors.len()
    );
    assert!(errors[0].params.contains("cannot be rendered"), "{}", errors[0].params);
    let unrendered = first; // the first of the batch was the one that failed
    assert!(errors[0].params.contains(&format!("\"record_id\":{unrendered}")), "{}", errors[0].params);
    let mut expected: Vec<u64> = (1..=last).filter(|id| *id != unrendered).collect();
    until_stored(&fixture, expected.clone(), "after a render failure").await;

    // A restart while the event log is unavailable: each run fails, the logger keeps going,
    // and once the log is back it resumes after its bookmark.
    sentry.stop_logger();
    log.set_available(false);
    let (_, last) = log.append_many(50, "Microsoft-Windows-Security-Auditing", 4624);
    let failed_before = sentry.runner.stats().failed_runs;
    sentry.start_logger(&log);
    assert!(eventually(WAIT, || sentry.runner.stats().failed_runs >= failed_before + 3).await);
    let error = sentry.runner.stats().last_error.unwrap_or_default();
    assert!(error.contains("event log unavailable"), "{error}");
    log.set_available(true);
    expected.extend(expected.last().unwrap() + 1..=last);
    until_stored(&fixture, expected.clone(), "after a restart").await;

    // The bookmarked record overwritten while the logger was stopped: a gap record says what was
    // lost, and reading resumes at the oldest record still there.
    sentry.stop_logger();
    let (lost_first, _) = log.append_many(100, "Microsoft-Windows-Security-Auditing", 4624);
    let kept_first = lost_first + 60;
    log.roll_over(usize::try_from(kept_first - 1).unwrap()); // every record before kept_first
    let (_, last) = log.append_many(10, "Microsoft-Windows-Security-Auditing", 4625);
    sentry.start_logger(&log);
    expected.extend(kept_first..=last);
    until_stored(&fixture, expected.clone(), "after the bookmark was overwritten").await;
    let gaps = stored(&fixture).remove("eventlog-gap").unwrap_or_default();
    assert_eq!(
        gaps.len(),
        1,
        "one gap record: {:?}",
        gaps.iter().map(|g| (g.seq, g.params.clone())).collect::<Vec<_>>()
    );
    let gap = gaps[0].params_json();
    assert_eq!(gap["last_record_id"].as_u64(), Some(lost_first - 1), "{gap}");
    assert_eq!(gap["resumed_at_record_id"].as_u64(), Some(kept_first), "{gap}");

    // The base away, with more events than the spool holds: reading pauses at 75 % of the
    // bound, nothing is dropped, and everything arrives once the base is back.
    let address = fixture.base.local_addr();
    fixture.base.shutdown(Duration::from_secs(5)).await;
    let (_, last) = log.append_many(2000, "Microsoft-Windows-Security-Auditing", 4624);
    let bound = (SPOOL_BYTES as f64 * 0.75) as u64;
    assert!(eventually(WAIT, || sentry.store.spool_bytes("local").unwrap() > bound / 2).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = sentry.store.spool_bytes("local").unwrap();
    assert!(held <= SPOOL_BYTES, "the spool holds {held} of {SPOOL_BYTES} bytes");
    let spooled = sentry.store.spool_batch("local", 5000, usize::MAX).unwrap().len();
    assert!(spooled < 2000, "all {spooled} events were read while the base was away");
    fixture.base = start_base(&fixture.dir, address).await;
    expected.extend(expected.last().unwrap() + 1..=last);
    until_stored(&fixture, expected, "after the base came back").await;
    let drops = fixture
        .base
        .storage
        .records(&RecordFilter { logger: Some(DROP_REPORT_LOGGER.into()), limit: 10, ..Default::default() })
        .unwrap();
    assert!(drops.is_empty(), "the spool dropped records: {drops:?}");

    sentry.stop_logger();
    sentry.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_archived_while_the_agent_was_stopped_reach_the_base_once_from_the_archive() {
    let fixture = fixture("eventlog-archive").await;
    let log = ScriptedApi::new("Security");
    let mut sentry = Sentry::new(&fixture);
    sentry.connect(&fixture);
    // The folder the channel's log file is kept in, as `C:\Windows\System32\winevt\Logs`.
    let logs = fixture.dir.join("winevt-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let with_archives = |log: &ScriptedApi| -> Box<dyn EventSource> {
        let log_file = logs.join("Security.evtx");
        Box::new(ArchiveFill::new(Box::new(Sentry::live(log)), "*", Box::new(move || Some(log_file.clone()))))
    };
    // The log holds the sample file's events (records 1 to 326, created on 2017-07-12 from
    // 17:16:28), as the archive below will.
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx");
    let events = file_events(&sample);
    assert_eq!(events.len(), 326);
    for xml in &events[..100] {
        log.append_xml(xml);
    }
    sentry.start_logger_over(with_archives(&log));
    until_stored(&fixture, 1..=100, "first read").await;

    // Stopped, while the 226 other events were written, the full log was archived (the sample
    // file is that archive) and a new one begun.
    sentry.stop_logger();
    for xml in &events[100..] {
        log.append_xml(xml);
    }
    let archive = logs.join("Archive-Security-2017-07-12-17-21-00-000.evtx");
    std::fs::copy(&sample, &archive).unwrap();
    log.clear();
    assert_eq!(log.append_many(5, "Microsoft-Windows-Security-Auditing", 4625), (327, 331));
    sentry.start_logger_over(with_archives(&log));

    let expected: Vec<u64> = (1..=100).chain(327..=331).chain(101..=326).collect();
    until_stored(&fixture, expected, "after the archive").await;
    let gaps = stored(&fixture).remove("eventlog-gap").unwrap_or_default();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap = gaps[0].params_json();
    assert_eq!(gap["last_record_id"].as_u64(), Some(100), "{gap}");
    assert_eq!(gap["archives"][0].as_str(), Some(archive.to_str().unwrap()), "{gap}");
    let position = sentry.store.cursor(LOGGER, sentry::loggers::factory::POSITION_CURSOR).unwrap().unwrap();
    assert!(!position.starts_with("kraken-archives"), "nothing left to read: {position}");

    sentry.stop_logger();
    sentry.disconnect();
}
