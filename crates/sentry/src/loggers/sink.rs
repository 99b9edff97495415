//! Where records go: the [`RecordSink`] trait, and the local JSON-lines sink.
//!
//! Loggers hand each run's records to every registered sink, in order. With no base configured
//! the agent writes them as JSON lines to standard output or to a file that rotates by size
//! (`records.jsonl` → `records.jsonl.1` ... `.N`), so it is useful on its own. The spool
//! (`crate::spool::sink`) is another sink, committing records for the bases.
//!
//! A JSON line is `{"date", "logger", "msg", "params"}` (date as ISO-8601 UTC), written straight
//! from the record ([`json_line`]).

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use kraken_codec::Value;
use kraken_codec::plain_json::{Plain, PlainMap};
use sentry_protocol::LogRecord;

use crate::rotating_file::RotatingFile;

/// Receives the records of every logger.
pub trait RecordSink: Send + Sync {
    /// Takes one run's records. An error is logged by the caller and does not stop the logger.
    fn write(&self, records: &[LogRecord]) -> io::Result<()>;

    /// Takes one run's records of a logger that reads from a position (possibly none, when
    /// only the position moved). Returns true when this sink committed `position` with the
    /// records; false leaves that to [`Self::save_position`] once every sink took them. A sink
    /// that fails must not keep the records for later: the logger reads them again.
    fn write_positioned(&self, records: &[LogRecord], _logger: &str, _position: &str) -> io::Result<bool> {
        if !records.is_empty() {
            self.write(records)?;
        }
        Ok(false)
    }

    /// Commits a logger's position on its own; true if this sink keeps positions.
    fn save_position(&self, _logger: &str, _position: &str) -> io::Result<bool> {
        Ok(false)
    }
}

/// The sinks records go to; sinks can be added while loggers run.
#[derive(Default)]
pub struct SinkSet {
    sinks: RwLock<Vec<Arc<dyn RecordSink>>>,
}

impl SinkSet {
    pub fn add(&self, sink: Arc<dyn RecordSink>) {
        self.sinks.write().unwrap_or_else(|p| p.into_inner()).push(sink);
    }

    /// Gives `records` to every sink; a failing sink is logged and the others still get them.
    pub fn write(&self, records: &[LogRecord]) {
        for sink in self.sinks.read().unwrap_or_else(|p| p.into_inner()).iter() {
            if let Err(error) = sink.write(records) {
                tracing::warn!(%error, "a record sink failed");
            }
        }
    }

    /// Gives a positioned logger's records to every sink and commits its position: with the
    /// records where a sink can (the spool), otherwise once every sink took them. If a sink
    /// fails before the position is committed, it stays where it was and the logger reads the
    /// same records again; a sink failing after the commit is only logged (the records are
    /// past: reading them again would send them twice). Returns whether the position was
    /// committed.
    pub fn write_positioned(&self, records: &[LogRecord], logger: &str, position: &str) -> bool {
        let sinks = self.sinks.read().unwrap_or_else(|p| p.into_inner());
        let mut committed = false;
        for sink in sinks.iter() {
            match sink.write_positioned(records, logger, position) {
                Ok(saved) => committed |= saved,
                Err(error) if committed => {
                    tracing::warn!(%error, logger, "a record sink failed after the position was committed");
                }
                Err(error) => {
                    tracing::warn!(%error, logger, "a record sink failed; the logger reads these records again");
                    return false;
                }
            }
        }
        for sink in sinks.iter() {
            if committed {
                break;
            }
            match sink.save_position(logger, position) {
                Ok(saved) => committed = saved,
                Err(error) => {
                    tracing::warn!(%error, logger, "cannot save the logger's position; it reads these records again");
                    return false;
                }
            }
        }
        committed
    }
}

/// Records as JSON lines on standard output, or in a size-rotated file.
pub struct JsonLinesSink {
    target: Mutex<Target>,
    /// Set when standard output was closed by its reader (`kraken-sentry run | head`).
    closed: std::sync::atomic::AtomicBool,
}

enum Target {
    Stdout,
    File(RotatingFile),
}

