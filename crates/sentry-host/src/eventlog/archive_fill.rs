//! Events a live log archived before they were read, read from its archive files.
//!
//! A channel set to "archive the log when full, do not overwrite events" (`AutoBackupLogFiles`,
//! a common setting for the Security log where nothing may be lost) has Windows close its full
//! log file as `Archive-<log>-<UTC time>.evtx` beside it and start an empty one. Events not read
//! by then (the agent stopped, or holding back while its bases were away: the log is its buffer)
//! are no longer in the live log, and the subscription's resume finds its bookmarked record gone:
//! a gap. [`ArchiveFill`] wraps the live source: at a gap after a known record it looks for the
//! channel's archive files named with a time since the last event read was created, less 5
//! minutes (at most 256, the oldest), and after the events the live log gave with the gap it
//! reads from them, with the `.evtx` file source, one archive after another by their times, what
//! follows that event, then the live log on. The gap record names them.
//!
//! An archive is the closed log file itself, so its header ids are the log's `EventRecordID`s.
//! Before it is read it is looked at: if it holds the last event read before the gap (its id,
//! created at the same time, or at or before the time it was read for one that could not be
//! rendered; or damaged there, the event after it created since, less 5 minutes), it is read
//! after it; if its oldest record has a higher id and was created since that event (less 5
//! minutes for timestamps out of order), or a lower or equal id and was created after it (a log
//! cleared since began it), it is read whole; otherwise it holds nothing newer and is passed
//! over. When the read that found the gap gave live records after it, an archive gives only the
//! records before the first of them, if its id is the log's own (not a forwarded event's, whose
//! `EventRecordID` is its source log's) and past the last one read (not a log cleared since).
//!
//! The record ids the archives of a gap give are counted: those none of them holds (an archive
//! deleted or moved away before it was read, one given up, one missing from the series) are a gap
//! of their own, where they would have been read: between two records given, and after the last
//! archive up to the live log's next record when that bound is known. A lower id (a log cleared
//! since) begins the count again, and so does the record after one that could not be read (whose
//! own error says so).
//!
//! Only under an unfiltered query (`*` or empty): the file source has no XPath, and would give
//! events the query leaves out. Events read from an archive carry no formatted message (the file
//! source has no event handle to format); their accounts are looked up as the live source's are
//! ([`super::accounts`]), when it is given the lookup. An archive that cannot be read (or while the
//! channel's log file cannot be learnt) fails the reads until they have failed for 10 minutes
//! of the agent's running time (and at least 3 reads in the latest run), or in 10 runs of its
//! logger (starts of the agent or of the logger: a crash loop), then is given up with an error
//! record saying so. The time failed is saved in the position (a read giving nothing) at the
//! first failure in each run and every minute after, so that restarts do not begin the count
//! again; the time the agent was stopped is not counted. One that is no `.evtx` file, one gone
//! since it was named (moved away or deleted: the id count tells of its records), or a file a
//! position names that is no archive of the log (never opened), is given up at once.
//!
//! While archives are left to read, the position names them before the live position: a line
//! `kraken-archives`, a line `<path>\t<before>\t<where>` for each, then tab-separated fields
//! (`before`: the live log's first record id after the gap, or `-`; `where`:
//! `probe:<last id>:<created|read-by>:<time>` before it was looked at, then its file position;
//! fields the version before them did not write: `ids-to:<id>`, the last record id counted for
//! its gap, or `-` after a record that could not be read, `+` after it when more archives of the
//! gap follow; `failed:<seconds>/<runs>`, how long and in how many runs of its logger its reads
//! have failed, while they fail), a line `live`, then the live position as the live source wrote
//! it.
//! Otherwise it is the live position alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use evtx::Timestamp;

use super::accounts::{AccountNames, LookupFn};
use super::evtx_file::{EvtxFileSource, FileOptions};
use super::source::{Batch, Damage, EventSource, Gap, SourceError, SourceEvent, SourceItem};
use super::subscription::{Position, attribute_of, bookmark_record_id};

mod position;

use position::{EventTime, Failing, IdCheck, Pending, Probe, join, split};

