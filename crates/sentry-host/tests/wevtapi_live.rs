#![cfg(windows)]
//! The live event log source (`live_source`, `channels`) through the real `wevtapi.dll` calls
//! of `windows/eventlog.rs`, run under Wine in two ways:
//!
//! - as every Windows test exe is run (`scripts/test-windows.sh`), with Wine's builtin
//!   `wevtapi.dll`, whose `EvtOpenLog` returns NULL and several other calls abort the process:
//!   every test checks that its channel is reported unavailable, and that nothing else is called
//!   (the process would not survive it);
//! - by `scripts/test-wine-eventlog.sh`, with the test `wevtapi.dll` of `tools/wevtapi-shim` and
//!   `KRAKEN_WEVTAPI_DIR` naming its event log directory: each test keeps its events in a channel
//!   folder of its own (so tests run in parallel), appends events while it reads, injects the
//!   documented errors through the channel's `control.txt`, and reads the shim's `calls.log` to
//!   see what was called.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sentry_host::eventlog::scripted::file_events;
use sentry_host::eventlog::subscription::{OLDEST, bookmark_record_id, bookmark_xml};
use sentry_host::eventlog::{
    Batch, EventSource, LiveOptions, SourceError, SourceEvent, SourceItem, StartAt, channels, live_source,
};

/// The environment variable naming the shim's event log directory.
const SHIM_DIR: &str = "KRAKEN_WEVTAPI_DIR";

/// A provider the shim has metadata for.
const PROVIDER: &str = "Kraken-Shim-Provider";

/// A channel of the shim's event log, in a folder of its own.
struct ShimChannel {
    name: String,
    dir: PathBuf,
    root: PathBuf,
}

/// The shim channel `name`, emptied; `None` without the shim, after checking that the live
/// source of `name` is unavailable there (Wine's builtin `wevtapi.dll`).
fn shim_channel(name: &str) -> Option<ShimChannel> {
    let Some(root) = std::env::var_os(SHIM_DIR) else {
        assert_unavailable(name);
        return None;
    };
    let root = PathBuf::from(root);
    let dir = root.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    Some(ShimChannel { name: name.to_owned(), dir, root })
}

/// `start_position` and `read` of a live source of `channel` fail with `Unavailable`, whatever
/// the start.
fn assert_unavailable(channel: &str) {
    for start_at in [StartAt::Now, StartAt::Oldest, StartAt::AfterRecord(7)] {
        let mut source = live_source(channel, LiveOptions { start_at, ..LiveOptions::default() }).unwrap();
        let error = source.start_position().and_then(|start| source.read(&start, 10));
        assert!(matches!(error, Err(SourceError::Unavailable(_))), "{channel} {start_at:?}: {error:?}");
        let error = source.read(OLDEST, 10);
        assert!(matches!(error, Err(SourceError::Unavailable(_))), "{channel}: {error:?}");
    }
}

impl ShimChannel {
    /// The XML of event `id` (as EvtRender writes it: single quotes, no declaration).
    fn event_xml(&self, id: u64, provider: &str, data: &str) -> String {
        let data = data.replace('&', "&amp;").replace('<', "&lt;");
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
             <Provider Name='{provider}' Guid='{{54849625-5478-4994-a5ba-3e3b0328c30d}}'/>\
             <EventID>4624</EventID><Version>0</Version><Level>0</Level><Task>12544</Task>\
             <Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>\
             <TimeCreated SystemTime='2024-05-01T10:00:{:02}.1234567Z'/>\
             <EventRecordID>{id}</EventRecordID><Correlation/>\
             <Execution ProcessID='4' ThreadID='8'/><Channel>{}</Channel>\
             <Computer>shim.example</Computer><Security UserID='S-1-5-18'/></System>\
             <EventData><Data Name='Detail'>{data}</Data></EventData></Event>",
            id % 60,
            self.name,
        )
    }

    /// Writes event `id` (through a temporary file, so the shim never sees half of it).
    fn append_event(&self, id: u64, provider: &str, data: &str) -> String {
        let xml = self.event_xml(id, provider, data);
        self.append_xml(id, &xml);
        xml
    }

    fn append_xml(&self, id: u64, xml: &str) {
        let temporary = self.dir.join(format!("{id}.tmp"));
        fs::write(&temporary, xml).unwrap();
        fs::rename(&temporary, self.dir.join(format!("{id}.xml"))).unwrap();
    }

    /// Appends events `ids` of the test provider, with data `event <id> é 한`.
    fn append(&self, ids: std::ops::RangeInclusive<u64>) {
        for id in ids {
            self.append_event(id, PROVIDER, &format!("event {id} é 한"));
        }
    }

    /// Removes events (the log cleared, or rolled over).
    fn remove(&self, ids: std::ops::RangeInclusive<u64>) {
        for id in ids {
            fs::remove_file(self.dir.join(format!("{id}.xml"))).unwrap();
        }
    }

    /// Adds a line to the channel's control.txt (`next 1734`: the next EvtNext fails with 1734).
    fn inject(&self, line: &str) {
        let mut file =
            fs::OpenOptions::new().create(true).append(true).open(self.dir.join("control.txt")).unwrap();
        writeln!(file, "{line}").unwrap();
    }

    /// The control lines the shim has not used yet.
    fn pending_control(&self) -> Vec<String> {
        let text = fs::read_to_string(self.dir.join("control.txt")).unwrap_or_default();
        text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
    }

    /// The shim's calls on this channel, one line each (`EvtNext subscription 100 -> 3 (1..3)`).
    fn calls(&self) -> Vec<String> {
        log_lines(&self.dir)
    }

    /// The calls starting with `prefix`.
    fn calls_of(&self, prefix: &str) -> Vec<String> {
        self.calls().into_iter().filter(|c| c.starts_with(prefix)).collect()
    }

    /// Handles of this channel still open in the shim, after the last `EvtClose`.
    fn open_handles(&self) -> usize {
        let closes = self.calls_of("EvtClose");
        let last = closes.last().expect("some handle was closed");
        let open = last.rsplit_once("(open ").expect("open count").1.trim_end_matches(')');
        open.parse().unwrap()
    }

    /// Checks that the shim has no handle of this channel open (call once every source is
    /// dropped), and that no handle was closed twice (an event after the subscription or query
    /// it came from, which closed it).
    fn assert_all_closed(&self) {
        assert_eq!(self.open_handles(), 0, "handles left open: {:#?}", self.calls());
        let failed: Vec<String> =
            self.calls_of("EvtClose").into_iter().filter(|call| !call.contains(" -> 0 ")).collect();
        assert!(failed.is_empty(), "closes that failed: {failed:#?}");
    }

    fn source(&self, start_at: StartAt, batch_size: u32) -> Box<dyn EventSource> {
        let options = LiveOptions { start_at, batch_size, ..LiveOptions::default() };
        live_source(&self.name, options).unwrap()
    }
}

