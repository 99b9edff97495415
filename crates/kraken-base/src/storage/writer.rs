//! The record writer: one thread that commits received records to storage in the order they
//! arrived, grouping whatever is waiting (or, for a storage that asks, what arrives within a
//! short linger) into one append. While the storage is unavailable it holds the group and
//! tries again; a group the storage refuses otherwise is tried job by job, so one sender's
//! bad records fail alone.
//!
//! Calls handling `onLog`/`onLogBatch` hand their records over with [`RecordWriter::submit`]
//! while they are dispatched: the job is queued by that call itself, so records are queued in
//! arrival order (a sentry may have several batches in flight, and its records must still be
//! stored in order). The thread takes the first waiting job, then every other job already
//! waiting (up to [`GROUP_RECORDS`] records), and appends them all in one transaction: under
//! load, many batches share one commit (one fsync). Each job learns the outcome of its
//! transaction; a job is acknowledged only once its records are committed. The queue itself
//! never makes a submitter wait: what it may hold is bounded in bytes by the intake
//! ([`crate::intake`]), whose permit a job carries until its commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::{mpsc, oneshot};

use super::model::{Grouping, Storage, StorageError, StoredRecord};
use crate::intake::IntakePermit;

/// The logger name and logtype of a sentry's spool-drop reports.
const SPOOL_DROP_LOGGER: &str = "sentry-spool";
const SPOOL_DROP_LOGTYPE: &str = "spool-drop";
/// The most drops one report counts for (a spool holds fewer records than this).
const MOST_DROPS_REPORTED: u64 = 1 << 40;
/// The most records committed in one transaction.
const GROUP_RECORDS: usize = 100_000;
/// How often a lingering group looks for more jobs.
const LINGER_POLL: Duration = Duration::from_millis(5);
/// The first wait before appending again to an unavailable storage, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MOST: Duration = Duration::from_secs(5);

struct Job {
    records: Vec<StoredRecord>,
    /// How many records it brought, and when it was queued (for the metrics).
    count: usize,
    /// Records its spool-drop reports say were dropped, counted once committed.
    drops_reported: u64,
    queued_at: Instant,
    done: oneshot::Sender<Result<(), StorageError>>,
    /// The intake room the records take, given back once they are committed.
    _room: Option<IntakePermit>,
}

/// The handle calls submit records through.
#[derive(Clone)]
pub struct RecordWriter {
    queue: mpsc::UnboundedSender<Job>,
    metrics: WriterMetrics,
}

/// What the writer counts, for the base's metrics (each a shared handle: clones count
/// together).
#[derive(Clone, Debug)]
pub struct WriterMetrics {
    /// Records submitted (received from sentries).
    pub received: Counter,
    /// Records committed (resends the storage skipped included).
    pub stored: Counter,
    /// From a batch's submission to its commit.
    pub store_seconds: Histogram,
    /// Appends that failed (each retry of an unavailable storage counts).
    pub storage_errors: Counter,
    /// Records sentries reported dropping from their spools (the `dropped` of their
    /// `sentry-spool` records).
    pub spool_drops_reported: Counter,
}

impl Default for WriterMetrics {
    fn default() -> Self {
        WriterMetrics {
            received: Counter::default(),
            stored: Counter::default(),
            // 1 ms to about 33 s.
            store_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            storage_errors: Counter::default(),
            spool_drops_reported: Counter::default(),
        }
    }
}

impl RecordWriter {
    /// Starts the writer thread over `storage`; it ends when every handle is dropped.
    pub fn start(storage: Arc<dyn Storage>) -> std::io::Result<RecordWriter> {
        Self::start_counted(storage, WriterMetrics::default())
    }

    /// The same, counting into `metrics`.
    pub fn start_counted(storage: Arc<dyn Storage>, metrics: WriterMetrics) -> std::io::Result<RecordWriter> {
        let (queue, jobs) = mpsc::unbounded_channel();
        let counting = metrics.clone();
        std::thread::Builder::new()
            .name("record-writer".into())
            .spawn(move || write_loop(storage, jobs, &counting))?;
        Ok(RecordWriter { queue, metrics })
    }

    /// Resolves once every job queued before this call is committed (the queue is first in,
    /// first out): an empty job, waited for.
    pub async fn drain(&self) -> Result<(), StorageError> {
        self.submit(Vec::new(), None).await
    }

    /// Queues `records` now, in call order, with the intake `room` they take, and returns what
    /// resolves once they are committed.
    pub fn submit(
        &self,
        records: Vec<StoredRecord>,
        room: Option<IntakePermit>,
    ) -> impl std::future::Future<Output = Result<(), StorageError>> + Send + 'static {
        let (done, outcome) = oneshot::channel();
        let count = records.len();
        self.metrics.received.inc_by(count as u64);
        let drops_reported = records.iter().map(reported_drops).sum();
        let job = Job { records, count, drops_reported, queued_at: Instant::now(), done, _room: room };
        let queued = self.queue.send(job);
        async move {
            queued.map_err(|_| StorageError("the record writer has stopped".into()))?;
            outcome.await.map_err(|_| StorageError("the record writer has stopped".into()))?
        }
    }
}

/// The `dropped` count of a sentry's spool-drop report (0 for any other record), at most
/// [`MOST_DROPS_REPORTED`]: the number is the sentry's word.
fn reported_drops(record: &StoredRecord) -> u64 {
    if record.logger != SPOOL_DROP_LOGGER || record.logtype.as_deref() != Some(SPOOL_DROP_LOGTYPE) {
        return 0;
    }
    let params: serde_json::Value = serde_json::from_str(&record.params).unwrap_or_default();
    params.get("dropped").and_then(serde_json::Value::as_u64).unwrap_or(0).min(MOST_DROPS_REPORTED)
}

