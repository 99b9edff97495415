//! Windows events per second from an `.evtx` file into a linked base, against the `evtx` crate
//! iterating the same records alone, measured in the same run.
//!
//! * Pipeline: `windows-event-logger` runs (the product's code: the file source, the mapping
//!   from XML to records, the spool commit with the position in one transaction) read `K`
//!   copies of `testdata/evtx/system.evtx` with `recover` (1,881 events each), one logger per
//!   copy, run after run on this thread as the logger's runner does while more wait; a link
//!   sends the spool to a base on loopback (mutual TLS, log channel) which commits to SQLite.
//!   The clock runs from the first read until the base has committed every event.
//! * Peer: `evtx` 0.15.1 `records()` (XML, no indentation, one thread) over the same copies,
//!   counting the records.
//!
//! Goal: pipeline at least 0.5 of the peer and at least 20,000 events/s. Three rounds
//! alternate the two; medians are compared.
//!
//! Run: `cargo bench -p kraken-base --bench eventlog` (`-- --quick`: one round, fewer copies).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evtx::{EvtxParser, ParserSettings};
use kraken_base::storage::RecordFilter;
use kraken_codec::{Map, Value};
use sentry::loggers::factory::validate_options;
use sentry::loggers::windows_event::WindowsEventFactory;
use sentry::loggers::{FactoryContext, LoggerFactory, SinkSet, standard_factories};
use sentry::spool::{SpoolPressure, SpoolSink};
use sentry::store::{LoggerRow, Store};

/// Events in one copy of the sample, read with `recover`.
const EVENTS_PER_COPY: usize = 1881;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let copies = if quick { 4 } else { 20 };
    let rounds = if quick { 1 } else { 3 };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("kraken-bench-eventlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = dir.join("pki");
    let files = kraken_base::pki::init(&pki, &[]).unwrap();
    kraken_base::pki::issue(&pki, support::SENTRY, kraken_base::pki::SENTRY_VALIDITY_DAYS).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx");
    let inputs: Vec<PathBuf> = (0..copies)
        .map(|n| {
            let copy = dir.join(format!("system-{n}.evtx"));
            std::fs::copy(&sample, &copy).unwrap();
            copy
        })
        .collect();
    let events = copies * EVENTS_PER_COPY;

    let (mut peers, mut pipelines) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        peers.push(evtx_alone(&inputs, events));
        let round_dir = dir.join(format!("round-{round}"));
        pipelines.push(runtime.block_on(pipeline(&round_dir, &files, &pki, &inputs, events)));
    }
    let (peer, ours) = (support::median(&mut peers), support::median(&mut pipelines));
    println!(
        "{events} events ({copies} copies of system.evtx with its inactive chunks), median of {rounds} rounds"
    );
    println!("  evtx crate alone (records(), XML)             {peer:>10.0} events/s  {peers:.0?}");
    println!("  pipeline (file source → records → spool → base) {ours:>8.0} events/s  {pipelines:.0?}");
    println!(
        "ratio pipeline / evtx alone: {:.2} (goal >= 0.5); goal >= 20,000 events/s: {}",
        ours / peer,
        ours >= 20_000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `evtx` crate reading every record of `inputs` as XML; events per second.
fn evtx_alone(inputs: &[PathBuf], expected: usize) -> f64 {
    let started = Instant::now();
    let mut count = 0;
    for input in inputs {
        let settings = ParserSettings::new().indent(false);
        let mut parser = EvtxParser::from_path(input).unwrap().with_configuration(settings);
        count += parser.records().filter(Result::is_ok).count();
    }
    let elapsed = started.elapsed();
    assert_eq!(count, expected, "records the evtx crate read");
    count as f64 / elapsed.as_secs_f64()
}

/// The product's path from the files to the base's SQLite; events per second.
async fn pipeline(
    dir: &Path,
    files: &kraken_base::pki::PkiFiles,
    pki: &Path,
    inputs: &[PathBuf],
    expected: usize,
) -> f64 {
    let (base, storage) = support::start_base(dir, files, false).await;
    let store = Arc::new(Store::open(&dir.join("sentry")).unwrap());
    let factories = standard_factories();
    let spool = Arc::new(SpoolSink::new(store.clone(), 1 << 30, &factories));
    let sinks = SinkSet::default();
    sinks.add(spool.clone());
    let delivery = SpoolPressure::new(store.clone(), spool.clone(), vec!["local".into()], 1 << 30);
    let context = FactoryContext {
        host: Arc::new(sentry_host_facts::SystemHost),
        store: store.clone(),
        delivery: Some(Arc::new(delivery)),
    };
    let names: Vec<String> = (0..inputs.len()).map(|n| format!("events-{n}")).collect();
    for name in &names {
        store
            .insert_logger(&LoggerRow {
                name: name.clone(),
                factory: "windows-event-logger".into(),
                description: None,
                config: Default::default(),
                interval_ms: 1000,
                running: false,
            })
            .unwrap();
        store.subscribe("local", name).unwrap();
    }
    let (link, _) = support::link(&base, pki, store.clone(), spool.wake.clone()).await;

    let inputs = inputs.to_vec();
    let started = Instant::now();
    let reading = tokio::task::spawn_blocking(move || {
        for (name, input) in names.iter().zip(inputs) {
            let mut props = Map::new();
            props.insert("event_source", Value::from("System"));
            props.insert("evtx_path", Value::from(input.to_string_lossy().as_ref()));
            props.insert("recover", Value::from("true"));
            props.insert("max_events_per_run", Value::I32(5000));
            let config = validate_options(&WindowsEventFactory, &props).unwrap();
            let mut run = WindowsEventFactory.create(&context, name, &config);
            // As the runner does: the next run at once while more wait.
            loop {
                let output = run.run_once().unwrap();
                let records: Vec<sentry_protocol::LogRecord> = output
                    .records
                    .into_iter()
                    .map(|(date, params)| sentry_protocol::LogRecord {
                        date: date.unwrap_or_else(std::time::SystemTime::now),
                        logger: name.as_str().into(),
                        params,
                    })
                    .collect();
                let Some(position) = output.position else { break };
                assert!(sinks.write_positioned(&records, name, &position), "the run was not committed");
                if !output.more {
                    break;
                }
            }
        }
    });
    reading.await.unwrap();
    // Done when the spool is empty: the base acknowledges a batch once it has committed it.
    while !store.spool_batch("local", 1, usize::MAX).unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let stored = storage.records(&RecordFilter { limit: expected + 1, ..Default::default() }).unwrap().len();
    assert_eq!(stored, expected, "events stored, once");
    link.abort();
    expected as f64 / elapsed.as_secs_f64()
}