/// How often, while an archive's reads fail, the time they have failed is saved in the
/// position (a read giving nothing).
const SAVE_FAILING_EVERY: Duration = Duration::from_secs(60);
/// In how many runs of its logger (starts of the agent or of the logger) an archive's reads may
/// fail before it is given up, however short (a crash loop).
const GIVE_UP_AFTER_RUNS: u32 = 10;
/// How many reads of an archive must fail in one run before the time it has failed gives it
/// up: a logger that reads seldom (a long interval, or held back while its bases are away)
/// tries more than once.
const MIN_FAILED_READS: u32 = 3;

/// How long an archive that cannot be read is tried again before it is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// The most archives one gap reads from (the oldest first).
const MAX_ARCHIVES: usize = 256;

/// How many items the look at an archive reads to find its first event.
const PROBE_ITEMS: usize = 16;

/// Where a channel keeps its events: its log file (its archives are written beside it).
pub type LogFileOf = Box<dyn FnMut() -> Option<PathBuf> + Send>;

/// A live source that reads, at a gap, the events its log archived before they were read.
pub struct ArchiveFill {
    live: Box<dyn EventSource>,
    log_file_of: LogFileOf,
    /// The log file, once learnt.
    log_file: Option<PathBuf>,
    /// Whether the query takes every event (archives are read only then).
    fills: bool,
    /// The archive being read, and its source (kept for the reads of a catch-up).
    reading: Option<(PathBuf, EvtxFileSource)>,
    /// The archive whose reads fail in this run of the agent.
    failing: Option<FailingNow>,
    /// How long an archive that cannot be read is tried again ([`GIVE_UP_AFTER`]).
    give_up_after: Duration,
    /// How often the time it has failed is saved ([`SAVE_FAILING_EVERY`]).
    save_failing_every: Duration,
    /// The account names of archived events' SIDs, when a lookup was given.
    accounts: Option<AccountNames>,
}

/// What a failed read of an archive leads to.
enum AfterFailure {
    /// Nothing read, the time failed saved in the position: tried again at the next run.
    SaveAndWait,
    /// The read fails, the position kept.
    TryAgain,
    /// Given up: an error record, and the gap of its records.
    GiveUp,
}

/// An archive whose reads fail in this run of the agent.
struct FailingNow {
    path: PathBuf,
    /// The first failure in this run, and the time failed in the runs before it.
    since: Instant,
    before: Duration,
    /// When the time failed was last saved in the position.
    saved_at: Instant,
    /// The reads that failed in this run.
    reads: u32,
    /// Whether it was given up: a read again from the same position (the logger fitting a
    /// run's records to its budget) gives it up again, as the first did.
    given_up: bool,
}

impl IdCheck {
    /// Counts the records of `items`, an archive's next ones, and puts before each that does
    /// not follow the last one given a gap for the ids between (none of `log`'s archives read
    /// holds them).
    fn count(&mut self, items: Vec<SourceItem>, log: &str) -> Vec<SourceItem> {
        let mut counted = Vec::with_capacity(items.len());
        for item in items {
            match &item {
                SourceItem::Event(SourceEvent { header_id: Some(id), .. }) => {
                    if let Some(gap) = self.missing(*id, log) {
                        counted.push(SourceItem::Gap(gap));
                    }
                    self.given_to = Some(*id);
                }
                // Its header id may be damaged too: the next record begins the count again.
                SourceItem::Damage(_) => self.given_to = None,
                SourceItem::Event(_) | SourceItem::Gap(_) => {}
            }
            counted.push(item);
        }
        counted
    }

    /// The gap of the records after the last one given, up to `next`, that no archive held, if
    /// there are any.
    fn missing(&self, next: u64, log: &str) -> Option<Gap> {
        let given_to = self.given_to.filter(|given_to| next > given_to.saturating_add(1))?;
        Some(Gap {
            reason: format!(
                "records {} to {} of {log} are in none of its archive files read (deleted, moved, or \
                 never archived)",
                given_to + 1,
                next - 1
            ),
            last_record_id: Some(given_to),
            last_header_id: None,
            archives: Vec::new(),
        })
    }
}

impl ArchiveFill {
    /// `live`, read under `query`, whose log file `log_file_of` tells.
    pub fn new(live: Box<dyn EventSource>, query: &str, log_file_of: LogFileOf) -> Self {
        ArchiveFill {
            live,
            log_file_of,
            log_file: None,
            fills: matches!(query.trim(), "*" | ""),
            reading: None,
            failing: None,
            give_up_after: GIVE_UP_AFTER,
            save_failing_every: SAVE_FAILING_EVERY,
            accounts: None,
        }
    }

