//! Fuzz target for the `.evtx` file source and the mapping of what it reads: what
//! `kraken-sentry eventlog read` and a `windows-event-logger` with `evtx_path` do with a file
//! copied off a machine that may be compromised. The first byte chooses the options (`recover`,
//! the batch size); the rest is the file. It is read to its end as a logger reads it, batch
//! after batch from the position the last one gave, every item mapped to a record: that must
//! give the items one read gives, each once, and nothing after. Then the file is cut to half
//! its length and read again from the last position (a log replaced or being copied over),
//! which must end. Nothing may panic, loop or take longer than a time limit proportional to
//! the file's size.
//!
//! (One exception would be no loss: the evtx crate bounds what it renders per pass over a
//! chunk, so a crafted chunk past that bound gives later records as damage in one read and as
//! events to a read that starts after them.)
#![no_main]

#[path = "common/time_limit.rs"]
mod time_limit;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sentry::eventlog::{ItemMapping, MappingOptions};
use sentry_host::eventlog::{EventSource, EvtxFileSource, FileOptions, SourceItem};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else { return };
    // Parsing BinXML under the sanitizers, measured on the samples: about 2 s per MiB read
    // twice, rendered and mapped.
    time_limit::within_limit(data, Duration::from_secs(20), || read_file(flags, file));
});

/// This process's file: libFuzzer runs one input at a time per process.
fn path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("kraken-fuzz-{}.evtx", std::process::id())))
}

fn read_file(flags: u8, file: &[u8]) {
    let recover = flags & 1 == 1;
    let batch = [1, 7, 100, 1000][usize::from(flags >> 1 & 3)];
    std::fs::write(path(), file).unwrap();
    let options = FileOptions { recover, after_header_id: None };
    let mapping = ItemMapping { options: MappingOptions::default(), channel: "Fuzz".into(), source: "fuzz".into() };
    let Ok(start) = EvtxFileSource::new(path(), options.clone()).start_position() else { return };
    let Ok(whole) = EvtxFileSource::new(path(), options.clone()).read(&start, usize::MAX) else { return };
    // Read as a logger reads: the same items as one read, each once, and then nothing more.
    let mut source = EvtxFileSource::new(path(), options);
    let (pieces, position) = read_in_batches(&mut source, &mapping, start, batch, whole.items.len() + 1);
    assert!(pieces == whole.items, "batches of {batch} gave other items than one read");
    assert_eq!(position, whole.position);
    // A new source: the one that read knows the file is unchanged since and would not look.
    let mut fresh = EvtxFileSource::new(path(), FileOptions { recover, after_header_id: None });
    let (again, _) = read_in_batches(&mut fresh, &mapping, position.clone(), batch, 1);
    assert!(again.is_empty(), "{} items again after the end", again.len());
    // The file cut to half its length (replaced, or being copied over): the read ends.
    std::fs::write(path(), &file[..file.len() / 2]).unwrap();
    read_in_batches(&mut source, &mapping, position, batch, file.len() + 1);
}

/// Reads batch after batch from `position`, every item mapped, until the source says nothing
/// more waits or a read fails, in at most `most_reads` reads; the items and the position after
/// the last batch.
fn read_in_batches(
    source: &mut EvtxFileSource,
    mapping: &ItemMapping,
    mut position: String,
    batch: usize,
    most_reads: usize,
) -> (Vec<SourceItem>, String) {
    let mut items = Vec::new();
    for _ in 0..most_reads {
        let Ok(read) = source.read(&position, batch) else { return (items, position) };
        assert!(read.items.len() <= batch, "{} items for a batch of {batch}", read.items.len());
        mapping.records(read.items.clone());
        items.extend(read.items);
        position = read.position;
        if !read.more {
            return (items, position);
        }
    }
    panic!("still more after {most_reads} reads of {batch}: a read that does not end");
}