impl JsonLinesSink {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        JsonLinesSink { target: Mutex::new(Target::Stdout), closed: Default::default() }
    }

    /// Appends to `path`, rotating when it would pass `max_bytes` and keeping `keep` old files.
    pub fn file(path: &Path, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let file = RotatingFile::open(path, max_bytes, keep)?;
        Ok(JsonLinesSink { target: Mutex::new(Target::File(file)), closed: Default::default() })
    }

    /// True once standard output has been closed by its reader: nothing written here can be
    /// read any more, and the agent should stop rather than run blind.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl RecordSink for JsonLinesSink {
    fn write(&self, records: &[LogRecord]) -> io::Result<()> {
        let mut text = String::new();
        for record in records {
            text.push_str(&json_line(record));
            text.push('\n');
        }
        let mut target = self.target.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *target {
            Target::Stdout => {
                let mut out = io::stdout().lock();
                let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                if let Err(error) = &written
                    && error.kind() == io::ErrorKind::BrokenPipe
                {
                    self.closed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                written
            }
            Target::File(file) => file.append(text.as_bytes()),
        }
    }
}

/// One record as a JSON object: `{"date", "logger", "msg", "params"}`, date as ISO-8601 UTC.
pub fn json_line(record: &LogRecord) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        date: Plain<'a>,
        logger: &'a str,
        msg: Option<&'a str>,
        params: PlainMap<'a>,
    }
    let date = Value::from(record.date);
    let line = Line {
        date: Plain(&date),
        logger: &record.logger,
        msg: record.msg(),
        params: PlainMap(&record.params),
    };
    serde_json::to_string(&line).expect("a record always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_protocol::record::params;
    use std::fs;
    use std::time::SystemTime;

    /// A sink that commits positions (as the spool does), or one that fails every write.
    struct Committing(bool);

    impl RecordSink for Committing {
        fn write(&self, _records: &[LogRecord]) -> io::Result<()> {
            if self.0 { Ok(()) } else { Err(io::Error::other("disk full")) }
        }
        fn write_positioned(
            &self,
            records: &[LogRecord],
            _logger: &str,
            _position: &str,
        ) -> io::Result<bool> {
            self.write(records).map(|()| self.0)
        }
    }

    #[test]
    fn a_sink_failing_after_the_position_was_committed_does_not_undo_the_commit() {
        let record = LogRecord {
            date: SystemTime::now(),
            logger: "security".into(),
            params: params("t", "m".to_owned(), []),
        };
        let records = [record];
        let (commits, fails) = (Arc::new(Committing(true)), Arc::new(Committing(false)));
        let committed_first = SinkSet::default();
        committed_first.add(commits.clone());
        committed_first.add(fails.clone());
        assert!(committed_first.write_positioned(&records, "security", "p1"), "the position moved");
        let failing_first = SinkSet::default();
        failing_first.add(fails);
        failing_first.add(commits);
        assert!(!failing_first.write_positioned(&records, "security", "p1"), "nothing committed yet");
    }

    #[test]
    fn the_file_rotates_by_size_and_keeps_n_old_files() {
        let dir = std::env::temp_dir().join(format!("kraken-sink-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("records.jsonl");
        let sink = JsonLinesSink::file(&path, 300, 2).unwrap();
        let record = LogRecord {
            date: SystemTime::now(),
            logger: "cpu".into(),
            params: params("system", "x".repeat(100), []),
        };
        for _ in 0..10 {
            sink.write(std::slice::from_ref(&record)).unwrap();
        }
        let lines = |p: &Path| fs::read_to_string(p).map(|t| t.lines().count()).unwrap_or(0);
        assert!(path.with_extension("jsonl.1").exists() && path.with_extension("jsonl.2").exists());
        assert!(!path.with_extension("jsonl.3").exists());
        assert!(fs::metadata(&path).unwrap().len() <= 300);
        assert!(lines(&path) >= 1);
        let line = fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert_eq!(json["logger"], "cpu");
        drop(sink); // Windows cannot delete an open file
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_json_line_is_date_logger_msg_and_params_in_order() {
        let record = LogRecord {
            date: std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_500),
            logger: "cpu".into(),
            params: params("system", "cpu usage: 7%".into(), [("idle", Value::I32(93))]),
        };
        assert_eq!(
            json_line(&record),
            r#"{"date":"1970-01-01T00:00:01.500Z","logger":"cpu","msg":"cpu usage: 7%","params":{"logtype":"system","msg":"cpu usage: 7%","idle":93}}"#
        );
        let silent = LogRecord { params: kraken_codec::Map::new(), ..record };
        assert_eq!(
            json_line(&silent),
            r#"{"date":"1970-01-01T00:00:01.500Z","logger":"cpu","msg":null,"params":{}}"#
        );
    }
}
