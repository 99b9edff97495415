//! A file logger catching up through a large `.evtx` file, against the `evtx` crate reading the
//! same file once, measured in the same run.
//!
//! * Ours: [`EvtxFileSource`] read as the `windows-event-logger` reads it, 1,000 events a read
//!   (its default `max_events_per_run`), each read going on from the position the last one gave,
//!   until a read says nothing more waits.
//! * Peer: `evtx` 0.15.1 `records()` (XML, no indentation, one thread) over the same file,
//!   counting the records.
//!
//! The files are made from the chunks of `testdata/evtx/system.evtx`, copied over and over with
//! their record ids moved on, so that the ids go up along the file as in a log written in order;
//! their header declares every chunk. A catch-up whose reads each cost the whole file (a walk of
//! every chunk header, say) shows as a ratio that falls as the file grows; reads that cost what
//! they give keep it flat.
//!
//! Run: `cargo bench -p sentry-host --bench evtx_catch_up` (`-- --quick`: smaller files;
//! `-- --huge`: up to the largest file the format allows, 4 GiB, written to the temp dir).

use std::path::Path;
use std::time::Instant;

use evtx::{EvtxParser, ParserSettings};
use sentry_host::eventlog::{EventSource, EvtxFileSource, FileOptions, SourceItem};

const FILE_HEADER_SIZE: usize = 4096;
const CHUNK_SIZE: usize = 65536;
const CHUNK_HEADER_SIZE: usize = 512;
/// Events a logger reads at most in a run by default.
const EVENTS_PER_READ: usize = 1000;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let huge = std::env::args().any(|a| a == "--huge");
    let sizes: &[usize] = match (quick, huge) {
        (true, _) => &[64, 512],
        (false, false) => &[256, 1024, 4096],
        (false, true) => &[4096, 16384, 65535],
    };
    let dir = std::env::temp_dir().join(format!("kraken-bench-evtx-catch-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sample =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx")).unwrap();
    println!(
        "a file logger catching up ({EVENTS_PER_READ} events a read) against the evtx crate reading once"
    );
    for &chunks in sizes {
        let path = dir.join(format!("large-{chunks}.evtx"));
        write_large_file(&path, &sample, chunks);
        let (peer, peer_events) = evtx_alone(&path);
        let (ours, our_events) = catch_up(&path);
        assert_eq!(our_events, peer_events, "events the file source gave");
        let megabytes = (FILE_HEADER_SIZE + chunks * CHUNK_SIZE) >> 20;
        println!(
            "  {chunks:>5} chunks ({megabytes:>3} MiB, {peer_events:>7} events): evtx crate {peer:>8.0} events/s, \
             file source catching up {ours:>8.0} events/s, ratio {:.2}",
            ours / peer
        );
        std::fs::remove_file(&path).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `evtx` crate reading every record of `path` once: events per second, and how many.
fn evtx_alone(path: &Path) -> (f64, usize) {
    let started = Instant::now();
    let settings = ParserSettings::new().indent(false).validate_checksums(false);
    let mut parser = EvtxParser::from_path(path).unwrap().with_configuration(settings);
    let count = parser.records().filter(Result::is_ok).count();
    (count as f64 / started.elapsed().as_secs_f64(), count)
}

/// The file source read as a logger reads it until nothing more waits: events per second, and
/// how many.
fn catch_up(path: &Path) -> (f64, usize) {
    let started = Instant::now();
    let mut source = EvtxFileSource::new(path, FileOptions::default());
    let mut position = source.start_position().unwrap();
    let mut count = 0;
    loop {
        let batch = source.read(&position, EVENTS_PER_READ).unwrap();
        count += batch.items.iter().filter(|item| matches!(item, SourceItem::Event(_))).count();
        position = batch.position;
        if !batch.more {
            break;
        }
    }
    (count as f64 / started.elapsed().as_secs_f64(), count)
}

/// Writes a file of `chunks` chunks: those of `sample` that hold records, copied over and over,
/// each copy's record ids (in the chunk headers and the records) moved past the last copy's.
fn write_large_file(path: &Path, sample: &[u8], chunks: usize) {
    use std::io::Write as _;
    let full: Vec<&[u8]> = sample[FILE_HEADER_SIZE..]
        .chunks_exact(CHUNK_SIZE)
        .filter(|chunk| chunk.starts_with(b"ElfChnk\0"))
        .collect();
    let ids_per_copy = u64_at(full[full.len() - 1], 32);
    let mut header = sample[..FILE_HEADER_SIZE].to_vec();
    let last = chunks as u64 - 1;
    put_u64(&mut header, 16, last);
    put_u64(&mut header, 24, (last / full.len() as u64 + 1) * ids_per_copy + 1);
    header[42..44].copy_from_slice(&u16::try_from(chunks).expect("at most 65,535 chunks").to_le_bytes());
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    file.write_all(&header).unwrap();
    for number in 0..chunks {
        let shift = (number / full.len()) as u64 * ids_per_copy;
        let mut chunk = full[number % full.len()].to_vec();
        for field in [8, 16, 24, 32] {
            add_u64(&mut chunk, field, shift);
        }
        let free_space = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
        let mut record = CHUNK_HEADER_SIZE;
        while record + 24 <= free_space.min(CHUNK_SIZE) && chunk[record..record + 4] == [0x2a, 0x2a, 0, 0] {
            add_u64(&mut chunk, record + 8, shift);
            let size = u32::from_le_bytes(chunk[record + 4..record + 8].try_into().unwrap()) as usize;
            if size == 0 {
                break;
            }
            record += size;
        }
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn add_u64(bytes: &mut [u8], at: usize, shift: u64) {
    let value = u64_at(bytes, at) + shift;
    put_u64(bytes, at, value);
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}
