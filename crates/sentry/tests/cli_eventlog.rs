//! Runs the real `kraken-sentry eventlog read` on a sample `.evtx` file and checks what it prints
//! against the file source read directly: every event once, as JSON lines or as tables of at most
//! 1,000 rows, and a reader that stops early (`| head`) is no error. Runs on Linux and, as a
//! Windows exe, under Wine.

mod common;

use std::io::Read;
use std::path::PathBuf;

use sentry_host::eventlog::{EventSource, EvtxFileSource, FileOptions, SourceItem};
use serde_json::Value as Json;

/// `system.evtx` of the evtx project: 1,881 events with its inactive chunks.
fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx")
}

/// The `EventRecordID` of each event the file source gives, in order.
fn record_ids_from_the_source(recover: bool) -> Vec<i64> {
    let mut source = EvtxFileSource::new(&sample(), FileOptions { recover, after_header_id: None });
    let mut position = source.start_position().unwrap();
    let mut ids = Vec::new();
    loop {
        let batch = source.read(&position, 500).unwrap();
        for item in batch.items {
            if let SourceItem::Event(event) = item {
                let start = event.xml.find("<EventRecordID>").unwrap() + "<EventRecordID>".len();
                let end = start + event.xml[start..].find('<').unwrap();
                ids.push(event.xml[start..end].parse().unwrap());
            }
        }
        position = batch.position;
        if !batch.more {
            return ids;
        }
    }
}

fn read_file(extra: &[&str]) -> String {
    let path = sample().to_string_lossy().into_owned();
    let mut args = vec!["eventlog", "read", path.as_str()];
    args.extend_from_slice(extra);
    let output = common::run(&args, None);
    assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn read_prints_every_event_the_file_source_gives_once_as_json_lines() {
    for recover in [false, true] {
        let text = read_file(if recover { &["--recover"] } else { &[] });
        let records: Vec<Json> =
            text.split('\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(records.iter().all(|r| r["logger"] == "eventlog" && r["params"]["channel"] == "System"));
        let printed: Vec<i64> = records.iter().map(|r| r["params"]["record_id"].as_i64().unwrap()).collect();
        let expected = record_ids_from_the_source(recover);
        assert!(!expected.is_empty());
        assert_eq!(printed, expected, "recover {recover}");
    }
}

#[test]
fn a_table_is_printed_in_pages_of_at_most_1000_rows() {
    let text = read_file(&["--format", "table", "--recover"]);
    let lines: Vec<&str> = text.lines().collect();
    let headers: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.starts_with("TIME_CREATED")).map(|(at, _)| at).collect();
    let events = record_ids_from_the_source(true).len();
    assert_eq!(headers.len(), events.div_ceil(1000), "one header per page");
    assert_eq!(headers[0], 0);
    assert!(
        headers.windows(2).all(|pair| pair[1] - pair[0] == 1001),
        "full pages of 1,000 rows: {headers:?}"
    );
    assert_eq!(lines.len() - headers.len(), events, "every event one row");
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    for format in ["json", "table"] {
        let path = sample().to_string_lossy().into_owned();
        let mut child = common::spawn(&["eventlog", "read", &path, "--recover", "--format", format]);
        drop(child.stdin.take());
        let mut first = [0u8; 64];
        let read = child.stdout.as_mut().unwrap().read_exact(&mut first);
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(read.is_ok(), "{format}: nothing printed ({read:?}); stderr: {stderr}");
        assert!(output.status.success(), "{format}: {:?} {stderr}", output.status);
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
}
