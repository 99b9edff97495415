//! Logger cursors: small named values a logger keeps between runs and restarts (`seq`, the
//! spool's sequence number; `position`, where a logger reading a source has got to). A
//! cursor written with records is saved in the records' own transaction ([`save`]).

use rusqlite::{Connection, OptionalExtension};

use super::{Store, StoreError};

/// The cursor key under which a positioned logger's position is kept.
pub const POSITION_CURSOR: &str = "position";

/// Saves `logger`'s cursor `key` inside the caller's transaction.
pub(crate) fn save(connection: &Connection, logger: &str, key: &str, value: &str) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO cursors (logger, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (logger, key) DO UPDATE SET value = excluded.value",
        )?
        .execute((logger, key, value))?;
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

    /// Saves `logger`'s cursor `key` on its own.
    pub fn save_cursor(&self, logger: &str, key: &str, value: &str) -> Result<(), StoreError> {
        save(&self.lock(), logger, key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::database::tests::temp_data_dir;

    #[test]
    fn a_cursor_is_saved_replaced_and_read_back() {
        let dir = temp_data_dir("cursors");
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.cursor("security", "position").unwrap(), None);
        store.save_cursor("security", "position", "a").unwrap();
        store.save_cursor("security", "position", "b").unwrap();
        assert_eq!(store.cursor("security", "position").unwrap().as_deref(), Some("b"));
        assert_eq!(store.cursor("system", "position").unwrap(), None);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
