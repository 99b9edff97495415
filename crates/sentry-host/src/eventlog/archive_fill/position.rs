//! How an [`super::ArchiveFill`] position is written: the archives left to read, each with
//! where its read stands, before the live source's position (the format is described in
//! [`super`]).

use std::path::PathBuf;
use std::time::Duration;

use evtx::Timestamp;

use crate::eventlog::source::SourceError;
use crate::eventlog::subscription::Position;

/// How much earlier than the last event read an archive may be named, or a cleared log's
/// oldest record created, and still be read: the slack covers a log whose events carry another
/// clock than its files.
const CLOCK_SLACK: Duration = Duration::from_secs(300);

/// The first line of a position with archives left to read.
pub(super) const HEADER: &str = "kraken-archives\n";
/// The line before the live position in such a position.
pub(super) const LIVE_LINE: &str = "live\n";
/// How an archive not looked at yet is written in a position.
pub(super) const PROBE: &str = "probe:";
/// How the record ids the archives of a gap gave are written in a position ([`IdCheck`]).
pub(super) const IDS: &str = "ids-to:";
/// Written after [`IDS`] when more archives of the same gap follow.
pub(super) const MORE: &str = "+";
/// How the time an archive's reads failed is written in a position ([`Failing`]).
pub(super) const FAILING: &str = "failed:";
/// An archive left to read, and where its read stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) path: PathBuf,
    /// The live log's first record after the gap: the archive gives only those before it.
    pub(super) before: Option<u64>,
    /// A [`Probe`] before the archive was looked at, then its file position.
    pub(super) position: String,
    /// What the archives of its gap gave before it and from it so far (`None` in positions
    /// written before the check was made).
    pub(super) check: Option<IdCheck>,
    /// How long its reads have failed, kept in the position, so that the time before it is
    /// given up goes on across restarts of the agent.
    pub(super) failing: Option<Failing>,
}

/// How long an archive's reads have failed while the agent ran (the time it was stopped not
/// counted), and in how many runs of its logger (starts of the agent or of the logger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failing {
    /// Seconds, by the monotonic clocks of the runs, saved at most [`SAVE_FAILING_EVERY`] late.
    pub(super) seconds: u64,
    pub(super) runs: u32,
}

impl Failing {
    pub(super) fn parse(text: &str) -> Option<Failing> {
        let (seconds, runs) = text.strip_prefix(FAILING)?.split_once('/')?;
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if !digits(seconds) || !digits(runs) {
            return None;
        }
        Some(Failing { seconds: seconds.parse().ok()?, runs: runs.parse().ok()? })
    }

    pub(super) fn text(&self) -> String {
        format!("{FAILING}{}/{}", self.seconds, self.runs)
    }
}

/// What the archives of one gap have given so far: the records none of them holds, between
/// the last event read before the gap and the live log's next one, are a gap of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IdCheck {
    /// The record id of the last record given (at first the last event read before the gap);
    /// a lower one (a log cleared since) begins the count again; `None` after a record or chunk
    /// that could not be read (its error says so), until the next record.
    pub(super) given_to: Option<u64>,
    /// Whether more archives of the same gap follow this one.
    pub(super) more: bool,
}

/// The last event read before a gap, as an archive not looked at yet is to be checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Probe {
    pub(super) last: u64,
    pub(super) time: EventTime,
}

/// What a live position knows of the time of the event it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EventTime {
    /// Its `TimeCreated`.
    Created(Timestamp),
    /// The time it was read by (it could not be rendered).
    ReadBy(Timestamp),
}

impl EventTime {
    pub(super) fn of(live: &str) -> Option<EventTime> {
        let position = Position::parse(live);
        match (position.time_created, position.read_by) {
            (Some(created), _) => Some(EventTime::Created(created.parse().ok()?)),
            (None, Some(by)) => Some(EventTime::ReadBy(by.parse().ok()?)),
            (None, None) => None,
        }
    }

    pub(super) fn time(self) -> Timestamp {
        match self {
            EventTime::Created(time) | EventTime::ReadBy(time) => time,
        }
    }

