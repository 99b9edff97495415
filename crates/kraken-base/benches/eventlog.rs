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
//! * For reference, not the goal's peer: the same crate making structured records of the same
//!   events (`records_json_value()`, serde JSON values), as the pipeline makes records.
//! * The disk's share: the bytes the pipeline had the kernel write to storage per event (the
//!   agent's spool and the base's SQLite, WAL and checkpoints; Linux's `/proc/self/io`), and the
//!   rate this disk takes durable sequential writes in the same temp dir (256 MiB, then
//!   `fsync`): their quotient is the most events a second any pipeline writing as many bytes
//!   could store here, were its CPU work free.
//!
//! * Stages: the file source alone, then with the mapping, on one thread with no spool and no
//!   base, to show what the first stages leave for the rest; and when the pipeline's agent side
//!   had read, mapped and spooled every event (the link sending to the base meanwhile).
//!
//! * CPU: the CPU time the process (agent and base) spent per event while the pipeline ran,
//!   every thread (Linux's `/proc/self/stat`), and how many of the cores that kept busy: what a
//!   faster pipeline on these cores has to take out, against the peer's time per record.
//!
//! Goal: pipeline at least 0.5 of the peer and at least 20,000 events/s. Three rounds
//! alternate the two; medians are compared.
//!
//! Run: `cargo bench -p kraken-base --bench eventlog` (`-- --quick`: one round, fewer copies);
//! `cargo bench --profile agent ...` builds both sides as the shipped agent is built.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evtx::{EvtxParser, ParserSettings};
use kraken_base::storage::RecordFilter;
use kraken_codec::{Map, Value};
use sentry::eventlog::{ItemMapping, MappingOptions};
use sentry::loggers::factory::validate_options;
use sentry::loggers::windows_event::WindowsEventFactory;
use sentry::loggers::{FactoryContext, LoggerFactory, SinkSet, standard_factories};
use sentry::spool::{SpoolPressure, SpoolSink};
use sentry::store::{LoggerRow, Store};
use sentry_host_facts::eventlog::{EventSource, EvtxFileSource, FileOptions};

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

    let (mut peers, mut pipelines, mut agents) = (Vec::new(), Vec::new(), Vec::new());
    let (mut sources, mut mappings, mut structured) = (Vec::new(), Vec::new(), Vec::new());
    let (mut written, mut disk_rates) = (Vec::new(), Vec::new());
    let (mut cpu_per_event, mut cores_busy) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        peers.push(evtx_alone(&inputs, events, PeerOutput::Xml));
        structured.push(evtx_alone(&inputs, events, PeerOutput::JsonValues));
        sources.push(source_stages(&inputs, events, false));
        mappings.push(source_stages(&inputs, events, true));
        disk_rates.push(durable_write_rate(&dir));
        let round_dir = dir.join(format!("round-{round}"));
        let run = runtime.block_on(pipeline(&round_dir, &files, &pki, &inputs, events));
        agents.push(run.agent_side);
        pipelines.push(run.whole);
        written.extend(run.bytes_written_per_event);
        cpu_per_event.extend(run.cpu_per_event);
        cores_busy.extend(run.cores_busy);
    }
    let (peer, ours) = (support::median(&mut peers), support::median(&mut pipelines));
    let (source, mapped) = (support::median(&mut sources), support::median(&mut mappings));
    let agent = support::median(&mut agents);
    let structured_peer = support::median(&mut structured);
    let disk_rate = support::median(&mut disk_rates);
    println!(
        "{events} events ({copies} copies of system.evtx with its inactive chunks), median of {rounds} rounds"
    );
    println!("  evtx crate alone (records(), XML)             {peer:>10.0} events/s  {peers:.0?}");
    println!("  pipeline (file source → records → spool → base) {ours:>8.0} events/s  {pipelines:.0?}");
    println!("  stages of the pipeline alone, one thread, no spool and no base:");
    println!(
        "    file source (evtx records as XML, positions)  {source:>8.0} events/s  ratio {:.2}",
        source / peer
    );
    println!(
        "    file source and the mapping to records        {mapped:>8.0} events/s  ratio {:.2}",
        mapped / peer
    );
    println!("  the pipeline's agent side alone done (read, mapped, spooled; the link sending meanwhile):");
    println!(
        "    file source, mapping and the spool commit     {agent:>8.0} events/s  ratio {:.2}",
        agent / peer
    );
    if !cpu_per_event.is_empty() {
        let per_event = support::median(&mut cpu_per_event) * 1e6;
        let cores = support::median(&mut cores_busy);
        println!(
            "    CPU the whole pipeline spent per event          {per_event:>6.1} us  ({cores:.2} cores busy; the peer: {:.1} us)",
            1e6 / peer
        );
    }
    println!("  for reference, not the goal's peer:");
    println!(
        "    evtx crate making records (records_json_value()) {structured_peer:>6.0} events/s  {structured:.0?}  pipeline / it {:.2}",
        ours / structured_peer
    );
    println!("  the disk's share:");
    println!(
        "    durable sequential writes in the temp dir      {:>8.0} MB/s  {disk_rates:.0?}",
        disk_rate / 1e6
    );
    if written.is_empty() {
        println!("    bytes written to storage per event: not measured (no /proc/self/io here)");
    } else {
        let per_event = support::median(&mut written);
        let ceiling = disk_rate / per_event;
        println!("    bytes the pipeline wrote to storage per event  {per_event:>8.0}  {written:.0?}");
        println!(
            "    most events/s those writes allow on this disk  {ceiling:>8.0}  ratio {:.2} (with no CPU spent)",
            ceiling / peer
        );
    }
    println!(
        "ratio pipeline / evtx alone: {:.2} (goal >= 0.5); goal >= 20,000 events/s: {}",
        ours / peer,
        ours >= 20_000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the `evtx` crate makes of each record when it reads alone.
#[derive(Clone, Copy)]
enum PeerOutput {
    /// XML text (`records()`): the goal's peer.
    Xml,
    /// Structured records (`records_json_value()`).
    JsonValues,
}

/// The `evtx` crate reading every record of `inputs`; events per second.
fn evtx_alone(inputs: &[PathBuf], expected: usize, output: PeerOutput) -> f64 {
    let started = Instant::now();
    let mut count = 0;
    for input in inputs {
        let settings = ParserSettings::new().indent(false);
        let mut parser = EvtxParser::from_path(input).unwrap().with_configuration(settings);
        count += match output {
            PeerOutput::Xml => parser.records().filter(Result::is_ok).count(),
            PeerOutput::JsonValues => parser.records_json_value().filter(Result::is_ok).count(),
        };
    }
    let elapsed = started.elapsed();
    assert_eq!(count, expected, "records the evtx crate read");
    count as f64 / elapsed.as_secs_f64()
}

/// The first stages of the product's path alone, on this thread: the file source reading every
/// record of `inputs` (as the logger does, `max_events_per_run` at a time from the position the
/// last read gave), and with `map` the mapping of its items to records; events per second.
fn source_stages(inputs: &[PathBuf], expected: usize, map: bool) -> f64 {
    let mapping =
        ItemMapping { options: MappingOptions::default(), channel: "System".into(), source: "bench".into() };
    let started = Instant::now();
    let mut count = 0;
    for input in inputs {
        let mut source = EvtxFileSource::new(input, FileOptions { recover: true, after_header_id: None });
        let mut position = source.start_position().unwrap();
        loop {
            let batch = source.read(&position, 5000).unwrap();
            position = batch.position;
            count += if map { mapping.records(batch.items).len() } else { batch.items.len() };
            if !batch.more {
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(count, expected, "records the file source gave");
    count as f64 / elapsed.as_secs_f64()
}

/// The bytes this process has had the kernel write to storage so far (`write_bytes` of
/// `/proc/self/io`, counted when pages are dirtied, every thread), where the kernel says.
fn storage_bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|line| line.strip_prefix("write_bytes:")).and_then(|n| n.trim().parse().ok())
}

/// CPU seconds this process has used so far (user and system, every thread), where the kernel says.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The rate, in bytes per second, at which the disk under `dir` takes 256 MiB written in 1 MiB
/// pieces and made durable with one `fsync`.
fn durable_write_rate(dir: &Path) -> f64 {
    use std::io::Write as _;
    const PIECE: usize = 1 << 20;
    const PIECES: usize = 256;
    let path = dir.join("durable-write-rate");
    let piece: Vec<u8> = (0..PIECE).map(|n| (n % 251) as u8).collect();
    let started = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    for _ in 0..PIECES {
        file.write_all(&piece).unwrap();
    }
    file.sync_all().unwrap();
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path).unwrap();
    (PIECE * PIECES) as f64 / elapsed.as_secs_f64()
}

/// What one run of the pipeline measured.
struct PipelineRun {
    /// Events per second when the agent had spooled every event.
    agent_side: f64,
    /// Events per second when the base had committed every event.
    whole: f64,
    /// Bytes written to storage per event, from the first read until the base had committed
    /// every event (agent and base are both this process), where the kernel says.
    bytes_written_per_event: Option<f64>,
    /// CPU seconds (every thread, user and system) per event over the same time.
    cpu_per_event: Option<f64>,
    /// CPU seconds per second of that time: how many cores the pipeline kept busy.
    cores_busy: Option<f64>,
}

/// The product's path from the files to the base's SQLite.
async fn pipeline(
    dir: &Path,
    files: &kraken_base::pki::PkiFiles,
    pki: &Path,
    inputs: &[PathBuf],
    expected: usize,
) -> PipelineRun {
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
    let written_before = storage_bytes_written();
    let cpu_before = cpu_seconds();
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
    let spooled = started.elapsed();
    // Done when the spool is empty: the base acknowledges a batch once it has committed it.
    while !store.spool_batch("local", 1, usize::MAX).unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_before.zip(cpu_seconds()).map(|(before, after)| after - before);
    let written = written_before.zip(storage_bytes_written()).map(|(before, after)| after - before);
    let stored = storage.records(&RecordFilter { limit: expected + 1, ..Default::default() }).unwrap().len();
    assert_eq!(stored, expected, "events stored, once");
    link.abort();
    PipelineRun {
        agent_side: expected as f64 / spooled.as_secs_f64(),
        whole: expected as f64 / elapsed.as_secs_f64(),
        bytes_written_per_event: written.map(|bytes| bytes as f64 / expected as f64),
        cpu_per_event: cpu.map(|seconds| seconds / expected as f64),
        cores_busy: cpu.map(|seconds| seconds / elapsed.as_secs_f64()),
    }
}