    /// The source, looking up the accounts of archived events' SIDs with `lookup`, as the live
    /// source does for the live log's.
    pub fn with_account_lookup(mut self, lookup: LookupFn) -> Self {
        self.accounts = Some(AccountNames::new(lookup, &self.live.describe()));
        self
    }

    /// Gives the events of `items` that have a SID their account, when it is known or found
    /// within the read's budget.
    fn name_accounts(&mut self, items: &mut [SourceItem]) {
        let Some(accounts) = self.accounts.as_mut() else { return };
        accounts.begin_read();
        for item in items {
            if let SourceItem::Event(event) = item
                && event.account.is_none()
                && let Some(sid) = attribute_of(&event.xml, "<Security", "UserID")
            {
                event.account = accounts.name(sid, SystemTime::now());
            }
        }
    }

    /// The channel's log file, asked for until it is known.
    fn log_file(&mut self) -> Option<&Path> {
        if self.log_file.is_none() {
            self.log_file = (self.log_file_of)();
        }
        self.log_file.as_deref()
    }

    /// The next items of the oldest archive left, and whether more wait now; an archive read to
    /// its end, or that holds nothing after the gap, is done. One that cannot be read fails the
    /// reads (the position kept, but for the time failed, written into it now and then) until
    /// it is given up, as is one the position names that is no archive of the log (a position
    /// edited by hand, or a log moved since): it is never opened.
    fn read_archive(
        &mut self,
        pending: &mut Vec<Pending>,
        max: usize,
    ) -> Result<(Vec<SourceItem>, bool), SourceError> {
        let read = self
            .check_is_archive(&pending[0].path)
            .and_then(|()| self.try_read_archive(&mut pending[0], max));
        match read {
            Ok((mut items, done)) => {
                self.failing = None;
                pending[0].failing = None;
                if done {
                    let finished = pending.remove(0);
                    self.reading = None;
                    items.extend(self.end_of_archive(finished, pending));
                }
                Ok((items, true))
            }
            Err(error) => match self.after_failure(&mut pending[0], &error) {
                AfterFailure::SaveAndWait => Ok((Vec::new(), false)),
                AfterFailure::TryAgain => Err(SourceError::Transient(format!(
                    "archive {} of this log: {error}",
                    pending[0].path.display()
                ))),
                AfterFailure::GiveUp => {
                    let given_up = pending.remove(0);
                    self.reading = None;
                    let damage = SourceItem::Damage(Damage {
                        chunk: None,
                        offset: None,
                        header_id: None,
                        record_id: None,
                        error: format!(
                            "archive {} could not be read ({error}); the events of it not read before are lost",
                            given_up.path.display()
                        ),
                    });
                    Ok(([damage].into_iter().chain(self.end_of_archive(given_up, pending)).collect(), true))
                }
            },
        }
    }

