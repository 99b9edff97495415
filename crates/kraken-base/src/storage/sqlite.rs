//! The embedded storage: one SQLite database (WAL, synchronous commits) with the sentries,
//! their connection history and their records. `sequences` keeps, per sentry and logger, the
//! last sequence number stored and its epoch, so resent records are recognised and skipped.
//!
//! A record numbered at or below the last one stored, in the same epoch, is either a resend
//! (the sentry never got the acknowledgement) or a new record of a sentry whose state went back
//! (a restored VM snapshot numbers its new records again from where the snapshot was). Such a
//! record is compared with the stored record of that number (the newest, read once per logger
//! and append for the whole range of numbers in question, at most [`RESEND_LOOKUP_ROWS`]):
//! the same date, message and params make it a resend, skipped; anything else (or no stored
//! record) is a new record: stored, and the count goes on from it. The first of a run of them
//! is noted as a `sequence-rollback` event. Nothing is acknowledged unstored; at worst a record
//! is stored twice.
//! The file (with its `-wal` and `-shm`) is the base's user's alone (0600 on Unix, in a 0700
//! folder; see [`crate::private_files`]). Retention deletes in bounded transactions
//! ([`Storage::delete_expired`]) so the record writer never waits long behind it. An event's
//! details are kept as [`super::event_detail`] says.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction};