fn log_lines(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

/// The record id of an event's XML.
fn record_id(xml: &str) -> u64 {
    let start = xml.find("<EventRecordID>").expect("EventRecordID") + "<EventRecordID>".len();
    let end = xml[start..].find('<').unwrap();
    xml[start..start + end].parse().unwrap()
}

/// The record ids of items: an event's own, 0 for a gap, `u64::MAX` for damage.
fn ids(items: &[SourceItem]) -> Vec<u64> {
    items
        .iter()
        .map(|item| match item {
            SourceItem::Event(event) => record_id(&event.xml),
            SourceItem::Gap(_) => 0,
            SourceItem::Damage(_) => u64::MAX,
        })
        .collect()
}

fn events(batch: &Batch) -> Vec<&SourceEvent> {
    batch
        .items
        .iter()
        .map(|item| match item {
            SourceItem::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        })
        .collect()
}

/// Reads from `position` until a read says nothing more is waiting.
fn read_all(source: &mut dyn EventSource, mut position: String, max: usize) -> (Vec<SourceItem>, String) {
    let mut items = Vec::new();
    for _ in 0..1000 {
        let batch = source.read(&position, max).unwrap();
        items.extend(batch.items);
        position = batch.position;
        if !batch.more {
            return (items, position);
        }
    }
    panic!("still more after 1000 reads");
}

#[test]
fn without_an_event_log_every_live_call_is_unavailable_and_the_process_survives() {
    match std::env::var_os(SHIM_DIR) {
        // Wine's builtin wevtapi.dll: EvtOpenLog returns NULL; had anything else been called
        // (EvtCreateBookmark, EvtRender... abort in Wine 8), this process would have died.
        None => {
            assert_unavailable("Security");
            let error = channels();
            assert!(matches!(error, Err(SourceError::Unavailable(_))), "{error:?}");
        }
        // The shim: a channel it has no folder for cannot be opened (15007), which is the
        // configuration's fault, not a missing event log.
        Some(_) => {
            for start_at in [StartAt::Now, StartAt::Oldest, StartAt::AfterRecord(7)] {
                let options = LiveOptions { start_at, ..LiveOptions::default() };
                let mut source = live_source("Kraken-No-Such-Channel", options).unwrap();
                let error = source.start_position().and_then(|start| source.read(&start, 10));
                assert!(
                    matches!(&error, Err(SourceError::Config(text)) if text.contains("no event log channel")),
                    "{start_at:?}: {error:?}"
                );
            }
        }
    }
}

#[test]
fn events_appended_while_reading_arrive_once_and_every_handle_is_closed() {
    let Some(log) = shim_channel("Kraken-Append") else { return };
    let written: Vec<String> =
        (1..=10).map(|id| log.append_event(id, PROVIDER, &format!("first {id} é 한 & <x>"))).collect();
    let mut source = log.source(StartAt::Oldest, 4);
    assert_eq!(source.start_position().unwrap(), OLDEST);

    let first = source.read(OLDEST, 6).unwrap();
    assert_eq!(ids(&first.items), [1, 2, 3, 4, 5, 6]);
    assert!(first.more);
    assert_eq!(bookmark_record_id(&first.position), Some(6), "{}", first.position);
    for (event, xml) in events(&first).iter().zip(&written) {
        assert_eq!(&event.xml, xml, "rendered as written");
    }
    log.append(11..=15);
    let second = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&second.items), (7..=15).collect::<Vec<_>>());
    assert!(!second.more);
    let idle = source.read(&second.position, 100).unwrap();
    assert!(idle.items.is_empty());
    assert_eq!(idle.position, second.position);
    log.append(16..=16);
    let third = source.read(&idle.position, 100).unwrap();
    assert_eq!(ids(&third.items), [16]);
    assert_eq!(bookmark_record_id(&third.position), Some(16));
    assert_eq!(
        third.position,
        "<BookmarkList>\r\n  <Bookmark Channel='Kraken-Append' RecordId='16' IsCurrent='true'/>\r\n</BookmarkList>\
         \r\n<!-- kraken: TimeCreated='2024-05-01T10:00:16.1234567Z' -->",
        "the bookmark as EvtRenderBookmark wrote it, then the time its event was created"
    );

    assert_eq!(log.calls_of("EvtSubscribe").len(), 1, "one subscription kept open: {:#?}", log.calls());
    let sizes: Vec<String> =
        log.calls_of("EvtNext").iter().map(|c| c.split(' ').nth(2).unwrap().to_owned()).collect();
    assert!(sizes.iter().all(|s| s.parse::<u32>().unwrap() <= 4), "batch_size 4: {sizes:?}");
    drop(source);
    log.assert_all_closed();
}

