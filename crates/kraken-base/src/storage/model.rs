//! What storage means to the rest of the base: the [`Storage`] trait, and the records, filters,
//! rows and errors it deals in. The SQLite implementation, the writer and retention take these
//! from here, never from `storage` itself, so no module of the folder imports its parent.

/// One record as received from a sentry.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub guid: String,
    pub logger: String,
    /// Record date, milliseconds since the Unix epoch.
    pub date_ms: i64,
    pub logtype: Option<String>,
    pub msg: Option<String>,
    /// All params, as plain JSON text.
    pub params: String,
    /// The record's number in its logger's sequence (gaps and repeats show losses and
    /// resends); `None` from an original sentry.
    pub seq: Option<i64>,
    /// The sender's spool epoch, within which `seq` counts (not stored with the record).
    pub epoch: Option<String>,
}

#[cfg(test)]
impl StoredRecord {
    /// A test record of sentry `s1`, logger `cpu`, dated and numbered `n`.
    pub(crate) fn numbered(n: i64) -> Self {
        StoredRecord {
            guid: "s1".into(),
            logger: "cpu".into(),
            date_ms: n,
            logtype: None,
            msg: None,
            params: "null".into(),
            seq: Some(n),
            epoch: None,
        }
    }
}

impl StoredRecord {
    /// The params as a JSON value (`null` if the text is not JSON).
    pub fn params_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.params).unwrap_or(serde_json::Value::Null)
    }

    /// The memory the record holds while it waits to be stored: the struct and its texts'
    /// allocations. (Its JSON params can be several times the record's encoded size: a
    /// control character takes one byte encoded and six as JSON.)
    pub fn held_bytes(&self) -> usize {
        let optional = |text: &Option<String>| text.as_ref().map_or(0, String::capacity);
        std::mem::size_of::<Self>()
            + self.guid.capacity()
            + self.logger.capacity()
            + self.params.capacity()
            + optional(&self.logtype)
            + optional(&self.msg)
            + optional(&self.epoch)
    }
}

/// The bytes a record counts against its sentry's quota: its params and its message.
pub fn record_bytes(params: &str, msg: Option<&str>) -> i64 {
    (params.len() + msg.map_or(0, str::len)) as i64
}

/// Which records to read back.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub guid: Option<String>,
    pub logger: Option<String>,
    /// Only records stored after this id (for following).
    pub after_id: Option<i64>,
    /// Only records stored before this id (for reading back from the newest).
    pub before_id: Option<i64>,
    /// The newest first (by id) instead of the oldest.
    pub newest_first: bool,
    /// Only records dated at or after this (Unix ms).
    pub since_ms: Option<i64>,
    /// Only records dated before this (Unix ms).
    pub until_ms: Option<i64>,
    /// Only records whose message or params (as JSON text) contain this, as it is (case
    /// counts).
    pub text: Option<String>,
    /// Only records this base node stored (where several nodes share the storage; alone, a
    /// node stored every record).
    pub own_node_only: bool,
    pub limit: usize,
    /// A page ends once its records' params and messages reach this many bytes (it always
    /// holds at least one record): records may be megabytes each.
    pub max_bytes: Option<usize>,
}

/// Records stored after a forward output's position, and how many it may skip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Records stored after the position (at most: where ids count arrivals, deleted records
    /// still count).
    pub waiting: u64,
    /// Over the bound: the id to move the position to, keeping the newest records only.
    pub skip_to: Option<i64>,
    /// How many records that skips.
    pub skipped: u64,
}

/// Whether the storage can take records now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageHealth {
    pub available: bool,
    /// Since when it has been unavailable (Unix ms).
    pub since_ms: Option<i64>,
    /// The last failure while unavailable.
    pub error: Option<String>,
}

impl StorageHealth {
    pub fn available() -> StorageHealth {
        StorageHealth { available: true, since_ms: None, error: None }
    }

    pub fn unavailable(error: &str, since_ms: i64) -> StorageHealth {
        StorageHealth { available: false, since_ms: Some(since_ms), error: Some(error.to_owned()) }
    }
}

/// How the record writer groups records into one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    /// How long the first records of a group wait for more (zero: take what is waiting).
    pub linger: std::time::Duration,
    /// The most records in one append.
    pub max_records: usize,
}

/// A sentry the base has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentryRow {
    pub guid: String,
    pub connected: bool,
    pub address: Option<String>,
    pub last_seen_ms: i64,
    /// The base node it is (or was last) connected to, where several share the storage.
    pub node: Option<String>,
}

/// What retention deletes, as of one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionLimits {
    /// Rows received (records, events) or ended (connections) before this (Unix ms) go.
    pub received_before_ms: i64,
    /// Records (and events) beyond this many, the oldest first, go.
    pub max_records: Option<u64>,
}

