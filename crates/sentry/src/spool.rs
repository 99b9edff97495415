//! The spool's record sink and its wake-up signal.
//!
//! [`SpoolSink`] takes every run's records and, for each base that connected the record's
//! logger, commits the encoded record to that base's spool (one transaction per run), then
//! wakes the base links' senders. The senders (in `base_link`) read batches back in order and
//! delete them once acknowledged.

use std::io;
use std::sync::Arc;

use kraken_codec::{Map, Value, encode};
use tokio::sync::Notify;

use crate::loggers::{Record, RecordSink};
use crate::store::Store;

/// Spools records for the bases that want them.
pub struct SpoolSink {
    store: Arc<Store>,
    max_bytes: u64,
    /// Woken after every commit.
    pub wake: Arc<Notify>,
}

impl SpoolSink {
    pub fn new(store: Arc<Store>, max_bytes: u64) -> Self {
        SpoolSink { store, max_bytes, wake: Arc::new(Notify::new()) }
    }
}

/// A record as it travels in a batch: `{logger, date, msg, params}`.
pub fn batch_entry(record: &Record) -> Value {
    let mut map = Map::with_capacity(4);
    map.insert("logger", Value::from(record.logger.as_str()));
    if let Value::Map(onlog) = record.to_value() {
        for (key, value) in onlog.iter() {
            map.insert(key.clone(), value.clone());
        }
    }
    Value::Map(map)
}

impl RecordSink for SpoolSink {
    fn write(&self, records: &[Record]) -> io::Result<()> {
        let to_io = |e: crate::store::StoreError| io::Error::other(e.to_string());
        let mut entries = Vec::new();
        // A run's records come from one logger: look its subscribers up once, not per record.
        let mut subscribers: Option<(&str, Vec<String>)> = None;
        for record in records {
            if subscribers.as_ref().is_none_or(|(logger, _)| *logger != record.logger.as_str()) {
                let bases = self.store.subscribers(&record.logger).map_err(to_io)?;
                subscribers = Some((record.logger.as_str(), bases));
            }
            let bases = subscribers.as_ref().map(|(_, bases)| bases.as_slice()).unwrap_or_default();
            if bases.is_empty() {
                continue;
            }
            let encoded = encode(&batch_entry(record));
            for base in bases.iter().cloned() {
                entries.push((base, record.logger.to_string(), encoded.clone()));
            }
        }
        if entries.is_empty() {
            return Ok(());
        }
        let dropped = self.store.spool_append(&entries, self.max_bytes).map_err(to_io)?;
        if dropped > 0 {
            tracing::warn!(dropped, "spool full: the oldest records were dropped");
        }
        self.wake.notify_waiters();
        Ok(())
    }
}
