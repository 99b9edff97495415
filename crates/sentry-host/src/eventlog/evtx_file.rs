//! Events read from an `.evtx` file with the `evtx` crate, in the order Windows shows them.
//!
//! A read gives the records of the chunks the file header declares (`chunk_count`): a file can
//! hold older, inactive chunks past them (a log that was cleared, or a dirty file), which
//! Windows does not show; they are read only with `recover`. A chunk or record that cannot be
//! read becomes a [`Damage`] item with its chunk number and offset, and the read goes on.
//!
//! The position is `evtx:<identity>:<header id>:<damage after>:<written>:<chunk>:<offset>`: the
//! identity of the file (the id and time of the first record of its first chunk, which
//! appending does not change), the record header id of the last event given (in "save selected
//! events" exports it is not the `EventRecordID`), how many damage items after that event were
//! already given, when that event was written (Unix ns), the number of the chunk that holds it
//! and where its BinXML starts in that chunk (a damaged or crafted chunk can hold the same
//! record twice: going on after the first copy when the second was given last would read the
//! records between again, for ever). Positions made by earlier versions lack the last one to
//! three fields. When damage was given after that event, in the walk's order, the damage
//! count reads `<count>@<chunk>.<item>.<crc>`: where the last of it lies (its chunk, its place
//! among the items the crate yields for that chunk, `-` for a whole chunk) and the CRC-32 of
//! that chunk's bytes then. While the chunk's bytes are the same, the next read goes on after
//! that item rather than walking again over all the damage since the event: a file that is
//! damage from end to end costs a read what it gives, not the whole file each time. Once the
//! chunk changed (a record written whole since, a copy of the file finished), the read walks
//! again from the event, skipping the damage given by its count, and gives as events the
//! records that can be read now; so it does for a chunk that could not be read at all. An
//! all-zero chunk (a gap in a dirty file) is passed over by either kind of position, should it
//! be filled later (a file written out of order).
//!
//! A read goes on after the last event given in the walk's order: the chunks before its chunk
//! were given, and so was its chunk up to that event. Ids alone cannot say it: in a file copied
//! from a volume shadow copy, or carved, chunks of different ages sit side by side and their ids
//! go up and down along the walk. A `last_id` start goes on the same way from the first chunk
//! holding that record (chunks before it in the walk are not read, whatever their ids). Where
//! the chunk no longer holds the event (overwritten), or the record is not in the file, a read
//! goes on after the id, in id order, which suits a log written in order; its position names
//! the chunk it ended in, and the next read goes on in the walk's order from there.
//!
//! When the identity changes, the file is looked at again before anything is read: if it still
//! holds the last event given (same header id, same write time), it is the same log whose first
//! chunk was overwritten (a circular log that wrapped) and reading goes on after that event; if
//! every record in it is newer than that event, the log wrapped past it and a [`Gap`] names the
//! records overwritten before they were read; otherwise the file was replaced by another and is
//! read from its first record, after a [`Gap`]. A position without a write time (a `last_id`
//! start, or one saved before they were kept) goes on after its id if a chunk spans it. A file
//! that had records and has none now (being copied over) is a passing error.
//!
//! A file unchanged since a read that reached its end is not parsed again for 30 s, and a read
//! loads only the chunks that can hold records after its position ([`chunks`]); the walk of
//! the chunk headers that orders them is made once for the reads of a catch-up, while the file
//! shows no change ([`WALK_TRUSTED_FOR`]): catching up through a large file costs what is read,
//! not the file each run.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use evtx::err::{DeserializationError, EvtxError};
use evtx::{EvtxFileHeader, ParserSettings};

use self::chunks::ChunkSlot;
use super::source::{Batch, Damage, EventSource, Gap, SourceError, SourceEvent, SourceItem};

/// How a file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// Also read the chunks past those the header declares.
    pub recover: bool,
    /// Start after the record with this header id (the seed's `last_id`), instead of the first.
    pub after_header_id: Option<u64>,
}

/// An `.evtx` file as an event source.
pub struct EvtxFileSource {
    path: PathBuf,
    options: FileOptions,
    settings: Arc<ParserSettings>,
    /// (length, modified, position, when) after the last read that reached the file's end.
    read_to_end: Option<(u64, SystemTime, String, Instant)>,
    /// The last walk of the chunk headers, for the reads after it (see [`WALK_TRUSTED_FOR`]).
    kept_walk: Option<KeptWalk>,
}

