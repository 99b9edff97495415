//! What every event source gives: the [`EventSource`] trait, its batches and items, and the
//! errors a read can end in.

use std::time::SystemTime;

/// A source of Windows events, read in batches from a position the caller keeps.
pub trait EventSource: Send {
    /// The position to read from when the caller has none yet (a logger's first start):
    /// resolved once, so that the caller can save it before reading anything.
    fn start_position(&mut self) -> Result<String, SourceError>;

    /// At most `max` items strictly after `from`, and the position after the last of them
    /// (`from` itself when there was nothing new).
    fn read(&mut self, from: &str, max: usize) -> Result<Batch, SourceError>;

    /// What is read, for messages: `Security`, `file C:\logs\x.evtx`.
    fn describe(&self) -> String;
}

/// One read's items and the position after them.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub items: Vec<SourceItem>,
    pub position: String,
    /// True when the read stopped at `max` with more items waiting.
    pub more: bool,
}

/// One item of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceItem {
    Event(SourceEvent),
    Gap(Gap),
    Damage(Damage),
}

/// One event as its source gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEvent {
    /// The event's XML (`EvtRender` or the file's rendering).
    pub xml: String,
    /// When the record was written to its log (an `.evtx` record header's time); `None` live.
    pub written: Option<SystemTime>,
    /// The formatted message, when the source formats messages and could.
    pub message: Option<String>,
    /// (domain, account) of the event's user SID, when the source could look it up.
    pub account: Option<(String, String)>,
    /// The record header id of an `.evtx` record (not always the `EventRecordID`).
    pub header_id: Option<u64>,
}

/// Events that can no longer be read, between the last one read and the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// Why: "bookmark not found", "log cleared", "file replaced".
    pub reason: String,
    /// The record id (`EventRecordID`) of the last event read before the gap, when known.
    pub last_record_id: Option<u64>,
    /// The record header id of the last event read before the gap (`.evtx` files, whose
    /// positions keep header ids: in exports of selected events it is not the `EventRecordID`).
    pub last_header_id: Option<u64>,
    /// The archive files of the log (`Archive-<log>-<time>.evtx`) its events after
    /// `last_record_id` are read from next, in this order (see [`super::archive_fill`]).
    pub archives: Vec<String>,
}

/// A record or chunk of a file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The chunk's number in the file.
    pub chunk: Option<u64>,
    /// The record's offset in its chunk.
    pub offset: Option<u64>,
    /// The record's header id, when it could be read (`.evtx` files).
    pub header_id: Option<u64>,
    /// The event's record id in its log, when it could be learnt (the live source: from the
    /// event's bookmark).
    pub record_id: Option<u64>,
    pub error: String,
}

/// Why a read failed; the caller's position stays where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// There is no event log to read here (not Windows, Wine's stubs, the service stopped).
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The configuration names something that does not exist or may not be read (a channel,
    /// a query, a file).
    #[error("{0}")]
    Config(String),
    /// A failure that may pass (the event log service restarting, a file being replaced).
    #[error("{0}")]
    Transient(String),
    /// The position does not belong to this source.
    #[error("bad position: {0}")]
    BadPosition(String),
}
