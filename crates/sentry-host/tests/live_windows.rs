//! The live event log source on a real Windows machine: a manual test, ignored by default (Wine
//! has no event log). Run it in a console on Windows with
//!
//! ```text
//! cargo test -p sentry-host --test live_windows -- --ignored --nocapture
//! ```
//!
//! It reports a marker event to the Application log (`ReportEventW`), sees it arrive once
//! through a subscription that started "now", then restarts from the saved bookmark, as the
//! agent does after a restart, and sees it not arrive again. A second test reads the Application
//! log from its oldest record (a subscription at the oldest record, `Strict`).
#![cfg(windows)]

use std::ptr::null;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sentry_host::eventlog::subscription::Position;
use sentry_host::eventlog::{EventSource, LiveOptions, SourceItem, StartAt, live_source};
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_INFORMATION_TYPE, RegisterEventSourceW, ReportEventW,
};

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// Writes `marker` to the Application log as the insertion string of an information event.
fn report(marker: &str) {
    let source_name = wide("KrakenSentryLiveTest");
    let text = wide(marker);
    let strings = [text.as_ptr()];
    // SAFETY: the strings are NUL-terminated and outlive the calls; the handle is closed below.
    unsafe {
        let log = RegisterEventSourceW(null(), source_name.as_ptr());
        assert!(!log.is_null(), "RegisterEventSourceW failed");
        let ok = ReportEventW(
            log,
            EVENTLOG_INFORMATION_TYPE,
            0,
            1000,
            std::ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            null(),
        );
        DeregisterEventSource(log);
        assert_ne!(ok, 0, "ReportEventW failed");
    }
}

/// How many events of `items` carry `marker`.
fn count(items: &[SourceItem], marker: &str) -> usize {
    items.iter().filter(|item| matches!(item, SourceItem::Event(event) if event.xml.contains(marker))).count()
}

fn source() -> Box<dyn EventSource> {
    live_source("Application", LiveOptions { start_at: StartAt::Now, ..LiveOptions::default() }).unwrap()
}

#[test]
#[ignore = "needs a real Windows event log: cargo test -p sentry-host --test live_windows -- --ignored"]
fn a_reported_event_arrives_once_and_not_again_after_a_restart() {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let marker = format!("kraken-sentry live test {} {nanos}", std::process::id());
    let mut live = source();
    let mut position = live.start_position().unwrap();
    report(&marker);
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen == 0 && Instant::now() < deadline {
        let batch = live.read(&position, 1000).unwrap();
        seen += count(&batch.items, &marker);
        position = batch.position;
        std::thread::sleep(Duration::from_millis(200));
    }
    // Anything still on its way would show up as a second copy.
    std::thread::sleep(Duration::from_secs(2));
    let batch = live.read(&position, 1000).unwrap();
    seen += count(&batch.items, &marker);
    position = batch.position;
    assert_eq!(seen, 1, "the marker event arrives exactly once");

    // A restart: a new source from the saved bookmark. Its record is looked up (`EvtSeek`) and
    // found to be the event read, so no gap comes before what follows.
    let saved = Position::parse(&position);
    let created =
        saved.time_created.unwrap_or_else(|| panic!("the position keeps its event's time: {position}"));
    let mut restarted = source();
    let batch = restarted.read(&position, 1000).unwrap();
    assert_eq!(count(&batch.items, &marker), 0, "nothing arrives twice after a restart");
    assert!(!batch.items.iter().any(|item| matches!(item, SourceItem::Gap(_))), "{:?}", batch.items);
    println!("marker seen once, not again after a restart; bookmark {}", batch.position);

    // The same bookmark saved with another time stands for a record id reused after a clearing:
    // the lookup must find the record and tell it apart (a gap, then the log from its oldest).
    let year: u32 = created[..4].parse().unwrap();
    let altered = format!("{}{}", year - 1, &created[4..]);
    let reused =
        Position { bookmark: saved.bookmark, time_created: Some(&altered), read_by: None }.to_string();
    let batch = source().read(&reused, 10).unwrap();
    assert!(
        matches!(batch.items.first(), Some(SourceItem::Gap(_))),
        "the lookup told nothing: {:?}",
        batch.items
    );
    println!("a bookmark whose record was created at another time: read again after a gap");
}

#[test]
#[ignore = "needs a real Windows event log: cargo test -p sentry-host --test live_windows -- --ignored"]
fn a_subscription_at_the_oldest_record_reads_the_log_from_its_start() {
    // Strict at the oldest record (so that Windows tells of records overwritten before they are
    // read) is taken, or falls back without it: either way the log's oldest events come.
    let options = LiveOptions { start_at: StartAt::Oldest, ..LiveOptions::default() };
    let mut live = live_source("Application", options).unwrap();
    let start = live.start_position().unwrap();
    let batch = live.read(&start, 5).unwrap();
    let events = batch.items.iter().filter(|item| matches!(item, SourceItem::Event(_))).count();
    assert!(events > 0, "the Application log has events: {:?}", batch.items);
    assert!(batch.more, "a read of 5 from the oldest record of the Application log leaves more");
    let next = live.read(&batch.position, 5).unwrap();
    assert!(!next.items.iter().any(|item| matches!(item, SourceItem::Gap(_))), "{:?}", next.items);
    println!("{events} events from the oldest record, then {} more", next.items.len());
}