#[test]
fn a_new_source_given_the_saved_bookmark_resumes_after_it() {
    let Some(log) = shim_channel("Kraken-Resume") else { return };
    log.append(1..=5);
    let saved = {
        let mut source = log.source(StartAt::Oldest, 100);
        let batch = source.read(OLDEST, 100).unwrap();
        assert_eq!(ids(&batch.items), [1, 2, 3, 4, 5]);
        batch.position
    };
    log.append(6..=8);
    let mut restarted = log.source(StartAt::Now, 100);
    let batch = restarted.read(&saved, 100).unwrap();
    assert_eq!(ids(&batch.items), [6, 7, 8], "after the bookmark, nothing twice");
    assert!(log.calls_of("EvtSubscribe after 5 strict -> 0").len() == 1, "{:#?}", log.calls());

    // The seed's last_id: a bookmark made from a record id.
    let mut after = log.source(StartAt::AfterRecord(6), 100);
    let start = after.start_position().unwrap();
    assert_eq!(ids(&after.read(&start, 100).unwrap().items), [7, 8]);
    drop((restarted, after));
    log.assert_all_closed();
}

#[test]
fn start_at_now_skips_the_events_already_in_the_log() {
    let Some(log) = shim_channel("Kraken-Now") else { return };
    log.append(1..=3);
    let mut source = log.source(StartAt::Now, 100);
    let start = source.start_position().unwrap();
    assert_eq!(bookmark_record_id(&start), Some(3), "the newest record: {start}");
    assert!(log.calls_of("EvtQuery reverse -> 0").len() == 1, "{:#?}", log.calls());
    // The bookmark of an event of a query in reverse says `Direction='backward'`: the start
    // is written anew, to read forward after it.
    assert!(!start.contains("Direction"), "{start}");
    let empty = source.read(&start, 100).unwrap();
    assert!(empty.items.is_empty(), "{:?}", ids(&empty.items));
    log.append(4..=5);
    assert_eq!(ids(&source.read(&empty.position, 100).unwrap().items), [4, 5]);

    // An empty log: Now starts at the oldest record, so the first event is not missed.
    let empty_log = shim_channel("Kraken-Now-Empty").unwrap();
    let mut empty_source = empty_log.source(StartAt::Now, 100);
    let start = empty_source.start_position().unwrap();
    assert_eq!(start, OLDEST);
    empty_log.append(1..=1);
    assert_eq!(ids(&empty_source.read(&start, 100).unwrap().items), [1]);
    drop((source, empty_source));
    log.assert_all_closed();
    empty_log.assert_all_closed();
}

#[test]
fn a_batch_too_large_halves_the_batch_and_loses_nothing() {
    let Some(log) = shim_channel("Kraken-Bound") else { return };
    log.append(1..=70);
    let mut source = log.source(StartAt::Oldest, 100);
    log.inject("next 1734");
    log.inject("next 1734");
    let (items, position) = read_all(source.as_mut(), OLDEST.to_owned(), 1000);
    assert_eq!(ids(&items), (1..=70).collect::<Vec<_>>());
    assert_eq!(bookmark_record_id(&position), Some(70));
    let nexts = log.calls_of("EvtNext");
    assert_eq!(nexts[0], "EvtNext subscription 100 -> 1734", "{nexts:#?}");
    assert_eq!(nexts[1], "EvtNext subscription 50 -> 1734", "{nexts:#?}");
    assert_eq!(nexts[2], "EvtNext subscription 25 -> 25 (1..25)", "{nexts:#?}");
    assert_eq!(log.calls_of("EvtSubscribe").len(), 3, "resubscribed after each 1734");
    assert!(log.pending_control().is_empty());
    drop(source);
    log.assert_all_closed();
}

#[test]
fn a_stale_or_moved_result_set_resubscribes_without_loss_or_duplicates() {
    for code in [15011, 15012] {
        let Some(log) = shim_channel(&format!("Kraken-Stale-{code}")) else { return };
        log.append(1..=5);
        let mut source = log.source(StartAt::Oldest, 2);
        let first = source.read(OLDEST, 3).unwrap();
        assert_eq!(ids(&first.items), [1, 2, 3]);
        log.inject(&format!("next {code}"));
        log.append(6..=6);
        let second = source.read(&first.position, 100).unwrap();
        assert_eq!(ids(&second.items), [4, 5, 6], "code {code}");
        let subscribes = log.calls_of("EvtSubscribe");
        assert_eq!(
            subscribes,
            ["EvtSubscribe oldest 0 strict -> 0", "EvtSubscribe after 3 strict -> 0"],
            "code {code}"
        );
        assert!(log.calls().contains(&format!("EvtNext subscription 2 -> {code}")), "code {code}");
        drop(source);
        log.assert_all_closed();
    }
}

