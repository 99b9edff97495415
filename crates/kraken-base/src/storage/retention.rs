//! Retention: every minute the `[retention]` limits (records older than `max_age_days`, 30 by
//! default, beyond `max_records` the oldest, and a sentry's oldest records beyond
//! `max_bytes_per_sentry`, 10 GiB by default, noted as a `quota-deleted` event of that sentry)
//! are applied to the storage, in steps: each
//! step is one transaction deleting at most [`BATCH`] rows, and the storage is left alone for
//! [`PAUSE`] between steps, so the record writer never waits behind retention for more than
//! one step (the `retention` bench measures the longest). A pass stops between two steps when
//! the base stops.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::model::{RetentionLimits, Storage, StorageError};
use crate::config::RetentionConfig;

/// How often the limits are applied.
const PERIOD: Duration = Duration::from_secs(60);
/// The most rows one step (one transaction) deletes.
pub const BATCH: usize = 2_000;
/// How long the storage is left to the writer between two steps.
pub const PAUSE: Duration = Duration::from_millis(5);
const DAY_MS: i64 = 86_400_000;

/// The event noted when a sentry's records over its quota were deleted.
pub const QUOTA_EVENT: &str = "quota-deleted";

/// What one pass over the storage did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Records deleted, by age, count and quota.
    pub records: u64,
    /// Of those, records deleted for a sentry's quota.
    pub over_quota: u64,
    /// Events and connections.
    pub other_rows: u64,
    /// Transactions.
    pub steps: u32,
    /// The longest time one step held the storage.
    pub longest_step: Duration,
}

/// The running retention task.
pub struct Retention {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Retention {
    /// Applies `policy` to `storage` now and then every minute, until [`Retention::stop`].
    pub fn spawn(storage: Arc<dyn Storage>, policy: RetentionConfig) -> Retention {
        let (stop, mut stopping) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PERIOD);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopping.changed() => return,
                }
                let (storage, policy, stopping) = (storage.clone(), policy.clone(), stopping.clone());
                let pass = tokio::task::spawn_blocking(move || {
                    apply(storage.as_ref(), &policy, SystemTime::now(), BATCH, &|| *stopping.borrow())
                });
                match pass.await {
                    Ok(Ok(pass)) if pass.records + pass.other_rows == 0 => {}
                    Ok(Ok(pass)) => tracing::info!(
                        records = pass.records,
                        other_rows = pass.other_rows,
                        steps = pass.steps,
                        longest_step_ms = pass.longest_step.as_millis() as u64,
                        "retention: old rows deleted"
                    ),
                    Ok(Err(error)) => tracing::warn!(%error, "retention failed"),
                    Err(error) => tracing::warn!(%error, "retention task failed"),
                }
            }
        });
        Retention { stop, task }
    }

    /// Stops: a pass in progress ends after its current step, which this waits for.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The limits of `policy` as of `now`.
pub fn limits(policy: &RetentionConfig, now: SystemTime) -> RetentionLimits {
    let now_ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    RetentionLimits {
        received_before_ms: now_ms.saturating_sub(i64::from(policy.max_age_days) * DAY_MS),
        max_records: policy.max_records,
    }
}

