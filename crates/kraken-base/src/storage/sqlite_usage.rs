//! What each sentry's stored records take in the SQLite storage, for the per-sentry quota
//! (`[retention] max_bytes_per_sentry`): a record counts the bytes of its params and message.
//!
//! `sentry_usage` holds the total per sentry. An append adds to it once per sentry (in Rust, so
//! storing a record costs no trigger); a trigger takes away what any deletion removes, so
//! retention and the quota keep it right. A file made before the table existed gets it
//! counted once, when it is first opened.

use std::collections::HashMap;

use rusqlite::{Connection, Transaction};

use super::model::StorageError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sentry_usage (
    guid  TEXT PRIMARY KEY NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS records_usage_after_delete AFTER DELETE ON records BEGIN
    UPDATE sentry_usage
       SET bytes = bytes - (LENGTH(CAST(OLD.params AS BLOB)) + COALESCE(LENGTH(CAST(OLD.msg AS BLOB)), 0))
     WHERE guid = OLD.guid;
END;
";

fn error(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

/// Creates the table and its trigger; counts the records of a file that had none.
pub(super) fn create(connection: &Connection) -> Result<(), StorageError> {
    let existed: bool = connection
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sentry_usage'",
            [],
            |row| row.get(0),
        )
        .map_err(error)?;
    connection.execute_batch(SCHEMA).map_err(error)?;
    if !existed {
        connection
            .execute(
                "INSERT INTO sentry_usage (guid, bytes)
                 SELECT guid, SUM(LENGTH(CAST(params AS BLOB)) + COALESCE(LENGTH(CAST(msg AS BLOB)), 0))
                 FROM records GROUP BY guid",
                [],
            )
            .map_err(error)?;
    }
    Ok(())
}

/// Adds what an append stored, per sentry.
pub(super) fn add(transaction: &Transaction<'_>, stored: &HashMap<&str, i64>) -> Result<(), StorageError> {
    let mut update = transaction
        .prepare_cached(
            "INSERT INTO sentry_usage (guid, bytes) VALUES (?1, ?2)
             ON CONFLICT (guid) DO UPDATE SET bytes = bytes + excluded.bytes",
        )
        .map_err(error)?;
    for (guid, bytes) in stored {
        update.execute((guid, bytes)).map_err(error)?;
    }
    Ok(())
}

/// Sentries whose records take more than `max_bytes`, with what they take.
pub(super) fn over(connection: &Connection, max_bytes: u64) -> Result<Vec<(String, u64)>, StorageError> {
    let mut statement = connection
        .prepare("SELECT guid, bytes FROM sentry_usage WHERE bytes > ?1 ORDER BY bytes DESC")
        .map_err(error)?;
    let rows = statement
        .query_map([i64::try_from(max_bytes).unwrap_or(i64::MAX)], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?.max(0) as u64))
        })
        .map_err(error)?;
    rows.collect::<Result<_, _>>().map_err(error)
}

/// What `guid`'s records take now.
pub(super) fn of(connection: &Connection, guid: &str) -> Result<u64, StorageError> {
    let bytes: Option<i64> = connection
        .query_row("SELECT bytes FROM sentry_usage WHERE guid = ?1", [guid], |row| row.get(0))
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => error("no usage"),
            other => error(other),
        })
        .ok();
    Ok(bytes.unwrap_or(0).max(0) as u64)
}

/// Deletes up to `limit` of `guid`'s oldest records (by arrival); returns how many.
pub(super) fn delete_oldest(
    transaction: &Transaction<'_>,
    guid: &str,
    limit: usize,
) -> Result<u64, StorageError> {
    // `+guid` keeps SQLite on the arrival order (the rowid) instead of the per-logger index:
    // the oldest rows of a sentry over its quota are found at the front.
    let deleted = transaction
        .execute(
            "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE +guid = ?1 ORDER BY id LIMIT ?2)",
            (guid, limit as i64),
        )
        .map_err(error)?;
    Ok(deleted as u64)
}
