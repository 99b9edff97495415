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
//! log from its oldest record (a subscription at the oldest record, `Strict`). A third (run it
//! as an administrator) makes a log of its own, `KrakenSentryArchiveTest`, set to archive when
//! full (1 MiB), fills it past an archival while no read is made, and sees every event it
//! wrote arrive once, those of the archive from the archive file; it removes the log and its
//! archives after.
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
    report_as("KrakenSentryLiveTest", marker);
}

/// Writes `marker` as the insertion string of an information event of the event source
/// `source_name` (the Application log's unless registered to another log).
fn report_as(source_name: &str, marker: &str) {
    let source_name = wide(source_name);
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

/// The log the archive test makes, and its event source.
const ARCHIVE_TEST_LOG: &str = "KrakenSentryArchiveTest";
const ARCHIVE_TEST_SOURCE: &str = "KrakenSentryArchiveSource";

/// Runs a Windows PowerShell command; its output when it succeeds.
fn powershell(command: &str) -> Result<String, String> {
    let output = std::process::Command::new("powershell")
        .args(["-NoProfile", "-NonInteractive", "-Command", command])
        .output()
        .map_err(|e| format!("powershell: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    match output.status.success() {
        true => Ok(text),
        false => Err(format!("{command}: {text}{}", String::from_utf8_lossy(&output.stderr))),
    }
}

/// The archive files of the test log, beside its log file in `%SystemRoot%\System32\winevt\Logs`.
fn test_log_archives() -> Vec<std::path::PathBuf> {
    let root = std::env::var("SystemRoot").unwrap_or_else(|_| "C:\\Windows".into());
    let logs = std::path::Path::new(&root).join("System32").join("winevt").join("Logs");
    let prefix = format!("archive-{}-", ARCHIVE_TEST_LOG.to_lowercase());
    std::fs::read_dir(logs)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().to_lowercase().starts_with(&prefix))
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

/// What marks event `n` of the archive test's run `run` (a marker is no other's prefix).
fn marker_of(run: u128, n: usize) -> String {
    format!("archive test {run} event {n:06} ")
}

/// Reads `source` from `position`, 1,000 at a time, until an event carrying `marker` came and
/// nothing more waits (for at most 60 s): the items read, and the position after them.
fn read_until(source: &mut dyn EventSource, mut position: String, marker: &str) -> (Vec<SourceItem>, String) {
    let (mut items, deadline) = (Vec::new(), Instant::now() + Duration::from_secs(60));
    while Instant::now() < deadline {
        let batch = source.read(&position, 1000).unwrap();
        items.extend(batch.items);
        position = batch.position;
        if batch.more {
            continue;
        }
        if count(&items, marker) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (items, position)
}

/// Removes the test log and its archives (also what an earlier run left).
fn remove_test_log() {
    let _ = powershell(&format!(
        "if ([System.Diagnostics.EventLog]::Exists('{ARCHIVE_TEST_LOG}')) {{ Remove-EventLog -LogName '{ARCHIVE_TEST_LOG}' }}"
    ));
    for archive in test_log_archives() {
        let _ = std::fs::remove_file(archive);
    }
}

#[test]
#[ignore = "needs a real Windows event log and an administrator: cargo test -p sentry-host --test live_windows -- --ignored"]
fn events_archived_before_they_were_read_arrive_once_from_the_archive() {
    remove_test_log();
    powershell(&format!("New-EventLog -LogName '{ARCHIVE_TEST_LOG}' -Source '{ARCHIVE_TEST_SOURCE}'"))
        .unwrap_or_else(|e| panic!("the test log cannot be made (run as an administrator): {e}"));
    // Archive the log when full (retention on, auto-backup on), at the least size, 1 MiB.
    let configured = std::process::Command::new("wevtutil")
        .args(["sl", ARCHIVE_TEST_LOG, "/rt:true", "/ab:true", "/ms:1048576"])
        .status()
        .unwrap();
    assert!(configured.success(), "wevtutil sl {ARCHIVE_TEST_LOG} failed");
    let run = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let marker = |n: usize| format!("kraken-sentry archive test {run} event {n:06} {}", "x".repeat(2000));
    for n in 0..10 {
        report_as(ARCHIVE_TEST_SOURCE, &marker(n));
    }
    let options = LiveOptions { start_at: StartAt::Oldest, ..LiveOptions::default() };
    let mut live = live_source(ARCHIVE_TEST_LOG, options).unwrap();
    // Read until the 10th is seen (a reported event may take a moment to be readable).
    let start = live.start_position().unwrap();
    let (read, position) = read_until(live.as_mut(), start, &marker_of(run, 9));
    assert_eq!(count(&read, &format!("archive test {run} event")), 10, "the first 10 events");

    // No read while the log fills past an archival (about 4 KB an event), then 20 more.
    let mut written = 10;
    while test_log_archives().is_empty() && written < 20_000 {
        report_as(ARCHIVE_TEST_SOURCE, &marker(written));
        written += 1;
    }
    assert!(!test_log_archives().is_empty(), "no archive after {written} events: is auto-backup on?");
    for _ in 0..20 {
        report_as(ARCHIVE_TEST_SOURCE, &marker(written));
        written += 1;
    }
    println!("{written} events written, archives: {:?}", test_log_archives());

    // A new source from the saved position, as the agent after a restart, until the last is
    // seen, then once more for anything still on its way.
    let mut restarted = live_source(ARCHIVE_TEST_LOG, LiveOptions::default()).unwrap();
    let (mut items, after) = read_until(restarted.as_mut(), position, &marker_of(run, written - 1));
    std::thread::sleep(Duration::from_secs(2));
    items.extend(restarted.read(&after, 1000).unwrap().items);
    let gaps: Vec<_> = items
        .iter()
        .filter_map(|item| if let SourceItem::Gap(gap) = item { Some(gap) } else { None })
        .collect();
    println!("gaps: {gaps:?}");
    assert!(!gaps.is_empty() && !gaps[0].archives.is_empty(), "the gap names the archive: {gaps:?}");
    for n in 0..10 {
        let again = count(&items, &marker_of(run, n));
        assert_eq!(again, 0, "event {n}, read before, arrived again {again} times; gaps {gaps:?}");
    }
    for n in 10..written {
        let once = count(&items, &marker_of(run, n));
        assert_eq!(once, 1, "event {n} of {written} arrived {once} times; gaps {gaps:?}");
    }
    assert!(!gaps.iter().any(|gap| gap.reason.contains("in none")), "{gaps:?}");
    println!("events 10 to {} arrived once each, those archived from the archive", written - 1);
    remove_test_log();
}