fn write_loop(storage: Arc<dyn Storage>, mut jobs: mpsc::UnboundedReceiver<Job>, metrics: &WriterMetrics) {
    let grouping = storage.grouping();
    while let Some(first) = jobs.blocking_recv() {
        let mut group = gather(first, &mut jobs, grouping);
        // The group's records in one list, and where each job's end.
        let mut ends = Vec::with_capacity(group.len());
        let mut records = Vec::new();
        for job in &mut group {
            records.append(&mut job.records);
            ends.push(records.len());
        }
        match append_until_available(storage.as_ref(), metrics, &records) {
            Ok(()) => finish(group, &Ok(()), metrics),
            Err(error) if group.len() == 1 => {
                tracing::error!(%error, records = records.len(), "records could not be stored; their sender will resend them");
                finish(group, &Err(error), metrics);
            }
            Err(_) => {
                // One job's records may be what the storage refuses: each job alone, so the
                // others are stored.
                let mut start = 0;
                for (job, end) in group.into_iter().zip(ends) {
                    let outcome = append_until_available(storage.as_ref(), metrics, &records[start..end]);
                    if let Err(error) = &outcome {
                        tracing::error!(%error, records = end - start, "records could not be stored; their sender will resend them");
                    }
                    finish(vec![job], &outcome, metrics);
                    start = end;
                }
            }
        }
    }
}

/// `first` and the jobs that follow it within the storage's linger, up to its record limit.
fn gather(first: Job, jobs: &mut mpsc::UnboundedReceiver<Job>, grouping: Grouping) -> Vec<Job> {
    let max_records = grouping.max_records.min(GROUP_RECORDS);
    let deadline = Instant::now() + grouping.linger;
    let mut count = first.records.len();
    let mut group = vec![first];
    while count < max_records {
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                std::thread::sleep(LINGER_POLL.min(deadline.saturating_duration_since(Instant::now())));
                continue;
            }
            Err(_) => break,
        };
        count += job.records.len();
        group.push(job);
    }
    group
}

/// Appends `records` in one go; while the storage is unavailable (a server
/// down), tries again every few seconds rather than fail: nothing is acknowledged meanwhile,
/// and the intake stops taking records once its room is held.
fn append_until_available(
    storage: &dyn Storage,
    metrics: &WriterMetrics,
    records: &[StoredRecord],
) -> Result<(), StorageError> {
    let mut wait = RETRY_FIRST;
    loop {
        let outcome = storage.append(records);
        if outcome.is_err() {
            metrics.storage_errors.inc();
        }
        match outcome {
            Ok(_) => return Ok(()),
            Err(error) if !storage.health().available => {
                tracing::debug!(%error, retry_in = ?wait, records = records.len(), "storage unavailable: records held");
                std::thread::sleep(wait);
                wait = (wait * 2).min(RETRY_MOST);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Tells each job of `group` how its append went.
fn finish(group: Vec<Job>, outcome: &Result<(), StorageError>, metrics: &WriterMetrics) {
    for job in group {
        if outcome.is_ok() && job.count > 0 {
            metrics.stored.inc_by(job.count as u64);
            metrics.spool_drops_reported.inc_by(job.drops_reported);
            metrics.store_seconds.observe(job.queued_at.elapsed().as_secs_f64());
        }
        let _ = job.done.send(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{RecordFilter, SqliteStorage};

    /// A fresh SQLite storage under the temp dir, and a runtime like the base's.
    fn storage_and_runtime(name: &str) -> (std::path::PathBuf, Arc<dyn Storage>, tokio::runtime::Runtime) {
        let dir = std::env::temp_dir().join(format!("kraken-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.join("base.sqlite3")).unwrap());
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        (dir, storage, runtime)
    }

    #[test]
    fn records_are_committed_in_submission_order() {
        let (dir, storage, runtime) = storage_and_runtime("order");
        runtime.block_on(async {
            let writer = RecordWriter::start(storage.clone()).unwrap();
            let mut pending = Vec::new();
            for batch in 0..50 {
                let submitted =
                    writer.submit((batch * 10..batch * 10 + 10).map(StoredRecord::numbered).collect(), None);
                pending.push(tokio::spawn(submitted));
            }
            for job in pending {
                job.await.unwrap().unwrap();
            }
        });
        let stored = storage.records(&RecordFilter { limit: 10_000, ..Default::default() }).unwrap();
        let seqs: Vec<i64> = stored.iter().map(|(_, r)| r.seq.unwrap()).collect();
        assert_eq!(seqs, (0..500).collect::<Vec<_>>());
        release(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_drain_returns_once_everything_queued_before_it_is_committed() {
        let (dir, storage, runtime) = storage_and_runtime("drain");
        runtime.block_on(async {
            let writer = RecordWriter::start(storage.clone()).unwrap();
            for batch in 0..20 {
                // Queued, as a post's records are, and never waited for by their submitter.
                drop(
                    writer
                        .submit((batch * 100..batch * 100 + 100).map(StoredRecord::numbered).collect(), None),
                );
            }
            writer.drain().await.unwrap();
            let stored = storage.records(&RecordFilter { limit: 10_000, ..Default::default() }).unwrap();
            assert_eq!(stored.len(), 2_000, "every record queued before the drain is committed");
        });
        release(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Drops the test's storage once the writer thread, which ends when its last handle is
    /// dropped, has let go of it too: Windows cannot delete a database file still open.
    fn release(storage: Arc<dyn Storage>) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&storage) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        drop(storage);
    }
}