use super::event_detail::{MAX_EVENT_SUBJECT, capped_detail, truncated};
use super::model::{
    Backlog, Deleted, EventRow, RecordFilter, RetentionLimits, SentryRow, Storage, StorageError,
    StoredRecord, record_bytes,
};
use super::sqlite_usage;
use crate::private_files;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sentries (
    guid         TEXT PRIMARY KEY NOT NULL,
    connected    INTEGER NOT NULL DEFAULT 0,
    address      TEXT,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS connections (
    id           INTEGER PRIMARY KEY,
    guid         TEXT NOT NULL,
    address      TEXT,
    connected    INTEGER NOT NULL,
    disconnected INTEGER,
    reason       TEXT
);
CREATE TABLE IF NOT EXISTS records (
    id        INTEGER PRIMARY KEY,
    guid      TEXT NOT NULL,
    logger    TEXT NOT NULL,
    date_ms   INTEGER NOT NULL,
    logtype   TEXT,
    msg       TEXT,
    params    TEXT NOT NULL,
    received  INTEGER NOT NULL,
    seq       INTEGER
);
CREATE INDEX IF NOT EXISTS records_by_sentry ON records (guid, logger, id);
-- Record ids are never given twice (followers and forward outputs keep a position by id):
-- SQLite numbers a new row after the largest id left, so deleting the newest rows would hand
-- their ids out again. Their highest id is kept here, and appends number after it.
CREATE TABLE IF NOT EXISTS record_id_floor (
    name  TEXT PRIMARY KEY NOT NULL,
    floor INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS records_keep_id_floor AFTER DELETE ON records
WHEN OLD.id > COALESCE((SELECT MAX(id) FROM records), 0)
BEGIN
    INSERT INTO record_id_floor (name, floor) VALUES ('records', OLD.id)
    ON CONFLICT (name) DO UPDATE SET floor = MAX(floor, excluded.floor);
END;
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY,
    guid     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    logger   TEXT NOT NULL,
    detail   TEXT NOT NULL,
    received INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sequences (
    guid     TEXT NOT NULL,
    logger   TEXT NOT NULL,
    epoch    TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (guid, logger)
);
CREATE TABLE IF NOT EXISTS wanted_loggers (
    guid   TEXT NOT NULL,
    logger TEXT NOT NULL,
    PRIMARY KEY (guid, logger)
);
";

/// The most stored rows read to tell resends from new records, per logger and append.
const RESEND_LOOKUP_ROWS: usize = 40_000;

/// (date, message, params) of a stored record, to compare a resend with.
type Content = (i64, Option<String>, String);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn error(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

/// SQLite storage in one file: one connection writes (the record writer, events, retention),
/// another only reads (the admin API, the console, forward outputs), so a long read never
/// holds up a commit (the write-ahead log lets both go on at once).
pub struct SqliteStorage {
    connection: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl SqliteStorage {
    /// Opens (creating) `path`; a damaged file is an error, never reset.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let io_error = |e: std::io::Error| StorageError(e.to_string());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            private_files::private_dir(parent).map_err(io_error)?;
        }
        // Made (or tightened) before SQLite opens it: SQLite gives the -wal and -shm files it
        // creates the database file's mode.
        private_files::private_file(path).map_err(io_error)?;
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            private_files::tighten_if_present(Path::new(&companion)).map_err(io_error)?;
        }
        let connection =
            Connection::open(path).map_err(|e| StorageError(format!("{}: {e}", path.display())))?;
        connection.busy_timeout(Duration::from_secs(5)).map_err(error)?;
        // Larger pages make appending records cheaper; it only takes effect in a new file.
        connection.pragma_update(None, "page_size", 16_384).map_err(error)?;
        let mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| StorageError(format!("{} is not a usable database: {e}", path.display())))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError(format!("{}: cannot use a write-ahead log", path.display())));
        }
        connection.pragma_update(None, "synchronous", "FULL").map_err(error)?;
        connection.execute_batch(SCHEMA).map_err(error)?;
        sqlite_usage::create(&connection).map_err(error)?;
        // Files made before records had a sequence number gain the column.
        let has_seq: bool = connection
            .query_row("SELECT COUNT(*) FROM pragma_table_info('records') WHERE name = 'seq'", [], |row| {
                row.get(0)
            })
            .map_err(error)?;
        if !has_seq {
            connection.execute_batch("ALTER TABLE records ADD COLUMN seq INTEGER").map_err(error)?;
        }
        // Sentries marked connected belong to a previous run of the base.
        connection.execute("UPDATE sentries SET connected = 0", []).map_err(error)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StorageError(format!("{}: {e}", path.display())))?;
        reader.busy_timeout(Duration::from_secs(5)).map_err(error)?;
        Ok(SqliteStorage { connection: Mutex::new(connection), reader: Mutex::new(reader) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reading connection.
    fn read_lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Storage for SqliteStorage {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn sentry_connected(&self, guid: &str, address: &str) -> Result<(), StorageError> {
        let now = now_ms();
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(error)?;
        transaction
            .execute(
                "INSERT INTO sentries (guid, connected, address, first_seen, last_seen) VALUES (?1, 1, ?2, ?3, ?3)
                 ON CONFLICT (guid) DO UPDATE SET connected = 1, address = excluded.address, last_seen = excluded.last_seen",
                (guid, address, now),
            )
            .map_err(error)?;
        transaction
            .execute(
                "INSERT INTO connections (guid, address, connected) VALUES (?1, ?2, ?3)",
                (guid, address, now),
            )
            .map_err(error)?;
        transaction.commit().map_err(error)
    }

    fn sentry_disconnected(&self, guid: &str, reason: &str) -> Result<(), StorageError> {
        let now = now_ms();
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(error)?;
        transaction
            .execute("UPDATE sentries SET connected = 0, last_seen = ?2 WHERE guid = ?1", (guid, now))
            .map_err(error)?;
        transaction
            .execute(
                "UPDATE connections SET disconnected = ?2, reason = ?3
                 WHERE id = (SELECT MAX(id) FROM connections WHERE guid = ?1) AND disconnected IS NULL",
                (guid, now, reason),
            )
            .map_err(error)?;
        transaction.commit().map_err(error)
    }

    fn sentries(&self) -> Result<Vec<SentryRow>, StorageError> {
        let connection = self.read_lock();
        let mut statement = connection
            .prepare("SELECT guid, connected, address, last_seen FROM sentries ORDER BY guid")
            .map_err(error)?;
        let rows = statement
            .query_map([], |row| {
                Ok(SentryRow {
                    guid: row.get(0)?,
                    connected: row.get(1)?,
                    address: row.get(2)?,
                    last_seen_ms: row.get(3)?,
                    node: None,
                })
            })
            .map_err(error)?;
        rows.collect::<Result<_, _>>().map_err(error)
    }

    fn append(&self, records: &[StoredRecord]) -> Result<usize, StorageError> {
        let received = now_ms();
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(error)?;
        let mut stored = 0;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO records (guid, logger, date_ms, logtype, msg, params, received, seq, id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(error)?;
            let mut last_of = transaction
                .prepare_cached("SELECT epoch, last_seq FROM sequences WHERE guid = ?1 AND logger = ?2")
                .map_err(error)?;
            // Past the ids of deleted newest rows (NULL: SQLite's own next id).
            let mut next_id: Option<i64> = newest_id_given(&transaction)?
                .filter(|&(floor, newest)| floor > newest)
                .map(|(floor, _)| floor + 1);
            let mut stored_in_range = transaction
                .prepare_cached(
                    "SELECT seq, date_ms, msg, params FROM records
                     WHERE guid = ?1 AND logger = ?2 AND seq BETWEEN ?3 AND ?4 ORDER BY id DESC LIMIT ?5",
                )
                .map_err(error)?;
            let mut note = transaction
                .prepare_cached(
                    "INSERT INTO events (guid, kind, logger, detail, received) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(error)?;
            // The numbers each logger's records of this append span, for the lookups below.
            let mut spans: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
            for record in records {
                if let (Some(_), Some(seq)) = (&record.epoch, record.seq) {
                    let span =
                        spans.entry((record.guid.as_str(), record.logger.as_str())).or_insert((seq, seq));
                    *span = (span.0.min(seq), span.1.max(seq));
                }
            }
            // (guid, logger) -> (epoch, highest seq stored, whether the last record stored
            // continued a rollback), read once per key and written back once.
            let mut sequences: HashMap<(&str, &str), (String, i64, bool)> = HashMap::new();
            // The stored contents by number, read when first needed.
            let mut contents: HashMap<(&str, &str), HashMap<i64, Content>> = HashMap::new();
            let mut changed: HashSet<(&str, &str)> = HashSet::new();
            // Bytes stored per sentry, for its quota.
            let mut usage: HashMap<&str, i64> = HashMap::new();
            for record in records {
                if let (Some(epoch), Some(seq)) = (&record.epoch, record.seq) {
                    let key = (record.guid.as_str(), record.logger.as_str());
                    let last = match sequences.entry(key) {
                        std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                        std::collections::hash_map::Entry::Vacant(entry) => {
                            let stored: Option<(String, i64)> = last_of
                                .query_row(key, |row| Ok((row.get(0)?, row.get(1)?)))
                                .optional()
                                .map_err(error)?;
                            let (epoch, seq) = stored.unwrap_or_default();
                            entry.insert((epoch, seq, false))
                        }
                    };
                    let mut rolled_back = false;
                    if last.0 == *epoch && seq <= last.1 {
                        let known = match contents.entry(key) {
                            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                            std::collections::hash_map::Entry::Vacant(entry) => {
                                let (low, high) = spans[&key];
                                let range = (key.0, key.1, low, high.min(last.1), RESEND_LOOKUP_ROWS as i64);
                                let mut found = HashMap::new();
                                let rows = stored_in_range
                                    .query_map(range, |row| {
                                        Ok((row.get::<_, i64>(0)?, (row.get(1)?, row.get(2)?, row.get(3)?)))
                                    })
                                    .map_err(error)?;
                                for row in rows {
                                    let (number, content) = row.map_err(error)?;
                                    found.entry(number).or_insert(content); // the newest of a number
                                }
                                entry.insert(found)
                            }
                        };
                        let stored_as = known.get(&seq);
                        let resent = stored_as.is_some_and(|(date, msg, params)| {
                            *date == record.date_ms && *msg == record.msg && *params == record.params
                        });
                        if resent {
                            continue; // a resend of what is stored
                        }
                        // A number below the last one stored but not stored at all fills a gap:
                        // a batch that failed to store while later ones were stored, resent.
                        rolled_back = stored_as.is_some();
                        if rolled_back && !last.2 {
                            tracing::warn!(
                                guid = key.0,
                                logger = key.1,
                                seq,
                                last_stored = last.1,
                                "a sentry numbered a new record as an old one (its state went back): stored"
                            );
                            let detail =
                                serde_json::json!({ "epoch": epoch, "last_seq": last.1, "seq": seq });
                            note.execute((key.0, "sequence-rollback", key.1, detail.to_string(), received))
                                .map_err(error)?;
                        }
                    }
                    // The mark is the highest number stored: every record at or below it is
                    // compared with what is stored, also after one that filled a gap.
                    let highest = if last.0 == *epoch { last.1.max(seq) } else { seq };
                    *last = (epoch.clone(), highest, rolled_back);
                    if let Some(known) = contents.get_mut(&key) {
                        known.insert(seq, (record.date_ms, record.msg.clone(), record.params.clone()));
                    }
                    changed.insert(key);
                }
                insert
                    .execute((
                        &record.guid,
                        &record.logger,
                        record.date_ms,
                        &record.logtype,
                        &record.msg,
                        &record.params,
                        received,
                        record.seq,
                        next_id.take(),
                    ))
                    .map_err(error)?;
                stored += 1;
                *usage.entry(record.guid.as_str()).or_default() +=
                    record_bytes(&record.params, record.msg.as_deref());
            }
            sqlite_usage::add(&transaction, &usage)?;
            let mut save = transaction
                .prepare_cached(
                    "INSERT INTO sequences (guid, logger, epoch, last_seq) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (guid, logger) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq",
                )
                .map_err(error)?;
            for key in changed {
                let (epoch, last, _) = &sequences[&key];
                save.execute((key.0, key.1, epoch, last)).map_err(error)?;
            }
        }
        transaction.commit().map_err(error)?;
        Ok(stored)
    }

    fn record_event(
        &self,
        guid: &str,
        kind: &str,
        logger: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StorageError> {
        self.lock()
            .execute(
                "INSERT INTO events (guid, kind, logger, detail, received) VALUES (?1, ?2, ?3, ?4, ?5)",
                (guid, kind, truncated(logger, MAX_EVENT_SUBJECT), capped_detail(detail), now_ms()),
            )
            .map_err(error)?;
        Ok(())
    }

    fn events(&self, guid: &str, limit: usize) -> Result<Vec<EventRow>, StorageError> {
        let connection = self.read_lock();
        let mut statement = connection
            .prepare(
                "SELECT kind, logger, detail, received FROM events WHERE guid = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(error)?;
        let rows = statement
            .query_map((guid, limit as i64), |row| {
                let detail: String = row.get(2)?;
                Ok(EventRow {
                    kind: row.get(0)?,
                    logger: row.get(1)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    received_ms: row.get(3)?,
                })
            })
            .map_err(error)?;
        rows.collect::<Result<_, _>>().map_err(error)
    }

    fn delete_expired(&self, limits: &RetentionLimits, batch: usize) -> Result<Deleted, StorageError> {
        let mut connection = self.lock();
        let started = Instant::now();
        let transaction = connection.transaction().map_err(error)?;
        let cutoff = limits.received_before_ms;
        // What this transaction may still delete.
        let mut left = batch as u64;
        let mut records = delete_arrived_before(&transaction, "records", cutoff, left)?;
        left -= records;
        if let Some(max) = limits.max_records {
            let beyond = delete_beyond(&transaction, "records", max, left)?;
            records += beyond;
            left -= beyond;
        }
        let mut other_rows = delete_arrived_before(&transaction, "events", cutoff, left)?;
        left -= other_rows;
        if let Some(max) = limits.max_records {
            // Events (every connection adds a few) are held to the same count.
            let beyond = delete_beyond(&transaction, "events", max, left)?;
            other_rows += beyond;
            left -= beyond;
        }
        if left > 0 {
            other_rows += transaction
                .execute(
                    "DELETE FROM connections WHERE id IN (SELECT id FROM connections
                     WHERE disconnected IS NOT NULL AND disconnected < ?1 ORDER BY id LIMIT ?2)",
                    (cutoff, left as i64),
                )
                .map_err(error)? as u64;
        }
        transaction.commit().map_err(error)?;
        Ok(Deleted { records, other_rows, held: started.elapsed() })
    }

    fn sentries_over(&self, max_bytes: u64) -> Result<Vec<(String, u64)>, StorageError> {
        sqlite_usage::over(&self.lock(), max_bytes)
    }

    fn delete_oldest_of(&self, guid: &str, batch: usize) -> Result<(u64, u64), StorageError> {
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(error)?;
        let deleted = sqlite_usage::delete_oldest(&transaction, guid, batch)?;
        let left = sqlite_usage::of(&transaction, guid)?;
        transaction.commit().map_err(error)?;
        Ok((deleted, left))
    }

    fn set_wanted_logger(&self, guid: &str, logger: &str, wanted: bool) -> Result<(), StorageError> {
        let sql = if wanted {
            "INSERT INTO wanted_loggers (guid, logger) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM wanted_loggers WHERE guid = ?1 AND logger = ?2"
        };
        self.lock().execute(sql, (guid, logger)).map_err(error)?;
        Ok(())
    }

    fn wanted_loggers(&self, guid: &str) -> Result<Vec<String>, StorageError> {
        let connection = self.read_lock();
        let mut statement = connection
            .prepare("SELECT logger FROM wanted_loggers WHERE guid = ?1 ORDER BY logger")
            .map_err(error)?;
        let rows = statement.query_map([guid], |row| row.get(0)).map_err(error)?;
        rows.collect::<Result<_, _>>().map_err(error)
    }

    fn newest_record_id(&self) -> Result<i64, StorageError> {
        let connection = self.read_lock();
        let newest: i64 = connection
            .query_row("SELECT COALESCE(MAX(id), 0) FROM records", [], |row| row.get(0))
            .map_err(error)?;
        let floor = newest_id_given(&connection)?.map_or(0, |(floor, _)| floor);
        Ok(newest.max(floor))
    }

    fn forward_backlog(&self, after_id: i64, keep: u64) -> Result<Backlog, StorageError> {
        // Ids count arrivals: the newest id tells the backlog without reading it (deleted
        // records still count, so it is an upper bound).
        let newest = self.newest_record_id()?;
        let waiting = u64::try_from(newest.saturating_sub(after_id)).unwrap_or(0);
        if waiting <= keep {
            return Ok(Backlog { waiting, skip_to: None, skipped: 0 });
        }
        let skip_to = newest - i64::try_from(keep).unwrap_or(i64::MAX);
        Ok(Backlog { waiting, skip_to: Some(skip_to), skipped: waiting - keep })
    }

    fn records(&self, filter: &RecordFilter) -> Result<Vec<(i64, StoredRecord)>, StorageError> {
        let connection = self.read_lock();
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let mut statement = connection
            .prepare(&format!(
                "SELECT id, guid, logger, date_ms, logtype, msg, params, seq FROM records
                 WHERE (?1 IS NULL OR guid = ?1) AND (?2 IS NULL OR logger = ?2) AND id > ?3
                   AND (?8 IS NULL OR id < ?8)
                   AND (?5 IS NULL OR date_ms >= ?5) AND (?6 IS NULL OR date_ms < ?6)
                   AND (?7 IS NULL OR instr(params, ?7) > 0 OR instr(COALESCE(msg, ''), ?7) > 0)
                 ORDER BY id {order} LIMIT ?4"
            ))
            .map_err(error)?;
        let limit = if filter.limit == 0 { 1000 } else { filter.limit } as i64;
        let text = filter.text.as_deref().filter(|text| !text.is_empty());
        let bound = (
            &filter.guid,
            &filter.logger,
            filter.after_id.unwrap_or(0),
            limit,
            filter.since_ms,
            filter.until_ms,
            text,
            filter.before_id,
        );
        let mut rows = statement
            .query_map(bound, |row| {
                Ok((
                    row.get(0)?,
                    StoredRecord {
                        guid: row.get(1)?,
                        logger: row.get(2)?,
                        date_ms: row.get(3)?,
                        logtype: row.get(4)?,
                        msg: row.get(5)?,
                        params: row.get(6)?,
                        seq: row.get(7)?,
                        epoch: None,
                    },
                ))
            })
            .map_err(error)?;
        // Row by row: a page stops at `max_bytes` of params and messages.
        let (max_bytes, mut bytes) = (filter.max_bytes.unwrap_or(usize::MAX), 0usize);
        let mut page = Vec::new();
        while bytes < max_bytes {
            let Some(row) = rows.next() else { break };
            let (id, record): (i64, StoredRecord) = row.map_err(error)?;
            bytes += record.params.len() + record.msg.as_ref().map_or(0, String::len);
            page.push((id, record));
        }
        Ok(page)
    }
}

/// (the highest record id ever deleted as the newest, the newest id now), where one was.
fn newest_id_given(connection: &Connection) -> Result<Option<(i64, i64)>, StorageError> {
    connection
        .query_row(
            "SELECT floor, COALESCE((SELECT MAX(id) FROM records), 0) FROM record_id_floor WHERE name = 'records'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(error)
}

/// Deletes up to `limit` rows of `table` (`records` or `events`, numbered in arrival order)
/// received before `cutoff`: the first rows by id, stopping at the first one received later
/// (reading at most `limit` rows, never the whole table).
fn delete_arrived_before(
    transaction: &Transaction<'_>,
    table: &str,
    cutoff: i64,
    limit: u64,
) -> Result<u64, StorageError> {
    if limit == 0 {
        return Ok(0);
    }
    let window = format!("SELECT id, received FROM {table} ORDER BY id LIMIT ?1");
    let first_young: Option<i64> = transaction
        .query_row(
            &format!("SELECT MIN(id) FROM ({window}) WHERE received >= ?2"),
            (limit as i64, cutoff),
            |row| row.get(0),
        )
        .map_err(error)?;
    let deleted = transaction
        .execute(
            &format!("DELETE FROM {table} WHERE id IN (SELECT id FROM ({window})) AND id < ?2"),
            (limit as i64, first_young.unwrap_or(i64::MAX)),
        )
        .map_err(error)?;
    Ok(deleted as u64)
}

/// Deletes up to `limit` of the oldest rows of `table` beyond its newest `max` (by id, which
/// counts arrivals).
fn delete_beyond(
    transaction: &Transaction<'_>,
    table: &str,
    max: u64,
    limit: u64,
) -> Result<u64, StorageError> {
    if limit == 0 {
        return Ok(0);
    }
    let newest: i64 = transaction
        .query_row(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), [], |row| row.get(0))
        .map_err(error)?;
    let keep_from = newest.saturating_sub(i64::try_from(max).unwrap_or(i64::MAX)).saturating_add(1);
    let deleted = transaction
        .execute(
            &format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE id < ?1 ORDER BY id LIMIT ?2)"
            ),
            (keep_from, limit as i64),
        )
        .map_err(error)?;
    Ok(deleted as u64)
}

#[cfg(test)]
mod tests {
    use super::super::event_detail::MAX_EVENT_DETAIL;
    use super::*;

    #[test]
    fn records_and_sentries_round_trip() {
        let dir = std::env::temp_dir().join(format!("kraken-base-storage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        storage.sentry_connected("s1", "127.0.0.1:5000").unwrap();
        let record = |n: i64| StoredRecord {
            guid: "s1".into(),
            logger: "cpu".into(),
            date_ms: n,
            logtype: Some("system".into()),
            msg: Some(format!("cpu usage: {n}%")),
            params: serde_json::json!({ "idle": 100 - n }).to_string(),
            seq: Some(n),
            epoch: None,
        };
        storage.append(&[record(1), record(2)]).unwrap();
        let read = storage.records(&RecordFilter { guid: Some("s1".into()), ..Default::default() }).unwrap();
        assert_eq!(read.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(), vec![record(1), record(2)]);
        let after =
            storage.records(&RecordFilter { after_id: Some(read[0].0), ..Default::default() }).unwrap();
        assert_eq!(after.len(), 1);
        storage.sentry_disconnected("s1", "closed").unwrap();
        let sentries = storage.sentries().unwrap();
        assert_eq!((sentries[0].guid.as_str(), sentries[0].connected), ("s1", false));
        storage.append(&[record(3), record(4), record(5)]).unwrap();
        for n in 0..3 {
            storage.record_event("s1", "loggerStarted", &format!("l{n}"), &serde_json::json!(n)).unwrap();
        }
        let by_count = RetentionLimits { received_before_ms: i64::MIN, max_records: Some(2) };
        assert_eq!(storage.delete_expired(&by_count, 1000).unwrap().records, 3);
        let left: Vec<i64> =
            storage.records(&RecordFilter::default()).unwrap().iter().map(|(_, r)| r.date_ms).collect();
        assert_eq!(left, [4, 5], "the newest are kept");
        let events: Vec<String> = storage.events("s1", 10).unwrap().into_iter().map(|e| e.logger).collect();
        assert_eq!(events, ["l2", "l1"], "events are held to the same count, newest kept");
        let by_age = RetentionLimits { received_before_ms: i64::MAX, max_records: None };
        let deleted = storage.delete_expired(&by_age, 1000).unwrap();
        assert_eq!(
            (deleted.records, deleted.other_rows),
            (2, 2 + 1),
            "records, events, the ended connection"
        );
        assert!(storage.events("s1", 10).unwrap().is_empty(), "and go by age too");
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resent_records_are_skipped_by_epoch_and_seq() {
        let dir = std::env::temp_dir().join(format!("kraken-base-resend-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("base.sqlite3");
        let storage = SqliteStorage::open(&path).unwrap();
        let record = |logger: &str, seq: i64, epoch: Option<&str>| StoredRecord {
            guid: "s1".into(),
            logger: logger.into(),
            date_ms: seq,
            logtype: None,
            msg: None,
            params: "{}".into(),
            seq: Some(seq),
            epoch: epoch.map(str::to_owned),
        };
        let batch = |logger: &str, seqs: std::ops::RangeInclusive<i64>, epoch: &str| -> Vec<StoredRecord> {
            seqs.map(|n| record(logger, n, Some(epoch))).collect()
        };
        assert_eq!(storage.append(&batch("cpu", 1..=3, "a")).unwrap(), 3);
        // A resend overlapping what is stored: only the new ones go in.
        assert_eq!(storage.append(&batch("cpu", 2..=5, "a")).unwrap(), 2);
        // Another logger counts on its own.
        assert_eq!(storage.append(&batch("mem", 1..=2, "a")).unwrap(), 2);
        // The state survives a restart of the base.
        drop(storage);
        let storage = SqliteStorage::open(&path).unwrap();
        assert_eq!(storage.append(&batch("cpu", 4..=6, "a")).unwrap(), 1);
        // A new epoch (a reinstalled agent) starts again from 1.
        assert_eq!(storage.append(&batch("cpu", 1..=2, "b")).unwrap(), 2);
        // Records without an epoch (an original sentry's onLog) are always stored.
        assert_eq!(storage.append(&[record("cpu", 1, None), record("cpu", 1, None)]).unwrap(), 2);
        let seqs: Vec<i64> = storage
            .records(&RecordFilter { logger: Some("cpu".into()), limit: 100, ..Default::default() })
            .unwrap()
            .iter()
            .map(|(_, r)| r.seq.unwrap())
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 1, 2, 1, 1]);
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sentry_whose_numbering_went_back_has_its_new_records_stored() {
        let dir = std::env::temp_dir().join(format!("kraken-base-rollback-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        // `made` tells the timeline apart: the records of a restored snapshot are dated later.
        let record = |seq: i64, made: i64| StoredRecord {
            guid: "s1".into(),
            logger: "cpu".into(),
            date_ms: made,
            logtype: None,
            msg: Some(format!("made at {made}")),
            params: "{}".into(),
            seq: Some(seq),
            epoch: Some("e".into()),
        };
        let first: Vec<StoredRecord> = (1..=10).map(|n| record(n, n)).collect();
        assert_eq!(storage.append(&first).unwrap(), 10);
        // The VM is restored to when seq 6 was the last made: it numbers new records 7, 8...
        // Among them, a resend of 5 and 6 (never acknowledged before the snapshot).
        let after_restore: Vec<StoredRecord> =
            [record(5, 5), record(6, 6)].into_iter().chain((7..=12).map(|n| record(n, 1_000 + n))).collect();
        assert_eq!(storage.append(&after_restore).unwrap(), 6, "7..=12 are new, 5 and 6 resent");
        // Resends of the new timeline are recognised again.
        assert_eq!(storage.append(&(11..=13).map(|n| record(n, 1_000 + n)).collect::<Vec<_>>()).unwrap(), 1);
        let stored = storage.records(&RecordFilter { limit: 100, ..Default::default() }).unwrap();
        let made: Vec<i64> = stored.iter().map(|(_, r)| r.date_ms).collect();
        let expected: Vec<i64> = (1..=10).chain(1_007..=1_013).collect();
        assert_eq!(made, expected);
        let events = storage.events("s1", 10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "sequence-rollback");
        assert_eq!(events[0].detail["last_seq"], 10);
        assert_eq!(events[0].detail["seq"], 7);
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    #[test]
    fn a_batch_that_failed_while_later_ones_were_stored_fills_its_gap_and_nothing_is_stored_twice() {
        let dir = scratch("gap");
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        let record = |seq: i64| StoredRecord {
            guid: "s1".into(),
            logger: "events".into(),
            date_ms: seq,
            logtype: None,
            msg: Some(format!("event {seq}")),
            params: "{}".into(),
            seq: Some(seq),
            epoch: Some("e".into()),
        };
        let batch = |seqs: std::ops::RangeInclusive<i64>| seqs.map(record).collect::<Vec<_>>();
        // Batches 1..=10, 11..=20, 21..=30 in flight: the first fails to store, the others are
        // stored; the sentry, told of the failure, sends all three again.
        assert_eq!(storage.append(&batch(11..=20)).unwrap(), 10);
        assert_eq!(storage.append(&batch(21..=30)).unwrap(), 10);
        assert_eq!(storage.append(&batch(1..=10)).unwrap(), 10, "the gap");
        assert_eq!(storage.append(&batch(11..=20)).unwrap(), 0, "resent");
        assert_eq!(storage.append(&batch(21..=32)).unwrap(), 2, "resent, then two new");
        let seqs: Vec<i64> = storage
            .records(&RecordFilter { limit: 100, ..Default::default() })
            .unwrap()
            .into_iter()
            .map(|(_, r)| r.seq.unwrap())
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=32).collect::<Vec<_>>(), "each once: {seqs:?}");
        assert!(storage.events("s1", 10).unwrap().is_empty(), "a gap filled is no rollback");
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kraken-base-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn record_ids_are_never_given_twice_even_after_the_newest_are_deleted() {
        let dir = scratch("id-floor");
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        let mut other = StoredRecord::numbered(1);
        other.guid = "s2".into();
        storage.append(&[other, StoredRecord::numbered(1), StoredRecord::numbered(2)]).unwrap();
        assert_eq!(storage.newest_record_id().unwrap(), 3);
        // The quota takes s1's records, the newest ones; then every record.
        assert_eq!(storage.delete_oldest_of("s1", 10).unwrap().0, 2);
        assert_eq!(storage.newest_record_id().unwrap(), 3, "deleted ids still count");
        storage.append(&[StoredRecord::numbered(3)]).unwrap();
        storage.delete_oldest_of("s2", 10).unwrap();
        storage.delete_oldest_of("s1", 10).unwrap();
        storage.append(&[StoredRecord::numbered(4), StoredRecord::numbered(5)]).unwrap();
        let ids: Vec<i64> =
            storage.records(&RecordFilter::default()).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [5, 6], "numbered after every id given before");
        let backlog = storage.forward_backlog(2, 3).unwrap();
        assert_eq!((backlog.waiting, backlog.skip_to), (4, Some(3)));
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn retention_deletes_at_most_a_batch_per_transaction_oldest_arrivals_first() {
        let dir = scratch("retention-batches");
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        storage.append(&(1..=10).map(StoredRecord::numbered).collect::<Vec<_>>()).unwrap();
        let all = RetentionLimits { received_before_ms: i64::MAX, max_records: None };
        let steps: Vec<u64> =
            std::iter::repeat_with(|| storage.delete_expired(&all, 4).unwrap().records).take(4).collect();
        assert_eq!(steps, [4, 4, 2, 0]);

        // A record received "later" at the front (the clock went back) stops the age rule there:
        // the rows after it are not read, so retention never scans the whole table.
        storage.append(&(1..=6).map(StoredRecord::numbered).collect::<Vec<_>>()).unwrap();
        let ids: Vec<i64> =
            storage.records(&RecordFilter::default()).unwrap().iter().map(|(id, _)| *id).collect();
        storage.lock().execute("UPDATE records SET received = 1000 WHERE id != ?1", [ids[2]]).unwrap();
        storage.lock().execute("UPDATE records SET received = 5000 WHERE id = ?1", [ids[2]]).unwrap();
        let before_2000 = RetentionLimits { received_before_ms: 2000, max_records: None };
        assert_eq!(storage.delete_expired(&before_2000, 100).unwrap().records, 2);
        let left: Vec<i64> =
            storage.records(&RecordFilter::default()).unwrap().iter().map(|(_, r)| r.date_ms).collect();
        assert_eq!(left, [3, 4, 5, 6]);
        // The count rule with a small batch: 4 records, keep 1, 2 per transaction.
        let keep_one = RetentionLimits { received_before_ms: i64::MIN, max_records: Some(1) };
        assert_eq!(storage.delete_expired(&keep_one, 2).unwrap().records, 2);
        assert_eq!(storage.delete_expired(&keep_one, 2).unwrap().records, 1);
        assert_eq!(storage.delete_expired(&keep_one, 2).unwrap().rows(), 0);
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_event_detail_over_the_cap_is_stored_as_a_note_of_its_size() {
        let dir = scratch("event-cap");
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        let huge = serde_json::json!({ "x": "é".repeat(MAX_EVENT_DETAIL) });
        storage.record_event("s1", "loggerAdded", &"n".repeat(5000), &huge).unwrap();
        storage.record_event("s1", "loggerAdded", "cpu", &serde_json::json!({ "interval": 5 })).unwrap();
        let events = storage.events("s1", 10).unwrap();
        let event = &events[0];
        assert_eq!(
            (event.kind.as_str(), event.logger.as_str(), &event.detail),
            ("loggerAdded", "cpu", &serde_json::json!({ "interval": 5 }))
        );
        let (subject, note) = (&events[1].logger, &events[1].detail);
        assert_eq!(subject.len(), MAX_EVENT_SUBJECT);
        assert_eq!(note["truncated"], true);
        assert_eq!(note["bytes"], huge.to_string().len());
        assert!(note["head"].as_str().unwrap().starts_with("{\"x\":\"éé"));
        let stored: i64 = storage
            .lock()
            .query_row("SELECT MAX(LENGTH(CAST(detail AS BLOB))) FROM events", [], |r| r.get(0))
            .unwrap();
        assert!(stored < 2 * 1024, "{stored} bytes stored");
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_wal_are_the_owners_alone_and_older_open_files_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = scratch("modes");
        let path = dir.join("data/base.sqlite3");
        let storage = SqliteStorage::open(&path).unwrap();
        storage.append(&[StoredRecord::numbered(1)]).unwrap();
        let wal = dir.join("data/base.sqlite3-wal");
        let shm = dir.join("data/base.sqlite3-shm");
        assert_eq!(
            [mode(&dir.join("data")), mode(&path), mode(&wal), mode(&shm)],
            [0o700, 0o600, 0o600, 0o600]
        );
        // As an older version (SQLite's default 0644 and a 0755 folder) left them; the -wal and
        // -shm exist while a connection is open (a clean close removes them), so the old files
        // are made open while this one is, and the next start tightens them.
        for (p, bits) in [(&dir.join("data"), 0o755), (&path, 0o644), (&wal, 0o644), (&shm, 0o644)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(bits)).unwrap();
        }
        let again = SqliteStorage::open(&path).unwrap();
        assert_eq!(
            [mode(&dir.join("data")), mode(&path), mode(&wal), mode(&shm)],
            [0o700, 0o600, 0o600, 0o600]
        );
        assert_eq!(again.records(&RecordFilter::default()).unwrap().len(), 1, "nothing lost");
        drop((storage, again));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
