//! Events a live log archived before they were read, read from its archive files.
//!
//! A channel set to "archive the log when full, do not overwrite events" (`AutoBackupLogFiles`,
//! a common setting for the Security log where nothing may be lost) has Windows close its full
//! log file as `Archive-<log>-<UTC time>.evtx` beside it and start an empty one. Events not read
//! by then (the agent stopped, or holding back while its bases were away: the log is its buffer)
//! are no longer in the live log, and the subscription's resume finds its bookmarked record gone:
//! a gap. [`ArchiveFill`] wraps the live source: at a gap after a known record it looks for the
//! channel's archive files written since the last event read was created, and reads from them,
//! with the `.evtx` file source, the records after that one (an archive is the log file itself,
//! so its header ids are the log's `EventRecordID`s), one archive after another in the order of
//! their names (their times), before the live log is read on. The gap record names them.
//!
//! Only under an unfiltered query (`*`): the file source has no XPath, and would give events the
//! query leaves out. Events read from an archive carry no formatted message and no account name
//! (the file source looks up neither). An archive that cannot be read for 10 minutes is given
//! up, with an error record saying so.
//!
//! While archives are left to read, the position names them before the live position: a line
//! `kraken-archives`, a line `<path>\t<file position>` for each, a line `live`, then the live
//! position as the live source wrote it. Otherwise it is the live position alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::evtx_file::{EvtxFileSource, FileOptions};
use super::source::{Batch, Damage, EventSource, SourceError, SourceItem};
use super::subscription::Position;

/// The first line of a position with archives left to read.
const HEADER: &str = "kraken-archives\n";
/// The line before the live position in such a position.
const LIVE_LINE: &str = "live\n";

/// How long an archive that cannot be read is tried again before it is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// The most archives one gap reads from (the oldest first).
const MAX_ARCHIVES: usize = 256;

/// How much earlier than the last event read an archive may have been written and still be
/// read: an archive written before that event holds none after it, and the id check passes over
/// what it holds; the slack covers a log whose events carry another clock than its files.
const CLOCK_SLACK: Duration = Duration::from_secs(300);

/// Where a channel keeps its events: its log file (its archives are written beside it).
pub type LogFileOf = Box<dyn FnMut() -> Option<PathBuf> + Send>;

/// A live source that reads, at a gap, the events its log archived before they were read.
pub struct ArchiveFill {
    live: Box<dyn EventSource>,
    log_file: LogFileOf,
    /// Whether the query takes every event (archives are read only then).
    fills: bool,
    /// The archive being read, and its source (kept for the reads of a catch-up).
    reading: Option<(PathBuf, EvtxFileSource)>,
    /// The archive whose reads fail, and since when.
    failing: Option<(PathBuf, Instant)>,
    /// How long an archive that cannot be read is tried again ([`GIVE_UP_AFTER`]).
    give_up_after: Duration,
}

/// An archive left to read, and where its read stands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    path: PathBuf,
    position: String,
}

impl ArchiveFill {
    /// `live`, read under `query`, whose log file `log_file` tells.
    pub fn new(live: Box<dyn EventSource>, query: &str, log_file: LogFileOf) -> Self {
        let fills = matches!(query.trim(), "*" | "");
        ArchiveFill { live, log_file, fills, reading: None, failing: None, give_up_after: GIVE_UP_AFTER }
    }

    /// The next items of the oldest archive left; an archive read to its end is done.
    fn read_archive(
        &mut self,
        pending: &mut Vec<Pending>,
        max: usize,
    ) -> Result<Vec<SourceItem>, SourceError> {
        let archive = &mut pending[0];
        if self.reading.as_ref().is_none_or(|(path, _)| *path != archive.path) {
            let source = EvtxFileSource::new(&archive.path, FileOptions::default());
            self.reading = Some((archive.path.clone(), source));
        }
        let Some((_, source)) = self.reading.as_mut() else { unreachable!("set above") };
        match source.read(&archive.position, max) {
            Ok(batch) => {
                self.failing = None;
                archive.position = batch.position;
                if !batch.more {
                    pending.remove(0);
                    self.reading = None;
                }
                Ok(batch.items)
            }
            Err(error) => {
                let since = match &self.failing {
                    Some((path, since)) if *path == archive.path => *since,
                    _ => self.failing.insert((archive.path.clone(), Instant::now())).1,
                };
                if since.elapsed() < self.give_up_after {
                    return Err(SourceError::Transient(format!(
                        "archive {} of this log: {error}",
                        archive.path.display()
                    )));
                }
                let gone = pending.remove(0);
                (self.reading, self.failing) = (None, None);
                Ok(vec![SourceItem::Damage(Damage {
                    chunk: None,
                    offset: None,
                    header_id: None,
                    record_id: None,
                    error: format!(
                        "archive {} could not be read for {} s ({error}); the events of it not read \
                         before are lost",
                        gone.path.display(),
                        self.give_up_after.as_secs()
                    ),
                })])
            }
        }
    }

