//! The rows the base writes to and reads from ClickHouse, field for column (`RowBinary`, so
//! the order of the fields is the order of the columns named in each statement).

use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// A record as inserted.
#[derive(Debug, Row, Serialize)]
pub struct RecordRow {
    pub id: i64,
    pub guid: String,
    pub logger: String,
    pub date_ms: i64,
    pub logtype: Option<String>,
    pub msg: Option<String>,
    pub params: String,
    pub epoch: String,
    pub seq: i64,
    pub has_seq: u8,
    pub dedup: u64,
    pub day: u32,
    pub received: u32,
    pub node: String,
}

/// A record as read back.
#[derive(Debug, Row, Deserialize)]
pub struct ReadRecord {
    pub id: i64,
    pub guid: String,
    pub logger: String,
    pub date_ms: i64,
    pub logtype: Option<String>,
    pub msg: Option<String>,
    pub params: String,
    pub seq: i64,
    pub has_seq: u8,
}

/// A stored numbered record, as a resend is compared with it.
#[derive(Debug, Row, Deserialize)]
pub struct NumberedRecord {
    pub guid: String,
    pub logger: String,
    pub epoch: String,
    pub seq: i64,
    pub date_ms: i64,
    pub dedup: u64,
}

/// An event as inserted.
#[derive(Debug, Row, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub guid: String,
    pub kind: String,
    pub logger: String,
    pub detail: String,
    pub day: u32,
    pub received: u32,
}

/// An event as read back.
#[derive(Debug, Row, Deserialize)]
pub struct ReadEvent {
    pub kind: String,
    pub logger: String,
    pub detail: String,
    /// The arrival time in microseconds.
    pub id: i64,
}

/// A change of a sentry's connection.
#[derive(Debug, Row, Serialize)]
pub struct SentryChange {
    pub guid: String,
    pub connected: u8,
    pub address: String,
    pub node: String,
    pub at: i64,
}

/// A sentry's newest state, as read back.
#[derive(Debug, Row, Deserialize)]
pub struct SentryState {
    pub guid: String,
    pub connected: u8,
    pub address: String,
    pub node: String,
    pub at: i64,
}

/// A change of a wanted logger.
#[derive(Debug, Row, Serialize)]
pub struct LoggerChange {
    pub guid: String,
    pub logger: String,
    pub wanted: u8,
    pub at: i64,
}

/// Bytes of records one sentry added (or, negative, removed) on one day.
#[derive(Debug, Row, Serialize, Deserialize)]
pub struct UsageRow {
    pub guid: String,
    pub day: u32,
    pub bytes: i64,
}

/// A base node's announcement (and heartbeat).
#[derive(Debug, Row, Serialize, Deserialize)]
pub struct NodeRow {
    pub node: String,
    pub admin_url: String,
    pub at: i64,
}
