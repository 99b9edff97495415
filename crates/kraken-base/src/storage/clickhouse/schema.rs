//! The base's tables in ClickHouse, created at start if missing (every statement is
//! `IF NOT EXISTS`, so a second node or a restart changes nothing).
//!
//! Only types and engines that ClickHouse 18.16 (Debian 12's) and current releases both
//! accept: no `DateTime64`, no `LowCardinality`, no table TTL (retention drops whole day
//! partitions instead).
//!
//! * records: `ReplacingMergeTree`, partitioned by the day (UTC, `YYYYMMDD`) the base received
//!   them (the base's clock: a sentry's dates cannot make thousands of partitions), ordered by sentry, logger,
//!   record time, then the resend key (`epoch`, `seq`, `dedup`: a hash of the content for
//!   numbered records, random for unnumbered ones). A resend that two nodes store at once
//!   has the same key, and reads skip the second copy with `LIMIT 1 BY` until a merge drops it.
//! * events: a `MergeTree` per sentry in arrival order, partitioned by day.
//! * sentries: one row per change, the newest (`at`) per sentry and node wins when read;
//!   wanted loggers: the newest per sentry and logger.
//! * usage: bytes of records per sentry and day (`SummingMergeTree`), for the per-sentry quota.
//! * nodes: each base node's admin API address, written again every few seconds (a node
//!   silent for longer is taken as gone, and its sentries as disconnected).

use super::settings::ClickHouseSettings;

/// The key that makes two stored rows the same record, as `LIMIT 1 BY` reads it.
pub const RECORD_KEY: &str = "guid, logger, date_ms, epoch, seq, dedup";

/// Fully qualified, quoted table names.
#[derive(Debug, Clone)]
pub struct Tables {
    pub database: String,
    pub records: String,
    pub events: String,
    pub sentries: String,
    pub loggers: String,
    pub usage: String,
    pub nodes: String,
}

impl Tables {
    /// The names of `settings`, already checked to be identifiers.
    pub fn of(settings: &ClickHouseSettings) -> Tables {
        let qualified = |table: &str| format!("`{}`.`{table}`", settings.database);
        Tables {
            database: format!("`{}`", settings.database),
            records: qualified(&settings.records_table),
            events: qualified(&settings.events_table),
            sentries: qualified(&settings.sentries_table),
            loggers: qualified(&settings.loggers_table),
            usage: qualified(&settings.usage_table),
            nodes: qualified(&settings.nodes_table),
        }
    }

    /// The statements that create the database and every table, in order.
    pub fn create_statements(&self) -> Vec<String> {
        vec![
            format!("CREATE DATABASE IF NOT EXISTS {}", self.database),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id Int64, guid String, logger String, date_ms Int64,
                    logtype Nullable(String), msg Nullable(String), params String,
                    epoch String, seq Int64, has_seq UInt8, dedup UInt64,
                    day UInt32, received DateTime, node String
                ) ENGINE = ReplacingMergeTree
                PARTITION BY day
                ORDER BY ({RECORD_KEY})",
                self.records
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id Int64, guid String, kind String, logger String, detail String,
                    day UInt32, received DateTime
                ) ENGINE = MergeTree
                PARTITION BY day
                ORDER BY (guid, id)",
                self.events
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    guid String, connected UInt8, address String, node String, at Int64
                ) ENGINE = ReplacingMergeTree(at)
                ORDER BY (guid, node)",
                self.sentries
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    guid String, logger String, wanted UInt8, at Int64
                ) ENGINE = ReplacingMergeTree(at)
                ORDER BY (guid, logger)",
                self.loggers
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    guid String, day UInt32, bytes Int64
                ) ENGINE = SummingMergeTree
                PARTITION BY day
                ORDER BY (guid, day)",
                self.usage
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    node String, admin_url String, at Int64
                ) ENGINE = ReplacingMergeTree(at)
                ORDER BY node",
                self.nodes
            ),
        ]
    }
}
