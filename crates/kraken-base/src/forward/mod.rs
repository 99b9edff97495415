//! Forwarding: stored records passed on to the SIEM a team already runs, as RFC 5424 syslog
//! over TCP or TLS, at least once, each `[[forward]]` output with its own durable cursor.
//!
//! Modules: `settings` (the `[[forward]]` table), `syslog` (a record as a framed message),
//! `link` (the connection), `cursor` (the saved position), `output` (one output's loop) and
//! `stats` (its counters, for the metrics).

pub mod cursor;
pub mod link;
pub mod output;
pub mod settings;
pub mod stats;
pub mod syslog;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use settings::{ForwardConfig, StartAt};
pub use stats::OutputStats;

use crate::metrics::BaseMetrics;
use crate::storage::Storage;

/// How long stopping the outputs may take.
pub const STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The running outputs.
pub struct Forwarders {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Each output's name and counters.
    pub outputs: Vec<(String, Arc<OutputStats>)>,
}

impl Forwarders {
    /// Starts every output (none: nothing runs). Their files are read now: a bad CA, key or
    /// cursor stops the base at start.
    pub async fn start(
        configs: &[ForwardConfig],
        storage: Arc<dyn Storage>,
        data_dir: &Path,
        metrics: &BaseMetrics,
    ) -> anyhow::Result<Forwarders> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut outputs = Vec::new();
        for config in configs {
            let dialer = link::Dialer::new(config)?;
            let cursor = cursor::CursorFile::new(&data_dir.join("forward"), &config.name, storage.kind());
            let saved = cursor.load()?;
            let newest = {
                let storage = storage.clone();
                tokio::task::spawn_blocking(move || storage.newest_record_id()).await?
            };
            let start = match saved {
                // Past every record stored: the storage was replaced (a new database starts its
                // ids again), so everything in it is new to this output.
                Some(id) if newest.as_ref().is_ok_and(|newest| id > *newest) => {
                    tracing::warn!(
                        output = %config.name,
                        cursor = id,
                        newest = newest.as_ref().ok(),
                        "the forward cursor is past the newest record stored (a new database?): sending every record kept"
                    );
                    cursor.save(0)?;
                    0
                }
                Some(id) => id,
                None => {
                    let (storage, start_at) = (storage.clone(), config.start);
                    let id = tokio::task::spawn_blocking(move || first_position(storage.as_ref(), start_at))
                        .await?
                        .with_context(|| {
                            format!("[[forward]] {:?}: cannot read where to start", config.name)
                        })?;
                    cursor.save(id)?;
                    id
                }
            };
            let stats = metrics.output(&config.name);
            tracing::info!(output = %config.name, address = %config.address, after_id = start, "forwarding records");
            let output = output::Output {
                name: config.name.clone(),
                dialer,
                format: config.format(),
                storage: storage.clone(),
                cursor,
                max_backlog: config.max_backlog,
                stats: stats.clone(),
            };
            tasks.push(tokio::spawn(output.run(start, stopped.clone())));
            outputs.push((config.name.clone(), stats));
        }
        Ok(Forwarders { stop, tasks, outputs })
    }

    /// Stops every output (what was confirmed is saved; the rest is sent after the next start),
    /// giving them [`STOP_LIMIT`] in all: a task still busy then is dropped.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + STOP_LIMIT;
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Where a new output starts: after the newest record stored (`end`), or before the oldest.
fn first_position(storage: &dyn Storage, start: StartAt) -> Result<i64, crate::storage::StorageError> {
    match start {
        StartAt::Beginning => Ok(0),
        StartAt::End => storage.newest_record_id(),
    }
}
