use std::fs;
use std::time::UNIX_EPOCH;

use super::*;
use crate::eventlog::scripted::ScriptedApi;
use crate::eventlog::subscription::{LiveOptions, StartAt, SubscriptionSource};

/// `testdata/evtx/system.evtx`: the 326 records of its declared chunks, ids 1 to 326.
fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx")
}

/// A fresh directory standing for `C:\Windows\System32\winevt\Logs`.
fn logs_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kraken-archive-fill-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The scripted `System` log read from its oldest record through an [`ArchiveFill`] whose log
/// file is `System.evtx` in `dir`, under `query`.
fn fill(api: &ScriptedApi, dir: &Path, query: &str) -> ArchiveFill {
    let options = LiveOptions { start_at: StartAt::Oldest, batch_size: 64, ..LiveOptions::default() };
    let live = SubscriptionSource::new(api.clone(), "System", options);
    let log_file = dir.join("System.evtx");
    ArchiveFill::new(Box::new(live), query, Box::new(move || Some(log_file.clone())))
}

/// What reads of at most `max` give from `position` until nothing more waits: every item, and
/// the position after them.
fn read_all(source: &mut ArchiveFill, mut position: String, max: usize) -> (Vec<SourceItem>, String) {
    let mut items = Vec::new();
    for _ in 0..100 {
        let batch = source.read(&position, max).unwrap();
        assert!(batch.items.len() <= max);
        items.extend(batch.items);
        position = batch.position;
        if !batch.more {
            return (items, position);
        }
    }
    panic!("still more after 100 reads");
}

/// The record id of each event (its `EventRecordID`), 0 for a gap and `u64::MAX` for damage.
fn ids(items: &[SourceItem]) -> Vec<u64> {
    items
        .iter()
        .map(|item| match item {
            SourceItem::Event(event) => {
                let start = event.xml.find("<EventRecordID>").unwrap() + "<EventRecordID>".len();
                let end = event.xml[start..].find('<').unwrap();
                event.xml[start..start + end].parse().unwrap()
            }
            SourceItem::Gap(_) => 0,
            SourceItem::Damage(_) => u64::MAX,
        })
        .collect()
}

/// The gaps among `items`.
fn gaps(items: &[SourceItem]) -> Vec<&crate::eventlog::Gap> {
    items.iter().filter_map(|item| if let SourceItem::Gap(gap) = item { Some(gap) } else { None }).collect()
}

/// A scripted log whose first 100 events were read, then 226 more were written (ids 101 to
/// 326) and archived with the log (`Archive-System-...evtx` in `dir`, holding the sample's
/// records 1 to 326 as the log file did), then 5 more written to the new log (327 to 331).
/// The source and the position after the 100 read.
fn archived_while_away(dir: &Path, query: &str) -> (ScriptedApi, ArchiveFill, String, PathBuf) {
    let api = ScriptedApi::new("System");
    api.append_many(100, "Kraken-Test", 1);
    let mut source = fill(&api, dir, query);
    let start = source.start_position().unwrap();
    let (items, position) = read_all(&mut source, start, 1000);
    assert_eq!(ids(&items), (1..=100).collect::<Vec<_>>());
    api.append_many(226, "Kraken-Test", 1);
    let archive = dir.join("Archive-System-2026-12-06-10-00-00-000.evtx");
    fs::copy(sample(), &archive).unwrap();
    api.clear();
    assert_eq!(api.append_many(5, "Kraken-Test", 1), (327, 331));
    (api, source, position, archive)
}