/// How long a walk of the chunk headers serves the reads after it, while the file's length,
/// modification time, header and identity stay the same, its oldest chunk's header names the
/// same records, and every chunk those reads load can be read and names the records the walk
/// says (else they walk again): a logger catching up through a large file, a read a run, walks
/// its 65,536 chunk headers once every 30 s rather than once a read. Only a read going on in
/// the walk's order uses it.
const WALK_TRUSTED_FOR: Duration = Duration::from_secs(30);

/// A walk of the chunk headers, and the file it walked.
struct KeptWalk {
    file: FileStamp,
    slots: Arc<[ChunkSlot]>,
    declared: u64,
    made: Instant,
}

/// What tells a file changed since its chunk headers were walked, short of walking them again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    length: u64,
    modified: Option<SystemTime>,
    /// The file header (chunk count, current chunk, next record id...).
    header: [u8; 128],
    identity: String,
}

/// The file's chunks in record order, how many its header declares, and whether the walk is
/// one kept from an earlier read.
struct Walked {
    slots: Arc<[ChunkSlot]>,
    declared: u64,
    kept: bool,
}

/// What a read with a kept walk came to.
enum ReadOutcome {
    Read(Batch),
    /// The file is not as the kept walk saw it, or the read is not one a kept walk serves.
    WalkAgain,
}

/// A parsed `evtx:` position.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilePosition {
    identity: String,
    after: u64,
    damage_after: usize,
    /// When the record `after` was written (Unix ns), once an event was given.
    written: Option<u64>,
    /// The chunk that holds the record `after`, once an event was given.
    chunk: Option<u64>,
    /// Where in that chunk the record's BinXML starts: a damaged or crafted file can hold the
    /// same record (id and time) twice in a chunk, and a read must go on after the one given.
    offset: Option<u64>,
    /// Where the last of the `damage_after` items lies, when they were given in the walk's order.
    damage_at: Option<DamageAt>,
}

/// Where a damage item lies: a read that gave it in the walk's order goes on after it while
/// its chunk's bytes are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DamageAt {
    chunk: u64,
    /// Its place among the items the crate yields for the chunk; `None` for the whole chunk.
    item: Option<u64>,
    /// The CRC-32 of the chunk's bytes when it was given.
    crc: u32,
}

impl DamageAt {
    fn parse(text: &str) -> Option<DamageAt> {
        let [chunk, item, crc] = text.split('.').collect::<Vec<_>>()[..] else { return None };
        let item = match item {
            "-" => None,
            number => Some(number.parse().ok()?),
        };
        Some(DamageAt { chunk: chunk.parse().ok()?, item, crc: crc.parse().ok()? })
    }

    fn text(&self) -> String {
        let item = self.item.map_or_else(|| "-".to_owned(), |item| item.to_string());
        format!("{}.{item}.{}", self.chunk, self.crc)
    }
}

impl FilePosition {
    fn parse(text: &str) -> Option<FilePosition> {
        let parts: Vec<&str> = text.strip_prefix("evtx:")?.split(':').collect();
        let (identity, after, damage_after, written, chunk, offset) = match parts[..] {
            [identity, after, damage_after] => (identity, after, damage_after, None, None, None),
            [identity, after, damage_after, written] => {
                (identity, after, damage_after, Some(written), None, None)
            }
            [identity, after, damage_after, written, chunk] => {
                (identity, after, damage_after, Some(written), Some(chunk), None)
            }
            [identity, after, damage_after, written, chunk, offset] => {
                (identity, after, damage_after, Some(written), Some(chunk), Some(offset))
            }
            _ => return None,
        };
        let optional = |field: Option<&str>| match field {
            Some(field) => field.parse().ok().map(Some),
            None => Some(None),
        };
        let (written, chunk, offset) = (optional(written)?, optional(chunk)?, optional(offset)?);
        let (damage_after, damage_at) = match damage_after.split_once('@') {
            Some((count, at)) => (count, Some(DamageAt::parse(at)?)),
            None => (damage_after, None),
        };
        let (after, damage_after) = (after.parse().ok()?, damage_after.parse().ok()?);
        let identity = identity.to_owned();
        Some(FilePosition { identity, after, damage_after, written, chunk, offset, damage_at })
    }

