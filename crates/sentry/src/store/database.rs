//! The store's database: opening (schema, integrity check, migrations), the connection's lock,
//! its errors and the small key-value and version queries; the tables' own queries live beside it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The file name of the store inside the data directory.
pub const STORE_FILE: &str = "state.sqlite3";

/// The schema version this build writes.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS loggers (
    name        TEXT PRIMARY KEY NOT NULL,
    factory     TEXT NOT NULL,
    description TEXT,
    config      TEXT NOT NULL,
    interval_ms INTEGER NOT NULL DEFAULT 0,
    running     INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS process_checklist (
    name   TEXT PRIMARY KEY NOT NULL,
    policy TEXT NOT NULL CHECK (policy IN ('allow', 'deny'))
);
CREATE TABLE IF NOT EXISTS subscriptions (
    base   TEXT NOT NULL,
    logger TEXT NOT NULL,
    PRIMARY KEY (base, logger)
);
CREATE TABLE IF NOT EXISTS spool (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    base      TEXT NOT NULL,
    logger    TEXT NOT NULL,
    record    BLOB NOT NULL,
    droppable INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS spool_by_base ON spool (base, id);
-- The oldest record of a base made again at its logger's next run (droppable = 2: process
-- checks), dropped past the bound before records of positioned loggers (spool/queries.rs).
CREATE INDEX IF NOT EXISTS spool_periodic_by_base ON spool (base, id) WHERE droppable = 2;
-- Each logger's records of a base in order: batches share a base between its loggers.
CREATE INDEX IF NOT EXISTS spool_by_logger ON spool (base, logger, id);
-- The oldest droppable record of a base, for a full spool: only droppable records are in it,
-- so security records cost no second index entry. (Until 2026-12 every record had one, in
-- `spool_droppable`.)
DROP INDEX IF EXISTS spool_droppable;
CREATE INDEX IF NOT EXISTS spool_droppable_by_base ON spool (base, id) WHERE droppable = 1;
-- The drop reports of a base, dropped after its performance records (see spool/queries.rs).
CREATE INDEX IF NOT EXISTS spool_reports_by_base ON spool (base, id) WHERE logger = 'sentry-spool';
-- The bytes each logger has in each base's spool (see spool/pressure.rs: a logger holding little
-- of a spool past its pause line is not what filled it).
CREATE TABLE IF NOT EXISTS spool_logger_totals (
    base   TEXT NOT NULL,
    logger TEXT NOT NULL,
    bytes  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (base, logger)
);
CREATE TABLE IF NOT EXISTS spool_totals (
    base    TEXT PRIMARY KEY NOT NULL,
    bytes   INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    logger TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (logger, key)
);
";

/// A failure of the state store, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {detail}")]
    Open { path: String, detail: String },
    #[error("state store {path} is corrupt ({detail}); move it aside to start with an empty state")]
    Corrupt { path: String, detail: String },
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A rule of the state was broken (duplicate logger, unknown name...).
    #[error("{0}")]
    Rejected(String),
}