#[test]
fn no_more_items_invalid_operation_and_timeout_end_a_read_and_keep_the_subscription() {
    // How Windows answers a poll with nothing waiting: 259, and as often 4317 (or 1460).
    for code in [259, 4317, 1460] {
        let Some(log) = shim_channel(&format!("Kraken-End-{code}")) else { return };
        log.append(1..=2);
        let mut source = log.source(StartAt::Oldest, 100);
        log.inject(&format!("next {code}"));
        let batch = source.read(OLDEST, 100).unwrap();
        assert!(batch.items.is_empty(), "code {code}");
        assert!(!batch.more);
        assert_eq!(batch.position, OLDEST);
        assert_eq!(ids(&source.read(&batch.position, 100).unwrap().items), [1, 2], "code {code}");
        assert_eq!(log.calls_of("EvtSubscribe").len(), 1, "code {code}: {:?}", log.calls());
        drop(source);
        log.assert_all_closed();
    }
}

#[test]
fn events_handed_out_by_a_failing_next_are_kept_and_the_subscription_reads_on() {
    let Some(log) = shim_channel("Kraken-Failing-Next") else { return };
    log.append(1..=3);
    let mut source = log.source(StartAt::Oldest, 100);
    // EvtNext returns the three events and fails with 4317 all the same.
    log.inject("next-with-events 4317");
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&first.items), [1, 2, 3], "the events the failing call handed out");
    log.append(4..=5);
    let second = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&second.items), [4, 5], "each event once");
    // A 4317 that hands out nothing ends the read; the next one reads on, subscribed as before.
    log.inject("next 4317");
    let third = source.read(&second.position, 100).unwrap();
    assert!(third.items.is_empty());
    log.append(6..=6);
    assert_eq!(ids(&source.read(&third.position, 100).unwrap().items), [6]);
    assert_eq!(log.calls_of("EvtSubscribe").len(), 1, "{:?}", log.calls());
    drop(source);
    log.assert_all_closed();
}

#[test]
fn a_bookmark_whose_record_is_gone_gives_a_gap_then_the_oldest_events() {
    let Some(log) = shim_channel("Kraken-Gap") else { return };
    log.append(1..=10);
    let mut source = log.source(StartAt::Oldest, 100);
    let first = source.read(OLDEST, 3).unwrap();
    assert_eq!(ids(&first.items), [1, 2, 3]);

    // The log rolled over past the bookmark: the open result set is out of position (15012),
    // the Strict resubscription finds no record 3 (1168).
    log.remove(1..=5);
    log.inject("next 15012");
    let batch = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch.items), [0, 6, 7, 8, 9, 10], "a gap, then the oldest records left");
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(3));
    assert!(gap.reason.contains("no longer in the log"), "{}", gap.reason);
    assert!(log.calls().contains(&"EvtSubscribe after 3 strict -> 1168".to_owned()), "{:#?}", log.calls());

    // A restart with a bookmark whose record was cleared meanwhile.
    drop(source);
    log.remove(6..=10);
    log.append(11..=12);
    let mut restarted = log.source(StartAt::Now, 100);
    let batch = restarted.read(&batch.position, 100).unwrap();
    assert_eq!(ids(&batch.items), [0, 11, 12]);

    // ERROR_NOT_FOUND from Strict for a bookmark whose record the lookup has just found there
    // (as Windows may answer for a filtered query): after the record's id, without Strict.
    let mut again = log.source(StartAt::Now, 100);
    log.inject("subscribe 1168");
    log.append(13..=13);
    let resumed = again.read(&batch.position, 100).unwrap();
    assert_eq!(ids(&resumed.items), [13], "no gap, nothing read again");
    let calls = log.calls();
    assert!(calls.contains(&"EvtSubscribe after 12 strict -> 1168".to_owned()), "{calls:#?}");
    assert!(calls.contains(&"EvtSubscribe after 12 -> 0".to_owned()), "{calls:#?}");
    // That subscription, without Strict, would pass over records overwritten before it gave
    // them unsaid: the next read subscribes Strict after the bookmark it reached.
    log.append(14..=14);
    assert_eq!(ids(&again.read(&resumed.position, 100).unwrap().items), [14]);
    assert!(log.calls().contains(&"EvtSubscribe after 13 strict -> 0".to_owned()), "{:#?}", log.calls());
    drop((restarted, again));
    log.assert_all_closed();
}

