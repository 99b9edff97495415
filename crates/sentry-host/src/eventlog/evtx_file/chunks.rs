//! The chunks of an `.evtx` file in record order, each read only when a read needs it.
//!
//! The order is the one the `evtx` crate's parser walks: from the chunk whose header names the
//! lowest record id to the end of the file, then from its start (a full log writes each new
//! chunk over its oldest, so once it has wrapped around its oldest chunk can be anywhere). It
//! is worked out from the 512-byte chunk headers alone, so a read can pass over a chunk whose
//! records were all given before without loading its 64 KiB: a read far into a large file
//! costs the chunks it reads and a walk of the headers (which the source keeps for the reads
//! of a catch-up), not the whole file each time. A chunk is then read as the crate
//! reads it: an all-zero chunk (a gap in a dirty file) is skipped, one that cannot be read is
//! an error naming its number.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use evtx::err::{ChunkError, EvtxError};
use evtx::{EvtxChunkData, EvtxChunkHeader};

/// Where the first chunk starts: the file header's block.
const FILE_HEADER_SIZE: u64 = 4096;
const CHUNK_SIZE: u64 = 65536;
const CHUNK_HEADER_SIZE: usize = 512;
/// The first bytes of a record (`**\0\0`).
const RECORD_MAGIC: [u8; 4] = [0x2a, 0x2a, 0, 0];

/// The most chunks looked at: 4 GiB of them, as many as a file header can count (`u16`), so a
/// huge or sparse file costs a bounded walk.
const MAX_CHUNKS: u64 = 1 << 16;

/// A chunk's place in the file and the record ids its header names, when the header is valid
/// and its range is not reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChunkSlot {
    pub number: u64,
    pub ids: Option<(u64, u64)>,
}

/// The chunks of `file` in record order. `header_block_size` is the file header's: chunks
/// past the last whole one in the file are not counted.
pub(super) fn record_order(file: &mut File, header_block_size: u64) -> std::io::Result<Vec<ChunkSlot>> {
    let length = file.metadata()?.len();
    let count = (length.saturating_sub(header_block_size) / CHUNK_SIZE).min(MAX_CHUNKS);
    #[cfg(test)]
    WALKS.with(|walks| walks.set(walks.get() + 1));
    let mut slots = Vec::with_capacity(count as usize);
    for number in 0..count {
        let Ok(ids) = chunk_header_ids(file, number) else { break };
        slots.push(ChunkSlot { number, ids });
    }
    rotate_to_oldest(&mut slots);
    Ok(slots)
}

/// The record ids the header of chunk `number` names now (see [`ChunkSlot::ids`]).
pub(super) fn chunk_header_ids(file: &mut File, number: u64) -> std::io::Result<Option<(u64, u64)>> {
    let mut header = [0u8; CHUNK_HEADER_SIZE];
    file.seek(SeekFrom::Start(chunk_offset(number)))?;
    file.read_exact(&mut header)?;
    Ok(header_ids(&header))
}

/// The record ids a chunk header names, when it is valid and its range is not reversed.
fn header_ids(header: &[u8]) -> Option<(u64, u64)> {
    EvtxChunkHeader::from_bytes(header)
        .ok()
        .map(|h| (h.first_event_record_id, h.last_event_record_id))
        .filter(|(first, last)| first <= last)
}

/// Puts first the chunk holding the lowest record id (the crate keeps the first on a tie).
pub(super) fn rotate_to_oldest(slots: &mut [ChunkSlot]) {
    let oldest = slots
        .iter()
        .enumerate()
        .filter_map(|(index, slot)| slot.ids.map(|(first, _)| (first, index)))
        .min()
        .map_or(0, |(_, index)| index);
    slots.rotate_left(oldest);
}

/// A chunk's bytes as read: their CRC-32 (a position naming damage in the chunk checks that
/// the chunk is as it was then) and the chunk they make, or why they make none.
pub(super) struct ReadChunk {
    pub crc: u32,
    /// The record ids its header names (as [`ChunkSlot::ids`]).
    pub ids: Option<(u64, u64)>,
    pub chunk: Result<EvtxChunkData, EvtxError>,
}

/// Chunk `number` of `file`: `None` for an all-zero chunk, an error when its bytes cannot be
/// read. Checksums are not checked (as the source's parser settings say): a chunk whose
/// records parse is read.
pub(super) fn read_chunk(file: &mut File, number: u64) -> Result<Option<ReadChunk>, EvtxError> {
    #[cfg(test)]
    LOADED.with(|loaded| loaded.set(loaded.get() + 1));
    let failed =
        |source: ChunkError| EvtxError::FailedToParseChunk { chunk_id: number, source: Box::new(source) };
    file.seek(SeekFrom::Start(chunk_offset(number)))
        .map_err(|e| failed(ChunkError::FailedToSeekToChunk(e)))?;
    let mut data = Vec::with_capacity(CHUNK_SIZE as usize);
    let read =
        file.take(CHUNK_SIZE).read_to_end(&mut data).map_err(|_| failed(ChunkError::IncompleteChunk))?;
    if read as u64 != CHUNK_SIZE {
        return Err(failed(ChunkError::IncompleteChunk));
    }
    if data.iter().all(|byte| *byte == 0) {
        return Ok(None);
    }
    let crc = crc32fast::hash(&data);
    let ids = header_ids(&data[..CHUNK_HEADER_SIZE]);
    let chunk = EvtxChunkData::new(data, false).map_err(failed).map(|mut chunk| {
        chunk.number = Some(number);
        chunk
    });
    Ok(Some(ReadChunk { crc, ids, chunk }))
}

/// The header id and write time (FILETIME) of the first record of chunk 0, if it has one.
pub(super) fn first_record_of_first_chunk(file: &mut File) -> Option<(u64, u64)> {
    let mut header = [0u8; 24];
    file.seek(SeekFrom::Start(chunk_offset(0) + CHUNK_HEADER_SIZE as u64)).ok()?;
    file.read_exact(&mut header).ok()?;
    if header[..4] != RECORD_MAGIC {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    Some((word(8), word(16)))
}

#[cfg(test)]
thread_local! {
    /// How many chunks this thread loaded, for tests of what a read costs.
    pub(super) static LOADED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// How many walks of every chunk header this thread made.
    pub(super) static WALKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn chunk_offset(number: u64) -> u64 {
    FILE_HEADER_SIZE + number * CHUNK_SIZE
}