    /// The time less [`CLOCK_SLACK`].
    pub(super) fn with_slack(self) -> Timestamp {
        let earlier = self.time().as_nanosecond() - CLOCK_SLACK.as_nanos() as i128;
        Timestamp::from_nanosecond(earlier).unwrap_or(Timestamp::MIN)
    }

    /// Whether an event created at `created` can be the one this time was taken of.
    pub(super) fn names(self, created: Timestamp) -> bool {
        match self {
            EventTime::Created(time) => created == time,
            EventTime::ReadBy(time) => created <= time,
        }
    }
}

impl IdCheck {
    pub(super) fn parse(text: &str) -> Option<IdCheck> {
        let text = text.strip_prefix(IDS)?;
        let (given_to, more) = match text.strip_suffix(MORE) {
            Some(given_to) => (given_to, true),
            None => (text, false),
        };
        let given_to = match given_to {
            "-" => None,
            id => Some(id.parse().ok()?),
        };
        Some(IdCheck { given_to, more })
    }

    pub(super) fn text(&self) -> String {
        let given_to = self.given_to.map_or_else(|| "-".to_owned(), |id| id.to_string());
        format!("{IDS}{given_to}{}", if self.more { MORE } else { "" })
    }
}

impl Probe {
    pub(super) fn parse(text: &str) -> Option<Probe> {
        let mut parts = text.strip_prefix(PROBE)?.splitn(3, ':');
        let last = parts.next()?.parse().ok()?;
        let (kind, time) = (parts.next()?, parts.next()?.parse().ok()?);
        let time = match kind {
            "created" => EventTime::Created(time),
            "read-by" => EventTime::ReadBy(time),
            _ => return None,
        };
        Some(Probe { last, time })
    }

    pub(super) fn text(&self) -> String {
        let (kind, time) = match self.time {
            EventTime::Created(time) => ("created", time),
            EventTime::ReadBy(time) => ("read-by", time),
        };
        format!("{PROBE}{}:{kind}:{time}", self.last)
    }
}

/// A position taken apart: the archives left to read, and the live position.
pub(super) fn split(position: &str) -> Result<(Vec<Pending>, &str), SourceError> {
    let Some(mut rest) = position.strip_prefix(HEADER) else { return Ok((Vec::new(), position)) };
    let bad = || SourceError::BadPosition(format!("archives to read not as written: {position:.200}"));
    let mut pending = Vec::new();
    loop {
        if let Some(live) = rest.strip_prefix(LIVE_LINE) {
            return Ok((pending, live));
        }
        let (line, after) = rest.split_once('\n').ok_or_else(bad)?;
        let mut fields = line.split('\t');
        let (Some(path), Some(before), Some(file_position)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        let before = match before {
            "-" => None,
            id => Some(id.parse().map_err(|_| bad())?),
        };
        let (path, position) = (PathBuf::from(path), file_position.to_owned());
        let mut archive = Pending { path, before, position, check: None, failing: None };
        for field in fields {
            if field.starts_with(IDS) && archive.check.is_none() {
                archive.check = Some(IdCheck::parse(field).ok_or_else(bad)?);
            } else if field.starts_with(FAILING) && archive.failing.is_none() {
                archive.failing = Some(Failing::parse(field).ok_or_else(bad)?);
            } else {
                return Err(bad());
            }
        }
        pending.push(archive);
        rest = after;
    }
}

/// The position of the archives left to read, then `live`.
pub(super) fn join(pending: &[Pending], live: &str) -> String {
    if pending.is_empty() {
        return live.to_owned();
    }
    let mut text = HEADER.to_owned();
    for archive in pending {
        let before = archive.before.map_or_else(|| "-".to_owned(), |id| id.to_string());
        text += &format!("{}\t{before}\t{}", archive.path.display(), archive.position);
        if let Some(check) = archive.check {
            text += &format!("\t{}", check.text());
        }
        if let Some(failing) = archive.failing {
            text += &format!("\t{}", failing.text());
        }
        text.push('\n');
    }
    text + LIVE_LINE + live
}