#[test]
fn a_gap_reads_the_archived_records_after_the_last_one_read_then_the_live_log_goes_on() {
    let dir = logs_dir("fill");
    let (api, mut source, position, archive) = archived_while_away(&dir, "*");

    // The first read finds the bookmarked record gone: the gap names the archive, the live log
    // is read on, and the archive is left to read.
    let batch = source.read(&position, 1000).unwrap();
    assert_eq!(ids(&batch.items), [0, 327, 328, 329, 330, 331]);
    let gap = gaps(&batch.items)[0];
    assert_eq!(gap.last_record_id, Some(100));
    assert_eq!(gap.archives, [archive.display().to_string()]);
    assert!(batch.more, "the archive is read at once");
    assert!(batch.position.starts_with(HEADER), "{}", batch.position);

    // Read 50 at a time, by a new source at each read (an agent restarted between runs): the
    // archive's records after the last one read, once each, then the live log as it goes on.
    let mut position = batch.position;
    let mut read = Vec::new();
    for _ in 0..20 {
        let mut restarted = fill(&api, &dir, "*");
        let batch = restarted.read(&position, 50).unwrap();
        read.extend(ids(&batch.items));
        position = batch.position;
        if !batch.more {
            break;
        }
    }
    assert_eq!(read, (101..=326).collect::<Vec<_>>());
    assert!(!position.starts_with(HEADER), "nothing left to read: the live position alone");
    api.append_many(2, "Kraken-Test", 1);
    let (items, _) = read_all(&mut source, position, 1000);
    assert_eq!(ids(&items), [332, 333], "the live log goes on after its last event read");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn archives_of_other_logs_or_written_before_the_last_event_read_are_not_read() {
    let dir = logs_dir("other");
    let (_api, mut source, position, archive) = archived_while_away(&dir, "*");
    fs::rename(&archive, dir.join("Archive-Application-2026-12-06-10-00-00-000.evtx")).unwrap();
    // Written in 2000: before the events read (2023) were created.
    let old = dir.join("archive-system-2000-01-01-00-00-00-000.EVTX");
    fs::copy(sample(), &old).unwrap();
    let file = fs::File::options().write(true).open(&old).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(946_684_800)).unwrap();
    drop(file);

    let (items, position) = read_all(&mut source, position, 1000);
    assert_eq!(ids(&items), [0, 327, 328, 329, 330, 331], "a gap, then the live log");
    assert!(gaps(&items)[0].archives.is_empty());
    assert!(!position.starts_with(HEADER));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn under_a_filtered_query_the_gap_stays_a_gap() {
    let dir = logs_dir("filtered");
    let (_api, mut source, position, _archive) = archived_while_away(&dir, "*[System[EventID=1]]");
    let (items, position) = read_all(&mut source, position, 1000);
    assert_eq!(ids(&items), [0, 327, 328, 329, 330, 331]);
    assert!(gaps(&items)[0].archives.is_empty(), "the file source would give events the query leaves out");
    assert!(!position.starts_with(HEADER));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_archive_that_cannot_be_read_keeps_the_position_then_is_given_up_with_an_error() {
    let dir = logs_dir("gone");
    let (_api, mut source, position, archive) = archived_while_away(&dir, "*");
    let batch = source.read(&position, 1000).unwrap();
    assert_eq!(gaps(&batch.items)[0].archives.len(), 1);
    fs::remove_file(&archive).unwrap();

    let error = source.read(&batch.position, 1000).unwrap_err();
    assert!(matches!(&error, SourceError::Transient(text) if text.contains("Archive-System")), "{error:?}");
    source.give_up_after = Duration::ZERO;
    let given_up = source.read(&batch.position, 1000).unwrap();
    let [SourceItem::Damage(damage)] = &given_up.items[..] else { panic!("{:?}", given_up.items) };
    assert!(
        damage.error.contains("could not be read") && damage.error.contains("Archive-System"),
        "{damage:?}"
    );
    assert!(!given_up.position.starts_with(HEADER), "the live log is read on");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn positions_with_archives_read_back_as_written_and_others_pass_through() {
    let pending = vec![
        Pending { path: PathBuf::from("C:\\Logs\\Archive-Security-1.evtx"), position: "evtx:a:100:0".into() },
        Pending { path: PathBuf::from("C:\\Logs\\Archive-Security-2.evtx"), position: "evtx:b:100:0".into() },
    ];
    let live = "<BookmarkList>\r\n  <Bookmark Channel='Security' RecordId='100' IsCurrent='true'/>\r\n</BookmarkList>";
    let text = join(&pending, live);
    assert_eq!(split(&text).unwrap(), (pending, live));
    assert_eq!(join(&[], live), live);
    assert_eq!(split(live).unwrap(), (Vec::new(), live));
    for bad in [format!("{HEADER}no tab\n{LIVE_LINE}x"), format!("{HEADER}C:\\a.evtx\tevtx:a:1:0")] {
        assert!(matches!(split(&bad), Err(SourceError::BadPosition(_))), "{bad:?}");
    }
}