#[test]
fn events_archived_before_they_were_read_are_read_from_the_archive_file() {
    let Some(log) = shim_channel("Kraken-Archive") else { return };
    // The log holds the sample file's events (records 1 to 326, created on 2017-07-12 from
    // 17:16:28); the first 100 are read.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx");
    for (id, xml) in (1..=100).zip(file_events(&sample)) {
        log.append_xml(id, &xml);
    }
    let mut source = log.source(StartAt::Oldest, 100);
    let (items, position) = read_all(&mut *source, OLDEST.to_owned(), 1000);
    assert_eq!(ids(&items), (1..=100).collect::<Vec<_>>());
    drop(source);

    // The agent away, the log filled: Windows closed it as an archive beside the log file the
    // channel's configuration names (here the sample file itself, as the log held it) and
    // began a new one.
    let archive = log.dir.join("Archive-Kraken-Archive-2017-07-12-17-21-00-000.evtx");
    fs::copy(&sample, &archive).unwrap();
    log.remove(1..=100);
    log.append(327..=330);

    let mut restarted = log.source(StartAt::Now, 100);
    let (items, position) = read_all(&mut *restarted, position, 50);
    let expected: Vec<u64> = [0].into_iter().chain(327..=330).chain(101..=326).collect();
    assert_eq!(ids(&items), expected, "a gap, the new log, then the archive after the last event read");
    let SourceItem::Gap(gap) = &items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(100));
    assert_eq!(gap.archives.len(), 1, "{gap:?}");
    assert!(
        gap.archives[0].ends_with("\\Kraken-Archive\\Archive-Kraken-Archive-2017-07-12-17-21-00-000.evtx")
    );
    assert!(!position.starts_with("kraken-archives"), "nothing left to read: {position}");

    log.append(331..=331);
    assert_eq!(ids(&restarted.read(&position, 100).unwrap().items), [331], "the live log goes on");
    drop(restarted);
    log.assert_all_closed();
}

#[test]
fn records_overwritten_before_an_open_subscription_gave_them_make_a_gap() {
    let Some(log) = shim_channel("Kraken-Overwritten") else { return };
    log.append(1..=4);
    let mut source = log.source(StartAt::Oldest, 100);
    let first = source.read(OLDEST, 2).unwrap();
    assert_eq!(ids(&first.items), [1, 2]);
    // The reader fell behind a full log: records up to 7 overwritten, 3..=7 never given. The
    // subscription at the oldest record is Strict, so Windows says so rather than pass over them.
    log.append(5..=10);
    log.remove(1..=7);
    let batch = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch.items), [0, 8, 9, 10], "a gap, then the records left");
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(2));
    let calls = log.calls();
    for call in [
        "EvtSubscribe oldest 0 strict -> 0",
        "EvtNext subscription 100 -> 15011",
        "EvtSubscribe after 2 strict -> 1168",
    ] {
        assert!(calls.contains(&call.to_owned()), "{call}: {calls:#?}");
    }
    // Caught up, then records written and overwritten between two reads.
    log.append(11..=30);
    log.remove(8..=25);
    let later = source.read(&batch.position, 100).unwrap();
    assert_eq!(ids(&later.items), [0, 26, 27, 28, 29, 30]);
    let SourceItem::Gap(gap) = &later.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(10));
    drop(source);
    log.assert_all_closed();
}

#[test]
fn records_an_open_subscription_passes_over_unsaid_make_a_gap_by_their_ids() {
    // Should Windows not say 15011 for records overwritten under a subscription kept open (not
    // documented either way), the ids in the log tell, through each event's own bookmark.
    let Some(log) = shim_channel("Kraken-Silent") else { return };
    log.inject("silent-overwrites 1");
    log.append(1..=4);
    let mut source = log.source(StartAt::Oldest, 100);
    let first = source.read(OLDEST, 2).unwrap();
    assert_eq!(ids(&first.items), [1, 2]);
    log.append(5..=10);
    log.remove(1..=7);
    let batch = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch.items), [0, 8, 9, 10], "a gap, then the records left: {:#?}", log.calls());
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert_eq!(gap.last_record_id, Some(2));
    assert!(
        gap.reason.starts_with("records 3 to 7 of Kraken-Silent were not given by Windows"),
        "{}",
        gap.reason
    );
    assert_eq!(log.calls_of("EvtSubscribe").len(), 1, "kept open, not told: {:#?}", log.calls());
    drop(source);
    log.assert_all_closed();
}

#[test]
fn a_bookmark_windows_will_not_resume_after_is_passed_over_from_the_oldest() {
    let Some(log) = shim_channel("Kraken-Unusable-Bookmark") else { return };
    log.append(1..=8);
    let bookmark = bookmark_xml("Kraken-Unusable-Bookmark", 5);
    // Once: subscribed again from the bookmark.
    log.inject("subscribe 15011");
    let mut restarted = log.source(StartAt::Now, 100);
    assert_eq!(ids(&restarted.read(&bookmark, 100).unwrap().items), [6, 7, 8]);
    drop(restarted);
    // Twice: from the oldest record, passing over the records up to the bookmark's.
    log.inject("subscribe 15012");
    log.inject("subscribe 15012");
    let mut restarted = log.source(StartAt::Now, 2);
    let first = restarted.read(&bookmark, 2).unwrap();
    assert_eq!(ids(&first.items), [6, 7], "nothing read twice");
    log.append(9..=9);
    assert_eq!(ids(&restarted.read(&first.position, 100).unwrap().items), [8, 9]);
    assert!(log.calls().contains(&"EvtSubscribe oldest 0 strict -> 0".to_owned()), "{:#?}", log.calls());
    drop(restarted);
    // The log cleared since, its ids begun again below the bookmark: all of it, after a gap.
    log.remove(1..=9);
    log.append(1..=2);
    log.inject("subscribe 15012");
    log.inject("subscribe 15012");
    let mut restarted = log.source(StartAt::Now, 100);
    assert_eq!(ids(&restarted.read(&bookmark, 100).unwrap().items), [0, 1, 2]);
    assert!(log.pending_control().is_empty());
    drop(restarted);
    log.assert_all_closed();
}

