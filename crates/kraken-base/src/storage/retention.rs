//! Retention: every minute, the `[retention]` limits (records older than `max_age_days`, and
//! beyond `max_records` the oldest) are applied to the storage.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::model::{Storage, StorageError};
use crate::config::RetentionConfig;

/// How often the limits are applied.
const PERIOD: Duration = Duration::from_secs(60);
const DAY_MS: i64 = 86_400_000;

/// Applies `policy` to `storage` now and then every minute, for as long as the runtime runs.
pub fn spawn(storage: Arc<dyn Storage>, policy: RetentionConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            let (storage, policy) = (storage.clone(), policy.clone());
            match tokio::task::spawn_blocking(move || apply(storage.as_ref(), &policy, SystemTime::now()))
                .await
            {
                Ok(Ok(0)) => {}
                Ok(Ok(deleted)) => tracing::info!(deleted, "retention: old records deleted"),
                Ok(Err(error)) => tracing::warn!(%error, "retention failed"),
                Err(error) => tracing::warn!(%error, "retention task failed"),
            }
        }
    })
}

/// Applies `policy` once, as of `now`; returns how many records were deleted (none, without
/// touching the storage, when the policy sets no limit).
pub fn apply(storage: &dyn Storage, policy: &RetentionConfig, now: SystemTime) -> Result<u64, StorageError> {
    let cutoff = policy.max_age_days.map(|days| {
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
        now_ms - i64::from(days) * DAY_MS
    });
    if cutoff.is_none() && policy.max_records.is_none() {
        return Ok(0);
    }
    storage.enforce_retention(cutoff, policy.max_records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{RecordFilter, SqliteStorage, StoredRecord};

    fn storage_with_five_records(name: &str) -> (std::path::PathBuf, SqliteStorage) {
        let dir = std::env::temp_dir().join(format!("kraken-retention-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = SqliteStorage::open(&dir.join("base.sqlite3")).unwrap();
        storage.append(&(1..=5).map(StoredRecord::numbered).collect::<Vec<_>>()).unwrap();
        (dir, storage)
    }

    fn dates(storage: &SqliteStorage) -> Vec<i64> {
        storage.records(&RecordFilter::default()).unwrap().iter().map(|(_, r)| r.date_ms).collect()
    }

    #[test]
    fn no_limit_deletes_nothing_and_a_count_limit_keeps_the_newest() {
        let (dir, storage) = storage_with_five_records("count");
        assert_eq!(apply(&storage, &RetentionConfig::default(), SystemTime::now()).unwrap(), 0);
        assert_eq!(dates(&storage), [1, 2, 3, 4, 5]);
        let policy = RetentionConfig { max_age_days: None, max_records: Some(2) };
        assert_eq!(apply(&storage, &policy, SystemTime::now()).unwrap(), 3);
        assert_eq!(dates(&storage), [4, 5]);
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_age_limit_counts_days_back_from_now() {
        let (dir, storage) = storage_with_five_records("age");
        let policy = RetentionConfig { max_age_days: Some(1), max_records: None };
        // Received just now: young enough today, too old two days from now.
        assert_eq!(apply(&storage, &policy, SystemTime::now()).unwrap(), 0);
        let later = SystemTime::now() + Duration::from_secs(2 * 86_400);
        assert_eq!(apply(&storage, &policy, later).unwrap(), 5);
        assert!(dates(&storage).is_empty());
        drop(storage);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
