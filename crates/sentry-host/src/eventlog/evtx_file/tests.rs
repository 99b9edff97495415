use super::*;
use evtx::EvtxParser;

/// The sample files (`testdata/evtx`, from the evtx project's samples).
fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx").join(name)
}

/// Every item of a file, read in one go.
fn read_all(name: &str, options: FileOptions) -> Batch {
    let mut source = EvtxFileSource::new(&sample(name), options);
    let start = source.start_position().unwrap();
    source.read(&start, usize::MAX).unwrap()
}

fn counts(batch: &Batch) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for item in &batch.items {
        match item {
            SourceItem::Event(_) => counts.0 += 1,
            SourceItem::Damage(_) => counts.1 += 1,
            SourceItem::Gap(_) => counts.2 += 1,
        }
    }
    counts
}

fn header_ids(batch: &Batch) -> Vec<u64> {
    batch
        .items
        .iter()
        .filter_map(|item| match item {
            SourceItem::Event(event) => event.header_id,
            _ => None,
        })
        .collect()
}

/// A copy of a sample in a directory of its own.
fn copy_of(name: &str, test: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("kraken-evtx-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::copy(sample(name), &path).unwrap();
    (dir, path)
}

/// A source over `path`, and its first read of every item from its start.
fn read_from_start(path: &Path) -> (EvtxFileSource, Batch) {
    let mut source = EvtxFileSource::new(path, FileOptions::default());
    let start = source.start_position().unwrap();
    let first = source.read(&start, usize::MAX).unwrap();
    (source, first)
}

/// (file, events, damaged items) in the chunks each header declares, and with `recover`. The
/// counts come from walking the chunk and record headers of each file (see the design notes):
/// `system.evtx` declares 3 chunks and holds 17, `sysmon.evtx` declares 1 of 17 (8 of them
/// garbage), the bad-magic file has 2 chunks with a zeroed magic and a record cut short, the
/// zero-size file one record of data size 0. The shadow copy's 16 chunks are of different ages,
/// their ids going up and down along the walk; 4 records in two of them are damaged.
/// (file, (events, damage) declared, (events, damage) with recover).
type Expected = (&'static str, (usize, usize), (usize, usize));

const EXPECTED: &[Expected] = &[
    ("Application_no_crc32.evtx", (17, 0), (17, 0)),
    ("Security_short_selected.evtx", (7, 0), (7, 0)),
    ("new-user-security.evtx", (4, 0), (4, 0)),
    ("system.evtx", (326, 0), (1881, 0)),
    ("sysmon.evtx", (41, 0), (358, 8)),
    ("sample_with_a_bad_chunk_magic.evtx", (301, 3), (301, 3)),
    ("sample-with-zero-data-size-event.evtx", (449, 1), (449, 1)),
    ("rdpcorets-shadow-copy.evtx", (1910, 4), (1910, 4)),
];

#[test]
fn a_file_gives_the_records_of_its_declared_chunks_and_more_only_with_recover() {
    for (name, declared, recovered) in EXPECTED {
        let batch = read_all(name, FileOptions::default());
        let (events, damage, gaps) = counts(&batch);
        assert_eq!((events, damage, gaps), (declared.0, declared.1, 0), "{name}");
        assert!(!batch.more);
        let batch = read_all(name, FileOptions { recover: true, ..FileOptions::default() });
        let (events, damage, _) = counts(&batch);
        assert_eq!((events, damage), *recovered, "{name} with recover");
    }
}

#[test]
fn damage_says_where_it_is() {
    let batch = read_all("sample-with-zero-data-size-event.evtx", FileOptions::default());
    let damage: Vec<&Damage> = batch
        .items
        .iter()
        .filter_map(|item| if let SourceItem::Damage(d) = item { Some(d) } else { None })
        .collect();
    assert_eq!(damage.len(), 1);
    assert_eq!((damage[0].chunk, damage[0].offset), (Some(0), Some(0x820)));
    assert!(damage[0].error.contains("data size"), "{}", damage[0].error);
    let ids = header_ids(&batch);
    assert_eq!(&ids[..3], [1, 2, 4], "the walk goes on after the damaged record 3");
}

#[test]
fn exports_of_selected_events_are_followed_by_header_id() {
    let batch = read_all("Security_short_selected.evtx", FileOptions::default());
    assert_eq!(header_ids(&batch), [1, 2, 3, 4, 5, 6, 7]);
    let SourceItem::Event(first) = &batch.items[0] else { panic!() };
    assert!(first.xml.contains("<EventRecordID>319457771</EventRecordID>"), "{}", first.xml);
    assert!(first.written.is_some());
}

/// Every item from `start` on, read 7 at a time, and the position after the last.
fn read_in_batches_of_7(source: &mut EvtxFileSource, start: String) -> Batch {
    read_in_batches(source, start, 7)
}

/// Every item from `start` on, read `size` at a time, and the position after the last.
fn read_in_batches(source: &mut EvtxFileSource, start: String, size: usize) -> Batch {
    let (mut position, mut items) = (start, Vec::new());
    for _ in 0..3000 {
        let batch = source.read(&position, size).unwrap();
        items.extend(batch.items);
        position = batch.position;
        if !batch.more {
            break;
        }
    }
    Batch { items, position, more: false }
}

#[test]
fn reading_in_small_batches_gives_the_same_items_as_one_read() {
    // The files the fuzzer made are read one item at a time: each batch ends on every record.
    // Files with damage are also read one item at a time: a batch ends on every damage item.
    let names = [
        ("sample_with_a_bad_chunk_magic.evtx", 7),
        ("sample_with_a_bad_chunk_magic.evtx", 1),
        ("sample-with-zero-data-size-event.evtx", 7),
        ("sysmon.evtx", 7),
        ("sysmon.evtx", 1),
        ("rdpcorets-shadow-copy.evtx", 7),
        ("system-duplicated-records.evtx", 1),
        ("system-record-id-out-of-range.evtx", 1),
    ];
    for (name, size) in names {
        for recover in [false, true] {
            let options = FileOptions { recover, ..FileOptions::default() };
            let whole = read_all(name, options.clone());
            let mut source = EvtxFileSource::new(&sample(name), options);
            let start = source.start_position().unwrap();
            let Batch { items: pieces, position, .. } = read_in_batches(&mut source, start, size);
            assert_eq!(pieces, whole.items, "{name}, recover {recover}");
            assert_eq!(position, whole.position);
            // A new source: the one that read knows the file is unchanged and would not look.
            let again = EvtxFileSource::new(&sample(name), FileOptions { recover, ..FileOptions::default() })
                .read(&position, size)
                .unwrap();
            assert!(again.items.is_empty() && again.position == position, "{name}: nothing twice");
        }
    }
}

#[test]
fn last_id_starts_after_that_header_id() {
    let mut source = EvtxFileSource::new(
        &sample("system.evtx"),
        FileOptions { after_header_id: Some(300), recover: false },
    );
    let start = source.start_position().unwrap();
    let batch = source.read(&start, usize::MAX).unwrap();
    assert_eq!(header_ids(&batch), (301..=326).collect::<Vec<_>>());
}

#[test]
fn a_last_id_start_gives_the_same_records_in_batches_as_in_one_read() {
    // In the shadow copy ids go up and down along the walk: a `last_id` start goes on after
    // that record in the walk's order, whatever the size of the batches.
    let options = FileOptions { after_header_id: Some(6_951_000), recover: false };
    let mut whole = EvtxFileSource::new(&sample("rdpcorets-shadow-copy.evtx"), options.clone());
    let start = whole.start_position().unwrap();
    let all = whole.read(&start, usize::MAX).unwrap();
    let ids = header_ids(&all);
    assert_eq!(ids[..2], [6_951_001, 6_951_002]);
    assert!(ids.contains(&6_334_916), "the older chunks after it in the walk are read too");
    let mut source = EvtxFileSource::new(&sample("rdpcorets-shadow-copy.evtx"), options);
    assert_eq!(header_ids(&read_in_batches_of_7(&mut source, start)), ids);
}

#[test]
fn a_resume_chunk_gone_bad_is_damage_and_the_read_goes_on_by_ids() {
    let (dir, path) = copy_of("system.evtx", "resume-chunk-bad");
    let mut source = EvtxFileSource::new(&path, FileOptions { recover: true, ..FileOptions::default() });
    let start = source.start_position().unwrap();
    let first = source.read(&start, 150).unwrap(); // into chunk 1
    let last = *header_ids(&first).last().unwrap();
    // Chunk 1's records overwritten with garbage, its header kept.
    let mut bytes = std::fs::read(&path).unwrap();
    let chunk_1 = 4096 + 65536;
    bytes[chunk_1 + 512..chunk_1 + 65536].fill(0x5a);
    std::fs::write(&path, &bytes).unwrap();
    let rest = source.read(&first.position, usize::MAX).unwrap();
    let (events, damage, _) = counts(&rest);
    assert!(damage >= 1, "chunk 1 is damage");
    assert!(events > 1000, "the chunks after it are read: {events}");
    assert!(header_ids(&rest).iter().all(|id| *id > last), "nothing read twice");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_replaced_file_starts_over_after_a_gap() {
    let (dir, path) = copy_of("new-user-security.evtx", "replaced");
    let (mut source, first) = read_from_start(&path);
    assert_eq!(counts(&first), (4, 0, 0));
    std::fs::copy(sample("Application_no_crc32.evtx"), &path).unwrap();
    let second = source.read(&first.position, usize::MAX).unwrap();
    assert_eq!(counts(&second), (17, 0, 1));
    assert!(matches!(&second.items[0], SourceItem::Gap(gap) if gap.reason.contains("replaced")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_emptied_while_it_is_copied_over_is_read_on_once_it_is_back() {
    let (dir, path) = copy_of("new-user-security.evtx", "emptied");
    let (mut source, first) = read_from_start(&path);
    assert_eq!(counts(&first), (4, 0, 0));
    // A copy in progress: the header is there, no chunk yet.
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..4096]).unwrap();
    let error = source.read(&first.position, usize::MAX).unwrap_err();
    assert!(matches!(&error, SourceError::Transient(m) if m.contains("no records now")), "{error}");
    // Not even a whole header yet.
    std::fs::write(&path, &whole[..100]).unwrap();
    let error = source.read(&first.position, usize::MAX).unwrap_err();
    assert!(matches!(&error, SourceError::Transient(m) if m.contains("no records now")), "{error}");
    std::fs::write(&path, &whole).unwrap();
    let again = source.read(&first.position, usize::MAX).unwrap();
    assert_eq!(counts(&again), (0, 0, 0), "nothing read twice");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads the first `max` events of a copy of `system.evtx`, changes its byte at `offset` with
/// `change`, and checks that the rest then reads on with no gap, every record once. Returns
/// the copy's directory, the source, its start position and every record id of the file.
fn read_on_after_a_change(
    test: &str,
    max: usize,
    offset: usize,
    change: fn(&mut u8),
) -> (PathBuf, EvtxFileSource, String, Vec<u64>) {
    let (dir, path) = copy_of("system.evtx", test);
    let all = header_ids(&read_all("system.evtx", FileOptions::default()));
    let mut source = EvtxFileSource::new(&path, FileOptions::default());
    let start = source.start_position().unwrap();
    let first = source.read(&start, max).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    change(&mut bytes[offset]);
    std::fs::write(&path, &bytes).unwrap();
    let rest = source.read(&first.position, usize::MAX).unwrap();
    assert_eq!(counts(&rest).2, 0, "{test}: no gap, the record given last is still there");
    assert_eq!([header_ids(&first), header_ids(&rest)].concat(), all, "{test}: every record once");
    (dir, source, start, all)
}

#[test]
fn a_log_whose_first_chunk_was_overwritten_is_read_on_after_the_last_record_given() {
    // A circular log that wraps writes newer records over its first chunk: the file's
    // identity (its first record's id and time) changes; here the time does.
    let (dir, ..) = read_on_after_a_change("wrapped", 100, 4096 + 512 + 16, |byte| *byte ^= 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_first_record_gone_bad_or_a_position_without_a_time_reads_on_without_a_gap() {
    // The first record's header is damaged: the file has no identity ("empty"), yet its
    // chunks hold records, so it is no file being copied over; it still holds record 150.
    let (dir, mut source, start, all) =
        read_on_after_a_change("first-record", 150, 4096 + 512, |byte| *byte = 0);
    // A start position (no record given, so no write time) of a file whose identity changed
    // since: read from the start, no gap (record 1 is damage now).
    let batch = source.read(&start, usize::MAX).unwrap();
    assert_eq!((counts(&batch), header_ids(&batch)), ((325, 1, 0), all[1..].to_vec()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_log_that_wrapped_past_the_last_record_given_reads_on_after_a_gap() {
    // Application_no_crc32.evtx holds records 426 to 442.
    let (dir, path) = copy_of("Application_no_crc32.evtx", "wrapped-past");
    let all = header_ids(&read_all("Application_no_crc32.evtx", FileOptions::default()));
    assert_eq!((all[0], all.len()), (426, 17));
    let mut source = EvtxFileSource::new(&path, FileOptions::default());
    // Read up to 423 from the file when its first chunk was another: 424 and 425 are gone.
    let batch = source.read("evtx:1a8-0:423:0:1000", usize::MAX).unwrap();
    let SourceItem::Gap(gap) = &batch.items[0] else { panic!("{:?}", batch.items[0]) };
    assert_eq!((gap.last_record_id, gap.last_header_id), (None, Some(423)));
    assert!(gap.reason.contains("no longer holds the records of header ids 424 to 425"), "{}", gap.reason);
    assert_eq!(header_ids(&batch), all);
    // Read up to 425: nothing was lost.
    let batch = source.read("evtx:1a8-0:425:0:1000", usize::MAX).unwrap();
    assert_eq!((counts(&batch).2, header_ids(&batch)), (0, all.clone()));
    // Positions without a write time (a `last_id` start, or saved by an earlier version): a
    // chunk spanning the id goes on after it; ids all below it mean another file (a log
    // cleared since), read from its start after a gap.
    let batch = source.read("evtx:1a8-0:430:0", usize::MAX).unwrap();
    assert_eq!((counts(&batch).2, header_ids(&batch)), (0, all[5..].to_vec()));
    let batch = source.read("evtx:1a8-0:5000000:0", usize::MAX).unwrap();
    assert!(matches!(&batch.items[0], SourceItem::Gap(gap) if gap.reason.contains("replaced")));
    assert_eq!(header_ids(&batch), all);
    // Record 430 given last, but written at another time: another file, read from its start.
    let batch = source.read("evtx:1a8-0:430:0:1000", usize::MAX).unwrap();
    assert!(matches!(&batch.items[0], SourceItem::Gap(gap) if gap.reason.contains("replaced")));
    assert_eq!(header_ids(&batch), all);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_and_positions_are_clear_errors() {
    let mut missing = EvtxFileSource::new(Path::new("/nonexistent/x.evtx"), FileOptions::default());
    assert!(missing.start_position().unwrap_err().to_string().contains("cannot open"));
    let mut not_evtx = EvtxFileSource::new(&sample("README.md"), FileOptions::default());
    let start = not_evtx.start_position().unwrap();
    assert!(not_evtx.read(&start, 10).unwrap_err().to_string().contains("is not an .evtx file"));
    let mut source = EvtxFileSource::new(&sample("system.evtx"), FileOptions::default());
    assert!(matches!(source.read("<BookmarkList/>", 10), Err(SourceError::BadPosition(_))));
}

#[test]
fn chunks_come_in_the_order_and_shape_the_evtx_crate_walks_them() {
    // The walk loads only the chunks it needs, from their headers' order; the crate loads every
    // chunk. Both give the same chunks, in the same order, with the same errors.
    for (name, ..) in EXPECTED {
        let path = sample(name);
        let mut parser = EvtxParser::from_path(&path).unwrap();
        let header_block_size = u64::from(parser.header().header_block_size);
        let theirs: Vec<String> = parser
            .chunks()
            .map(|chunk| match chunk {
                Ok(chunk) => format!("{:?} {}", chunk.number, chunk.header.first_event_record_id),
                Err(error) => chain(&error),
            })
            .collect();
        let mut file = File::open(&path).unwrap();
        let ours: Vec<String> = chunks::record_order(&mut file, header_block_size)
            .unwrap()
            .into_iter()
            .filter_map(|slot| match chunks::read_chunk(&mut file, slot.number) {
                Ok(Some(chunks::ReadChunk { chunk: Ok(chunk), .. })) => {
                    Some(format!("{:?} {}", chunk.number, chunk.header.first_event_record_id))
                }
                Ok(Some(chunks::ReadChunk { chunk: Err(error), .. })) | Err(error) => Some(chain(&error)),
                Ok(None) => None,
            })
            .collect();
        assert_eq!(ours, theirs, "{name}");
    }
}

#[test]
fn positions_name_the_offset_of_their_record_and_earlier_forms_still_read() {
    let full = FilePosition::parse("evtx:1-2:84:0:1499879797980139600:0:50000").unwrap();
    assert_eq!((full.after, full.chunk, full.offset), (84, Some(0), Some(50000)));
    assert_eq!(full.text(), "evtx:1-2:84:0:1499879797980139600:0:50000");
    let earlier = FilePosition::parse("evtx:1-2:84:0:1499879797980139600:0").unwrap();
    assert_eq!((earlier.chunk, earlier.offset), (Some(0), None));
    assert_eq!(earlier.text(), "evtx:1-2:84:0:1499879797980139600:0");
    assert!(FilePosition::parse("evtx:1-2:84:0:1:0:5:6").is_none(), "one field too many");
    assert!(FilePosition::parse("evtx:1-2:84:0:1:0:x").is_none(), "an offset that is no number");
    // The same record (id and time) at another offset is not the one the position is after.
    let written = std::time::UNIX_EPOCH + Duration::from_nanos(1_499_879_797_980_139_600);
    assert!(full.is_at(84, written, 50000));
    assert!(!full.is_at(84, written, 40000));
    assert!(earlier.is_at(84, written, 40000), "an earlier position knows no offset");
}

#[test]
fn a_record_with_header_id_0_is_given_once() {
    // The third record of a copy of a sample says it is record 0 (a damaged or crafted file).
    let (dir, path) = copy_of("Security_short_selected.evtx", "id-0");
    let mut bytes = std::fs::read(&path).unwrap();
    let third = bytes.windows(4).enumerate().filter(|(_, w)| *w == [0x2a, 0x2a, 0, 0]).nth(2).unwrap().0;
    bytes[third + 8..third + 16].copy_from_slice(&0u64.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let (_, whole) = read_from_start(&path);
    assert_eq!(header_ids(&whole), [1, 2, 0, 4, 5, 6, 7]);
    for size in [1, 2, 3] {
        let mut source = EvtxFileSource::new(&path, FileOptions::default());
        let start = source.start_position().unwrap();
        let pieces = read_in_batches(&mut source, start, size);
        assert_eq!(pieces.items, whole.items, "batches of {size}");
        let again = EvtxFileSource::new(&path, FileOptions::default()).read(&pieces.position, size).unwrap();
        assert!(again.items.is_empty(), "batches of {size}: {:?}", header_ids(&again));
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn damage_at(offset: u64) -> Damage {
    Damage { chunk: Some(0), offset: Some(offset), header_id: None, record_id: None, error: "bad".into() }
}

fn position_after(after: u64, damage_after: usize) -> FilePosition {
    FilePosition {
        identity: "1-2".into(),
        after,
        damage_after,
        written: Some(1),
        chunk: Some(0),
        offset: Some(0x200),
        damage_at: None,
    }
}

fn in_chunk_0(item: u64) -> Option<DamageAt> {
    Some(DamageAt { chunk: 0, item: Some(item), crc: 7 })
}

#[test]
fn a_long_run_of_damage_is_given_a_batch_at_a_time_and_never_held_whole() {
    // Past the record at the position (or from a fresh start): given at once, the walk full
    // once the batch is.
    let fresh = FilePosition { written: None, chunk: None, offset: None, ..position_after(0, 0) };
    assert!(fresh.is_fresh());
    for start in [fresh, position_after(7, 2)] {
        let mut walk = Walk::new(3, start.clone());
        walk.anchored = true;
        let mut fed = 0;
        while !walk.full() {
            walk.damage(damage_at(fed), in_chunk_0(fed));
            fed += 1;
            assert!(walk.held.len() <= 1);
        }
        assert_eq!(fed, start.damage_after as u64 + 4, "stopped at the first damage with no room");
        let offsets: Vec<Option<u64>> = walk
            .items
            .iter()
            .map(|item| match item {
                SourceItem::Damage(damage) => damage.offset,
                other => panic!("{other:?}"),
            })
            .collect();
        let skipped = start.damage_after as u64;
        assert_eq!(offsets, [Some(skipped), Some(skipped + 1), Some(skipped + 2)], "given before: skipped");
        assert_eq!(walk.position.damage_after, start.damage_after + 3);
    }
    // Before it is known whether the damage lies after the position: at most a batch held,
    // the rest only counted, and the read says there is more.
    let mut walk = Walk::new(3, position_after(7, 1));
    for offset in 0..10_000 {
        walk.damage(damage_at(offset), in_chunk_0(offset));
    }
    assert_eq!(walk.held.len(), 3);
    let batch = walk.finish();
    assert!(batch.more);
    assert_eq!(batch.items.len(), 3);
    let position = FilePosition::parse(&batch.position).unwrap();
    assert_eq!(position.damage_after, 4);
    // A record given before, met after it: the held damage lay before the position.
    let mut walk = Walk::new(3, position_after(7, 0));
    for offset in 0..10 {
        walk.damage(damage_at(offset), in_chunk_0(offset));
    }
    walk.passed_old_record();
    assert!(walk.held.is_empty() && !walk.held_dropped);
    let batch = walk.finish();
    assert!(batch.items.is_empty() && !batch.more);
}

#[test]
fn a_read_ends_its_batch_once_its_events_hold_16_mib_of_xml() {
    let mut walk = Walk::new(1000, position_after(0, 0));
    walk.anchored = true;
    let event = |n: u64| SourceEvent {
        xml: "x".repeat(6 << 20),
        written: None,
        message: None,
        account: None,
        header_id: Some(n),
    };
    let mut given = 0;
    while !walk.full() {
        given += 1;
        walk.event(event(given), Some(0), given * 0x100);
    }
    assert_eq!(given, 3, "6 MiB each: the third passes 16 MiB");
    let batch = walk.finish();
    assert!(batch.more);
    assert_eq!(batch.items.len(), 3);
    assert_eq!(FilePosition::parse(&batch.position).unwrap().after, 3);
}

#[test]
fn damage_positions_name_where_the_last_damage_lies() {
    let text = "evtx:1-2:84:3@7.12.500:1499879797980139600:0:50000";
    let position = FilePosition::parse(text).unwrap();
    let at = DamageAt { chunk: 7, item: Some(12), crc: 500 };
    assert_eq!((position.damage_after, position.damage_at), (3, Some(at)));
    assert_eq!(position.text(), text);
    let whole_chunk = FilePosition::parse("evtx:1-2:0:1@4.-.4294967295").unwrap();
    assert_eq!(whole_chunk.damage_at, Some(DamageAt { chunk: 4, item: None, crc: u32::MAX }));
    assert_eq!(whole_chunk.text(), "evtx:1-2:0:1@4.-.4294967295");
    assert!(whole_chunk.is_fresh(), "damage alone given: nothing of the file was an event");
    let bad = [
        "evtx:1-2:0:1@4.-",
        "evtx:1-2:0:1@x.-.1",
        "evtx:1-2:0:1@4.-.1.1",
        "evtx:1-2:0:1@4.-.-",
        "evtx:1-2:0:@4.-.1",
    ];
    for bad in bad {
        assert!(FilePosition::parse(bad).is_none(), "{bad}");
    }
}

/// A copy of `system.evtx` whose 17 chunks all have a damaged magic, read with `recover`.
fn all_chunks_damaged(test: &str) -> (PathBuf, PathBuf) {
    let (dir, path) = copy_of("system.evtx", test);
    let mut bytes = std::fs::read(&path).unwrap();
    let chunks = (bytes.len() - 4096) / 65536;
    assert_eq!(chunks, 17);
    for chunk in 0..chunks {
        bytes[4096 + chunk * 65536] ^= 0xff;
    }
    std::fs::write(&path, &bytes).unwrap();
    (dir, path)
}

#[test]
fn a_file_of_damage_only_costs_each_read_what_it_gives() {
    let (dir, path) = all_chunks_damaged("damage-only");
    let options = FileOptions { recover: true, ..FileOptions::default() };
    let mut whole = EvtxFileSource::new(&path, options.clone());
    let start = whole.start_position().unwrap();
    let all = whole.read(&start, usize::MAX).unwrap();
    assert_eq!(counts(&all), (0, 17, 0));
    // Read a damage item at a time: each read goes on after the chunk given last, loading it
    // (to see that it is as it was), the chunk it gives and the next (which finds the batch
    // full). Walking again from the file's start each time would load 2 + 3 + ... + 18 = 170.
    chunks::LOADED.with(|loaded| loaded.set(0));
    let mut source = EvtxFileSource::new(&path, options.clone());
    let pieces = read_in_batches(&mut source, start, 1);
    assert_eq!(pieces.items, all.items);
    assert_eq!(pieces.position, all.position);
    let loaded = chunks::LOADED.with(|loaded| loaded.get());
    assert!(loaded <= 3 * 17, "{loaded} chunks loaded for 17 items");
    let again = EvtxFileSource::new(&path, options).read(&pieces.position, 1).unwrap();
    assert!(again.items.is_empty() && !again.more, "nothing twice: {:?}", again.items);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_in_a_chunk_changed_since_is_walked_past_again_by_count() {
    // The position names chunk 5's damage; the chunk's bytes change (still damage): the read
    // walks from the start again, skipping the damage given by its count.
    let (dir, path) = all_chunks_damaged("damage-changed");
    let options = FileOptions { recover: true, ..FileOptions::default() };
    let mut source = EvtxFileSource::new(&path, options.clone());
    let start = source.start_position().unwrap();
    let first = source.read(&start, 6).unwrap();
    let position = FilePosition::parse(&first.position).unwrap();
    assert!(matches!(position.damage_at, Some(DamageAt { chunk: 5, item: None, .. })), "{position:?}");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096 + 5 * 65536 + 1000] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    chunks::LOADED.with(|loaded| loaded.set(0));
    let rest = source.read(&first.position, usize::MAX).unwrap();
    assert!(chunks::LOADED.with(|loaded| loaded.get()) >= 6, "walked from the start");
    let whole = EvtxFileSource::new(&path, options).read(&start, usize::MAX).unwrap();
    assert_eq!([first.items, rest.items].concat(), whole.items);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_record_given_as_damage_and_whole_now_is_given_as_an_event() {
    // Record 150 half written (a record being written, a copy of the file not done): damage,
    // the last item of a read. Once whole, the next read gives it, and every record once.
    let (dir, path) = copy_of("system.evtx", "healed");
    let all = header_ids(&read_all("system.evtx", FileOptions::default()));
    let whole_bytes = std::fs::read(&path).unwrap();
    let record_150 = whole_bytes
        .windows(16)
        .position(|w| w[..4] == [0x2a, 0x2a, 0, 0] && u64::from_le_bytes(w[8..16].try_into().unwrap()) == 150)
        .unwrap();
    let mut torn = whole_bytes.clone();
    torn[record_150 + 24] = 0xff; // no BinXML token
    std::fs::write(&path, &torn).unwrap();
    let mut source = EvtxFileSource::new(&path, FileOptions::default());
    let start = source.start_position().unwrap();
    let first = source.read(&start, 150).unwrap();
    assert_eq!(counts(&first), (149, 1, 0));
    assert!(matches!(first.items.last(), Some(SourceItem::Damage(damage)) if damage.header_id == Some(150)));
    std::fs::write(&path, &whole_bytes).unwrap();
    let rest = source.read(&first.position, usize::MAX).unwrap();
    assert_eq!(counts(&rest), (all.len() - 149, 0, 0));
    assert_eq!([header_ids(&first), header_ids(&rest)].concat(), all, "every record once");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_after_a_chunk_that_could_not_be_read_names_no_place() {
    // A chunk that could not be read (no place), then damage with a place: naming that place
    // would pass the unread chunk over in the next read, so the position names none until the
    // next event.
    let fresh = FilePosition { written: None, chunk: None, offset: None, ..position_after(0, 0) };
    let mut walk = Walk::new(10, fresh);
    walk.damage(damage_at(0), in_chunk_0(0));
    assert_eq!(walk.position.damage_at, in_chunk_0(0));
    walk.damage(damage_at(1), None);
    walk.damage(damage_at(2), in_chunk_0(2));
    assert_eq!((walk.position.damage_after, walk.position.damage_at), (3, None));
    walk.event(
        SourceEvent {
            xml: "<Event/>".into(),
            written: None,
            message: None,
            account: None,
            header_id: Some(5),
        },
        Some(0),
        0x300,
    );
    walk.damage(damage_at(4), in_chunk_0(4));
    assert_eq!((walk.position.damage_after, walk.position.damage_at), (1, in_chunk_0(4)));
}

#[test]
fn damage_after_an_all_zero_chunk_keeps_its_place() {
    // Chunk 3 all zeros (a gap in a dirty file), then damage to the file's end: each read goes
    // on after the damage given last, as without the gap; the items are those of one read.
    let (dir, path) = all_chunks_damaged("damage-after-zeros");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096 + 3 * 65536..4096 + 4 * 65536].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let options = FileOptions { recover: true, ..FileOptions::default() };
    let mut source = EvtxFileSource::new(&path, options.clone());
    let start = source.start_position().unwrap();
    let first = source.read(&start, 5).unwrap();
    let position = FilePosition::parse(&first.position).unwrap();
    assert_eq!(position.damage_after, 5, "chunks 0-2, then 4 and 5");
    assert!(matches!(position.damage_at, Some(DamageAt { chunk: 5, item: None, .. })), "{position:?}");
    let whole = EvtxFileSource::new(&path, options).read(&start, usize::MAX).unwrap();
    assert_eq!(counts(&whole), (0, 16, 0));
    chunks::LOADED.with(|loaded| loaded.set(0));
    let rest = read_in_batches(&mut source, first.position.clone(), 1);
    assert_eq!([first.items, rest.items].concat(), whole.items);
    let loaded = chunks::LOADED.with(|loaded| loaded.get());
    assert!(loaded <= 3 * 11, "{loaded} chunks loaded for the last 11 items");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Adds `shift` (wrapping) to the record ids chunk `number` of `bytes` names, in its header
/// and its records, as a log writing newer records over it would.
fn shift_chunk_ids(bytes: &mut [u8], number: usize, shift: u64) {
    let chunk = &mut bytes[4096 + number * 65536..4096 + (number + 1) * 65536];
    let mut add = |at: usize| {
        let value = u64::from_le_bytes(chunk[at..at + 8].try_into().unwrap()).wrapping_add(shift);
        chunk[at..at + 8].copy_from_slice(&value.to_le_bytes());
    };
    for field in [8, 16, 24, 32] {
        add(field);
    }
    let free_space = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
    let mut record = 512;
    while record + 24 <= free_space && chunk[record..record + 4] == [0x2a, 0x2a, 0, 0] {
        let size = u32::from_le_bytes(chunk[record + 4..record + 8].try_into().unwrap()) as usize;
        let id = u64::from_le_bytes(chunk[record + 8..record + 16].try_into().unwrap()).wrapping_add(shift);
        chunk[record + 8..record + 16].copy_from_slice(&id.to_le_bytes());
        if size == 0 {
            break;
        }
        record += size;
    }
}

/// Writes `bytes` over `path` and puts its modification time back: a change the file's length
/// and time do not show (a time too coarse, or updated late, as Windows may for a log it holds).
fn write_unseen(path: &Path, bytes: &[u8]) {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, bytes).unwrap();
    std::fs::File::options().write(true).open(path).unwrap().set_modified(modified).unwrap();
}

#[test]
fn a_catch_up_walks_the_chunk_headers_once() {
    let options = FileOptions { recover: true, ..FileOptions::default() };
    let whole = read_all("system.evtx", options.clone());
    chunks::WALKS.with(|walks| walks.set(0));
    let mut source = EvtxFileSource::new(&sample("system.evtx"), options);
    let start = source.start_position().unwrap();
    let pieces = read_in_batches(&mut source, start, 100);
    assert_eq!((pieces.items, pieces.position), (whole.items, whole.position));
    assert_eq!(chunks::WALKS.with(|walks| walks.get()), 1, "19 reads, one walk");
}

/// Reads the first 300 events of a copy of `system.evtx` (with `recover`; with `wrapped`, its
/// chunks 0 to 2 first given the newest ids, as a log that wrapped: its oldest chunk is 3),
/// makes `change` to the copy unseen by its length and time, then reads the rest with the same
/// source (over its kept walk) and checks that a new source reads the same. Returns the first
/// read, the rest, and how many walks of the headers reading the rest made.
fn read_on_over_a_kept_walk(
    test: &str,
    wrapped: bool,
    change: impl FnOnce(&mut [u8]),
) -> (Batch, Batch, u64) {
    let options = FileOptions { recover: true, ..FileOptions::default() };
    let (dir, path) = copy_of("system.evtx", test);
    let mut bytes = std::fs::read(&path).unwrap();
    for chunk in (0..3).filter(|_| wrapped) {
        shift_chunk_ids(&mut bytes, chunk, 10_000);
    }
    std::fs::write(&path, &bytes).unwrap();
    let mut source = EvtxFileSource::new(&path, options.clone());
    let start = source.start_position().unwrap();
    let first = source.read(&start, 300).unwrap();
    change(&mut bytes);
    write_unseen(&path, &bytes);
    chunks::WALKS.with(|walks| walks.set(0));
    let rest = source.read(&first.position, usize::MAX).unwrap();
    let walks = chunks::WALKS.with(|walks| walks.get());
    let fresh = EvtxFileSource::new(&path, options).read(&first.position, usize::MAX).unwrap();
    let seen = |batch: &Batch| (header_ids(batch), counts(batch), batch.position.clone());
    assert_eq!(seen(&rest), seen(&fresh), "{test}: as a new source reads it");
    std::fs::remove_dir_all(&dir).unwrap();
    (first, rest, walks)
}

#[test]
fn a_chunk_whose_header_changed_since_the_walk_makes_the_read_walk_again() {
    // A change the file's length, time, header and identity do not show: chunk 5's records
    // given newer ids (a log written over it). The read going on through it walks again.
    let (first, rest, walks) =
        read_on_over_a_kept_walk("walk-changed-chunk", false, |bytes| shift_chunk_ids(bytes, 5, 10_000));
    assert_eq!(header_ids(&first).last(), Some(&300));
    assert_eq!(walks, 1, "the kept walk up to chunk 5, then a walk");
    assert!(header_ids(&rest).contains(&10_572), "chunk 5's records with their new ids");
}

#[test]
fn a_wrapped_log_whose_oldest_chunk_was_written_over_since_the_walk_is_walked_again() {
    // The read has given records from chunk 3, the oldest, up to chunk 5. Then chunk 3 is
    // written over too: its records now come last, not passed over as the oldest chunk's.
    let (first, rest, _) =
        read_on_over_a_kept_walk("walk-wrapped", true, |bytes| shift_chunk_ids(bytes, 3, 20_000));
    assert_eq!(header_ids(&first)[0], 327, "the walk starts at chunk 3");
    assert_eq!(header_ids(&rest).last(), Some(&20_444), "chunk 3's new records, last");
}

#[test]
fn a_chunk_loaded_that_now_holds_the_oldest_records_makes_the_read_walk_again() {
    // The read has given records from chunk 3, the oldest, up to chunk 5. Chunk 7 then names
    // the file's oldest records (unseen by the oldest chunk's header too): a walk starts at 7
    // now, so a read going on from chunk 5 ends with chunk 6 (7 on come before 5). The read over
    // the kept walk loads chunk 7, sees that it changed, and walks again.
    let (first, rest, walks) = read_on_over_a_kept_walk("walk-new-oldest", true, |bytes| {
        shift_chunk_ids(bytes, 7, 0u64.wrapping_sub(830));
    });
    assert_eq!(header_ids(&first).last(), Some(&626), "up to chunk 5");
    assert_eq!(walks, 1);
    assert_eq!(header_ids(&rest), (627..=837).collect::<Vec<_>>(), "the rest of chunks 5 and 6");
}