#[test]
fn a_log_cleared_and_grown_past_the_bookmark_is_read_again_from_its_oldest_record() {
    let Some(log) = shim_channel("Kraken-Regrown") else { return };
    log.append(1..=4);
    let mut source = log.source(StartAt::Oldest, 100);
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&first.items), [1, 2, 3, 4]);
    drop(source);
    // While the agent was away: the log cleared, and 6 events written since, their ids begun
    // again at 1 (a day later). Record 4 is there again, another event.
    log.remove(1..=4);
    let later =
        |id: u64| log.event_xml(id, PROVIDER, "after the clearing").replace("2024-05-01", "2024-05-02");
    for id in 1..=6 {
        log.append_xml(id, &later(id));
    }
    let mut restarted = log.source(StartAt::Now, 100);
    let batch = restarted.read(&first.position, 100).unwrap();
    assert_eq!(ids(&batch.items), [0, 1, 2, 3, 4, 5, 6], "a gap, then every record of the log");
    let SourceItem::Gap(gap) = &batch.items[0] else { unreachable!() };
    assert!(gap.reason.contains("cleared and has grown past it"), "{}", gap.reason);
    assert_eq!(gap.last_record_id, Some(4));
    assert!(log.calls().contains(&"EvtSeek bookmark 4 + 0 -> 0".to_owned()), "{:#?}", log.calls());
    drop(restarted);
    // A restart after that reads on after the record read last, which is still the same event.
    log.append_xml(7, &later(7));
    let mut restarted = log.source(StartAt::Now, 100);
    let next = restarted.read(&batch.position, 100).unwrap();
    assert_eq!(ids(&next.items), [7]);
    drop(restarted);
    // The record read last gone: the seek finds record 8, no evidence; the strict subscription
    // finds the record gone and says so.
    log.remove(1..=7);
    log.append_xml(8, &later(8));
    let mut restarted = log.source(StartAt::Now, 100);
    assert_eq!(ids(&restarted.read(&next.position, 100).unwrap().items), [0, 8]);
    assert!(log.calls().contains(&"EvtSeek bookmark 7 + 0 -> 0".to_owned()), "{:#?}", log.calls());
    drop(restarted);
    log.assert_all_closed();
}

#[test]
fn a_log_answering_every_strict_subscription_15011_is_read_without_strict() {
    // As Winlogbeat found forwarded-event logs answer: every event once, no false gap.
    let Some(log) = shim_channel("Kraken-Noisy") else { return };
    log.append(1..=3);
    log.inject("strict-noisy 15011");
    let mut source = log.source(StartAt::Oldest, 100);
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&first.items), [1, 2, 3], "no gap at the oldest record");
    log.append(4..=5);
    let next = source.read(&first.position, 100).unwrap();
    assert_eq!(ids(&next.items), [4, 5]);
    let calls = log.calls();
    for call in
        ["EvtSubscribe oldest 0 strict -> 0", "EvtSubscribe oldest 0 -> 0", "EvtSubscribe after 3 -> 0"]
    {
        assert!(calls.contains(&call.to_owned()), "{call}: {calls:#?}");
    }
    drop(source);
    log.assert_all_closed();
}

#[test]
fn a_new_subscription_given_its_events_late_is_waited_for_not_taken_for_empty() {
    // The service delivers a new subscription's events on its own time, and sets its signal
    // event then: the first poll waits for it (within a bound) rather than end the read with
    // nothing, which for subscriptions made anew at each read (forwarded-event logs, without
    // Strict) would never read a thing.
    let Some(log) = shim_channel("Kraken-Late") else { return };
    log.append(1..=3);
    // Over half a second: two new Strict subscriptions in a row each wait for theirs, and the
    // subscription without Strict after them too (3 such waits within the 2 s of a read).
    log.inject("delivery-delay 510");
    let mut source = log.source(StartAt::Oldest, 100);
    let first = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&first.items), [1, 2, 3], "{:#?}", log.calls());

    log.inject("strict-noisy 15011");
    log.append(4..=5);
    let mut restarted = log.source(StartAt::Now, 100);
    let next = restarted.read(&first.position, 100).unwrap();
    assert_eq!(ids(&next.items), [4, 5], "{:#?}", log.calls());
    assert!(log.calls().contains(&"EvtSubscribe after 3 -> 0".to_owned()), "{:#?}", log.calls());
    log.append(6..=6);
    let last = restarted.read(&next.position, 100).unwrap();
    assert_eq!(ids(&last.items), [6], "a subscription made anew for this read: {:#?}", log.calls());
    drop((source, restarted));
    log.assert_all_closed();
}

#[test]
fn forwarded_events_are_passed_over_by_their_ids_in_the_log_not_their_own() {
    // Forwarded events carry their source's EventRecordID; the log read numbers them anew.
    let Some(log) = shim_channel("Kraken-Forwarded") else { return };
    for id in 1..=6 {
        let xml = log.event_xml(9000 + id, PROVIDER, &format!("forwarded {id}"));
        log.append_xml(id, &xml);
    }
    log.inject("subscribe 15012");
    log.inject("subscribe 15012");
    let mut restarted = log.source(StartAt::Now, 100);
    let batch = restarted.read(&bookmark_xml("Kraken-Forwarded", 3), 100).unwrap();
    assert_eq!(ids(&batch.items), [9004, 9005, 9006], "after the bookmarked record, none twice");
    assert_eq!(bookmark_record_id(&batch.position), Some(6));
    drop(restarted);
    // The record read last is looked up by its id in the log too: found as read, read on after.
    log.append_xml(7, &log.event_xml(9007, PROVIDER, "forwarded 7"));
    let mut restarted = log.source(StartAt::Now, 100);
    assert_eq!(ids(&restarted.read(&batch.position, 100).unwrap().items), [9007]);
    assert!(log.calls().contains(&"EvtSeek bookmark 6 + 0 -> 0".to_owned()), "{:#?}", log.calls());
    drop(restarted);
    log.assert_all_closed();
}