    /// Names, in each gap after a known record of `batch`, the archives written since `since`
    /// that are not read yet, and adds them to `pending` to read after that record.
    fn find_archives(&mut self, batch: &mut Batch, since: SystemTime, pending: &mut Vec<Pending>) {
        let mut log_file = None;
        for item in &mut batch.items {
            let SourceItem::Gap(gap) = item else { continue };
            let Some(last) = gap.last_record_id else { continue };
            let Some(log_file) = log_file.get_or_insert_with(&mut self.log_file) else { return };
            for path in archives_since(log_file, since) {
                if pending.iter().any(|archive| archive.path == path) {
                    continue;
                }
                let options = FileOptions { recover: false, after_header_id: Some(last) };
                // An archive that cannot be opened now is not named: it may not be one.
                let Ok(position) = EvtxFileSource::new(&path, options).start_position() else { continue };
                gap.archives.push(path.display().to_string());
                pending.push(Pending { path, position });
            }
        }
    }
}

impl EventSource for ArchiveFill {
    fn start_position(&mut self) -> Result<String, SourceError> {
        self.live.start_position()
    }

    fn read(&mut self, from: &str, max: usize) -> Result<Batch, SourceError> {
        let (mut pending, live_from) = split(from)?;
        if !pending.is_empty() {
            let items = self.read_archive(&mut pending, max)?;
            // The live log (or the next archive) is read on at once.
            return Ok(Batch { items, position: join(&pending, live_from), more: true });
        }
        let mut batch = self.live.read(live_from, max)?;
        let gap_after_a_record =
            |item: &SourceItem| matches!(item, SourceItem::Gap(gap) if gap.last_record_id.is_some());
        if self.fills
            && batch.items.iter().any(gap_after_a_record)
            && let Some(since) = event_time(live_from)
        {
            self.find_archives(&mut batch, since, &mut pending);
        }
        batch.more |= !pending.is_empty();
        batch.position = join(&pending, &batch.position);
        Ok(batch)
    }

    fn describe(&self) -> String {
        self.live.describe()
    }
}

/// A position taken apart: the archives left to read, and the live position.
fn split(position: &str) -> Result<(Vec<Pending>, &str), SourceError> {
    let Some(mut rest) = position.strip_prefix(HEADER) else { return Ok((Vec::new(), position)) };
    let bad = || SourceError::BadPosition(format!("archives to read not as written: {position:.200}"));
    let mut pending = Vec::new();
    loop {
        if let Some(live) = rest.strip_prefix(LIVE_LINE) {
            return Ok((pending, live));
        }
        let (line, after) = rest.split_once('\n').ok_or_else(bad)?;
        let (path, file_position) = line.split_once('\t').ok_or_else(bad)?;
        pending.push(Pending { path: PathBuf::from(path), position: file_position.to_owned() });
        rest = after;
    }
}

/// The position of the archives left to read, then `live`.
fn join(pending: &[Pending], live: &str) -> String {
    if pending.is_empty() {
        return live.to_owned();
    }
    let mut text = HEADER.to_owned();
    for archive in pending {
        text += &format!("{}\t{}\n", archive.path.display(), archive.position);
    }
    text + LIVE_LINE + live
}

/// When the event a live position names was created (or, for one that could not be rendered,
/// read by).
fn event_time(live: &str) -> Option<SystemTime> {
    let position = Position::parse(live);
    let time: evtx::Timestamp = position.time_created.or(position.read_by)?.parse().ok()?;
    Some(SystemTime::from(time))
}

/// The archives of the log kept in `log_file` (`Archive-<its name>-*.evtx` beside it, the case
/// aside) written since `since` (less [`CLOCK_SLACK`]), by name: oldest first.
fn archives_since(log_file: &Path, since: SystemTime) -> Vec<PathBuf> {
    let (Some(dir), Some(stem)) = (log_file.parent(), log_file.file_stem().and_then(|stem| stem.to_str()))
    else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let prefix = format!("archive-{}-", stem.to_lowercase());
    let since = since.checked_sub(CLOCK_SLACK).unwrap_or(since);
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?.to_lowercase();
            let path = entry.path();
            // A tab or a line break would end its line of the position.
            let plain = !path.to_string_lossy().contains(['\t', '\n']);
            let metadata = entry.metadata().ok()?;
            let written = metadata.modified().ok()?;
            (name.starts_with(&prefix)
                && name.ends_with(".evtx")
                && plain
                && metadata.is_file()
                && written >= since)
                .then_some((name, path))
        })
        .collect();
    found.sort();
    found.into_iter().take(MAX_ARCHIVES).map(|(_, path)| path).collect()
}

#[cfg(test)]
mod tests;
