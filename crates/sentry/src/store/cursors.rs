//! Logger cursors: small named values a logger keeps between runs and restarts (`seq`, the
//! spool's sequence number; `position`, where a logger reading a source has got to). A
//! cursor written with records is saved in the records' own transaction ([`save`]).
//!
//! Only a logger that exists has cursors saved: a run still under way when its logger was
//! removed (`kraken-sentry logger stop` then `remove` while the agent runs) cannot write its
//! position back, so a logger made again under that name starts as configured (`start_at`,
//! `last_id`) rather than at a position left from the removed one.

use rusqlite::{Connection, OptionalExtension};

use super::{Store, StoreError};

/// The cursor key under which a positioned logger's position is kept.
pub const POSITION_CURSOR: &str = "position";

/// Saves `logger`'s cursor `key` inside the caller's transaction, if the logger exists.
pub(crate) fn save(connection: &Connection, logger: &str, key: &str, value: &str) -> Result<(), StoreError> {
    let saved = connection
        .prepare_cached(
            "INSERT INTO cursors (logger, key, value)
             SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM loggers WHERE name = ?1)
             ON CONFLICT (logger, key) DO UPDATE SET value = excluded.value",
        )?
        .execute((logger, key, value))?;
    if saved == 0 {
        tracing::warn!(logger, key, "not saved: the logger was removed");
    }
    Ok(())
}

impl Store {
    /// `logger`'s cursor `key`, if saved.
    pub fn cursor(&self, logger: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM cursors WHERE logger = ?1 AND key = ?2", (logger, key), |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Saves `logger`'s cursor `key` on its own, if the logger exists.
    pub fn save_cursor(&self, logger: &str, key: &str, value: &str) -> Result<(), StoreError> {
        save(&self.lock(), logger, key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::database::tests::temp_data_dir;

    fn logger(name: &str) -> crate::store::LoggerRow {
        crate::store::LoggerRow::stopped(name, "windows-event-logger")
    }

    #[test]
    fn a_cursor_is_saved_replaced_and_read_back() {
        let dir = temp_data_dir("cursors");
        let store = Store::open(&dir).unwrap();
        store.insert_logger(&logger("security")).unwrap();
        assert_eq!(store.cursor("security", "position").unwrap(), None);
        store.save_cursor("security", "position", "a").unwrap();
        store.save_cursor("security", "position", "b").unwrap();
        assert_eq!(store.cursor("security", "position").unwrap().as_deref(), Some("b"));
        assert_eq!(store.cursor("system", "position").unwrap(), None);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_run_that_ends_after_its_logger_was_removed_leaves_no_position_behind() {
        let dir = temp_data_dir("cursors-removed");
        let store = Store::open(&dir).unwrap();
        store.insert_logger(&logger("security")).unwrap();
        store.save_cursor("security", POSITION_CURSOR, "read up to 10").unwrap();
        store.delete_logger("security").unwrap();
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap(), None);
        // The run under way commits its records and position, or saves a start of its own.
        let entry = crate::spool::SpoolEntry {
            base: "central".into(),
            logger: "security".into(),
            record: vec![1],
            class: crate::spool::DropClass::Kept,
        };
        store.spool_append(&[entry], &[("security", 11)], &[("security", "read up to 11")], 1 << 20).unwrap();
        store.save_cursor("security", POSITION_CURSOR, "now").unwrap();
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap(), None);
        // Made again, it starts as configured; its numbering carries on.
        store.insert_logger(&logger("security")).unwrap();
        assert_eq!(store.cursor("security", POSITION_CURSOR).unwrap(), None);
        assert_eq!(store.spool_sequence("security").unwrap(), 11);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