#[test]
fn renders_too_large_for_the_buffer_are_grown_and_nothing_is_cut() {
    let Some(log) = shim_channel("Kraken-Grow") else { return };
    // Every handle's first EvtRender says ERROR_INSUFFICIENT_BUFFER, whatever the buffer.
    log.inject("first-render 122");
    let big = "x".repeat(20_000) + " é 한 end";
    let written = [
        log.append_event(1, PROVIDER, "small"),
        log.append_event(2, PROVIDER, &big),
        log.append_event(3, PROVIDER, "after the big one"),
    ];
    let mut source = log.source(StartAt::Oldest, 100);
    let batch = source.read(OLDEST, 100).unwrap();
    let got = events(&batch);
    assert_eq!(got.len(), 3);
    for (event, xml) in got.iter().zip(&written) {
        assert_eq!(&event.xml, xml);
    }
    assert_eq!(
        got[1].message.as_deref(),
        Some(format!("Shim message for event 4624 of {PROVIDER}: {big}").as_str())
    );
    let too_small: Vec<String> =
        log.calls_of("EvtRender").into_iter().filter(|c| c.contains("-> 122")).collect();
    assert!(too_small.len() >= 4, "each event's first render and the bookmark's: {too_small:#?}");
    assert!(
        log.calls().iter().any(|c| c.starts_with("EvtFormatMessage 2 size 512 -> 122")),
        "{:#?}",
        log.calls()
    );

    // A one-shot 122 on a later render is grown the same way.
    log.inject("render 122");
    log.append(4..=4);
    let batch = source.read(&batch.position, 100).unwrap();
    assert_eq!(ids(&batch.items), [4]);
    assert_eq!(events(&batch)[0].xml, log.event_xml(4, PROVIDER, "event 4 é 한"));
    assert_eq!(log.pending_control(), ["first-render 122"], "the kept line stays, the one-shot is used");
    drop(source);
    log.assert_all_closed();
}

#[test]
fn a_render_failure_is_damage_and_a_failed_bookmark_loses_nothing() {
    let Some(log) = shim_channel("Kraken-Damage") else { return };
    log.append(1..=3);
    let mut source = log.source(StartAt::Oldest, 100);
    log.inject("render 13");
    let batch = source.read(OLDEST, 100).unwrap();
    assert_eq!(ids(&batch.items), [u64::MAX, 2, 3], "the read goes on past the damage");
    assert_eq!(bookmark_record_id(&batch.position), Some(3));
    let SourceItem::Damage(damage) = &batch.items[0] else { unreachable!() };
    assert!(damage.error.contains("EvtRender failed with Win32 error 13"), "{}", damage.error);
    assert_eq!(damage.record_id, Some(1), "named by its bookmark");

    // Without the bookmark of a batch, the batch is not handed out; the next read has it.
    log.append(4..=5);
    log.inject("render-bookmark 1722");
    let error = source.read(&batch.position, 100).unwrap_err();
    assert!(matches!(error, SourceError::Transient(_)), "{error:?}");
    let batch = source.read(&batch.position, 100).unwrap();
    assert_eq!(ids(&batch.items), [4, 5]);
    drop(source);
    log.assert_all_closed();
}

#[test]
fn messages_formatted_with_unresolved_inserts_are_kept_whole() {
    let Some(log) = shim_channel("Kraken-Partial-Messages") else { return };
    log.append_event(1, PROVIDER, "short");
    let long = "x".repeat(2000);
    log.append_event(2, PROVIDER, &long);
    let mut source = log.source(StartAt::Oldest, 100);
    // 15029 with the text in the buffer: kept. 15029 for a buffer too small: grown, not cut.
    log.inject("format-partial 15029");
    let first = source.read(OLDEST, 1).unwrap();
    let expected = format!("Shim message for event 4624 of {PROVIDER}: short");
    assert_eq!(events(&first)[0].message.as_deref(), Some(expected.as_str()));
    log.inject("format-partial 15029");
    let second = source.read(&first.position, 1).unwrap();
    let expected = format!("Shim message for event 4624 of {PROVIDER}: {long}");
    assert_eq!(events(&second)[0].message.as_deref(), Some(expected.as_str()));
    drop(source);
    log.assert_all_closed();
}