    /// Counts a failed read of `archive`: the time failed, by this run's monotonic clock after
    /// that of the runs before, and the first failure in a run one more run; then what to do.
    fn after_failure(&mut self, archive: &mut Pending, error: &SourceError) -> AfterFailure {
        let first_in_run = self.failing.as_ref().is_none_or(|failing| failing.path != archive.path);
        let saved = archive.failing.unwrap_or(Failing { seconds: 0, runs: 0 });
        if first_in_run {
            let (now, before) = (Instant::now(), Duration::from_secs(saved.seconds));
            let path = archive.path.clone();
            self.failing =
                Some(FailingNow { path, since: now, before, saved_at: now, reads: 0, given_up: false });
        }
        let Some(now) = self.failing.as_mut() else { unreachable!("set above") };
        now.reads = now.reads.saturating_add(1);
        let failed_for = now.before.saturating_add(now.since.elapsed());
        let runs = saved.runs.saturating_add(u32::from(first_in_run));
        let timed_out = failed_for >= self.give_up_after && now.reads >= MIN_FAILED_READS;
        // What may pass (a file held open, the log file not learnt yet) is tried again; a file
        // that is no archive or no `.evtx` at all is given up at once, so that a folder of such
        // files cannot hold the live log back 10 minutes for each, and so is one gone (moved
        // away or deleted since it was named: the id count tells of its records).
        let gone = std::fs::metadata(&archive.path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        let may_pass = matches!(error, SourceError::Transient(_) | SourceError::Unavailable(_)) && !gone;
        if !may_pass || now.given_up || timed_out || runs >= GIVE_UP_AFTER_RUNS {
            now.given_up = true;
            return AfterFailure::GiveUp;
        }
        if !first_in_run && now.saved_at.elapsed() < self.save_failing_every {
            return AfterFailure::TryAgain;
        }
        now.saved_at = Instant::now();
        archive.failing = Some(Failing { seconds: failed_for.as_secs(), runs });
        let left = self.give_up_after.saturating_sub(failed_for).as_secs();
        tracing::warn!(archive = %archive.path.display(), %error,
            "cannot be read: tried again for {left} s more (or {} starts), then given up",
            GIVE_UP_AFTER_RUNS - runs);
        AfterFailure::SaveAndWait
    }

    /// When `finished` is done with: what its gap's archives gave is passed to the next of
    /// them, or after the last a gap says which records before the live log's next one none
    /// of them held.
    fn end_of_archive(&self, finished: Pending, pending: &mut [Pending]) -> Option<SourceItem> {
        let check = finished.check?;
        if check.more {
            if let Some(next) = pending.first_mut().and_then(|next| next.check.as_mut()) {
                next.given_to = check.given_to;
            }
            return None;
        }
        Some(SourceItem::Gap(check.missing(finished.before?, &self.live.describe())?))
    }

    /// `archive`'s next items (looked at first if it was not yet), and whether it is done.
    fn try_read_archive(
        &mut self,
        archive: &mut Pending,
        max: usize,
    ) -> Result<(Vec<SourceItem>, bool), SourceError> {
        if let Some(probe) = Probe::parse(&archive.position) {
            match where_to_read(&archive.path, &probe)? {
                Some(position) => archive.position = position,
                None => return Ok((Vec::new(), true)),
            }
        }
        if self.reading.as_ref().is_none_or(|(path, _)| *path != archive.path) {
            let source = EvtxFileSource::new(&archive.path, FileOptions::default());
            self.reading = Some((archive.path.clone(), source));
        }
        let Some((_, source)) = self.reading.as_mut() else { unreachable!("set above") };
        let mut batch = source.read(&archive.position, max)?;
        archive.position = batch.position;
        if let Some(before) = archive.before {
            batch.items.retain(|item| match item {
                SourceItem::Event(SourceEvent { header_id, .. })
                | SourceItem::Damage(Damage { header_id, .. }) => *header_id < Some(before),
                SourceItem::Gap(_) => true,
            });
        }
        let items = match &mut archive.check {
            Some(check) => check.count(batch.items, &self.live.describe()),
            None => batch.items,
        };
        Ok((items, !batch.more))
    }

    /// A position's archive must be one of this channel's, beside its log file: a position
    /// edited by hand names no other file.
    fn check_is_archive(&mut self, path: &Path) -> Result<(), SourceError> {
        let Some(log_file) = self.log_file() else {
            return Err(SourceError::Transient("the log file of this channel cannot be learnt".into()));
        };
        let beside = path.parent() == log_file.parent();
        let named =
            path.file_name().and_then(|name| name.to_str()).and_then(|name| archive_time(log_file, name));
        if beside && named.is_some() {
            return Ok(());
        }
        Err(SourceError::BadPosition(format!("{} is no archive of this log", path.display())))
    }

    /// Names, in each gap after a known record of `batch`, the archives named since the last
    /// event read was created that are not read yet, and adds them to `pending`, to be looked at
    /// and read after the live events of the batch.
    fn find_archives(&mut self, batch: &mut Batch, live_from: &str, pending: &mut Vec<Pending>) {
        let Some(log_file) = self.log_file().map(Path::to_path_buf) else { return };
        let channel = self.live.describe();
        // The last event read before each gap, and when it was created: the one the position
        // names, then each event the batch gives.
        let position = Position::parse(live_from);
        let mut last_read = bookmark_record_id(position.bookmark).zip(EventTime::of(live_from));
        for index in 0..batch.items.len() {
            let gap = match &mut batch.items[index] {
                SourceItem::Event(event) => {
                    last_read = own_record_id(event, &channel).zip(created(event).map(EventTime::Created));
                    continue;
                }
                SourceItem::Damage(_) => {
                    last_read = None;
                    continue;
                }
                SourceItem::Gap(gap) => gap,
            };
            let Some((last, time)) = last_read.filter(|(id, _)| Some(*id) == gap.last_record_id) else {
                continue;
            };
            // The live log's first record after the gap: an archive gives only the records before
            // it (one archived after the live log was read gives the rest at the next gap). Not
            // when its id is not past the last one read (a log cleared since) or not known.
            let before = batch.items[index + 1..]
                .iter()
                .find_map(|item| match item {
                    SourceItem::Event(event) => Some(own_record_id(event, &channel)),
                    SourceItem::Damage(damage) => Some(damage.record_id),
                    SourceItem::Gap(_) => None,
                })
                .flatten()
                .filter(|id| *id > last);
            let SourceItem::Gap(gap) = &mut batch.items[index] else { unreachable!("a gap above") };
            let (found, left_out) = archives_since(&log_file, time.with_slack());
            let first_of_gap = pending.len();
            for path in found {
                if pending.iter().any(|archive| archive.path == path) {
                    continue;
                }
                gap.archives.push(path.display().to_string());
                let check = Some(IdCheck { given_to: Some(last), more: true });
                let position = Probe { last, time }.text();
                pending.push(Pending { path, before, position, check, failing: None });
            }
            if let Some(check) = pending[first_of_gap..].last_mut().and_then(|last| last.check.as_mut()) {
                check.more = false;
            }
            note_archives(gap, left_out);
        }
    }
}

/// Says in `gap`'s reason that the events after it are read from its archives.
fn note_archives(gap: &mut Gap, left_out: usize) {
    if gap.archives.is_empty() {
        return;
    }
    gap.reason += &format!(
        "; the events after record {} that the log's {} archive file(s) named here hold are read from \
         them, after the events read with this record",
        gap.last_record_id.unwrap_or_default(),
        gap.archives.len()
    );
    if left_out > 0 {
        gap.reason += &format!(" ({left_out} newer archive file(s) past the {MAX_ARCHIVES} read are not)");
    }
}

/// Where to read `archive` from after the gap `probe` describes: after the last event read if
/// it holds that event; from its first record if a log cleared since began it; `None` if it
/// holds nothing newer.
fn where_to_read(archive: &Path, probe: &Probe) -> Result<Option<String>, SourceError> {
    let after = FileOptions { recover: false, after_header_id: Some(probe.last.saturating_sub(1)) };
    let mut source = EvtxFileSource::new(archive, after);
    let start = source.start_position()?;
    let items = source.read(&start, PROBE_ITEMS)?.items;
    if let Some((index, event)) = first_event(&items) {
        if event.header_id == Some(probe.last)
            && created(event).is_some_and(|created| probe.time.names(created))
        {
            return Ok(Some(source.read(&start, index + 1)?.position));
        }
        // The last event read cannot be read in the archive (damaged there), and the event after
        // it was created since (less the slack): the same log, read on after the damage.
        let damaged_last = items[..index].iter().rposition(
            |item| matches!(item, SourceItem::Damage(damage) if damage.header_id == Some(probe.last)),
        );
        if let Some(at) = damaged_last
            && event.header_id.is_some_and(|id| id > probe.last)
            && created(event).is_some_and(|created| created >= probe.time.with_slack())
        {
            return Ok(Some(source.read(&start, at + 1)?.position));
        }
    }
    let mut whole = EvtxFileSource::new(archive, FileOptions::default());
    let start = whole.start_position()?;
    let items = whole.read(&start, PROBE_ITEMS)?.items;
    // A later archive of the same log (its ids past the last one read, created since, less the
    // slack for timestamps out of order), or one a log cleared since began (its ids begun
    // again, created after the last event read): read whole. Any other holds only older records.
    let newer = first_event(&items)
        .and_then(|(_, event)| Some((event.header_id?, created(event)?)))
        .is_some_and(|(oldest_id, oldest_created)| match oldest_id > probe.last {
            true => oldest_created >= probe.time.with_slack(),
            false => oldest_created > probe.time.time(),
        });
    Ok(newer.then_some(start))
}

/// The first event among `items`, and its place.
fn first_event(items: &[SourceItem]) -> Option<(usize, &SourceEvent)> {
    items.iter().enumerate().find_map(|(index, item)| match item {
        SourceItem::Event(event) => Some((index, event)),
        _ => None,
    })
}

/// An event's record id in the log `channel`: its `EventRecordID`, unless it was logged to
/// another channel (a forwarded event, whose `EventRecordID` is its source log's).
fn own_record_id(event: &SourceEvent, channel: &str) -> Option<u64> {
    // In `System` alone: `UserData` may hold a `Channel` of its own (event 104, a log cleared).
    let system = &event.xml[..event.xml.find("</System>")?];
    let logged_to = element_text(system, "Channel")?;
    logged_to.eq_ignore_ascii_case(channel).then(|| element_text(system, "EventRecordID")?.parse().ok())?
}

/// The text of an event's first `<name>` element, trimmed.
fn element_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find('<')?;
    Some(xml[start..end].trim())
}