/// What one retention step deleted, and how long it held the storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub records: u64,
    /// Events and connections.
    pub other_rows: u64,
    /// From taking the storage to committing: how long writers waited at most.
    pub held: std::time::Duration,
}

impl Deleted {
    /// Every row deleted.
    pub fn rows(&self) -> u64 {
        self.records + self.other_rows
    }
}

/// A sentry event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// `loggerStarted`, `connected`, `sequence-rollback`...
    pub kind: String,
    /// The logger it is about (empty if none).
    pub logger: String,
    pub detail: serde_json::Value,
    /// When the base received it (Unix ms).
    pub received_ms: i64,
}

/// Another base node sharing the storage, and where its admin API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNode {
    pub node: String,
    pub admin_url: String,
}

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("storage: {0}")]
pub struct StorageError(pub String);

/// The base's storage.
pub trait Storage: Send + Sync {
    /// Its kind, as `[storage] kind` names it.
    fn kind(&self) -> &'static str;
    /// Whether it can take records now. Unavailable, the record writer holds its records and
    /// tries again (nothing is acknowledged meanwhile) rather than failing them.
    fn health(&self) -> StorageHealth {
        StorageHealth::available()
    }
    /// How the record writer groups records for it.
    fn grouping(&self) -> Grouping {
        Grouping { linger: std::time::Duration::ZERO, max_records: 50_000 }
    }
    /// Tells the other base nodes sharing this storage that this one is alive and where its
    /// admin API is (called every few seconds). Nothing to do where no node shares it.
    fn announce_node(&self, _admin_url: &str) -> Result<(), StorageError> {
        Ok(())
    }
    /// Whether this node applies retention (where several share the storage, one does).
    fn runs_retention(&self) -> Result<bool, StorageError> {
        Ok(true)
    }
    /// The other live node `guid` is connected to, if it is.
    fn peer_holding(&self, _guid: &str) -> Result<Option<PeerNode>, StorageError> {
        Ok(None)
    }
    /// A sentry connected (and said hello) from `address`.
    fn sentry_connected(&self, guid: &str, address: &str) -> Result<(), StorageError>;
    /// A sentry's connection ended.
    fn sentry_disconnected(&self, guid: &str, reason: &str) -> Result<(), StorageError>;
    /// Every sentry seen, by GUID.
    fn sentries(&self) -> Result<Vec<SentryRow>, StorageError>;
    /// Appends records in one transaction: all are stored, or none. A record with an epoch
    /// and a `seq` not above the last one stored for its sentry and logger in that epoch is a
    /// resend and is skipped. Returns how many were stored.
    fn append(&self, records: &[StoredRecord]) -> Result<usize, StorageError>;
    /// Reads records back, oldest first, with their ids.
    fn records(&self, filter: &RecordFilter) -> Result<Vec<(i64, StoredRecord)>, StorageError>;
    /// The id of the newest record this node stored (0: none).
    fn newest_record_id(&self) -> Result<i64, StorageError>;
    /// The records this node stored after `after_id`, and where to move that position to keep
    /// only the newest `keep` of them. Cheap enough to ask every few seconds.
    fn forward_backlog(&self, after_id: i64, keep: u64) -> Result<Backlog, StorageError>;
    /// Notes a sentry event (`loggerStarted`, `loggerAdded`...): its kind, the logger it is
    /// about and the details as JSON.
    fn record_event(
        &self,
        guid: &str,
        kind: &str,
        logger: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StorageError>;
    /// The latest `limit` events of `guid`, newest first.
    fn events(&self, guid: &str, limit: usize) -> Result<Vec<EventRow>, StorageError>;
    /// One step of retention, in one transaction that deletes at most `batch` rows: records
    /// received before the cutoff (the oldest arrivals first, up to the first one still
    /// young), then the oldest records over `max_records`, then events by the same two rules
    /// and ended connections by age. Fewer than `batch` rows deleted means nothing is left to
    /// delete for now.
    fn delete_expired(&self, limits: &RetentionLimits, batch: usize) -> Result<Deleted, StorageError>;
    /// Sentries whose stored records take more than `max_bytes` (params and messages), with
    /// what they take.
    fn sentries_over(&self, max_bytes: u64) -> Result<Vec<(String, u64)>, StorageError>;
    /// One step of a sentry's quota, in one transaction: deletes up to `batch` of `guid`'s
    /// oldest records; returns how many, and what its records take afterwards.
    fn delete_oldest_of(&self, guid: &str, batch: usize) -> Result<(u64, u64), StorageError>;
    /// Whether the base wants `logger` of sentry `guid` connected (re-applied at every hello).
    fn set_wanted_logger(&self, guid: &str, logger: &str, wanted: bool) -> Result<(), StorageError>;
    /// The loggers of `guid` the base wants connected.
    fn wanted_loggers(&self, guid: &str) -> Result<Vec<String>, StorageError>;
}
