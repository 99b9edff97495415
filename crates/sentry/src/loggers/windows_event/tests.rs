use super::*;
use crate::loggers::factory::validate_options;
use crate::loggers::standard_factories;
use crate::spool::{SpoolPressure, SpoolSink};
use crate::store::database::tests::temp_data_dir;
use kraken_codec::{Map, Value};

fn sample(name: &str) -> String {
    format!("{}/../../testdata/evtx/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn props(pairs: &[(&str, Value)]) -> Map {
    let mut map = Map::new();
    for (key, value) in pairs {
        map.insert(*key, value.clone());
    }
    map
}

fn config(pairs: &[(&str, Value)]) -> Result<BTreeMap<String, OptionValue>, String> {
    validate_options(&WindowsEventFactory, &props(pairs))
}

#[test]
fn options_have_defaults_and_bad_values_are_refused_at_creation() {
    let parsed =
        EventLoggerConfig::from_options(&config(&[("event_source", "Security".into())]).unwrap()).unwrap();
    assert_eq!(parsed.live, LiveOptions::default());
    assert_eq!((parsed.max_events_per_run, parsed.evtx_path, parsed.recover), (1000, None, false));
    let with_last = config(&[("event_source", "System".into()), ("last_id", "3000000000".into())]).unwrap();
    assert_eq!(
        EventLoggerConfig::from_options(&with_last).unwrap().live.start_at,
        StartAt::AfterRecord(3_000_000_000)
    );
    let refused = [
        (("start_at", Value::from("yesterday")), "option start_at must be now or oldest"),
        (("last_id", Value::from("12a")), "option last_id must be a record id"),
        (("batch_size", Value::I32(2000)), "option batch_size must be 1 to 1024"),
        (("max_events_per_run", Value::I32(0)), "option max_events_per_run must be 1 to"),
        (("render_message", Value::from("yes")), "option render_message must be true or false"),
        (("max_field_bytes", Value::I32(10)), "option max_field_bytes must be 256 to"),
        (
            (
                "query",
                Value::from("<QueryList><Query Id='0'><Select Path='System'>*</Select></Query></QueryList>"),
            ),
            "the query reads channel \"System\", but a logger reads one channel",
        ),
    ];
    for ((key, value), expected) in refused {
        let error = config(&[("event_source", "Security".into()), (key, value)]).unwrap_err();
        assert!(error.starts_with(expected), "{key}: {error}");
    }
    assert!(config(&[]).unwrap_err().contains("event_source is required"));
    // A structured query of the logger's own channel is taken.
    let own = "<QueryList><Query Id='0' Path='Security'><Select Path='Security'>*</Select>\
               <Suppress Path='Security'>*[System[(EventID=4662)]]</Suppress></Query></QueryList>";
    let with_query = config(&[("event_source", "Security".into()), ("query", own.into())]).unwrap();
    assert_eq!(EventLoggerConfig::from_options(&with_query).unwrap().live.query, own);
}

struct Fixture {
    dir: std::path::PathBuf,
    store: Arc<Store>,
    context: FactoryContext,
}

fn fixture(name: &str, bases: &[&str]) -> Fixture {
    let dir = temp_data_dir(name);
    let store = Arc::new(Store::open(&dir).unwrap());
    let sink = Arc::new(SpoolSink::new(store.clone(), 1 << 20, &standard_factories()));
    let bases = bases.iter().map(|b| b.to_string()).collect();
    let delivery: Option<Arc<dyn DeliveryGate>> =
        Some(Arc::new(SpoolPressure::new(store.clone(), sink, bases, 1 << 20)));
    let context = FactoryContext { host: Arc::new(sentry_host::SystemHost), store: store.clone(), delivery };
    // The loggers the tests run, stored as the registry stores them (only a stored logger has
    // its position saved).
    for name in ["system", "security"] {
        store.insert_logger(&crate::store::LoggerRow::stopped(name, "windows-event-logger")).unwrap();
    }
    Fixture { dir, store, context }
}

/// Closes everything of the fixture, then deletes its directory (Windows cannot delete an open
/// file).
fn finish(fixture: Fixture, logger: Box<dyn LoggerRun>) {
    drop(logger);
    let dir = fixture.dir.clone();
    drop(fixture);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn file_logger(fixture: &Fixture, file: &str, max: i32) -> Box<dyn LoggerRun> {
    let options = config(&[
        ("event_source", "System".into()),
        ("evtx_path", sample(file).into()),
        ("max_events_per_run", Value::I32(max)),
    ])
    .unwrap();
    WindowsEventFactory.create(&fixture.context, "system", &options)
}

#[test]
fn runs_go_through_a_file_from_the_committed_position() {
    let fixture = fixture("event-logger-file", &[]);
    let mut logger = file_logger(&fixture, "system.evtx", 100);
    let first = logger.run_once().unwrap();
    assert_eq!((first.records.len(), first.more), (100, true));
    let (date, params) = &first.records[0];
    assert!(date.is_some(), "an event is dated by its TimeCreated");
    assert_eq!(params["logtype"], Value::from("system"));
    assert_eq!(params["channel"], Value::from("System"));
    // Not committed: the next run reads the same records again.
    let again = logger.run_once().unwrap();
    assert_eq!(again.records, first.records);
    // Committed: it goes on after them, to the end of the file.
    let mut total = 0;
    let mut output = again;
    for _ in 0..10 {
        total += output.records.len();
        fixture.store.save_cursor("system", POSITION_CURSOR, output.position.as_deref().unwrap()).unwrap();
        if !output.more {
            break;
        }
        output = logger.run_once().unwrap();
    }
    assert_eq!(total, 326, "every record of the declared chunks once");
    let after_end = logger.run_once().unwrap();
    assert!(after_end.records.is_empty() && after_end.position.is_none());
    finish(fixture, logger);
}

#[test]
fn a_logger_removed_while_its_thread_runs_on_reads_nothing_more() {
    let fixture = fixture("event-logger-removed", &[]);
    let mut logger = file_logger(&fixture, "system.evtx", 100);
    let first = logger.run_once().unwrap();
    assert_eq!(first.records.len(), 100);
    // `kraken-sentry logger stop system` and `remove system`; the agent has not stopped the
    // thread yet. The run's commit cannot save its position (the logger is gone), and the next
    // runs read nothing rather than the file from its start again.
    fixture.store.delete_logger("system").unwrap();
    fixture.store.save_cursor("system", POSITION_CURSOR, first.position.as_deref().unwrap()).unwrap();
    for _ in 0..3 {
        let next = logger.run_once().unwrap();
        assert!(next.records.is_empty() && next.position.is_none() && !next.more);
    }
    assert_eq!(fixture.store.cursor("system", POSITION_CURSOR).unwrap(), None);
    finish(fixture, logger);
}

#[test]
fn with_bases_but_no_link_yet_the_logger_holds_its_position() {
    let fixture = fixture("event-logger-hold", &["central"]);
    let mut logger = file_logger(&fixture, "new-user-security.evtx", 100);
    let held = logger.run_once().unwrap();
    assert!(held.records.is_empty() && held.position.is_none());
    let start = fixture.store.cursor("system", POSITION_CURSOR).unwrap();
    assert!(start.as_deref().is_some_and(|p| p.ends_with(":0:0")), "the start is saved at once: {start:?}");
    fixture.store.subscribe("central", "system").unwrap();
    let read = logger.run_once().unwrap();
    assert_eq!(read.records.len(), 4);
    finish(fixture, logger);
}

#[test]
fn a_stored_logger_that_cannot_run_any_more_names_where_its_position_stands() {
    // Stored by an earlier version: a query over two channels, and a bookmark of both.
    let fixture = fixture("event-logger-two-channels", &[]);
    let query = "<QueryList><Query Id='0' Path='Security'><Select Path='Security'>*</Select>\
                 <Select Path='System'>*</Select><Select Path='Application'>*</Select></Query></QueryList>";
    let stored: BTreeMap<String, crate::store::OptionValue> = [
        ("event_source".to_owned(), crate::store::OptionValue::Str("Security".into())),
        ("query".to_owned(), crate::store::OptionValue::Str(query.into())),
    ]
    .into();
    let bookmark = "<BookmarkList>\r\n  <Bookmark Channel='Security' RecordId='5'/>\r\n  \
                    <Bookmark Channel='System' RecordId='9' IsCurrent='true'/>\r\n</BookmarkList>";
    fixture.store.save_cursor("security", POSITION_CURSOR, bookmark).unwrap();
    let mut logger = WindowsEventFactory.create(&fixture.context, "security", &stored);
    let error = logger.run_once().unwrap_err();
    assert!(error.contains("one logger per channel"), "{error}");
    assert!(
        error.contains(
            "saved position stands: Security last_id=5, System last_id=9, Application start_at=oldest"
        ),
        "{error}"
    );
    // Any other error of a stored logger carries no such advice.
    let other: BTreeMap<String, crate::store::OptionValue> =
        [("event_source".to_owned(), crate::store::OptionValue::Str("Security".into()))].into();
    let bad = [("batch_size".to_owned(), crate::store::OptionValue::Int(5000))];
    let other: BTreeMap<_, _> = other.into_iter().chain(bad).collect();
    let error = WindowsEventFactory.create(&fixture.context, "security", &other).run_once().unwrap_err();
    assert!(error.starts_with("option batch_size must be") && !error.contains("saved position"), "{error}");
    assert_eq!(fixture.store.cursor("security", POSITION_CURSOR).unwrap().as_deref(), Some(bookmark));
    finish(fixture, logger);
}

#[test]
fn on_linux_the_live_source_is_an_error_each_run_not_a_crash() {
    if cfg!(windows) {
        return;
    }
    let fixture = fixture("event-logger-live", &[]);
    let options = config(&[("event_source", "Security".into())]).unwrap();
    let mut logger = WindowsEventFactory.create(&fixture.context, "security", &options);
    let error = logger.run_once().unwrap_err();
    assert!(error.contains("event log unavailable"), "{error}");
    finish(fixture, logger);
}

#[test]
fn a_run_of_events_larger_than_assumed_reads_only_what_fits_in_the_spool() {
    use sentry_host::eventlog::SubscriptionSource;
    use sentry_host::eventlog::scripted::ScriptedApi;
    use sentry_host::eventlog::subscription::OLDEST;
    let fixture = fixture("event-logger-budget", &["central"]);
    fixture.store.subscribe("central", "security").unwrap();
    // The spool just below the pause: 943,718 bytes (90 %) may be filled, 786,000 are.
    let filler = crate::spool::SpoolEntry {
        base: "central".into(),
        logger: "other".into(),
        record: vec![0; 786_000],
        class: crate::spool::DropClass::Kept,
    };
    fixture.store.spool_append(&[filler], &[], &[], 1 << 20).unwrap();
    let budget = 943_718 - 786_000;
    // Events of 8 KB: the 2 KB a record is assumed to cost would let 77 in, 640 KB.
    let api = ScriptedApi::new("Security");
    for _ in 0..100 {
        api.append("Big-Provider", 4104, &"x".repeat(8_000));
    }
    let options = LiveOptions { start_at: StartAt::Oldest, ..LiveOptions::default() };
    let source = Box::new(SubscriptionSource::new(api.clone(), "Security", options));
    let config =
        EventLoggerConfig::from_options(&config(&[("event_source", "Security".into())]).unwrap()).unwrap();
    let mut logger: Box<dyn LoggerRun> =
        Box::new(EventLoggerRun::new(&fixture.context, "security", config, source));
    let output = logger.run_once().unwrap();
    let count = output.records.len();
    assert!((10..30).contains(&count) && output.more, "{count} records");
    assert_eq!(records_within(&output.records, budget), count, "they fit");
    let ids = |records: &[(Option<std::time::SystemTime>, Map)]| -> Vec<i64> {
        records.iter().map(|(_, p)| p["record_id"].as_i64().unwrap()).collect()
    };
    assert_eq!(ids(&output.records), (1..=count as i64).collect::<Vec<_>>());
    assert_ne!(output.position.as_deref(), Some(OLDEST));
    // Until committed, what the run made is held from another logger's budget.
    fixture.store.subscribe("central", "system").unwrap();
    let made = records_bytes(&output.records);
    let other = fixture.context.delivery.as_ref().unwrap().check("system", u64::MAX).unwrap();
    assert_eq!(other, Delivery::Open { budget_bytes: budget - made });
    // Committed, the next run goes on after them.
    fixture.store.save_cursor("security", POSITION_CURSOR, output.position.as_deref().unwrap()).unwrap();
    let next = logger.run_once().unwrap();
    assert_eq!(ids(&next.records)[0], count as i64 + 1);
    finish(fixture, logger);
}

/// A source that has only passed over events so far: nothing, the same position, more.
struct PassingOver;

impl sentry_host::eventlog::EventSource for PassingOver {
    fn start_position(&mut self) -> Result<String, sentry_host::eventlog::SourceError> {
        Ok("start".into())
    }
    fn read(
        &mut self,
        from: &str,
        _max: usize,
    ) -> Result<sentry_host::eventlog::Batch, sentry_host::eventlog::SourceError> {
        Ok(sentry_host::eventlog::Batch { items: Vec::new(), position: from.to_owned(), more: true })
    }
    fn describe(&self) -> String {
        "passing over".into()
    }
}

#[test]
fn a_run_that_only_passed_over_events_asks_for_the_next_at_once() {
    let fixture = fixture("event-logger-passing-over", &[]);
    let config =
        EventLoggerConfig::from_options(&config(&[("event_source", "Security".into())]).unwrap()).unwrap();
    let mut logger: Box<dyn LoggerRun> =
        Box::new(EventLoggerRun::new(&fixture.context, "security", config, Box::new(PassingOver)));
    let output = logger.run_once().unwrap();
    assert!(output.records.is_empty());
    assert!(output.more, "not an interval's wait");
    assert_eq!(output.position.as_deref(), Some("start"), "the position unchanged");
    finish(fixture, logger);
}