    fn text(&self) -> String {
        let damage_at = match self.damage_at {
            Some(at) if self.damage_after > 0 => format!("@{}", at.text()),
            _ => String::new(),
        };
        let base = format!("evtx:{}:{}:{}{damage_at}", self.identity, self.after, self.damage_after);
        match (self.written, self.chunk) {
            (Some(written), Some(chunk)) => match self.offset {
                Some(offset) => format!("{base}:{written}:{chunk}:{offset}"),
                None => format!("{base}:{written}:{chunk}"),
            },
            (Some(written), None) => format!("{base}:{written}"),
            _ => base,
        }
    }

    /// Whether nothing was given from the file yet (a first read, or a `last_id` of 0).
    fn is_fresh(&self) -> bool {
        self.after == 0 && self.written.is_none() && self.chunk.is_none()
    }

    /// Whether the record `id`, written at `written`, whose BinXML starts at `offset` in its
    /// chunk, is the event this position is after.
    fn is_at(&self, id: u64, written: SystemTime, offset: u64) -> bool {
        id == self.after
            && self.written.is_none_or(|at| unix_nanos(written) == at)
            && self.offset.is_none_or(|at| offset == at)
    }
}

/// What a file whose identity changed is to the position read from it before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continuity {
    /// It still holds the last record given: the same log, read on after it.
    Continued,
    /// Every record in it is newer than the last given: the same log, wrapped past it; the
    /// oldest record it holds.
    OverwrittenBefore(u64),
    /// Another file.
    Replaced,
}

/// A write time as Unix ns (0 before 1970).
fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// How long a file whose length and modification time have not changed since a read that
/// reached its end is taken as unchanged: records fill a chunk without changing the length,
/// and Windows may update the modification time of a log it holds open only later.
const UNCHANGED_TRUSTED_FOR: Duration = Duration::from_secs(30);

/// The XML a read gathers before it ends its batch (with `more`), whatever its `max`: a
/// crafted chunk can make each of its records render to megabytes (the `evtx` crate bounds a
/// record at 16 MiB and a chunk's pass at 64 MiB, not a read of many chunks).
const BATCH_XML_BYTES: usize = 16 << 20;

impl EvtxFileSource {
    pub fn new(path: &Path, options: FileOptions) -> Self {
        let settings = ParserSettings::new().indent(false).validate_checksums(false);
        EvtxFileSource {
            path: path.to_path_buf(),
            options,
            settings: Arc::new(settings),
            read_to_end: None,
            kept_walk: None,
        }
    }

    /// The file, opened once for a whole read (a missing file may be one being replaced).
    fn open(&self) -> Result<File, SourceError> {
        File::open(&self.path)
            .map_err(|e| SourceError::Transient(format!("cannot open {}: {e}", self.path.display())))
    }

    /// Whether the file still holds the record `start` is after (see [`Continuity`]): only
    /// chunks whose header range can hold it (or that name no range) are parsed. A position
    /// without a write time (a start, or one saved before they were kept) reads on after its id.
    fn continuity(
        &self,
        start: &FilePosition,
        slots: &[ChunkSlot],
        file: &mut File,
        declared: u64,
    ) -> Continuity {
        if start.is_fresh() {
            return Continuity::Continued; // nothing given yet: read from the start
        }
        // The same log holds the same record (id and write time), wherever it now sits in its
        // chunk: a copy of the log may place records at other offsets.
        let anywhere = FilePosition { offset: None, ..start.clone() };
        let mut oldest = u64::MAX;
        for slot in slots.iter().filter(|slot| self.shown(slot, declared)) {
            if let Some((first_id, last_id)) = slot.ids {
                oldest = oldest.min(first_id);
                let named = start.offset.is_some() && start.chunk == Some(slot.number);
                if !named && !(first_id..=last_id).contains(&start.after) {
                    continue;
                }
                if start.written.is_none() {
                    // Without a write time (a `last_id` start, a position saved before they
                    // were kept) a chunk that spans the id is enough.
                    return Continuity::Continued;
                }
            }
            if self.chunk_holds(file, slot.number, &anywhere) {
                return Continuity::Continued;
            }
        }
        match oldest.checked_sub(start.after) {
            // The next record is the oldest: nothing was lost with the one given last.
            Some(1) => Continuity::Continued,
            Some(2..) if oldest != u64::MAX => Continuity::OverwrittenBefore(oldest),
            _ => Continuity::Replaced,
        }
    }

