//! Where the base keeps what sentries send: the [`Storage`] trait (in `model`, with the types
//! it deals in), its embedded SQLite implementation ([`SqliteStorage`], the default), and
//! ClickHouse ([`ClickHouseStorage`], in `clickhouse/`) for fleets one disk cannot hold. Received records reach it through the
//! [`RecordWriter`] (in order, grouped); [`retention`] applies the `[retention]` limits to it
//! every minute, in small transactions. Each of these uses `model`; none uses this module.

mod clickhouse;
mod event_detail;
mod model;
pub mod retention;
mod sqlite;
mod sqlite_usage;
mod writer;

pub use clickhouse::{ClickHouseSettings, ClickHouseStorage};
pub use event_detail::{bounded_detail, truncated};
pub use model::{
    Backlog, Deleted, EventRow, Grouping, PeerNode, RecordFilter, RetentionLimits, SentryRow, Storage,
    StorageError, StorageHealth, StoredRecord,
};
pub use sqlite::SqliteStorage;
pub use writer::{RecordWriter, WriterMetrics};
