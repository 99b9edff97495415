//! The base's line to ClickHouse: the `clickhouse` crate's HTTP client on a small runtime of its
//! own, so the [`Storage`](super::super::Storage) calls (synchronous, made from the record
//! writer's thread and the blocking pool) can wait for it from any thread; every call has a
//! time limit. It also keeps the storage's [`Health`]: a call that could not reach the server
//! (refused, reset, timed out, or an error ClickHouse says will pass, such as too many parts)
//! marks it unavailable until a call succeeds.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clickhouse::Client;

use super::super::model::{StorageError, StorageHealth};
use super::settings::ClickHouseSettings;

/// How long one statement may take, sending and reading included.
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// ClickHouse error codes that say "try again later": too many parts or queries, a read-only
/// replica, network trouble between servers, an insert of unknown outcome, and the
/// credentials being refused (an operator fixes them; records wait meanwhile). A reply with no
/// code at all (a proxy's 502) counts as one too. A query's own timeout or memory limit (159,
/// 241) does not: it is that query's fault, and retrying it would hold every record behind it.
const TRANSIENT_CODES: &[u32] = &[164, 192, 193, 194, 202, 203, 209, 210, 242, 252, 285, 319, 425, 516];

/// Whether a call's failure may mark the storage unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Storing (and what storing needs): a failure that passes marks it unavailable, and the
    /// record writer waits.
    Store,
    /// Reading for an operator: a slow or failing read says nothing of storing.
    Read,
}

/// A client, its runtime, and what its last call showed.
pub struct Line {
    client: Client,
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    health: Mutex<StorageHealth>,
}

impl Line {
    /// A client for `settings` (not yet connected: ClickHouse is reached at the first call).
    pub fn new(settings: &ClickHouseSettings) -> Result<Line, StorageError> {
        let mut client = Client::default()
            .with_url(settings.url.trim_end_matches('/'))
            .with_user(&settings.user)
            // ClickHouse 18.16 knows no `RowBinaryWithNamesAndTypes`: rows go as `RowBinary`,
            // checked against the schema by the tests instead.
            .with_validation(false);
        if let Some(password) =
            settings.password().map_err(|e| StorageError(format!("clickhouse password: {e}")))?
        {
            client = client.with_password(password);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("clickhouse")
            .enable_all()
            .build()
            .map_err(|e| StorageError(format!("clickhouse runtime: {e}")))?;
        Ok(Line { client, runtime: Some(runtime), health: Mutex::new(StorageHealth::available()) })
    }

    /// Runs `call` with the client, waiting (on any thread) for at most [`CALL_LIMIT`]; the
    /// outcome of a [`Effect::Store`] call also updates the health.
    pub fn run<T, F>(
        &self,
        what: &str,
        effect: Effect,
        call: impl FnOnce(Client) -> F,
    ) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: Future<Output = clickhouse::error::Result<T>> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().expect("the runtime lives as long as the line");
        let work = call(self.client.clone());
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let result = match tokio::time::timeout(CALL_LIMIT, work).await {
                Ok(result) => result.map_err(Failure::from),
                Err(_) => Err(Failure { transient: true, text: format!("no answer within {CALL_LIMIT:?}") }),
            };
            let _ = done.send(result);
        });
        let result = outcome
            .recv()
            .unwrap_or_else(|_| Err(Failure { transient: true, text: "the call was dropped".into() }));
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if effect == Effect::Read {
            return result.map_err(|failure| StorageError(format!("clickhouse: {what}: {}", failure.text)));
        }
        match result {
            Ok(value) => {
                if !health.available {
                    tracing::info!("clickhouse is reachable again");
                    *health = StorageHealth::available();
                }
                Ok(value)
            }
            Err(failure) => {
                let text = format!("clickhouse: {what}: {}", failure.text);
                if failure.transient {
                    if health.available {
                        tracing::warn!(error = %text, "clickhouse is unavailable; records wait until it is back");
                        *health = StorageHealth::unavailable(&text, now_ms());
                    } else {
                        health.error = Some(text.clone());
                    }
                }
                Err(StorageError(text))
            }
        }
    }

    /// Inserts `rows` into `table` (already quoted) in one statement.
    pub fn insert<R>(&self, table: &str, rows: Vec<R>) -> Result<(), StorageError>
    where
        R: clickhouse::RowOwned + clickhouse::RowWrite + Send + Sync,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let table = table.to_owned();
        self.run("insert", Effect::Store, move |client| async move {
            let mut insert = client.insert_unescaped::<R>(&table).await?;
            for row in &rows {
                insert.write(row).await?;
            }
            insert.end().await
        })
    }

    /// What the last calls showed.
    pub fn health(&self) -> StorageHealth {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids on a runtime's own threads (where
        // the base's last handle may be let go).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A failed call, and whether it may pass by itself.
struct Failure {
    transient: bool,
    text: String,
}

impl From<clickhouse::error::Error> for Failure {
    fn from(error: clickhouse::error::Error) -> Self {
        use clickhouse::error::Error;
        let text = error.to_string();
        let transient = match &error {
            Error::Network(_) | Error::TimedOut => true,
            Error::BadResponse(reply) => error_code(reply).is_none_or(|code| TRANSIENT_CODES.contains(&code)),
            _ => false,
        };
        Failure { transient, text }
    }
}

/// The code of a ClickHouse error reply (`Code: 252, e.displayText() = ...` or
/// `Code: 252. DB::Exception: ...`).
fn error_code(reply: &str) -> Option<u32> {
    let after = &reply[reply.find("Code: ")? + 6..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_old_and_new_replies() {
        assert_eq!(error_code("Code: 252, e.displayText() = DB::Exception: Too many parts"), Some(252));
        assert_eq!(error_code("Code: 60. DB::Exception: Table x doesn't exist. (UNKNOWN_TABLE)"), Some(60));
        assert_eq!(error_code("bad response: 502 Bad Gateway"), None);
    }
}