    /// Whether chunk `number` holds the record `position` is after.
    fn chunk_holds(&self, file: &mut File, number: u64, position: &FilePosition) -> bool {
        let Ok(Some(chunks::ReadChunk { chunk: Ok(mut chunk), .. })) = chunks::read_chunk(file, number)
        else {
            return false;
        };
        let Ok(mut parsed) = chunk.parse(self.settings.clone()) else { return false };
        parsed.iter().flatten().any(|record| {
            position.is_at(record.event_record_id, SystemTime::from(record.timestamp), record.binxml_offset)
        })
    }

    /// Whether a read gives the records of `slot`: those of the declared chunks, the others only
    /// with `recover`.
    fn shown(&self, slot: &ChunkSlot, declared: u64) -> bool {
        self.options.recover || slot.number < declared
    }

    /// The file's chunks in record order (see [`chunks`]) and how many its header declares:
    /// with `reuse`, the kept walk when it still fits the file (see [`WALK_TRUSTED_FOR`]).
    fn chunk_walk(&mut self, file: &mut File, identity: &str, reuse: bool) -> Result<Walked, SourceError> {
        let not_evtx = |e: DeserializationError| {
            SourceError::Config(format!("{} is not an .evtx file: {}", self.path.display(), chain(&e)))
        };
        let mut block = [0u8; 4096];
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_exact(&mut block))
            .map_err(|e| not_evtx(DeserializationError::from(e)))?;
        let header = EvtxFileHeader::from_bytes(&block).map_err(not_evtx)?;
        let metadata = file
            .metadata()
            .map_err(|e| SourceError::Transient(format!("cannot read {}: {e}", self.path.display())))?;
        let mut stamp = FileStamp {
            length: metadata.len(),
            modified: metadata.modified().ok(),
            header: [0; 128],
            identity: identity.to_owned(),
        };
        stamp.header.copy_from_slice(&block[..128]);
        if reuse
            && let Some(kept) = &self.kept_walk
            && kept.file == stamp
            && kept.made.elapsed() < WALK_TRUSTED_FOR
            && kept.slots.first().is_none_or(|oldest| {
                chunks::chunk_header_ids(file, oldest.number).is_ok_and(|ids| ids == oldest.ids)
            })
        {
            return Ok(Walked { slots: kept.slots.clone(), declared: kept.declared, kept: true });
        }
        let mut slots = chunks::record_order(file, u64::from(header.header_block_size))
            .map_err(|e| SourceError::Transient(format!("cannot read {}: {e}", self.path.display())))?;
        // The walk starts at the oldest chunk read: one not shown must not move it.
        let declared = u64::from(header.chunk_count);
        slots.retain(|slot| self.shown(slot, declared));
        chunks::rotate_to_oldest(&mut slots);
        let slots: Arc<[ChunkSlot]> = slots.into();
        self.kept_walk = Some(KeptWalk { file: stamp, slots: slots.clone(), declared, made: Instant::now() });
        Ok(Walked { slots, declared, kept: false })
    }

    fn unchanged_since_end(&self, from: &str) -> Option<(u64, SystemTime)> {
        let metadata = std::fs::metadata(&self.path).ok()?;
        let stamp = (metadata.len(), metadata.modified().ok()?);
        Some(stamp).filter(|stamp| {
            self.read_to_end.as_ref().is_some_and(|(l, m, p, at)| {
                (*l, *m) == *stamp && p == from && at.elapsed() < UNCHANGED_TRUSTED_FOR
            })
        })
    }
}

impl EventSource for EvtxFileSource {
    fn start_position(&mut self) -> Result<String, SourceError> {
        let identity = identity(&mut self.open()?);
        let after = self.options.after_header_id.unwrap_or(0);
        let start = FilePosition {
            identity,
            after,
            damage_after: 0,
            written: None,
            chunk: None,
            offset: None,
            damage_at: None,
        };
        Ok(start.text())
    }

