//! Logger definitions: what `createLogger` made and whether it should be running.
//!
//! A logger's config is typed ([`OptionValue`]: string or integer) and stored as a JSON object,
//! so an integer option comes back an integer (BUG-20, BUG-30). `running` and `interval_ms` are
//! the desired state: the agent starts every logger marked running when it boots, and an
//! operator's `kraken-sentry logger start|stop` changes them for the agent to apply.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// A typed logger option value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Int(i64),
    Str(String),
}

/// One stored logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerRow {
    pub name: String,
    pub factory: String,
    pub description: Option<String>,
    pub config: BTreeMap<String, OptionValue>,
    /// The last interval it was started with (0 if never started).
    pub interval_ms: u32,
    /// Whether it should be running.
    pub running: bool,
}

const COLUMNS: &str = "name, factory, description, config, interval_ms, running";

fn from_row(row: &Row<'_>) -> rusqlite::Result<LoggerRow> {
    let name: String = row.get(0)?;
    let config: String = row.get(3)?;
    let config = serde_json::from_str(&config).map_err(|e| {
        let problem = format!("logger {name:?}: its stored options are not valid: {e}");
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, problem.into())
    })?;
    Ok(LoggerRow {
        name,
        factory: row.get(1)?,
        description: row.get(2)?,
        config,
        interval_ms: row.get(4)?,
        running: row.get(5)?,
    })
}

#[cfg(test)]
impl LoggerRow {
    /// A stopped logger of `factory` with no options, run every second (for tests).
    pub(crate) fn stopped(name: &str, factory: &str) -> Self {
        LoggerRow {
            name: name.into(),
            factory: factory.into(),
            description: None,
            config: BTreeMap::new(),
            interval_ms: 1000,
            running: false,
        }
    }
}

impl Store {
    /// Stores a new logger; a logger of the same name is an error and changes nothing.
    pub fn insert_logger(&self, logger: &LoggerRow) -> Result<(), StoreError> {
        let config =
            serde_json::to_string(&logger.config).map_err(|e| StoreError::Rejected(e.to_string()))?;
        let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let inserted = self.lock().execute(
            "INSERT INTO loggers (name, factory, description, config, interval_ms, running, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO NOTHING",
            (
                &logger.name,
                &logger.factory,
                &logger.description,
                config,
                logger.interval_ms,
                logger.running,
                created,
            ),
        )?;
        if inserted == 0 {
            return Err(StoreError::Rejected(format!("logger already exists: local\\{}", logger.name)));
        }
        Ok(())
    }

    /// Deletes a logger and its cursors. It must exist and must not be marked running.
    pub fn delete_logger(&self, name: &str) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let running: Option<bool> = transaction
            .query_row("SELECT running FROM loggers WHERE name = ?1", [name], |row| row.get(0))
            .optional()?;
        match running {
            None => return Err(StoreError::Rejected(format!("logger not found: {name}"))),
            Some(true) => return Err(StoreError::Rejected(format!("logger is running: {name}"))),
            Some(false) => {}
        }
        transaction.execute("DELETE FROM loggers WHERE name = ?1", [name])?;
        // The spool sequence stays: a logger made again under this name carries on numbering,
        // so a base never takes its records for ones it already has.
        transaction.execute("DELETE FROM cursors WHERE logger = ?1 AND key != 'seq'", [name])?;
        transaction.commit()?;
        Ok(())
    }

    /// When each stored logger was made (`created_ms`), by name.
    pub fn logger_made_times(&self) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT name, created_ms FROM loggers")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets `name`'s position and other cursors but its spool sequence (which a logger made
    /// again under the name carries on).
    pub fn forget_position(&self, name: &str) -> Result<(), StoreError> {
        self.lock().execute("DELETE FROM cursors WHERE logger = ?1 AND key != 'seq'", [name])?;
        Ok(())
    }

    /// Records the desired running state (and, when starting, the interval).
    pub fn set_logger_running(
        &self,
        name: &str,
        running: bool,
        interval_ms: Option<u32>,
    ) -> Result<(), StoreError> {
        let updated = match interval_ms {
            Some(interval) => self.lock().execute(
                "UPDATE loggers SET running = ?2, interval_ms = ?3 WHERE name = ?1",
                (name, running, interval),
            )?,
            None => {
                self.lock().execute("UPDATE loggers SET running = ?2 WHERE name = ?1", (name, running))?
            }
        };
        if updated == 0 {
            return Err(StoreError::Rejected(format!("logger not found: {name}")));
        }
        Ok(())
    }

    /// One logger, if it exists.
    pub fn logger(&self, name: &str) -> Result<Option<LoggerRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM loggers WHERE name = ?1");
        Ok(self.lock().query_row(&sql, [name], from_row).optional()?)
    }

    /// Every logger, by name.
    pub fn loggers(&self) -> Result<Vec<LoggerRow>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare(&format!("SELECT {COLUMNS} FROM loggers ORDER BY name"))?;
        let rows = statement.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::database::tests::temp_data_dir;

    fn row(name: &str) -> LoggerRow {
        LoggerRow {
            name: name.into(),
            factory: "cpu-usage".into(),
            description: Some("cpu".into()),
            config: BTreeMap::from([
                ("event_source".to_owned(), OptionValue::Str("System".into())),
                ("limit".to_owned(), OptionValue::Int(5)),
            ]),
            interval_ms: 0,
            running: false,
        }
    }

    #[test]
    fn loggers_round_trip_with_typed_config_and_reject_duplicates() {
        let dir = temp_data_dir("loggers");
        let store = Store::open(&dir).unwrap();
        store.insert_logger(&row("cpu")).unwrap();
        let error = store.insert_logger(&LoggerRow { factory: "other".into(), ..row("cpu") }).unwrap_err();
        assert_eq!(error.to_string(), "logger already exists: local\\cpu");
        assert_eq!(store.logger("cpu").unwrap(), Some(row("cpu")), "the duplicate changed nothing");
        store.set_logger_running("cpu", true, Some(5_000)).unwrap();
        let reopened = Store::open(&dir).unwrap();
        let cpu = reopened.logger("cpu").unwrap().unwrap();
        assert_eq!((cpu.running, cpu.interval_ms), (true, 5_000));
        assert_eq!(cpu.config["limit"], OptionValue::Int(5));
        assert_eq!(reopened.delete_logger("cpu").unwrap_err().to_string(), "logger is running: cpu");
        reopened.set_logger_running("cpu", false, None).unwrap();
        reopened.delete_logger("cpu").unwrap();
        assert_eq!(reopened.delete_logger("cpu").unwrap_err().to_string(), "logger not found: cpu");
        assert!(reopened.loggers().unwrap().is_empty());
        drop((store, reopened)); // Windows cannot delete an open file
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_stored_options_name_the_logger() {
        let dir = temp_data_dir("damaged-options");
        let store = Store::open(&dir).unwrap();
        store.insert_logger(&row("cpu")).unwrap();
        store.lock().execute("UPDATE loggers SET config = '{not json' WHERE name = 'cpu'", []).unwrap();
        let error = store.loggers().unwrap_err().to_string();
        assert!(error.contains("logger \"cpu\": its stored options are not valid"), "{error}");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