/// Applies `policy` once, as of `now`, in steps of at most `batch` rows with a [`PAUSE`]
/// between them, until nothing is left to delete or `stopping()` says so.
pub fn apply(
    storage: &dyn Storage,
    policy: &RetentionConfig,
    now: SystemTime,
    batch: usize,
    stopping: &dyn Fn() -> bool,
) -> Result<Pass, StorageError> {
    let limits = limits(policy, now);
    let mut pass = Pass::default();
    if !storage.runs_retention()? {
        return Ok(pass); // another node sharing the storage does it
    }
    loop {
        let deleted = storage.delete_expired(&limits, batch)?;
        pass.records += deleted.records;
        pass.other_rows += deleted.other_rows;
        pass.steps += 1;
        pass.longest_step = pass.longest_step.max(deleted.held);
        if stopping() {
            return Ok(pass);
        }
        if deleted.rows() < batch as u64 {
            break;
        }
        std::thread::sleep(PAUSE);
    }
    for (guid, before) in storage.sentries_over(policy.max_bytes_per_sentry)? {
        let mut removed = 0;
        let mut left = before;
        while left > policy.max_bytes_per_sentry && !stopping() {
            let started = std::time::Instant::now();
            let (deleted, now_left) = storage.delete_oldest_of(&guid, batch)?;
            pass.steps += 1;
            pass.longest_step = pass.longest_step.max(started.elapsed());
            removed += deleted;
            left = now_left;
            if deleted == 0 {
                break;
            }
            std::thread::sleep(PAUSE);
        }
        if removed > 0 {
            pass.records += removed;
            pass.over_quota += removed;
            tracing::warn!(%guid, records = removed, bytes = before - left.min(before), "sentry over its stored-bytes quota: its oldest records deleted");
            let detail = serde_json::json!({
                "records": removed,
                "bytes": before - left.min(before),
                "max_bytes_per_sentry": policy.max_bytes_per_sentry,
            });
            storage.record_event(&guid, QUOTA_EVENT, "", &detail)?;
        }
    }
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::storage::{RecordFilter, SqliteStorage, StoredRecord};

    fn storage_with_records(name: &str, count: i64) -> (std::path::PathBuf, Arc<SqliteStorage>) {
        let dir = std::env::temp_dir().join(format!("kraken-retention-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        storage.append(&(1..=count).map(StoredRecord::numbered).collect::<Vec<_>>()).unwrap();
        (dir, Arc::new(storage))
    }

    fn dates(storage: &SqliteStorage) -> Vec<i64> {
        storage.records(&RecordFilter::default()).unwrap().iter().map(|(_, r)| r.date_ms).collect()
    }

    const NEVER: &dyn Fn() -> bool = &|| false;

    #[test]
    fn the_default_keeps_30_days_and_a_count_limit_keeps_the_newest() {
        let (dir, storage) = storage_with_records("count", 5);
        let default = RetentionConfig::default();
        assert_eq!((default.max_age_days, default.max_records), (30, None));
        assert_eq!(apply(storage.as_ref(), &default, SystemTime::now(), BATCH, NEVER).unwrap().records, 0);
        assert_eq!(dates(&storage), [1, 2, 3, 4, 5]);
        let in_31_days = SystemTime::now() + Duration::from_secs(31 * 86_400);
        let policy = RetentionConfig { max_records: Some(2), ..RetentionConfig::default() };
        assert_eq!(apply(storage.as_ref(), &policy, SystemTime::now(), BATCH, NEVER).unwrap().records, 3);
        assert_eq!(dates(&storage), [4, 5]);
        assert_eq!(apply(storage.as_ref(), &default, in_31_days, BATCH, NEVER).unwrap().records, 2);
        assert!(dates(&storage).is_empty());
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_age_limit_counts_days_back_from_now() {
        let (dir, storage) = storage_with_records("age", 5);
        let policy = RetentionConfig { max_age_days: 1, ..RetentionConfig::default() };
        // Received just now: young enough today, too old two days from now.
        assert_eq!(apply(storage.as_ref(), &policy, SystemTime::now(), BATCH, NEVER).unwrap().records, 0);
        let later = SystemTime::now() + Duration::from_secs(2 * 86_400);
        assert_eq!(apply(storage.as_ref(), &policy, later, BATCH, NEVER).unwrap().records, 5);
        assert!(dates(&storage).is_empty());
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pass_goes_in_bounded_steps_the_writer_gets_in_between_and_a_stop_ends_it() {
        let (dir, storage) = storage_with_records("steps", 20_000);
        let later = SystemTime::now() + Duration::from_secs(2 * 86_400);
        let policy = RetentionConfig { max_age_days: 1, ..RetentionConfig::default() };
        // A writer appending all along: its appends go in between the pass's steps.
        let (started, writing) = (std::sync::mpsc::channel(), Arc::new(AtomicBool::new(true)));
        let writer = {
            let (storage, writing, started) = (storage.clone(), writing.clone(), started.0);
            std::thread::spawn(move || {
                let mut done = Vec::new();
                for n in 0.. {
                    if !writing.load(Ordering::SeqCst) {
                        break;
                    }
                    storage.append(&[StoredRecord::numbered(100_000 + n)]).unwrap();
                    done.push(Instant::now());
                    let _ = started.send(());
                    std::thread::sleep(Duration::from_millis(1));
                }
                done
            })
        };
        started.1.recv().unwrap();
        let pass_started = Instant::now();
        let pass = apply(storage.as_ref(), &policy, later, 1_000, NEVER).unwrap();
        let pass_ended = Instant::now();
        writing.store(false, Ordering::SeqCst);
        let appends = writer.join().unwrap();
        assert!(pass.records >= 20_000, "{pass:?}");
        assert!(pass.steps >= 20, "at most 1000 rows per step: {pass:?}");
        let during = appends.iter().filter(|at| **at > pass_started && **at < pass_ended).count();
        assert!(during >= 2, "{during} appends went in during a pass of {} steps", pass.steps);
        // Asked to stop, a pass ends after its first step.
        storage.append(&(1..=5_000).map(StoredRecord::numbered).collect::<Vec<_>>()).unwrap();
        let pass = apply(storage.as_ref(), &policy, later, 1_000, &|| true).unwrap();
        assert_eq!((pass.steps, pass.records), (1, 1_000));
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sentry_over_its_quota_loses_its_oldest_records_and_the_others_keep_theirs() {
        let dir = std::env::temp_dir().join(format!("kraken-retention-quota-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        // 3,000 records of 1 KiB for the noisy sentry, 10 for a quiet one, interleaved.
        let record = |guid: &str, n: i64| StoredRecord {
            guid: guid.into(),
            params: format!("{{\"pad\":\"{}\"}}", "x".repeat(1_014)),
            ..StoredRecord::numbered(n)
        };
        for n in 0..3_000 {
            let mut batch = vec![record("noisy", n)];
            if n % 300 == 0 {
                batch.push(record("quiet", n));
            }
            storage.append(&batch).unwrap();
        }
        let policy = RetentionConfig { max_bytes_per_sentry: 1 << 20, ..RetentionConfig::default() };
        let pass = apply(&storage, &policy, SystemTime::now(), 500, NEVER).unwrap();
        // 1 MiB holds 1,024 records of 1 KiB: at least the 1,976 oldest must go; in steps of 500,
        // that is 2,000.
        assert_eq!(pass.over_quota, 2_000, "{pass:?}");
        let noisy =
            storage.records(&RecordFilter { guid: Some("noisy".into()), limit: 5_000, ..Default::default() });
        let noisy: Vec<i64> = noisy.unwrap().iter().map(|(_, r)| r.date_ms).collect();
        assert_eq!(noisy.first(), Some(&2_000), "the oldest went first");
        assert_eq!(noisy.len(), 1_000);
        let quiet =
            storage.records(&RecordFilter { guid: Some("quiet".into()), limit: 100, ..Default::default() });
        assert_eq!(quiet.unwrap().len(), 10, "the quiet sentry keeps everything");
        let events = storage.events("noisy", 10).unwrap();
        assert_eq!(events[0].kind, QUOTA_EVENT);
        assert_eq!(events[0].detail["records"], 2_000);
        assert_eq!(storage.sentries_over(1 << 20).unwrap(), Vec::<(String, u64)>::new());
        // A file made before the usage table existed is counted when it is opened.
        drop(storage);
        let raw = rusqlite::Connection::open(dir.join("base.sqlite3")).unwrap();
        raw.execute_batch("DROP TRIGGER records_usage_after_delete; DROP TABLE sentry_usage;").unwrap();
        drop(raw);
        let reopened = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        assert_eq!(
            reopened.sentries_over(0).unwrap(),
            [("noisy".to_owned(), 1_024_000), ("quiet".to_owned(), 10_240)]
        );
        drop(reopened);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