    fn read(&mut self, from: &str, max: usize) -> Result<Batch, SourceError> {
        let start = FilePosition::parse(from)
            .ok_or_else(|| SourceError::BadPosition(format!("not an evtx position: {from:.80}")))?;
        if self.unchanged_since_end(from).is_some() {
            return Ok(Batch { items: Vec::new(), position: from.to_owned(), more: false });
        }
        if let ReadOutcome::Read(batch) = self.read_walking(start.clone(), max, true)? {
            return Ok(batch);
        }
        self.kept_walk = None;
        match self.read_walking(start, max, false)? {
            ReadOutcome::Read(batch) => Ok(batch),
            // Not reached: a read with a walk of its own never asks for another.
            ReadOutcome::WalkAgain => {
                Err(SourceError::Transient(format!("{} changed while it was read", self.path.display())))
            }
        }
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

impl EvtxFileSource {
    /// A read from `start`, over the kept walk of the chunk headers when `reuse` allows it.
    fn read_walking(
        &mut self,
        start: FilePosition,
        max: usize,
        reuse: bool,
    ) -> Result<ReadOutcome, SourceError> {
        let length_and_time =
            std::fs::metadata(&self.path).ok().and_then(|m| Some((m.len(), m.modified().ok()?)));
        let mut file = self.open()?;
        let identity = identity(&mut file);
        // A file that had records and has none now (not even a whole header) is being replaced
        // or copied over: read nothing and keep the position. Taking it for a new file would
        // re-read every record of the old one, once it is back, as new.
        let walked = match self.chunk_walk(&mut file, &identity, reuse) {
            Err(_) if identity == "empty" && start.identity != "empty" => {
                return Err(copied_over(&self.path));
            }
            walked => walked?,
        };
        let (slots, declared) = (&*walked.slots, walked.declared);
        let mut walk = Walk::new(max.max(1), start.clone());
        let same_file = identity == start.identity;
        if !same_file {
            if !slots.iter().any(|slot| slot.ids.is_some() && self.shown(slot, declared)) {
                return Err(copied_over(&self.path));
            }
            match self.continuity(&start, slots, &mut file, declared) {
                Continuity::Continued => {}
                Continuity::OverwrittenBefore(oldest) => walk.gap(
                    format!(
                        "{} no longer holds the records of header ids {} to {} (the log wrapped before they were read, or \
                         the file was replaced by one with newer records); reading on after {}",
                        self.path.display(),
                        start.after + 1,
                        oldest - 1,
                        start.after
                    ),
                    Some(start.after),
                ),
                Continuity::Replaced => walk.restart_after_gap(format!(
                    "{} now holds other records (the file was replaced); reading it from its first record",
                    self.path.display()
                )),
            }
        }
        walk.position.identity = identity;
        // The chunk of the last event given, if it still holds that event: the read goes on
        // after it in the walk's order. A start after a record id (`last_id`, or a position of
        // an early version) goes on from the first chunk holding it. Otherwise by ids.
        let start = &walk.start;
        let resume_in = slots
            .iter()
            .filter(|_| !start.is_fresh() && (start.chunk.is_some() || start.written.is_none()))
            .filter(|slot| start.chunk.is_none_or(|chunk| chunk == slot.number))
            // A position naming the record's offset is looked for there whatever the chunk's
            // header range says: a damaged record can carry any id.
            .filter(|slot| {
                start.offset.is_some()
                    || slot.ids.is_some_and(|(first, last)| (first..=last).contains(&start.after))
            })
            .map(|slot| slot.number)
            .find(|number| self.chunk_holds(&mut file, *number, start));
        // Damage given last in the walk's order, in a chunk whose bytes are as they were then
        // (and not before the last event's chunk): the read goes on after it, without walking
        // again over the damage given since that event.
        // That chunk as it was checked: the walk reads on in these bytes, not in bytes read again.
        let mut preloaded = None;
        let walk_index = |number: u64| slots.iter().position(|slot| slot.number == number);
        let damage_resume = walk.start.damage_at.filter(|at| {
            let start = &walk.start;
            let event_index = resume_in.and_then(walk_index);
            same_file
                && start.damage_after > 0
                && (start.is_fresh() || event_index.is_some())
                && walk_index(at.chunk)
                    .is_some_and(|damage_index| event_index.is_none_or(|event| event <= damage_index))
                && match chunks::read_chunk(&mut file, at.chunk) {
                    Ok(Some(read)) if read.crc == at.crc => {
                        preloaded = Some((at.chunk, read));
                        true
                    }
                    _ => false,
                }
        });
        if damage_resume.is_some() {
            walk.resume_after_damage();
        }
        let resume_in = damage_resume.map(|at| at.chunk).or(resume_in);
        walk.in_order = resume_in.is_some();
        // A kept walk serves only a read going on in its order, each chunk loaded checked
        // against it below; a read by ids passes over chunks by what their headers said.
        if walked.kept && !walk.in_order {
            return Ok(ReadOutcome::WalkAgain);
        }
        let mut before_resume = resume_in.is_some();
        for &slot in slots {
            if walk.full() {
                break;
            }
            if before_resume && resume_in != Some(slot.number) {
                walk.passed_old_record(); // before the last event given, in the walk's order
                continue;
            }
            before_resume = false;
            // Given before, up to the damage item given last.
            let given_up_to = damage_resume.filter(|at| at.chunk == slot.number).map(|at| at.item);
            if given_up_to == Some(None) {
                continue; // the whole chunk was that damage
            }
            if !walk.in_order && slot.ids.is_some_and(|(_, last_id)| last_id < walk.start.after) {
                walk.passed_old_record(); // every record in it was given before: not even loaded
                continue;
            }
            let loaded = match preloaded.take_if(|(number, _)| *number == slot.number) {
                Some((_, read)) => Ok(Some(read)),
                None => chunks::read_chunk(&mut file, slot.number),
            };
            // A chunk whose header names other records now, or that cannot be read (a walk
            // would stop before it): the kept walk may be wrong about it.
            if walked.kept
                && !loaded.as_ref().is_ok_and(|read| read.as_ref().and_then(|read| read.ids) == slot.ids)
            {
                return Ok(ReadOutcome::WalkAgain);
            }
            let read = match loaded {
                Ok(Some(read)) => read,
                // An all-zero chunk (a gap in a dirty file): passed over, as by a position after
                // an event past it, should it be filled later (a file written out of order).
                // Unlike damage that could not be read it leaves later damage its place: a
                // crafted zero chunk before a long run of damage must not make reading it
                // quadratic again.
                Ok(None) => continue,
                Err(error) => {
                    // Bytes that could not be read name no place (nor does damage after them,
                    // until the next event): they may be read next time.
                    walk.damage(chunk_damage(Some(slot.number), &error), None);
                    continue;
                }
            };
            let chunk_at = |item: Option<u64>| Some(DamageAt { chunk: slot.number, item, crc: read.crc });
            let mut chunk = match read.chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    walk.damage(chunk_damage(Some(slot.number), &error), chunk_at(None));
                    continue;
                }
            };
            let number = chunk.number;
            let mut parsed = match chunk.parse(self.settings.clone()) {
                Ok(parsed) => parsed,
                Err(error) => {
                    let error = EvtxError::FailedToParseChunk {
                        chunk_id: number.unwrap_or(0),
                        source: Box::new(error),
                    };
                    walk.damage(chunk_damage(number, &error), chunk_at(None));
                    continue;
                }
            };
            for (place, record) in (0u64..).zip(parsed.iter()) {
                if walk.full() {
                    break;
                }
                if given_up_to.flatten().is_some_and(|last| place <= last) {
                    continue;
                }
                // Up to the record given last, records given before are passed over by their
                // header, without rendering them. Past it every record is rendered, as when it
                // was first read: a record out of id order that failed to render then was damage
                // counted after the position, and must be again.
                let (start, anchored, in_order) = (&walk.start, walk.anchored, walk.in_order);
                let item = record.and_then(|record| {
                    let (id, written) = (record.event_record_id, SystemTime::from(record.timestamp));
                    let offset = record.binxml_offset;
                    if !anchored && (in_order || id <= start.after) {
                        Ok((id, start.is_at(id, written, offset) || (!in_order && id == start.after), None))
                    } else {
                        record.into_xml().map(|r| (id, false, Some((r, offset))))
                    }
                });
                match item {
                    Ok((_, at_start, None)) => {
                        walk.passed_old_record();
                        walk.anchored |= at_start;
                    }
                    // In id order, past the record at the position: given before, held damage
                    // kept. In the walk's order everything past it is new.
                    Ok((id, _, Some(_))) if id <= walk.start.after && !in_order && !walk.start.is_fresh() => {
                    }
                    Ok((_, _, Some((record, offset)))) => walk.event(
                        SourceEvent {
                            xml: record.data,
                            written: Some(SystemTime::from(record.timestamp)),
                            message: None,
                            account: None,
                            header_id: Some(record.event_record_id),
                        },
                        number,
                        offset,
                    ),
                    Err(error) => {
                        let (offset, header_id) = record_location(&error);
                        let damage = Damage {
                            chunk: number,
                            offset,
                            header_id,
                            record_id: None,
                            error: chain(&error),
                        };
                        walk.damage(damage, chunk_at(Some(place)));
                    }
                }
            }
        }
        let batch = walk.finish();
        if !batch.more {
            self.read_to_end = length_and_time
                .map(|(len, modified)| (len, modified, batch.position.clone(), Instant::now()));
            // Kept for a catch-up only (2 MiB for the largest file): the read after one that
            // reached the end comes once the file changed or 30 s passed, and walks again.
            self.kept_walk = None;
        }
        Ok(ReadOutcome::Read(batch))
    }
}