#[test]
fn messages_come_from_the_publisher_metadata_and_accounts_from_the_sid() {
    let Some(log) = shim_channel("Kraken-Messages") else { return };
    let without = "Kraken-Messages-NoMetadata";
    log.append_event(1, PROVIDER, "one");
    log.append_event(2, without, "two");
    log.append_event(3, without, "three");
    let forwarded = log.event_xml(4, PROVIDER, "four").replace(
        "</Event>",
        "<RenderingInfo Culture='en-US'><Message>Forwarded text</Message></RenderingInfo></Event>",
    );
    log.append_xml(4, &forwarded);
    let mut source = log.source(StartAt::Oldest, 100);
    let batch = source.read(OLDEST, 100).unwrap();
    let got = events(&batch);
    assert_eq!(
        got[0].message.as_deref(),
        Some(format!("Shim message for event 4624 of {PROVIDER}: one").as_str())
    );
    assert_eq!(got[1].message, None, "no metadata");
    assert_eq!(got[2].message, None);
    assert_eq!(got[3].message, None, "a forwarded event carries its own text");
    assert_eq!(log.calls_of("EvtFormatMessage").len(), 1, "{:#?}", log.calls());
    let opened = log_lines(&log.root)
        .into_iter()
        .filter(|c| c.starts_with(&format!("EvtOpenPublisherMetadata {without} ")))
        .collect::<Vec<_>>();
    assert_eq!(opened, [format!("EvtOpenPublisherMetadata {without} -> 15002")], "asked once");
    let system = Some(("NT AUTHORITY".to_owned(), "SYSTEM".to_owned()));
    for event in &got {
        // S-1-5-18 through advapi32 (Wine's own ConvertStringSidToSidW and LookupAccountSidW),
        // on a lookup thread: named, or not yet where the lookup outlasted the read's budget.
        assert!(event.account.is_none() || event.account == system, "{:?}", event.account);
        assert_eq!(event.written, None);
    }

    let mut quiet = live_source(
        &log.name,
        LiveOptions { start_at: StartAt::Oldest, render_message: false, ..LiveOptions::default() },
    )
    .unwrap();
    let batch = quiet.read(OLDEST, 100).unwrap();
    assert!(events(&batch).iter().all(|e| e.message.is_none()));
    assert_eq!(log.calls_of("EvtFormatMessage").len(), 1, "render_message = false formats nothing");

    // Every read names them once the lookup has answered (within a read's 2 s, unless this
    // machine stalled that long; then a later read names them from the cache).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut accounts: Vec<_> = got.iter().map(|e| e.account.clone()).collect();
    while accounts.iter().any(Option::is_none) && std::time::Instant::now() < deadline {
        let again = source.read(OLDEST, 100).unwrap();
        accounts = events(&again).iter().map(|e| e.account.clone()).collect();
    }
    assert_eq!(accounts, vec![system; 4]);
    drop((source, quiet));
    log.assert_all_closed();
}

#[test]
fn configuration_errors_are_told_from_passing_ones() {
    let Some(log) = shim_channel("Kraken-Config") else { return };
    log.append(1..=2);
    let mut filtered = live_source(
        &log.name,
        LiveOptions {
            query: "*[System[EventID=4624]]".into(),
            start_at: StartAt::Oldest,
            ..LiveOptions::default()
        },
    )
    .unwrap();
    // The shim knows no XPath but `*`: it answers ERROR_EVT_INVALID_QUERY, as Windows does for
    // a query it cannot parse.
    let error = filtered.read(OLDEST, 10).unwrap_err();
    assert!(matches!(error, SourceError::Config(_)), "{error:?}");
    let mut source = log.source(StartAt::Oldest, 100);
    log.inject("subscribe 5");
    let error = source.read(OLDEST, 10).unwrap_err();
    assert!(error.to_string().contains("access to the Kraken-Config log denied"), "{error}");
    log.inject("subscribe 1722");
    assert!(matches!(source.read(OLDEST, 10), Err(SourceError::Transient(_))));
    assert!(matches!(source.read("garbage", 10), Err(SourceError::BadPosition(_))));
    assert_eq!(ids(&source.read(OLDEST, 10).unwrap().items), [1, 2], "it reads once the failure passed");
    drop((source, filtered));
    log.assert_all_closed();
}

#[test]
fn channels_lists_the_admin_and_operational_channels_sorted() {
    let Some(application) = shim_channel("Application") else { return };
    let admin = shim_channel("Kraken-Channels-Admin").unwrap();
    let lower = shim_channel("kraken-channels-lower").unwrap();
    let operational = shim_channel("Kraken-Channels-Operational").unwrap();
    fs::write(operational.dir.join("channel-type.txt"), "1").unwrap();
    let analytic = shim_channel("Kraken-Channels-Analytic").unwrap();
    fs::write(analytic.dir.join("channel-type.txt"), "2").unwrap();

    // The first channel path asked for reports ERROR_INSUFFICIENT_BUFFER: the buffer is grown.
    fs::write(application.root.join("control.txt"), "channel-path 122\n").unwrap();
    let listed = channels().unwrap();
    let paths = log_lines(&application.root)
        .into_iter()
        .filter(|c| c.starts_with("EvtNextChannelPath"))
        .collect::<Vec<_>>();
    assert!(paths[0].starts_with("EvtNextChannelPath size 512 -> 122 (needs "), "{paths:#?}");
    assert!(paths[1].starts_with("EvtNextChannelPath size ") && paths[1].contains(" -> 0 "), "{paths:#?}");
    assert!(paths.last().unwrap().contains(" -> 259 "), "{paths:#?}");
    for wanted in [&application, &admin, &lower, &operational] {
        assert!(listed.contains(&wanted.name), "{} in {listed:?}", wanted.name);
    }
    assert!(!listed.contains(&analytic.name), "{listed:?}");
    let mut sorted = listed.clone();
    sorted.sort_by_key(|c| c.to_lowercase());
    assert_eq!(listed, sorted);
}