/// The open state store.
pub struct Store {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// When each base last had records of its spool acknowledged, since the store was opened.
    pub(crate) spool_drained: Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// Counts again, from the records themselves, the bytes each logger has in a base's spool and
/// the base's total, wherever the loggers' do not add up to the base's: a store of an earlier
/// version (which keeps the base's total but not the loggers'), one an earlier version wrote to
/// since (its `spool forget` leaves the loggers' rows), or a total edited by hand. Only then is
/// anything written (a scan of the spool, once); otherwise this only reads the totals.
fn recount_where_totals_differ(connection: &Connection) -> Result<(), StoreError> {
    const DIFFERING: &str = "SELECT base FROM (
            SELECT base, bytes AS total, 0 AS loggers FROM spool_totals
            UNION ALL SELECT base, 0, bytes FROM spool_logger_totals)
         GROUP BY base HAVING SUM(total) != SUM(loggers)";
    let differing: Vec<String> = {
        let mut statement = connection.prepare(DIFFERING)?;
        statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?
    };
    if differing.is_empty() {
        return Ok(());
    }
    // Written at once (IMMEDIATE): a read turned into a write would not wait for another
    // connection (the CLI's, the agent's) to finish its own.
    // The bases as a JSON array: one scan of the spool for all of them.
    let bases = serde_json::to_string(&differing)
        .map_err(|e| StoreError::Open { path: "the spool's totals".into(), detail: e.to_string() })?;
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let recounted = (|| -> Result<(), StoreError> {
        const DIFFERING_BASES: &str = "(SELECT value FROM json_each(?1))";
        connection
            .execute(&format!("DELETE FROM spool_logger_totals WHERE base IN {DIFFERING_BASES}"), [&bases])?;
        connection.execute(
            &format!(
                "INSERT INTO spool_logger_totals (base, logger, bytes)
                 SELECT base, logger, SUM(length(record)) FROM spool NOT INDEXED
                  WHERE base IN {DIFFERING_BASES} GROUP BY base, logger"
            ),
            [&bases],
        )?;
        connection.execute(
            &format!(
                "UPDATE spool_totals SET bytes =
                   (SELECT COALESCE(SUM(bytes), 0) FROM spool_logger_totals AS loggers
                     WHERE loggers.base = spool_totals.base)
                  WHERE base IN {DIFFERING_BASES}"
            ),
            [&bases],
        )?;
        Ok(())
    })();
    match recounted {
        Ok(()) => connection.execute_batch("COMMIT")?,
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(error);
        }
    }
    tracing::info!(bases = differing.len(), "the spool's byte totals were counted again from its records");
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, kept from other accounts
    /// ([`super::private_files`]).
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(STORE_FILE);
        let shown = path.display().to_string();
        let open_error = |detail: String| StoreError::Open { path: shown.clone(), detail };
        super::private_files::prepare(data_dir, &path).map_err(open_error)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&path, flags).map_err(|e| open_error(e.to_string()))?;
        connection.busy_timeout(Duration::from_secs(5))?;
        let corrupt = |detail: String| StoreError::Corrupt { path: shown.clone(), detail };
        // The first read of the file: a foreign or damaged file fails here.
        let mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| corrupt(e.to_string()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_error(format!("cannot use a write-ahead log (journal mode {mode})")));
        }
        connection.pragma_update(None, "synchronous", "FULL")?;
        // SQLite made them with the store's mode; older ones may be looser.
        super::private_files::tighten_companions(&path).map_err(open_error)?;
        let check: String = connection
            .pragma_query_value(None, "quick_check", |row| row.get(0))
            .map_err(|e| corrupt(e.to_string()))?;
        if check != "ok" {
            return Err(corrupt(check));
        }
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(open_error(format!(
                "written by a newer kraken-sentry (schema {version}, this build knows {SCHEMA_VERSION})"
            )));
        }
        if version == 1 {
            // Version 2 marks which spooled records a full spool may drop first, and never
            // reuses a spool id (a link reads on after the last id it sent).
            connection.execute_batch(
                "BEGIN;
                 CREATE TABLE spool_v2 (
                     id        INTEGER PRIMARY KEY AUTOINCREMENT,
                     base      TEXT NOT NULL,
                     logger    TEXT NOT NULL,
                     record    BLOB NOT NULL,
                     droppable INTEGER NOT NULL DEFAULT 1
                 );
                 INSERT INTO spool_v2 (id, base, logger, record) SELECT id, base, logger, record FROM spool;
                 DROP TABLE spool;
                 ALTER TABLE spool_v2 RENAME TO spool;
                 COMMIT;",
            )?;
        }
        connection.execute_batch(SCHEMA)?;
        connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        // Once (a mark in `meta`, which earlier versions pass over): process-check records
        // spooled before they had a drop class of their own are marked so (see DropClass).
        connection.execute_batch(
            "BEGIN;
             UPDATE spool SET droppable = 2
              WHERE (SELECT count(*) FROM meta WHERE key = 'periodic_records_marked') = 0
                AND logger IN (SELECT name FROM loggers WHERE factory = 'process-check')
                AND droppable = 0;
             INSERT INTO meta (key, value) VALUES ('periodic_records_marked', '1') ON CONFLICT (key) DO NOTHING;
             COMMIT;",
        )?;
        recount_where_totals_differ(&connection)?;
        Ok(Store { path, connection: Mutex::new(connection), spool_drained: Mutex::default() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets `key` to `value` only if it has no value yet; true if this call set it. Used for
    /// one-time set-up such as creating the default loggers.
    pub fn set_once(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        let inserted = self.lock().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            (key, value),
        )?;
        Ok(inserted == 1)
    }

    /// Whether `key` has a value.
    pub fn has_meta(&self, key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = rusqlite::OptionalExtension::optional(self.lock().query_row(
            "SELECT 1 FROM meta WHERE key = ?1",
            [key],
            |row| row.get(0),
        ))?;
        Ok(found.is_some())
    }

    /// A number that changes whenever another connection commits to the store.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self.lock().pragma_query_value(None, "data_version", |row| row.get(0))?)
    }

    /// For tests: makes the store refuse to grow (as a full disk would, with SQLite's
    /// "database or disk is full"), or grow again.
    #[cfg(test)]
    pub(crate) fn refuse_growth(&self, refuse: bool) {
        let connection = self.lock();
        let pages: i64 = if refuse {
            connection.pragma_query_value(None, "page_count", |row| row.get(0)).unwrap()
        } else {
            i64::from(u32::MAX - 1)
        };
        connection.pragma_update(None, "max_page_count", pages).unwrap();
    }

    /// The connection, for this store's queries (here and in `crate::spool::queries`).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned lock is still usable.
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::spool::{DropClass, SpoolEntry};
    use crate::store::Policy;

    /// A fresh data directory under the system temp dir.
    pub(crate) fn temp_data_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kraken-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_foreign_file_is_reported_not_replaced() {
        let dir = temp_data_dir("foreign");
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = vec![0x5au8; 8192];
        std::fs::write(dir.join(STORE_FILE), &garbage).unwrap();
        let error = Store::open(&dir).err().expect("a garbage file must not open");
        let text = error.to_string();
        assert!(text.contains("is corrupt") && text.contains(STORE_FILE), "{text}");
        assert_eq!(std::fs::read(dir.join(STORE_FILE)).unwrap(), garbage, "the file was changed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_store_opens_twice_and_sees_the_other_connections_commits() {
        let dir = temp_data_dir("twice");
        let agent = Store::open(&dir).unwrap();
        let operator = Store::open(&dir).unwrap();
        let before = agent.data_version().unwrap();
        operator.set_process_rule("notepad.exe", Policy::Allow).unwrap();
        assert_ne!(agent.data_version().unwrap(), before);
        assert_eq!(agent.process_rules().unwrap().len(), 1);
        drop((agent, operator)); // Windows cannot delete an open file
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn spool_rows_of_earlier_versions_get_their_drop_class_once_and_logger_totals_that_add_up() {
        let dir = temp_data_dir("periodic-mark");
        let store = Store::open(&dir).unwrap();
        // A record as an earlier version spooled it: the base's total kept, the logger's not.
        let raw = |store: &Store, logger: &str| {
            let connection = store.lock();
            connection
                .execute(
                    "INSERT INTO spool (base, logger, record, droppable) VALUES ('central', ?1, x'01', 0)",
                    [logger],
                )
                .unwrap();
            connection
                .execute(
                    "INSERT INTO spool_totals (base, bytes) VALUES ('central', 1)
                     ON CONFLICT (base) DO UPDATE SET bytes = bytes + 1",
                    [],
                )
                .unwrap();
        };
        // As an earlier version left them: the marks made, then its process checks spooled as kept.
        store.lock().execute("DELETE FROM meta WHERE key = 'periodic_records_marked'", []).unwrap();
        for (name, factory) in [("procs", "process-check"), ("security", "windows-event-logger")] {
            let row = crate::store::LoggerRow::stopped(name, factory);
            store.insert_logger(&row).unwrap();
            raw(&store, name);
        }
        drop(store);
        let classes = |store: &Store| -> Vec<i64> {
            let connection = store.lock();
            let mut rows = connection.prepare("SELECT droppable FROM spool ORDER BY id").unwrap();
            rows.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        let store = Store::open(&dir).unwrap();
        assert_eq!(classes(&store), [DropClass::Periodic as i64, DropClass::Kept as i64]);
        // The bytes each logger has in the spool are counted, as they did not add up.
        assert_eq!(store.spool_logger_bytes("central", "procs").unwrap(), 1);
        assert_eq!(store.spool_logger_bytes("central", "security").unwrap(), 1);
        // Once only: a row left at 0 after the mark (as no row of this version is) stays so.
        raw(&store, "procs");
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(classes(&store), [2, 0, 0]);
        // Counted again, as an earlier version wrote to the store since.
        assert_eq!(store.spool_logger_bytes("central", "procs").unwrap(), 2);
        // Several bases at once, in one scan; a total edited by hand is counted again too, and
        // a base whose records are all gone, with loggers' rows left (an earlier version's
        // `spool forget`), is counted at 0.
        {
            let connection = store.lock();
            connection
                .execute_batch(
                    "INSERT INTO spool (base, logger, record, droppable) VALUES ('standby', 'security', x'0102', 0);
                     INSERT INTO spool_totals (base, bytes) VALUES ('standby', 99);
                     INSERT INTO spool_logger_totals (base, logger, bytes) VALUES ('gone', 'security', 7);
                     UPDATE spool_totals SET bytes = 40 WHERE base = 'central';",
                )
                .unwrap();
        }
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.spool_bytes("central").unwrap(), 3, "the base's total from its records");
        assert_eq!(store.spool_bytes("standby").unwrap(), 2);
        assert_eq!(store.spool_logger_bytes("standby", "security").unwrap(), 2);
        assert_eq!(store.spool_logger_bytes("gone", "security").unwrap(), 0);
        assert_eq!(store.spool_logger_bytes("central", "procs").unwrap(), 2);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_version_1_store_gains_the_droppable_mark_and_keeps_its_spool() {
        let dir = temp_data_dir("upgrade");
        std::fs::create_dir_all(&dir).unwrap();
        {
            let old = Connection::open(dir.join(STORE_FILE)).unwrap();
            old.execute_batch(
                "CREATE TABLE spool (id INTEGER PRIMARY KEY, base TEXT NOT NULL, logger TEXT NOT NULL,
                                     record BLOB NOT NULL);
                 INSERT INTO spool (base, logger, record) VALUES ('central', 'cpu', x'01');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = Store::open(&dir).unwrap();
        let waiting = store.spool_batch("central", 10, 1_000).unwrap();
        assert_eq!(waiting.len(), 1);
        let droppable: bool =
            store.lock().query_row("SELECT droppable FROM spool", [], |row| row.get(0)).unwrap();
        assert!(droppable, "records spooled before the upgrade count as droppable");
        // Ids are never reused from now on, even once the spool is empty.
        let first = waiting[0].id;
        store.spool_ack("central", &[first]).unwrap();
        let entry = SpoolEntry {
            base: "central".into(),
            logger: "cpu".into(),
            record: vec![2],
            class: DropClass::Performance,
        };
        store.spool_append(&[entry], &[], &[], 1_000).unwrap();
        assert!(store.spool_batch("central", 10, 1_000).unwrap()[0].id > first);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_droppable_records_are_in_the_index_a_full_spool_drops_by() {
        let dir = temp_data_dir("droppable-index");
        std::fs::create_dir_all(&dir).unwrap();
        {
            // A store as built before 2026-12: every record in `spool_droppable`.
            let old = Connection::open(dir.join(STORE_FILE)).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            old.execute_batch(
                "DROP INDEX spool_droppable_by_base;
                 CREATE INDEX spool_droppable ON spool (base, droppable, id);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let store = Store::open(&dir).unwrap();
        let indexes: Vec<String> = {
            let connection = store.lock();
            let mut names = connection
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spool' ORDER BY name")
                .unwrap();
            names.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(
            indexes,
            [
                "spool_by_base",
                "spool_by_logger",
                "spool_droppable_by_base",
                "spool_periodic_by_base",
                "spool_reports_by_base"
            ]
        );
        let entry = |droppable: bool| SpoolEntry {
            base: "central".into(),
            logger: if droppable { "cpu" } else { "events" }.into(),
            record: vec![7; 10],
            class: if droppable { DropClass::Performance } else { DropClass::Kept },
        };
        store.spool_append(&[entry(false), entry(true), entry(false)], &[], &[], 1_000).unwrap();
        let in_index: i64 = store
            .lock()
            .query_row("SELECT count(*) FROM spool INDEXED BY spool_droppable_by_base WHERE base = 'central' AND droppable = 1", [], |row| row.get(0))
            .unwrap();
        assert_eq!(in_index, 1);
        // Over the bound, the droppable record goes first.
        store.spool_append(&[entry(false)], &[], &[], 35).unwrap();
        let left: Vec<String> =
            store.spool_batch("central", 10, 1_000).unwrap().into_iter().map(|r| r.logger).collect();
        assert_eq!(left, ["events", "events", "events"]);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