/// One read's walk over the file's items, in order: records up to the position are passed
/// over, damage between them is held until the walk knows whether it lies after the position.
struct Walk {
    max: usize,
    start: FilePosition,
    position: FilePosition,
    items: Vec<SourceItem>,
    /// The XML of the events in `items`, in bytes.
    xml_bytes: usize,
    /// Damage seen since the last record at or before the start position, past the
    /// `start.damage_after` items an earlier read gave, and where it lies: at most `max` of it.
    held: Vec<(Damage, Option<DamageAt>)>,
    /// All the damage seen since that record.
    held_seen: usize,
    /// Whether some of it was not kept in `held` (the batch cannot take it).
    held_dropped: bool,
    /// Whether an event after the start position was given.
    past_start: bool,
    /// Whether the record at the start position was passed.
    anchored: bool,
    /// Whether the read goes on in the walk's order (the chunk of the position still holds
    /// its event), rather than by ids.
    in_order: bool,
    /// Whether damage naming no place (a chunk that could not be read) was met since the last
    /// event given, or the file's start: a place named after it would pass it over next time.
    placeless: bool,
    more: bool,
}

impl Walk {
    fn new(max: usize, start: FilePosition) -> Self {
        let fresh = start.is_fresh();
        Walk {
            max,
            position: start.clone(),
            start,
            items: Vec::new(),
            xml_bytes: 0,
            held: Vec::new(),
            held_seen: 0,
            held_dropped: false,
            past_start: false,
            // Nothing given yet: no record is the one the position is after (a record's header
            // id can be 0), so none is passed over.
            anchored: fresh,
            in_order: false,
            placeless: false,
            more: false,
        }
    }

