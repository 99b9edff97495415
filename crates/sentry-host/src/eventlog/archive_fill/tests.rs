use std::fs;

use super::position::{FAILING, HEADER, LIVE_LINE};
use super::*;
use crate::eventlog::scripted::{self, ScriptedApi, file_events, record_ids as ids};
use crate::eventlog::subscription::SubscriptionApi;
use crate::eventlog::subscription::{LiveOptions, StartAt, SubscriptionSource};

/// `testdata/evtx/system.evtx`: the 326 records of its declared chunks, ids 1 to 326, created
/// on 2017-07-12.
fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx")
}

/// The XML of the sample's events, by record id (1 to 326).
fn sample_events() -> Vec<String> {
    let events = file_events(&sample());
    assert_eq!(events.len(), 326);
    events
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

/// The gaps among `items`.
fn gaps(items: &[SourceItem]) -> Vec<&Gap> {
    items.iter().filter_map(|item| if let SourceItem::Gap(gap) = item { Some(gap) } else { None }).collect()
}

/// Checks that `gap` says records `first` to `last` of the `System` log are in none of its
/// archives, after record `first - 1`.
fn assert_missing(gap: &Gap, first: u64, last: u64) {
    assert_eq!(gap.last_record_id, Some(first - 1), "{gap:?}");
    let says = format!("records {first} to {last} of System are in none of its archive files");
    assert!(gap.reason.starts_with(&says), "{}", gap.reason);
}

/// Reads on from `position` after [`archived_while_away`], and checks that its gap is read as
/// a gap alone: no archive named or read, the new log's events after it.
fn assert_read_as_a_gap_alone(source: &mut ArchiveFill, position: String) {
    let (items, position) = read_all(source, position, 1000);
    assert_eq!(ids(&items), [0, 327, 328, 329, 330, 331], "a gap, then the live log");
    assert!(gaps(&items)[0].archives.is_empty(), "{:?}", gaps(&items)[0]);
    assert!(!position.starts_with(HEADER));
}

/// The archive name of the `System` log made at `time` (`YYYY-MM-DD-hh-mm-ss-nnn`).
fn archive_in(dir: &Path, time: &str) -> PathBuf {
    dir.join(format!("Archive-System-{time}.evtx"))
}

/// The log held the sample's events: the first 100 were read, then the agent was away while the
/// rest were written and the full log was archived (the sample file is that archive) and a new
/// one begun, with 5 events (327 to 331) so far. The source and the position after the 100 read.
fn archived_while_away(dir: &Path, query: &str) -> (ScriptedApi, ArchiveFill, String, PathBuf) {
    let api = ScriptedApi::new("System");
    let events = sample_events();
    for xml in &events[..100] {
        api.append_xml(xml);
    }
    let mut source = fill(&api, dir, query);
    let start = source.start_position().unwrap();
    let (items, position) = read_all(&mut source, start, 1000);
    assert_eq!(ids(&items), (1..=100).collect::<Vec<_>>());
    for xml in &events[100..] {
        api.append_xml(xml);
    }
    let archive = archive_in(dir, "2017-07-12-17-21-00-000");
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
    assert!(gap.reason.contains("read from them"), "{}", gap.reason);
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
fn archived_events_carry_the_account_names_of_their_sids_as_live_ones_do() {
    let dir = logs_dir("accounts");
    let (api, _source, position, _archive) = archived_while_away(&dir, "*");
    let mut source = fill(&api, &dir, "*").with_account_lookup(api.account_lookup());
    let (items, _) = read_all(&mut source, position, 1000);
    let archived: Vec<&SourceEvent> = items
        .iter()
        .filter_map(|item| match item {
            SourceItem::Event(event) if event.header_id.is_some() => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(archived.len(), 226);
    let by_system: Vec<_> = archived
        .iter()
        .filter(|event| attribute_of(&event.xml, "<Security", "UserID") == Some(scripted::KNOWN_SID))
        .collect();
    assert!(!by_system.is_empty(), "the sample has events by SYSTEM");
    for event in &by_system {
        assert_eq!(event.account, Some(("NT AUTHORITY".into(), "SYSTEM".into())), "{}", event.xml);
    }
    // Events without a SID, or whose SID has no account, have none.
    assert!(archived.iter().filter(|event| !by_system.contains(event)).all(|event| event.account.is_none()));
    // Without the lookup, none.
    let (_api, mut source, position, _archive) = archived_while_away(&logs_dir("no-accounts"), "*");
    let (items, _) = read_all(&mut source, position, 1000);
    let named = |item: &SourceItem| matches!(item, SourceItem::Event(event) if event.header_id.is_some() && event.account.is_some());
    assert_eq!(items.len(), 1 + 5 + 226);
    assert!(!items.iter().any(named));
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(logs_dir("no-accounts")).unwrap();
}

#[test]
fn several_archives_are_read_in_the_order_of_their_times_each_from_where_it_follows() {
    let dir = logs_dir("several");
    let (api, mut source, position, archive) = archived_while_away(&dir, "*");
    // The new log was archived too (its records up to 442: the last ones, 426 to 442, are
    // another sample's), and a third begun at 443. That later archive is read whole, after the
    // first. One named before the last event read was created (17:16:40), less 5 minutes: not.
    let application = sample().with_file_name("Application_no_crc32.evtx");
    fs::copy(application, archive_in(&dir, "2021-04-01-00-00-00-000")).unwrap();
    fs::copy(sample(), archive_in(&dir, "2017-07-12-17-11-00-000")).unwrap();
    api.append_many(111, "Kraken-Test", 1);
    api.clear();
    assert_eq!(api.append_many(5, "Kraken-Test", 1), (443, 447));

    let (items, position) = read_all(&mut source, position, 100);
    let first_gap = gaps(&items)[0];
    assert_eq!(first_gap.archives.len(), 2, "{:?}", first_gap.archives);
    assert_eq!(first_gap.archives[0], archive.display().to_string());
    // The second archive holds only 426 to 442 of the records it stands for (327 to 442): the
    // others are a gap where they would have been read.
    let expected: Vec<u64> =
        [0].into_iter().chain(443..=447).chain(101..=326).chain([0]).chain(426..=442).collect();
    assert_eq!(ids(&items), expected);
    assert_missing(gaps(&items)[1], 327, 425);
    assert!(!position.starts_with(HEADER));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_records_of_an_archive_deleted_before_it_was_read_are_a_gap_where_they_were_due() {
    // As in the test above, but the first archive (records 101 to 326) deleted before the agent
    // came back: the second is read whole, after a gap for the first's records; a restart
    // between any two reads changes nothing.
    let dir = logs_dir("deleted");
    let (api, _source, position, archive) = archived_while_away(&dir, "*");
    let application = sample().with_file_name("Application_no_crc32.evtx");
    fs::copy(application, archive_in(&dir, "2021-04-01-00-00-00-000")).unwrap();
    api.append_many(111, "Kraken-Test", 1);
    api.clear();
    api.append_many(5, "Kraken-Test", 1);
    fs::remove_file(&archive).unwrap();

    let (mut items, mut position) = (Vec::new(), position);
    for _ in 0..20 {
        let batch = fill(&api, &dir, "*").read(&position, 7).unwrap();
        items.extend(batch.items);
        position = batch.position;
        if !batch.more {
            break;
        }
    }
    let expected: Vec<u64> = [0].into_iter().chain(443..=447).chain([0]).chain(426..=442).collect();
    assert_eq!(ids(&items), expected);
    assert_eq!(gaps(&items)[0].archives.len(), 1, "the archive left");
    assert_missing(gaps(&items)[1], 101, 425);
    assert!(!position.starts_with(HEADER));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_archive_begun_by_a_clear_is_read_whole_and_one_older_than_the_last_event_is_passed_over() {
    // The last event read was created in 2010: the sample's records (2017), though their ids
    // run past it, are another log's since a clear, and are read whole.
    let dir = logs_dir("cleared");
    let api = ScriptedApi::new("System");
    let events = sample_events();
    for xml in &events[..100] {
        api.append_xml(&xml.replace("2017-07-12T", "2010-07-12T"));
    }
    let mut source = fill(&api, &dir, "*");
    let start = source.start_position().unwrap();
    let (_, position) = read_all(&mut source, start, 1000);
    api.clear_and_begin_ids_again();
    api.append_many(400, "Kraken-Test", 1);
    fs::copy(sample(), archive_in(&dir, "2017-07-12-17-21-00-000")).unwrap();
    api.clear();
    api.append_many(5, "Kraken-Test", 1);
    let (items, _) = read_all(&mut source, position, 1000);
    // The archive stands for records 1 to 400 of the log since the clear but holds 326: the
    // count begins again at its first, and 327 to 400 are a gap.
    let expected: Vec<u64> = [0].into_iter().chain(401..=405).chain(1..=326).chain([0]).collect();
    assert_eq!(ids(&items)[..6], expected[..6]);
    assert_eq!(ids(&items)[6..], expected[6..], "the whole archive");
    assert_missing(gaps(&items)[1], 327, 400);

    // The last event read created in 2023 (the scripted log's own): the same archive, named
    // since, holds records 1 to 326 created in 2017, all older: none is read again.
    let dir = logs_dir("older");
    let api = ScriptedApi::new("System");
    api.append_many(100, "Kraken-Test", 1);
    let mut source = fill(&api, &dir, "*");
    let start = source.start_position().unwrap();
    let (_, position) = read_all(&mut source, start, 1000);
    fs::copy(sample(), archive_in(&dir, "2026-12-06-10-00-00-000")).unwrap();
    api.clear();
    api.append_many(2, "Kraken-Test", 1);
    let (items, position) = read_all(&mut source, position, 1000);
    assert_eq!(ids(&items), [0, 101, 102], "a gap, the new log, nothing of the archive");
    assert!(!position.starts_with(HEADER));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn archives_of_other_logs_or_named_before_the_last_event_read_are_not_read() {
    let dir = logs_dir("other");
    let (_api, mut source, position, archive) = archived_while_away(&dir, "*");
    // Another log's, whose name begins with this one's; and one named before the last event
    // read (less 5 minutes): the case of a name is no matter.
    fs::rename(&archive, dir.join("Archive-System-Extra-2017-07-12-17-21-00-000.evtx")).unwrap();
    fs::copy(sample(), dir.join("archive-system-2017-07-12-17-11-00-000.EVTX")).unwrap();
    fs::copy(sample(), dir.join("Archive-Application-2017-07-12-17-21-00-000.evtx")).unwrap();
    fs::copy(sample(), dir.join("Archive-System-2017-07-12-17-21.evtx")).unwrap();

    assert_read_as_a_gap_alone(&mut source, position);

    // The same name, in the case Windows gives it, with a time since: read.
    let dir2 = logs_dir("case");
    let (_api, mut source, position, _archive) = archived_while_away(&dir2, "*");
    fs::rename(
        archive_in(&dir2, "2017-07-12-17-21-00-000"),
        dir2.join("ARCHIVE-system-2017-07-12-17-21-00-000.EvTx"),
    )
    .unwrap();
    let (items, _) = read_all(&mut source, position, 1000);
    assert_eq!(ids(&items).len(), 1 + 5 + 226);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&dir2).unwrap();
}

#[test]
fn under_a_filtered_query_the_gap_stays_a_gap() {
    let dir = logs_dir("filtered");
    let (_api, mut source, position, _archive) = archived_while_away(&dir, "*[System[EventID=1]]");
    // The file source would give events the query leaves out.
    assert_read_as_a_gap_alone(&mut source, position);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_archive_that_cannot_be_read_keeps_the_position_then_is_given_up_with_an_error() {
    let dir = logs_dir("gone");
    let (api, mut source, position, archive) = archived_while_away(&dir, "*");
    let batch = source.read(&position, 1000).unwrap();
    assert_eq!(gaps(&batch.items)[0].archives.len(), 1);
    let unreadable = Unreadable::new(&archive);

    // The first failure gives nothing and saves the time failed in the position; the next reads
    // fail, the position kept.
    let failed = source.read(&batch.position, 1000).unwrap();
    assert!(failed.items.is_empty() && !failed.more, "{failed:?}");
    assert_eq!(saved_failing(&failed.position), Some(Failing { seconds: 0, runs: 1 }));
    let error = source.read(&failed.position, 1000).unwrap_err();
    assert!(matches!(&error, SourceError::Transient(text) if text.contains("Archive-System")), "{error:?}");

    // Restarted: the first failure of the run is saved too (one more run), then the reads fail.
    let mut restarted = fill(&api, &dir, "*");
    let saved = restarted.read(&failed.position, 1000).unwrap();
    assert!(saved.items.is_empty() && !saved.more);
    assert_eq!(saved_failing(&saved.position), Some(Failing { seconds: 0, runs: 2 }));
    assert!(matches!(restarted.read(&saved.position, 1000), Err(SourceError::Transient(_))));

    // As earlier runs would have left it: 590 s in 3 runs goes on (the time stopped not counted);
    // a 10th run (a crash loop) is given up at once; 600 s at the run's third failing read (a
    // logger that reads seldom tries more than once).
    let with_failing = |seconds: u64, runs: u32| {
        let (head, rest) = failed.position.split_once(FAILING).unwrap();
        let tail = &rest[rest.find('\n').unwrap()..];
        format!("{head}{}{tail}", Failing { seconds, runs }.text())
    };
    let goes_on = fill(&api, &dir, "*").read(&with_failing(590, 3), 1000).unwrap();
    assert!(goes_on.items.is_empty() && !goes_on.more, "{:?}", goes_on.items);
    assert_eq!(saved_failing(&goes_on.position), Some(Failing { seconds: 590, runs: 4 }));
    let crash_loop = fill(&api, &dir, "*").read(&with_failing(0, 9), 1000).unwrap();
    assert!(matches!(&crash_loop.items[0], SourceItem::Damage(_)), "{:?}", crash_loop.items);
    let mut timed_out = fill(&api, &dir, "*");
    let saved = timed_out.read(&with_failing(600, 3), 1000).unwrap();
    assert!(saved.items.is_empty(), "{:?}", saved.items);
    assert!(timed_out.read(&saved.position, 1000).is_err());
    let given_up = timed_out.read(&saved.position, 1000).unwrap();
    // Read again from the same position (the logger fitting a run to its budget): the same.
    assert_eq!(timed_out.read(&saved.position, 1000).unwrap(), given_up);
    let [SourceItem::Damage(damage), SourceItem::Gap(missing)] = &given_up.items[..] else {
        panic!("{:?}", given_up.items)
    };
    assert!(
        damage.error.contains("could not be read") && damage.error.contains("Archive-System"),
        "{damage:?}"
    );
    // Its records are in no archive read: a gap from the last event read to the live log's next.
    assert_missing(missing, 101, 326);
    assert!(!given_up.position.starts_with(HEADER), "the live log is read on");

    // Within one run of the agent, by its monotonic clock: the time failed is saved now and then
    // (here at each read), and the archive given up once it has failed long enough.
    let mut running = fill(&api, &dir, "*");
    (running.give_up_after, running.save_failing_every) = (Duration::from_secs(1), Duration::ZERO);
    let first = running.read(&batch.position, 1000).unwrap();
    let again = running.read(&first.position, 1000).unwrap();
    assert!(again.items.is_empty() && saved_failing(&again.position).is_some_and(|f| f.runs == 1));
    std::thread::sleep(Duration::from_millis(1100));
    let given_up = running.read(&again.position, 1000).unwrap();
    assert!(matches!(&given_up.items[0], SourceItem::Damage(_)), "{:?}", given_up.items);
    drop(unreadable);
    fs::remove_dir_all(&dir).unwrap();
}

/// An archive there but that cannot be opened while this lives (as one a backup program holds
/// open): on Unix a symbolic link to itself in its place (the file kept beside it), on Windows
/// the file held open with no sharing.
struct Unreadable {
    archive: PathBuf,
    #[cfg(windows)]
    _held: fs::File,
}

impl Unreadable {
    fn new(archive: &Path) -> Unreadable {
        #[cfg(unix)]
        {
            fs::rename(archive, archive.with_extension("kept")).unwrap();
            std::os::unix::fs::symlink(archive, archive).unwrap();
            Unreadable { archive: archive.to_path_buf() }
        }
        #[cfg(windows)]
        {
            use std::os::windows::fs::OpenOptionsExt;
            let held = fs::OpenOptions::new().read(true).share_mode(0).open(archive).unwrap();
            Unreadable { archive: archive.to_path_buf(), _held: held }
        }
    }
}

impl Drop for Unreadable {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let _ = fs::remove_file(&self.archive);
            let _ = fs::rename(self.archive.with_extension("kept"), &self.archive);
        }
    }
}

#[test]
fn an_archive_gone_before_it_was_read_is_given_up_at_once() {
    let dir = logs_dir("moved-away");
    let (_api, mut source, position, archive) = archived_while_away(&dir, "*");
    let batch = source.read(&position, 1000).unwrap();
    assert_eq!(gaps(&batch.items)[0].archives.len(), 1);
    // Moved away (a script taking archives to a share) after it was named.
    fs::remove_file(&archive).unwrap();
    let given_up = source.read(&batch.position, 1000).unwrap();
    let [SourceItem::Damage(damage), SourceItem::Gap(missing)] = &given_up.items[..] else {
        panic!("{:?}", given_up.items)
    };
    assert!(damage.error.contains("could not be read"), "{damage:?}");
    assert_missing(missing, 101, 326);
    assert!(!given_up.position.starts_with(HEADER), "the live log is read on at once");
    fs::remove_dir_all(&dir).unwrap();
}

/// The time failed a position saves for its first archive.
fn saved_failing(position: &str) -> Option<Failing> {
    let (_, rest) = position.split_once(FAILING)?;
    Failing::parse(&format!("{FAILING}{}", &rest[..rest.find('\n')?]))
}

#[test]
fn an_archive_read_again_after_failing_counts_its_next_failure_anew() {
    let dir = logs_dir("recovered");
    let (api, mut source, position, archive) = archived_while_away(&dir, "*");
    let batch = source.read(&position, 1000).unwrap();
    let unreadable = Unreadable::new(&archive);
    let failed = source.read(&batch.position, 1000).unwrap();
    assert!(failed.items.is_empty() && saved_failing(&failed.position).is_some());

    // Back: read on, the failure forgotten in the position and in the source.
    drop(unreadable);
    let read = source.read(&failed.position, 100).unwrap();
    assert_eq!(ids(&read.items), (101..=200).collect::<Vec<_>>());
    assert!(
        read.position.starts_with(HEADER) && saved_failing(&read.position).is_none(),
        "{}",
        read.position
    );

    // Unreadable again: a first failure again (the earlier one forgotten), in this run or the
    // next.
    let unreadable = Unreadable::new(&archive);
    let again = source.read(&read.position, 100).unwrap();
    assert_eq!(saved_failing(&again.position), Some(Failing { seconds: 0, runs: 1 }), "{again:?}");
    let restarted = fill(&api, &dir, "*").read(&read.position, 100).unwrap();
    assert!(restarted.items.is_empty() && !restarted.more, "{restarted:?}");
    drop(unreadable);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_position_naming_a_file_that_is_no_archive_of_the_log_is_given_up_unopened() {
    let dir = logs_dir("edited");
    let (api, mut source, position, archive) = archived_while_away(&dir, "*");
    let batch = source.read(&position, 1000).unwrap();
    // Elsewhere (a copy of the archive, readable: never opened), or not an archive's name.
    let elsewhere = std::env::temp_dir().join(archive.file_name().unwrap());
    fs::copy(&archive, &elsewhere).unwrap();
    for other in [elsewhere.clone(), dir.join("Security.evtx")] {
        let edited = batch.position.replace(&archive.display().to_string(), &other.display().to_string());
        assert_ne!(edited, batch.position);
        // Given up at once (it will not pass): the logger is not stuck.
        let mut source = fill(&api, &dir, "*");
        let given_up = source.read(&edited, 10).unwrap();
        let [SourceItem::Damage(damage), SourceItem::Gap(missing)] = &given_up.items[..] else {
            panic!("{:?}", given_up.items)
        };
        assert!(damage.error.contains("no archive"), "{damage:?}");
        assert_eq!(missing.last_record_id, Some(100), "its records are a gap: {missing:?}");
        assert!(!given_up.position.starts_with(HEADER));
    }
    fs::remove_file(&elsewhere).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn positions_with_archives_read_back_as_written_and_others_pass_through() {
    let probe =
        Probe { last: 100, time: EventTime::Created("2024-05-01T10:00:01.1234567Z".parse().unwrap()) };
    assert_eq!(Probe::parse(&probe.text()), Some(probe.clone()));
    let read_by = Probe { last: 7, time: EventTime::ReadBy("2024-05-01T10:00:01Z".parse().unwrap()) };
    assert_eq!(Probe::parse(&read_by.text()), Some(read_by));
    let pending = vec![
        Pending {
            path: PathBuf::from("C:\\Logs\\Archive-Security-1.evtx"),
            before: Some(327),
            position: probe.text(),
            check: Some(IdCheck { given_to: Some(100), more: true }),
            failing: None,
        },
        Pending {
            path: PathBuf::from("C:\\Logs\\Archive-Security-2.evtx"),
            before: None,
            position: "evtx:b:100:0".into(),
            check: Some(IdCheck { given_to: None, more: false }),
            failing: Some(Failing { seconds: 125, runs: 3 }),
        },
        // Written by the version before the check was made.
        Pending {
            path: PathBuf::from("C:\\Logs\\Archive-Security-3.evtx"),
            before: None,
            position: "evtx:c:1:0".into(),
            check: None,
            failing: None,
        },
    ];
    let live = "<BookmarkList>\r\n  <Bookmark Channel='Security' RecordId='100' IsCurrent='true'/>\r\n</BookmarkList>";
    let text = join(&pending, live);
    assert_eq!(split(&text).unwrap(), (pending, live));
    assert_eq!(join(&[], live), live);
    assert_eq!(split(live).unwrap(), (Vec::new(), live));
    for bad in [
        format!("{HEADER}no tab\n{LIVE_LINE}x"),
        format!("{HEADER}C:\\a.evtx\t-\tevtx:a:1:0"),
        format!("{HEADER}C:\\a.evtx\tevtx:a:1:0\n{LIVE_LINE}x"),
        format!("{HEADER}C:\\a.evtx\t-\tevtx:a:1:0\tids-to:x\n{LIVE_LINE}x"),
        format!("{HEADER}C:\\a.evtx\t-\tevtx:a:1:0\tfailed:x\n{LIVE_LINE}x"),
        format!("{HEADER}C:\\a.evtx\t-\tevtx:a:1:0\tfailed:12\n{LIVE_LINE}x"),
        format!("{HEADER}C:\\a.evtx\t-\tevtx:a:1:0\tfailed:+1/2\n{LIVE_LINE}x"),
        format!("{HEADER}C:\\a.evtx\t-\tevtx:a:1:0\tother:1\n{LIVE_LINE}x"),
        format!("{HEADER}C:\\a.evtx\t-\tevtx:a:1:0\tids-to:1\tids-to:2\n{LIVE_LINE}x"),
    ] {
        assert!(matches!(split(&bad), Err(SourceError::BadPosition(_))), "{bad:?}");
    }
}

/// A live source giving canned batches, whatever it is asked.
struct Canned(std::collections::VecDeque<Batch>);

impl EventSource for Canned {
    fn start_position(&mut self) -> Result<String, SourceError> {
        unreachable!("the tests give positions")
    }
    fn read(&mut self, _from: &str, _max: usize) -> Result<Batch, SourceError> {
        Ok(self.0.pop_front().unwrap_or(Batch { items: Vec::new(), position: "end".into(), more: false }))
    }
    fn describe(&self) -> String {
        "System".into()
    }
}

/// The sample's event `id` (1 to 326) as the live source gives it.
fn live_event(events: &[String], id: usize) -> SourceItem {
    SourceItem::Event(SourceEvent {
        xml: events[id - 1].clone(),
        written: None,
        message: None,
        account: None,
        header_id: None,
    })
}

/// A live read from record 100 of the `System` log (the sample's events) that gave events 101 to
/// 150, found the next ones gone (the log archived while it read: the sample is the archive) and
/// went on with `after_gap`: every item read until nothing more waits, the position after them,
/// and the archive.
fn read_a_gap_after_events(test: &str, after_gap: Vec<SourceItem>) -> (Vec<SourceItem>, String, PathBuf) {
    let dir = logs_dir(test);
    let archive = archive_in(&dir, "2017-07-12-17-21-00-000");
    fs::copy(sample(), &archive).unwrap();
    let events = sample_events();
    let gap =
        Gap { reason: "gone".into(), last_record_id: Some(150), last_header_id: None, archives: Vec::new() };
    let mut items: Vec<SourceItem> = (101..=150).map(|id| live_event(&events, id)).collect();
    items.push(SourceItem::Gap(gap));
    items.extend(after_gap);
    let live = Canned([Batch { items, position: "after the gap".into(), more: false }].into());
    let log_file = dir.join("System.evtx");
    let mut source = ArchiveFill::new(Box::new(live), "*", Box::new(move || Some(log_file.clone())));
    let created_100 = super::created(match &live_event(&events, 100) {
        SourceItem::Event(event) => event,
        _ => unreachable!(),
    })
    .unwrap()
    .to_string();
    let bookmark = crate::eventlog::subscription::bookmark_xml("System", 100);
    let from = Position { bookmark: &bookmark, time_created: Some(&created_100), read_by: None }.to_string();
    let (items, position) = read_all(&mut source, from, 1000);
    fs::remove_dir_all(&dir).unwrap();
    (items, position, archive)
}

#[test]
fn a_gap_after_events_of_the_same_read_is_filled_after_the_last_of_them() {
    // The live log goes on at 200: the archive is read after 150, as created then, not after the
    // position's 100, and up to 199 (the live log gave the rest).
    let events = sample_events();
    let after_gap = (200..=210).map(|id| live_event(&events, id)).collect();
    let (items, position, archive) = read_a_gap_after_events("mid-read", after_gap);
    let expected: Vec<u64> = (101..=150).chain([0]).chain(200..=210).chain(151..=199).collect();
    assert_eq!(ids(&items), expected);
    assert_eq!(gaps(&items)[0].archives, [archive.display().to_string()]);
    assert_eq!(position, "end");
}

#[test]
fn the_live_logs_next_record_bounds_the_archive_only_by_an_id_of_the_log_itself() {
    let events = sample_events();
    // The live log's next record could not be rendered (its id from its bookmark): the archive
    // gives the records before it, and none is missing.
    let unrendered = SourceItem::Damage(Damage {
        chunk: None,
        offset: None,
        header_id: None,
        record_id: Some(200),
        error: "cannot be rendered".into(),
    });
    let after_gap = [unrendered].into_iter().chain((201..=210).map(|id| live_event(&events, id))).collect();
    let (items, _, _) = read_a_gap_after_events("unrendered-next", after_gap);
    let expected: Vec<u64> = (101..=150).chain([0, u64::MAX]).chain(201..=210).chain(151..=199).collect();
    assert_eq!(ids(&items), expected);

    // Forwarded events (logged to another channel first): their `EventRecordID`s are their
    // source logs', no bound: the archive is read to its end, and no record is said missing.
    let forwarded = |id: usize| {
        let xml = events[id - 1].replace("<Channel>System</Channel>", "<Channel>Security</Channel>").replace(
            &format!("<EventRecordID>{id}</EventRecordID>"),
            "<EventRecordID>48000000</EventRecordID>",
        );
        assert_ne!(xml, events[id - 1]);
        SourceItem::Event(SourceEvent { xml, written: None, message: None, account: None, header_id: None })
    };
    let (items, _, _) = read_a_gap_after_events("forwarded-next", vec![forwarded(200)]);
    let expected: Vec<u64> = (101..=150).chain([0, 48_000_000]).chain(151..=326).collect();
    assert_eq!(ids(&items), expected);
}

#[test]
fn an_older_archive_named_within_the_clock_slack_is_not_read_again() {
    // The last event read is record 327, created at 17:21:00, after the sample's 326 records
    // (the newest created at 17:20:34): an archive of those, named within 5 minutes of it, holds
    // only records read before.
    let dir = logs_dir("slack");
    let api = ScriptedApi::new("System");
    let events = sample_events();
    for xml in &events {
        api.append_xml(xml);
    }
    let newest = &events[325];
    let time = attribute_of(newest, "<TimeCreated", "SystemTime").unwrap();
    let record_327 = newest
        .replace("<EventRecordID>326</EventRecordID>", "<EventRecordID>327</EventRecordID>")
        .replace(time, "2017-07-12T17:21:00.0000000Z");
    assert_eq!(api.append_xml(&record_327), 327);
    let mut source = fill(&api, &dir, "*");
    let start = source.start_position().unwrap();
    let (items, position) = read_all(&mut source, start, 1000);
    assert_eq!(items.len(), 327);
    fs::copy(sample(), archive_in(&dir, "2017-07-12-17-20-35-000")).unwrap();
    api.clear();
    api.append_many(2, "Kraken-Test", 1);

    let (items, _) = read_all(&mut source, position, 1000);
    assert_eq!(ids(&items), [0, 328, 329], "a gap, the new log, nothing of the archive again");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_archive_in_which_the_last_event_read_is_damaged_is_read_after_it() {
    let dir = logs_dir("damaged-last");
    let (_api, mut source, position, archive) = archived_while_away(&dir, "*");
    // Record 100 unreadable in the archive: no BinXML token where its XML begins.
    let mut bytes = fs::read(&archive).unwrap();
    let record_100 = bytes
        .windows(16)
        .position(|w| w[..4] == [0x2a, 0x2a, 0, 0] && u64::from_le_bytes(w[8..16].try_into().unwrap()) == 100)
        .unwrap();
    bytes[record_100 + 24] = 0xff;
    fs::write(&archive, bytes).unwrap();

    let (items, _) = read_all(&mut source, position, 1000);
    let expected: Vec<u64> = [0].into_iter().chain(327..=331).chain(101..=326).collect();
    assert_eq!(ids(&items), expected, "the records after the damaged one, none lost");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn records_of_a_damaged_chunk_of_an_archive_are_its_error_and_not_a_gap_too() {
    let dir = logs_dir("damaged-chunk");
    let (_api, mut source, position, archive) = archived_while_away(&dir, "*");
    // The second chunk's header unreadable (its magic gone).
    let mut bytes = fs::read(&archive).unwrap();
    let second_chunk = 4096 + 65536;
    assert_eq!(&bytes[second_chunk..second_chunk + 8], b"ElfChnk\0");
    bytes[second_chunk..second_chunk + 8].copy_from_slice(b"XXXXXXXX");
    fs::write(&archive, bytes).unwrap();

    let (items, _) = read_all(&mut source, position, 1000);
    let damaged: Vec<&Damage> = items
        .iter()
        .filter_map(|item| if let SourceItem::Damage(damage) = item { Some(damage) } else { None })
        .collect();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0].chunk, Some(1), "{damaged:?}");
    assert_eq!(gaps(&items).len(), 1, "the first gap alone: {:?}", gaps(&items));
    let archived: Vec<u64> = ids(&items).into_iter().skip(6).filter(|id| *id != u64::MAX).collect();
    assert!(archived.len() < 226 && archived.windows(2).all(|w| w[0] < w[1]), "{archived:?}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_archive_that_is_no_evtx_file_is_given_up_at_once_and_the_live_log_goes_on() {
    let dir = logs_dir("junk");
    let (_api, mut source, position, archive) = archived_while_away(&dir, "*");
    fs::write(&archive, vec![0x41; 100_000]).unwrap();
    let (items, position) = read_all(&mut source, position, 1000);
    assert_eq!(ids(&items), [0, 327, 328, 329, 330, 331, u64::MAX, 0], "the gap, the live log, one error");
    let SourceItem::Damage(damage) = &items[6] else { unreachable!() };
    assert!(damage.error.contains("not an .evtx file"), "{damage:?}");
    assert_missing(gaps(&items)[1], 101, 326);
    assert!(!position.starts_with(HEADER));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_events_own_record_id_is_read_in_its_system_element_for_its_own_channel_alone() {
    let event = |system_channel: &str| SourceEvent {
        xml: format!(
            "<Event><System><EventRecordID>42</EventRecordID>{system_channel}</System><UserData>\
             <LogFileCleared><Channel>System</Channel></LogFileCleared></UserData></Event>"
        ),
        written: None,
        message: None,
        account: None,
        header_id: None,
    };
    assert_eq!(own_record_id(&event("<Channel>System</Channel>"), "System"), Some(42));
    assert_eq!(own_record_id(&event("<Channel>system</Channel>"), "System"), Some(42));
    // Forwarded (another channel), or no channel in `System`: the one in `UserData` is not its.
    for other in ["<Channel>Security</Channel>", "<Channel/>", "<Channel></Channel>", ""] {
        assert_eq!(own_record_id(&event(other), "System"), None, "{other}");
    }
}