/// An event's `TimeCreated`.
fn created(event: &SourceEvent) -> Option<Timestamp> {
    attribute_of(&event.xml, "<TimeCreated", "SystemTime")?.parse().ok()
}

impl EventSource for ArchiveFill {
    fn start_position(&mut self) -> Result<String, SourceError> {
        self.live.start_position()
    }

    fn read(&mut self, from: &str, max: usize) -> Result<Batch, SourceError> {
        let (mut pending, live_from) = split(from)?;
        if !pending.is_empty() {
            let (mut items, more) = self.read_archive(&mut pending, max)?;
            self.name_accounts(&mut items);
            // The live log (or the next archive) is read on at once.
            return Ok(Batch { items, position: join(&pending, live_from), more });
        }
        // No archive left: what was known of one failing is done with.
        self.failing = None;
        let mut batch = self.live.read(live_from, max)?;
        let gap_after_a_record =
            |item: &SourceItem| matches!(item, SourceItem::Gap(gap) if gap.last_record_id.is_some());
        if self.fills && batch.items.iter().any(gap_after_a_record) {
            self.find_archives(&mut batch, live_from, &mut pending);
        }
        batch.more |= !pending.is_empty();
        batch.position = join(&pending, &batch.position);
        Ok(batch)
    }

    fn describe(&self) -> String {
        self.live.describe()
    }
}