    /// The read goes on after the damage given last (`start.damage_at`): everything on is new.
    fn resume_after_damage(&mut self) {
        self.anchored = true;
        self.past_start = true;
        self.in_order = true;
    }

    /// Whether items are given in the walk's order from a place a later read can find again
    /// (the record at the position, or the file's start), so damage can name where it lies.
    fn ordered(&self) -> bool {
        self.anchored && (self.in_order || self.start.is_fresh())
    }

    /// Gives a damage item, if the batch has room.
    fn give_damage(&mut self, damage: Damage, at: Option<DamageAt>) -> bool {
        if !self.push(SourceItem::Damage(damage)) {
            return false;
        }
        self.position.damage_after += 1;
        self.position.damage_at = at.filter(|_| self.ordered() && !self.placeless);
        true
    }

    /// The file is another one: everything in it is new.
    fn restart_after_gap(&mut self, reason: String) {
        self.gap(reason, None);
        self.start = FilePosition {
            identity: String::new(),
            after: 0,
            damage_after: 0,
            written: None,
            chunk: None,
            offset: None,
            damage_at: None,
        };
        self.position = self.start.clone();
        self.anchored = true;
    }

    /// Records were lost before this read; `last_header_id` is the header id of the last given.
    fn gap(&mut self, reason: String, last_header_id: Option<u64>) {
        self.items.push(SourceItem::Gap(Gap {
            reason,
            last_record_id: None,
            last_header_id,
            archives: Vec::new(),
        }));
    }

