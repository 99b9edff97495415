//! Where the base keeps what sentries send: the [`Storage`] trait (in `model`, with the types
//! it deals in), and its embedded SQLite implementation ([`SqliteStorage`], the default). A
//! distributed engine can implement the same trait. Received records reach it through the
//! [`RecordWriter`] (in order, grouped); [`retention`] applies the `[retention]` limits to it
//! every minute, in small transactions. Each of these uses `model`; none uses this module.

mod model;
pub mod retention;
mod sqlite;
mod sqlite_usage;
mod writer;

pub use model::{Deleted, RecordFilter, RetentionLimits, SentryRow, Storage, StorageError, StoredRecord};
pub use sqlite::SqliteStorage;
pub use writer::RecordWriter;