/// The time in the name of an archive of the log kept in `log_file`:
/// `Archive-<its name>-YYYY-MM-DD-hh-mm-ss-nnn.evtx` (UTC), the case aside; `None` for any other
/// name (another log's archive, whose name may begin with this one's).
fn archive_time(log_file: &Path, name: &str) -> Option<Timestamp> {
    let stem = log_file.file_stem()?.to_str()?.to_lowercase();
    let name = name.to_lowercase();
    let time = name.strip_prefix("archive-")?.strip_prefix(stem.as_str())?.strip_prefix('-')?;
    let time = time.strip_suffix(".evtx")?;
    let fields: Vec<&str> = time.split('-').collect();
    let widths = [4, 2, 2, 2, 2, 2, 3];
    let well_formed = fields.len() == widths.len()
        && fields
            .iter()
            .zip(widths)
            .all(|(field, width)| field.len() == width && field.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return None;
    }
    let [year, month, day, hour, minute, second, millis] = fields[..] else { return None };
    format!("{year}-{month}-{day}T{hour}:{minute}:{second}.{millis}Z").parse().ok()
}

/// The archives of the log kept in `log_file`, beside it, named with a time at or after `since`,
/// oldest first: at most [`MAX_ARCHIVES`], and how many more there are.
fn archives_since(log_file: &Path, since: Timestamp) -> (Vec<PathBuf>, usize) {
    let Some(dir) = log_file.parent() else { return (Vec::new(), 0) };
    let Ok(entries) = std::fs::read_dir(dir) else { return (Vec::new(), 0) };
    let mut found: Vec<(Timestamp, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let time = archive_time(log_file, entry.file_name().to_str()?)?;
            let path = entry.path();
            // A tab or a line break would end its line of the position.
            let plain = !path.to_string_lossy().contains(['\t', '\n']);
            (time >= since && plain && entry.file_type().ok()?.is_file()).then_some((time, path))
        })
        .collect();
    found.sort();
    let left_out = found.len().saturating_sub(MAX_ARCHIVES);
    (found.into_iter().take(MAX_ARCHIVES).map(|(_, path)| path).collect(), left_out)
}

#[cfg(test)]
mod tests;