    fn full(&self) -> bool {
        self.more
    }

    fn push(&mut self, item: SourceItem) -> bool {
        if self.items.len() >= self.max {
            self.more = true;
            return false;
        }
        self.items.push(item);
        true
    }

    /// A record given before: damage held so far lies before the position. Past the record
    /// at the position, damage is after it whatever the ids of the records between.
    fn passed_old_record(&mut self) {
        if !self.past_start && !self.anchored {
            self.held.clear();
            self.held_seen = 0;
            self.held_dropped = false;
            self.placeless = false;
        }
    }

    /// Damage: given at once past an event after the position; else the first
    /// `start.damage_after` since the last record given before are skipped (an earlier read
    /// gave them, if they lie after the position) and the rest held, at most a batch of it.
    /// Past the record at the position, damage lies after it: given at once too, so a long
    /// run of it ends the read when the batch is full instead of being held to its end.
    fn damage(&mut self, damage: Damage, at: Option<DamageAt>) {
        self.placeless |= at.is_none();
        if self.past_start {
            self.give_damage(damage, at);
            return;
        }
        self.held_seen += 1;
        if self.held_seen <= self.start.damage_after {
            return;
        }
        if self.held.len() < self.max {
            self.held.push((damage, at));
        } else {
            self.held_dropped = true;
        }
        if self.anchored {
            self.release_held();
        }
    }

    /// Gives the damage held after the start position that was not given before.
    fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for (damage, at) in held {
            if !self.give_damage(damage, at) {
                return;
            }
        }
        if self.held_dropped {
            self.more = true; // damage the batch had no room for: the next read gives it
        }
    }

    /// An event after the position: `chunk` holds it, its BinXML at `offset`.
    fn event(&mut self, event: SourceEvent, chunk: Option<u64>, offset: u64) {
        if !self.past_start {
            self.past_start = true;
            self.release_held();
        }
        let id = event.header_id.unwrap_or(self.position.after);
        let written = event.written.map(unix_nanos);
        let xml_bytes = event.xml.len();
        if self.push(SourceItem::Event(event)) {
            self.xml_bytes += xml_bytes;
            if self.xml_bytes >= BATCH_XML_BYTES {
                self.more = true; // the rest in the next read
            }
            self.position.after = id;
            self.position.damage_after = 0;
            self.position.damage_at = None;
            self.placeless = false;
            self.position.written = written;
            // Also after a read in id order: the next goes on in the walk's order from here, which
            // may give records with lower ids again but never passes one over.
            self.position.chunk = chunk;
            self.position.offset = chunk.map(|_| offset);
        }
    }

    fn finish(mut self) -> Batch {
        if !self.past_start && !self.more {
            self.release_held();
        }
        Batch { items: self.items, position: self.position.text(), more: self.more }
    }
}

/// The error for a file that had records and has none now.
fn copied_over(path: &Path) -> SourceError {
    SourceError::Transient(format!(
        "{} has no records now (being replaced?); reading again later",
        path.display()
    ))
}

/// The id and time of the first record of the file's first chunk, or `empty`.
fn identity(file: &mut File) -> String {
    match chunks::first_record_of_first_chunk(file) {
        Some((id, time)) => format!("{id:x}-{time:x}"),
        None => "empty".into(),
    }
}

/// A chunk that cannot be read, as damage.
fn chunk_damage(chunk: Option<u64>, error: &EvtxError) -> Damage {
    Damage { chunk, offset: None, header_id: None, record_id: None, error: chain(error) }
}

/// (offset in its chunk, record header id) of a record error.
fn record_location(error: &EvtxError) -> (Option<u64>, Option<u64>) {
    match error {
        EvtxError::FailedToReadRecordAt { offset, .. } => (Some(*offset), None),
        EvtxError::FailedToParseRecord { record_id, .. } => (None, Some(*record_id)),
        _ => (None, None),
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

mod chunks;

#[cfg(test)]
mod tests;
