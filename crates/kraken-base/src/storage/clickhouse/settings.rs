//! `[storage]` for ClickHouse: where the server is, who the base is to it, which tables it
//! keeps, and how inserts are grouped. Checked at load: table and database names are
//! identifiers (they are written into statements, never bound), the URL is plain HTTP.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// How the base reaches ClickHouse and what it keeps there.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSettings {
    /// The HTTP interface, `http://host:8123` (plain HTTP only, for now).
    pub url: String,
    pub database: String,
    pub user: String,
    /// A file holding the user's password (first line); none for no password.
    pub password_file: Option<PathBuf>,
    pub records_table: String,
    pub events_table: String,
    pub sentries_table: String,
    pub loggers_table: String,
    pub usage_table: String,
    /// The base nodes sharing this ClickHouse, and where their admin APIs are.
    pub nodes_table: String,
    /// The longest records wait to be grouped into one insert (ClickHouse prefers a few large
    /// inserts to many small ones).
    pub insert_interval_ms: u64,
    /// An insert holds at most this many records.
    pub insert_max_rows: usize,
    /// This base node's name, kept with the sentries it holds (default: the host name).
    pub node: Option<String>,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        ClickHouseSettings {
            url: "http://127.0.0.1:8123".into(),
            database: "kraken".into(),
            user: "default".into(),
            password_file: None,
            records_table: "records".into(),
            events_table: "events".into(),
            sentries_table: "sentries".into(),
            loggers_table: "wanted_loggers".into(),
            usage_table: "sentry_usage".into(),
            nodes_table: "base_nodes".into(),
            insert_interval_ms: 500,
            insert_max_rows: 100_000,
            node: None,
        }
    }
}

impl ClickHouseSettings {
    /// The first setting out of range, as `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !self.url.starts_with("http://") || self.url.len() == "http://".len() {
            return Err((
                "url",
                format!(
                    "must be http://HOST:PORT (HTTPS to ClickHouse is not built yet: keep it on a private \
                     network or behind a TLS proxy), got {:?}",
                    self.url
                ),
            ));
        }
        let names = [
            ("database", &self.database),
            ("records_table", &self.records_table),
            ("events_table", &self.events_table),
            ("sentries_table", &self.sentries_table),
            ("loggers_table", &self.loggers_table),
            ("usage_table", &self.usage_table),
            ("nodes_table", &self.nodes_table),
        ];
        for (key, name) in names {
            if !is_identifier(name) {
                return Err((
                    key,
                    format!("must be letters, digits and `_` (not first a digit), got {name:?}"),
                ));
            }
        }
        let tables = [
            &self.records_table,
            &self.events_table,
            &self.sentries_table,
            &self.loggers_table,
            &self.usage_table,
            &self.nodes_table,
        ];
        for (i, table) in tables.iter().enumerate() {
            if tables[..i].contains(table) {
                return Err(("records_table", format!("the table name {table:?} is given twice")));
            }
        }
        if !(10..=60_000).contains(&self.insert_interval_ms) {
            return Err((
                "insert_interval_ms",
                format!("must be 10 to 60000, got {}", self.insert_interval_ms),
            ));
        }
        if !(1..=1_000_000).contains(&self.insert_max_rows) {
            return Err(("insert_max_rows", format!("must be 1 to 1000000, got {}", self.insert_max_rows)));
        }
        if let Some(node) = &self.node
            && (node.is_empty() || node.len() > 255)
        {
            return Err(("node", "must be 1 to 255 bytes".into()));
        }
        Ok(())
    }

    /// How long records wait to be grouped into one insert.
    pub fn insert_interval(&self) -> Duration {
        Duration::from_millis(self.insert_interval_ms)
    }

    /// The password, read from `password_file` (its first line), if one is set.
    pub fn password(&self) -> std::io::Result<Option<String>> {
        let Some(path) = &self.password_file else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(Some(text.lines().next().unwrap_or_default().to_owned()))
    }
}

/// Whether `name` may be written into a statement as it is: ASCII letters, digits and `_`,
/// not starting with a digit, at most 64 bytes.
pub fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_change_a_statement_are_refused() {
        for bad in ["", "1records", "records; DROP TABLE x", "re`cords", "a.b", "rec-ords", "ré", "r\n"] {
            assert!(!is_identifier(bad), "{bad:?}");
            let settings = ClickHouseSettings { records_table: bad.into(), ..Default::default() };
            assert_eq!(settings.check().unwrap_err().0, "records_table", "{bad:?}");
        }
        for good in ["records", "_r", "Kraken_records_2"] {
            assert!(is_identifier(good), "{good:?}");
        }
        assert!(ClickHouseSettings::default().check().is_ok());
    }

    #[test]
    fn one_table_for_two_jobs_is_refused() {
        let settings = ClickHouseSettings { events_table: "records".into(), ..Default::default() };
        assert!(settings.check().unwrap_err().1.contains("given twice"));
    }
}
