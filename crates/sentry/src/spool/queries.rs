//! The durable spool: records waiting for a base, and which loggers each base wants.
//!
//! A record of a logger a base has connected (`connectLogger`) is committed here, encoded, in
//! the same transaction for every base that wants it, before anything is sent; it leaves the
//! spool only when that base acknowledged the batch that carried it. So a base that is away,
//! or an agent that crashes, loses nothing: the next connection sends what is left, in order.
//! Each base's spool is bounded in bytes; when a write would pass the bound, the oldest
//! droppable (performance) records of that base are dropped and counted (`dropped`); then its
//! drop reports but the newest (each carries the running total, `dropped_total`), so reports
//! piling up while a base is away never push out security records; then records a logger makes
//! again at its next run (process checks); the records of positioned loggers (events, which no
//! run gives again once their position moved past them) only once nothing else is left.
//!
//! A base's batches share it between the loggers with records waiting
//! ([`Store::spool_batch_shared`]): each logger's records go in order, but one logger's backlog
//! (a flood of Application events any local user can write) does not hold the others' newest
//! records (Security's) behind it.

use std::collections::BTreeMap;

use rusqlite::params;

use crate::store::cursors::POSITION_CURSOR;
use crate::store::{Store, StoreError};

/// The spool rows that are drop reports (the logger `sentry-spool`, [`super::DROP_REPORT_LOGGER`]),
/// as the partial index `spool_reports_by_base` is declared.
pub(crate) const DROP_REPORT_ROWS: &str = "logger = 'sentry-spool'";

/// A record to spool for one base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub base: String,
    pub logger: String,
    /// The Kraken-encoded record map (`{logger, date, msg, params}`).
    pub record: Vec<u8>,
    /// When a full spool drops it.
    pub class: DropClass,
}

/// Which records a full spool drops first: the `droppable` mark of a spooled record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropClass {
    /// Records of positioned loggers (events: no run gives them again once the position moved
    /// past them) and drop reports (the newest of a base is never dropped): last.
    Kept = 0,
    /// Performance records: first.
    Performance = 1,
    /// Records a logger makes again at its next run (process checks): after performance
    /// records and superseded drop reports, before the kept ones.
    Periodic = 2,
}

impl DropClass {
    /// From first dropped to last, for records kept in memory too.
    pub const DROP_ORDER: [DropClass; 3] = [DropClass::Performance, DropClass::Periodic, DropClass::Kept];
}

/// Adds `bytes` (negative: takes them) to what `logger` has in `base`'s spool.
fn add_logger_bytes(
    transaction: &rusqlite::Transaction<'_>,
    base: &str,
    logger: &str,
    bytes: i64,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO spool_logger_totals (base, logger, bytes) VALUES (?1, ?2, ?3)
             ON CONFLICT (base, logger) DO UPDATE SET bytes = bytes + excluded.bytes",
        )?
        .execute(params![base, logger, bytes])?;
    Ok(())
}

/// A logger taking its share of a batch ([`Store::spool_batch_shared`]).
struct Taker {
    logger: String,
    /// The id of the last record it took (or that was sent before).
    after: i64,
    /// The id of its next record when the batch began: the oldest takes first.
    first: i64,
    /// Whether it may have more to give this batch.
    more: bool,
}

/// What one base's spool holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolSummary {
    pub base: String,
    /// Records waiting.
    pub records: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Records dropped so far because the spool was full.
    pub dropped: u64,
}

/// A record waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRecord {
    pub id: i64,
    pub logger: String,
    /// The Kraken-encoded record map (`{logger, date, msg, params}`).
    pub record: Vec<u8>,
}

impl Store {
    /// `base` wants the records of `logger` (idempotent).
    pub fn subscribe(&self, base: &str, logger: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO subscriptions (base, logger) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            (base, logger),
        )?;
        Ok(())
    }

    /// `base` no longer wants `logger`'s records; what is already spooled still goes.
    pub fn unsubscribe(&self, base: &str, logger: &str) -> Result<(), StoreError> {
        self.lock().execute("DELETE FROM subscriptions WHERE base = ?1 AND logger = ?2", (base, logger))?;
        Ok(())
    }

    /// The bases that want `logger`'s records.
    pub fn subscribers(&self, logger: &str) -> Result<Vec<String>, StoreError> {
        let connection = self.lock();
        let mut statement =
            connection.prepare_cached("SELECT base FROM subscriptions WHERE logger = ?1 ORDER BY base")?;
        let rows = statement.query_map([logger], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The loggers `base` wants.
    pub fn subscriptions(&self, base: &str) -> Result<Vec<String>, StoreError> {
        let connection = self.lock();
        let mut statement =
            connection.prepare_cached("SELECT logger FROM subscriptions WHERE base = ?1 ORDER BY logger")?;
        let rows = statement.query_map([base], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Drops the subscriptions of every base not in `configured`, so nothing more is spooled for
    /// a base taken out of the configuration (BUG-7); what its spool holds stays. Returns those
    /// bases.
    pub fn unsubscribe_bases_except(&self, configured: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let subscribed: Vec<String> = {
            let mut statement =
                transaction.prepare("SELECT DISTINCT base FROM subscriptions ORDER BY base")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let removed: Vec<String> =
            subscribed.into_iter().filter(|base| !configured.contains(&base.as_str())).collect();
        for base in &removed {
            transaction.execute("DELETE FROM subscriptions WHERE base = ?1", [base])?;
        }
        transaction.commit()?;
        Ok(removed)
    }

    /// Every base with a spool (records waiting, or counted totals), by name.
    pub fn spools(&self) -> Result<Vec<SpoolSummary>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT bases.base,
                    (SELECT COUNT(*) FROM spool WHERE spool.base = bases.base),
                    COALESCE(spool_totals.bytes, 0), COALESCE(spool_totals.dropped, 0)
             FROM (SELECT DISTINCT base FROM spool UNION SELECT base FROM spool_totals) AS bases
             LEFT JOIN spool_totals ON spool_totals.base = bases.base
             ORDER BY bases.base",
        )?;
        let rows = statement.query_map([], |row| {
            let count = |i: usize| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
            Ok(SpoolSummary { base: row.get(0)?, records: count(1)?, bytes: count(2)?, dropped: count(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes `base`'s spool: its records, totals and subscriptions, in one transaction.
    /// Returns what it held, or `None` if there was no spool (nor subscription) for `base`.
    pub fn forget_spool(&self, base: &str) -> Result<Option<SpoolSummary>, StoreError> {
        let held = self.spools()?.into_iter().find(|spool| spool.base == base);
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let records = transaction.execute("DELETE FROM spool WHERE base = ?1", [base])?;
        let totals = transaction.execute("DELETE FROM spool_totals WHERE base = ?1", [base])?;
        transaction.execute("DELETE FROM spool_logger_totals WHERE base = ?1", [base])?;
        let subscriptions = transaction.execute("DELETE FROM subscriptions WHERE base = ?1", [base])?;
        transaction.execute("DELETE FROM meta WHERE key = ?1", [away_key(base)])?;
        transaction.commit()?;
        if records + totals + subscriptions == 0 {
            return Ok(None);
        }
        let mut forgotten = held.unwrap_or(SpoolSummary { base: base.to_owned(), ..SpoolSummary::default() });
        forgotten.records = records as u64;
        Ok(Some(forgotten))
    }

    /// This store's spool epoch: a random name made once, when the first record is spooled
    /// (or asked for). Sequence numbers count within it; a base tells a reinstalled agent
    /// (new store, new epoch, numbers from 1 again) from one that resends what it had.
    pub fn spool_epoch(&self) -> Result<String, StoreError> {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        hasher.write_u32(std::process::id());
        let fresh = format!("{:016x}", hasher.finish());
        self.set_once("spool_epoch", &fresh)?;
        let epoch: String =
            self.lock()
                .query_row("SELECT value FROM meta WHERE key = 'spool_epoch'", [], |row| row.get(0))?;
        Ok(epoch)
    }

    /// The last sequence number given to a spooled record of `logger` (0 if none yet).
    pub fn spool_sequence(&self, logger: &str) -> Result<i64, StoreError> {
        let value: Option<String> = rusqlite::OptionalExtension::optional(self.lock().query_row(
            "SELECT value FROM cursors WHERE logger = ?1 AND key = 'seq'",
            [logger],
            |row| row.get(0),
        ))?;
        Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Appends entries in one transaction, keeping each base's spool within `max_bytes` by
    /// dropping its oldest records, droppable ones first. `sequences` are the last sequence
    /// numbers (per logger) the entries carry, and `positions` where the loggers that read a
    /// source have got to, both saved in the same transaction. Returns how many records each
    /// base lost.
    pub fn spool_append(
        &self,
        entries: &[SpoolEntry],
        sequences: &[(&str, i64)],
        positions: &[(&str, &str)],
        max_bytes: u64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        for (logger, position) in positions {
            crate::store::cursors::save(&transaction, logger, POSITION_CURSOR, position)?;
        }
        {
            let mut save = transaction.prepare_cached(
                "INSERT INTO cursors (logger, key, value) VALUES (?1, 'seq', ?2)
                 ON CONFLICT (logger, key) DO UPDATE SET value = excluded.value",
            )?;
            for (logger, last) in sequences {
                save.execute(params![logger, last.to_string()])?;
            }
        }
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO spool (base, logger, record, droppable) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut total = transaction.prepare_cached(
                "INSERT INTO spool_totals (base, bytes) VALUES (?1, ?2)
                 ON CONFLICT (base) DO UPDATE SET bytes = bytes + excluded.bytes",
            )?;
            // Each base's running totals are updated once per write, not once per record.
            let mut added: BTreeMap<(&String, &String), i64> = BTreeMap::new();
            for entry in entries {
                insert.execute(params![entry.base, entry.logger, entry.record, entry.class as i64])?;
                *added.entry((&entry.base, &entry.logger)).or_default() += entry.record.len() as i64;
            }
            let mut by_base: BTreeMap<&String, i64> = BTreeMap::new();
            for ((base, logger), bytes) in &added {
                *by_base.entry(base).or_default() += bytes;
                add_logger_bytes(&transaction, base, logger, *bytes)?;
            }
            for (base, bytes) in &by_base {
                total.execute(params![base, bytes])?;
            }
        }
        let bases: std::collections::BTreeSet<&String> = entries.iter().map(|entry| &entry.base).collect();
        let mut losses = Vec::new();
        for base in bases {
            let mut dropped = 0;
            loop {
                let bytes: i64 = transaction.query_row(
                    "SELECT bytes FROM spool_totals WHERE base = ?1",
                    [base],
                    |row| row.get(0),
                )?;
                // A negative total (a store edited by hand) is no reason to empty the spool.
                if u64::try_from(bytes).map_or(true, |bytes| bytes <= max_bytes) {
                    break;
                }
                let oldest = |filter: &str| {
                    rusqlite::OptionalExtension::optional(transaction.query_row(
                        &format!(
                            "SELECT id, length(record), logger FROM spool WHERE base = ?1 {filter} ORDER BY id LIMIT 1"
                        ),
                        [base],
                        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?)),
                    ))
                };
                let superseded_report = format!(
                    "AND {DROP_REPORT_ROWS} AND id < (SELECT max(id) FROM spool WHERE base = ?1 AND {DROP_REPORT_ROWS})"
                );
                // In the drop order, each looked up only when none of the ones before is left.
                let filters = [
                    format!("AND droppable = {}", DropClass::Performance as i64),
                    superseded_report.clone(),
                    format!("AND droppable = {}", DropClass::Periodic as i64),
                    String::new(),
                ];
                let mut found = None;
                for filter in &filters {
                    found = oldest(filter)?;
                    if found.is_some() {
                        break;
                    }
                }
                let Some((id, length, logger)) = found else {
                    break;
                };
                transaction.execute("DELETE FROM spool WHERE id = ?1", [id])?;
                add_logger_bytes(&transaction, base, &logger, -length)?;
                transaction.execute(
                    "UPDATE spool_totals SET bytes = bytes - ?2, dropped = dropped + 1 WHERE base = ?1",
                    params![base, length],
                )?;
                dropped += 1;
            }
            if dropped > 0 {
                losses.push((base.clone(), dropped));
            }
        }
        transaction.commit()?;
        Ok(losses)
    }

    /// The oldest records waiting for `base`: at most `max_count`, and at most `max_bytes` (but
    /// always at least one).
    pub fn spool_batch(
        &self,
        base: &str,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<SpooledRecord>, StoreError> {
        self.spool_batch_after(base, 0, max_count, max_bytes)
    }

    /// The next batch for `base`, shared between the loggers with records waiting: of each,
    /// its oldest records after the id `sent` names for it (those up to it are in flight), in
    /// turn an equal share of `max_count` and `max_bytes` (at least one record), then what the
    /// others left to those with more waiting; in id order. Each logger's records stay in
    /// order, so its sequence numbers reach the base in order. Each logger's next record goes
    /// in first, the oldest first, so a record larger than a share is not held back by the
    /// others' smaller ones; a logger whose next record does not fit what is left of
    /// `max_bytes` takes no more in this batch.
    pub fn spool_batch_shared(
        &self,
        base: &str,
        sent: &BTreeMap<String, i64>,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<SpooledRecord>, StoreError> {
        let connection = self.lock();
        // The loggers with records for `base`, each found in one index lookup however many
        // records it has, with the id of its next record.
        let mut takers: Vec<Taker> = Vec::new();
        {
            let mut next_logger =
                connection.prepare_cached("SELECT min(logger) FROM spool WHERE base = ?1 AND logger > ?2")?;
            let mut next_id = connection
                .prepare_cached("SELECT min(id) FROM spool WHERE base = ?1 AND logger = ?2 AND id > ?3")?;
            let mut after = String::new();
            while let Some(logger) =
                next_logger.query_row(params![base, after], |row| row.get::<_, Option<String>>(0))?
            {
                let sent_to = sent.get(&logger).copied().unwrap_or(0);
                let first: Option<i64> =
                    next_id.query_row(params![base, logger, sent_to], |row| row.get(0))?;
                after.clone_from(&logger);
                if let Some(first) = first {
                    takers.push(Taker { logger, after: sent_to, first, more: true });
                }
            }
        }
        takers.sort_unstable_by_key(|taker| taker.first);
        let mut rows = connection.prepare_cached(
            "SELECT id, record FROM spool WHERE base = ?1 AND logger = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
        )?;
        let (mut batch, mut bytes) = (Vec::new(), 0usize);
        let mut heads_taken = false;
        while batch.len() < max_count && takers.iter().any(|taker| taker.more) {
            let taken_before = batch.len();
            let open = takers.iter().filter(|taker| taker.more).count();
            // First each logger's next record, so that one larger than a share is not left
            // out while the others give many; then equal shares of what is left.
            let count_share = if heads_taken { ((max_count - batch.len()) / open).max(1) } else { 1 };
            heads_taken = true;
            let bytes_share = (max_bytes.saturating_sub(bytes) / open).max(1);
            for taker in takers.iter_mut().filter(|taker| taker.more) {
                if batch.len() >= max_count {
                    break;
                }
                let mut query =
                    rows.query(params![base, taker.logger.as_str(), taker.after, count_share as i64])?;
                let (mut taken, mut taken_bytes) = (0, 0);
                taker.more = false;
                while let Some(row) = query.next()? {
                    let record: Vec<u8> = row.get(1)?;
                    if !batch.is_empty() && bytes + record.len() > max_bytes {
                        break; // no room left for it in this batch: none of this logger's
                    }
                    if taken > 0 && taken_bytes + record.len() > bytes_share {
                        taker.more = true; // its share taken: more at the next turn
                        break;
                    }
                    taken += 1;
                    taken_bytes += record.len();
                    bytes += record.len();
                    taker.after = row.get(0)?;
                    batch.push(SpooledRecord { id: taker.after, logger: taker.logger.clone(), record });
                    if taken == count_share {
                        taker.more = true;
                        break;
                    }
                }
            }
            if batch.len() == taken_before {
                break;
            }
        }
        batch.sort_unstable_by_key(|record| record.id);
        Ok(batch)
    }

    /// [`Store::spool_batch`] for the records after id `after` (those up to it are in flight).
    pub fn spool_batch_after(
        &self,
        base: &str,
        after: i64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<SpooledRecord>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT id, logger, record FROM spool WHERE base = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let mut rows = statement.query(params![base, after, max_count as i64])?;
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(row) = rows.next()? {
            let record: Vec<u8> = row.get(2)?;
            if !batch.is_empty() && bytes + record.len() > max_bytes {
                break;
            }
            bytes += record.len();
            batch.push(SpooledRecord { id: row.get(0)?, logger: row.get(1)?, record });
        }
        Ok(batch)
    }

    /// Removes records `base` acknowledged: exactly these ids (a batch shared between loggers
    /// is no range of ids); one already dropped by a full spool is passed over.
    pub fn spool_ack(&self, base: &str, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let mut bytes: i64 = 0;
        let mut by_logger: BTreeMap<String, i64> = BTreeMap::new();
        {
            let mut delete = transaction.prepare_cached(
                "DELETE FROM spool WHERE base = ?1 AND id = ?2 RETURNING logger, length(record)",
            )?;
            for id in ids {
                let removed: Option<(String, i64)> = rusqlite::OptionalExtension::optional(
                    delete.query_row(params![base, id], |row| Ok((row.get(0)?, row.get(1)?))),
                )?;
                if let Some((logger, length)) = removed {
                    bytes += length;
                    *by_logger.entry(logger).or_default() += length;
                }
            }
        }
        for (logger, length) in &by_logger {
            add_logger_bytes(&transaction, base, logger, -length)?;
        }
        transaction
            .execute("UPDATE spool_totals SET bytes = bytes - ?2 WHERE base = ?1", params![base, bytes])?;
        transaction.commit()?;
        drop(connection);
        let mut drained = self.spool_drained.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        drained.insert(base.to_owned(), std::time::Instant::now());
        Ok(())
    }

    /// Keeps whether `base` is taken as away (see `spool::pressure`), for the next start.
    pub fn set_spool_away(&self, base: &str, away: bool) -> Result<(), StoreError> {
        let key = away_key(base);
        let connection = self.lock();
        if away {
            connection.execute(
                "INSERT INTO meta (key, value) VALUES (?1, '1') ON CONFLICT (key) DO NOTHING",
                [key],
            )?;
        } else {
            connection.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        }
        Ok(())
    }

    /// Whether `base` was taken as away when last judged, by this or an earlier run.
    pub fn spool_away(&self, base: &str) -> Result<bool, StoreError> {
        self.has_meta(&away_key(base))
    }

    /// When `base` last had records of its spool acknowledged, if it did since the store was
    /// opened.
    pub fn spool_last_drained(&self, base: &str) -> Option<std::time::Instant> {
        let drained = self.spool_drained.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        drained.get(base).copied()
    }

    /// The bytes of `logger`'s records waiting for `base` (cheap: a running total).
    pub fn spool_logger_bytes(&self, base: &str, logger: &str) -> Result<u64, StoreError> {
        let bytes: Option<i64> = rusqlite::OptionalExtension::optional(self.lock().query_row(
            "SELECT bytes FROM spool_logger_totals WHERE base = ?1 AND logger = ?2",
            [base, logger],
            |row| row.get(0),
        ))?;
        Ok(bytes.unwrap_or(0).max(0) as u64)
    }

    /// How many source readers, `logger` with them, have records waiting for `base`: the
    /// loggers with a saved position (event loggers save theirs at their first run), from the
    /// running totals (at least one: `logger`).
    pub fn spool_readers_holding(&self, base: &str, logger: &str) -> Result<u64, StoreError> {
        let others: i64 = self.lock().query_row(
            "SELECT count(*) FROM spool_logger_totals AS totals
              WHERE totals.base = ?1 AND totals.bytes > 0 AND totals.logger != ?2
                AND EXISTS (SELECT 1 FROM cursors WHERE cursors.logger = totals.logger AND cursors.key = ?3)",
            params![base, logger, POSITION_CURSOR],
            |row| row.get(0),
        )?;
        Ok(others.max(0) as u64 + 1)
    }

    /// The bytes of records waiting for `base` (cheap: a running total).
    pub fn spool_bytes(&self, base: &str) -> Result<u64, StoreError> {
        let bytes: Option<i64> = rusqlite::OptionalExtension::optional(self.lock().query_row(
            "SELECT bytes FROM spool_totals WHERE base = ?1",
            [base],
            |row| row.get(0),
        ))?;
        Ok(bytes.unwrap_or(0).max(0) as u64)
    }

    /// What the metrics show of `base`'s spool, all cheap to read (running totals and the
    /// first row by the spool's index): (bytes waiting, records dropped so far, the date of
    /// the oldest record waiting, Unix ms).
    pub fn spool_gauges(&self, base: &str) -> Result<(u64, u64, Option<i64>), StoreError> {
        let connection = self.lock();
        let totals: Option<(i64, i64)> = rusqlite::OptionalExtension::optional(connection.query_row(
            "SELECT bytes, dropped FROM spool_totals WHERE base = ?1",
            [base],
            |row| Ok((row.get(0)?, row.get(1)?)),
        ))?;
        let oldest: Option<Vec<u8>> = rusqlite::OptionalExtension::optional(connection.query_row(
            "SELECT record FROM spool WHERE base = ?1 ORDER BY id LIMIT 1",
            [base],
            |row| row.get(0),
        ))?;
        let oldest_ms = oldest.and_then(|bytes| {
            let value = kraken_codec::RawValue::parse(&bytes, &kraken_codec::DecodeLimits::default()).ok()?;
            sentry_protocol::RawLogRecord::read(value)?.date_ms()
        });
        let (bytes, dropped) = totals.unwrap_or((0, 0));
        Ok((bytes.max(0) as u64, dropped.max(0) as u64, oldest_ms))
    }

    /// (records waiting, bytes waiting, records dropped so far) for `base`.
    pub fn spool_stats(&self, base: &str) -> Result<(u64, u64, u64), StoreError> {
        let connection = self.lock();
        let count: i64 =
            connection.query_row("SELECT COUNT(*) FROM spool WHERE base = ?1", [base], |row| row.get(0))?;
        let totals: Option<(i64, i64)> = rusqlite::OptionalExtension::optional(connection.query_row(
            "SELECT bytes, dropped FROM spool_totals WHERE base = ?1",
            [base],
            |row| Ok((row.get(0)?, row.get(1)?)),
        ))?;
        let (bytes, dropped) = totals.unwrap_or((0, 0));
        Ok((count as u64, bytes as u64, dropped as u64))
    }
}

/// The `meta` key that says `base` was taken as away.
fn away_key(base: &str) -> String {
    format!("spool-away:{base}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::database::tests::temp_data_dir;

    #[test]
    fn records_wait_until_acknowledged_and_the_oldest_go_when_full() {
        let dir = temp_data_dir("spool");
        let store = Store::open(&dir).unwrap();
        store.subscribe("central", "cpu").unwrap();
        store.subscribe("central", "cpu").unwrap();
        assert_eq!(store.subscribers("cpu").unwrap(), ["central"]);
        let entry = |n: u8| SpoolEntry {
            base: "central".into(),
            logger: "cpu".into(),
            record: vec![n; 100],
            class: DropClass::Performance,
        };
        assert_eq!(
            store.spool_append(&[entry(1), entry(2), entry(3)], &[("cpu", 3)], &[], 1_000).unwrap(),
            []
        );
        let batch = store.spool_batch("central", 10, 250).unwrap();
        assert_eq!(batch.iter().map(|r| r.record[0]).collect::<Vec<_>>(), [1, 2], "bounded by bytes");
        store.spool_ack("central", &batch.iter().map(|r| r.id).collect::<Vec<_>>()).unwrap();
        assert_eq!(store.spool_stats("central").unwrap(), (1, 100, 0));
        // Over the bound: the oldest (3) goes, then 4, to fit 5..=6 in 250 bytes.
        assert_eq!(
            store.spool_append(&[entry(4), entry(5), entry(6)], &[("cpu", 6)], &[], 250).unwrap(),
            [("central".into(), 2)]
        );
        let left: Vec<u8> =
            store.spool_batch("central", 10, 10_000).unwrap().iter().map(|r| r.record[0]).collect();
        assert_eq!(left, [5, 6]);
        assert_eq!(store.spool_stats("central").unwrap(), (2, 200, 2));
        assert_eq!((store.spool_sequence("cpu").unwrap(), store.spool_sequence("mem").unwrap()), (6, 0));
        let epoch = store.spool_epoch().unwrap();
        assert_eq!(epoch.len(), 16);
        assert_eq!(store.spool_epoch().unwrap(), epoch, "made once, then kept");
        // An emptied spool does not hand out old ids again: links read on after the last id sent.
        let last = store.spool_batch("central", 10, 10_000).unwrap()[1].id;
        store.spool_ack("central", &[last - 1, last]).unwrap();
        store.spool_append(&[entry(7)], &[], &[], 250).unwrap();
        assert_eq!(store.spool_batch_after("central", last, 10, 10_000).unwrap()[0].record[0], 7);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn past_the_bound_process_checks_go_before_older_event_records() {
        let dir = temp_data_dir("spool-periodic");
        let store = Store::open(&dir).unwrap();
        let entry = |logger: &str, n: u8| SpoolEntry {
            base: "central".into(),
            logger: logger.into(),
            record: vec![n; 100],
            class: if logger == "procs" { DropClass::Periodic } else { DropClass::Kept },
        };
        // Event records, committed with their position, then process checks, both security.
        store
            .spool_append(&[entry("security", 1), entry("security", 2)], &[], &[("security", "p2")], 1_000)
            .unwrap();
        store.spool_append(&[entry("procs", 3), entry("procs", 4)], &[], &[], 1_000).unwrap();
        // Past the bound: the process checks go first, newer as they are; the events stay.
        let losses = store.spool_append(&[entry("procs", 5)], &[], &[], 300).unwrap();
        assert_eq!(losses, [("central".to_owned(), 2)]);
        let left = |store: &Store| -> Vec<u8> {
            store.spool_batch("central", 10, 10_000).unwrap().iter().map(|r| r.record[0]).collect()
        };
        assert_eq!(left(&store), [1, 2, 5]);
        store.spool_append(&[entry("security", 6)], &[], &[("security", "p6")], 300).unwrap();
        assert_eq!(left(&store), [1, 2, 6], "the process check again");
        // Only events left to drop: the oldest of them goes, as before.
        store.spool_append(&[entry("security", 7)], &[], &[("security", "p7")], 300).unwrap();
        assert_eq!(left(&store), [2, 6, 7]);
        // Each logger's running total follows the drops, and goes with its base's spool.
        let totals = |store: &Store| {
            ["security", "procs"].map(|logger| store.spool_logger_bytes("central", logger).unwrap())
        };
        assert_eq!(totals(&store), [300, 0]);
        assert_eq!(store.spool_bytes("central").unwrap(), 300);
        store.forget_spool("central").unwrap();
        assert_eq!(totals(&store), [0, 0]);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn batches_share_a_base_between_its_loggers_each_in_order() {
        let dir = temp_data_dir("spool-shared");
        let store = Store::open(&dir).unwrap();
        let entry = |logger: &str, n: u8| SpoolEntry {
            base: "central".into(),
            logger: logger.into(),
            record: vec![n; 100],
            class: DropClass::Kept,
        };
        // A flood of Application events spooled before two Security events.
        let flood: Vec<SpoolEntry> = (1..=10).map(|n| entry("application", n)).collect();
        store.spool_append(&flood, &[], &[], 1 << 20).unwrap();
        store.spool_append(&[entry("security", 101), entry("security", 102)], &[], &[], 1 << 20).unwrap();
        let taken = |batch: &[SpooledRecord]| batch.iter().map(|r| r.record[0]).collect::<Vec<_>>();
        let mut sent = BTreeMap::new();
        let first = store.spool_batch_shared("central", &sent, 4, 1 << 20).unwrap();
        assert_eq!(taken(&first), [1, 2, 101, 102], "Security does not wait behind the flood");
        // In flight: the next batch takes what follows each logger's last record sent.
        for record in &first {
            sent.insert(record.logger.clone(), record.id);
        }
        let second = store.spool_batch_shared("central", &sent, 4, 1 << 20).unwrap();
        assert_eq!(taken(&second), [3, 4, 5, 6], "what Security leaves goes to the others");
        // Bytes are shared too (each logger at least one record), and never passed but by the
        // first record.
        store.spool_append(&[entry("security", 103)], &[], &[], 1 << 20).unwrap();
        let by_bytes = store.spool_batch_shared("central", &sent, 100, 250).unwrap();
        assert_eq!(taken(&by_bytes), [3, 103]);
        // A record larger than a logger's share of the bytes still goes, newer as it is, while
        // another logger has a backlog of small ones.
        let large = SpoolEntry { record: vec![104; 600], ..entry("security", 104) };
        store.spool_append(&[large], &[], &[], 1 << 20).unwrap();
        sent.insert("security".to_owned(), by_bytes[1].id);
        let with_large = store.spool_batch_shared("central", &sent, 100, 1_000).unwrap();
        assert_eq!(taken(&with_large), [3, 4, 5, 6, 104], "1,000 bytes");
        let one = store.spool_batch_shared("central", &BTreeMap::new(), 100, 10).unwrap();
        assert_eq!(taken(&one), [1], "one record, however large");
        // Acknowledged by their ids, not as a range: the flood's 3..=10 stay.
        let ids: Vec<i64> = first.iter().map(|r| r.id).collect();
        store.spool_ack("central", &ids).unwrap();
        let left = store.spool_batch("central", 100, 1 << 20).unwrap();
        assert_eq!(taken(&left), [3, 4, 5, 6, 7, 8, 9, 10, 103, 104]);
        assert_eq!(store.spool_stats("central").unwrap().1, 1_500, "the bytes of exactly those removed");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_removed_base_keeps_its_spool_until_it_is_forgotten() {
        let dir = temp_data_dir("spool-forget");
        let store = Store::open(&dir).unwrap();
        let entry = |base: &str| SpoolEntry {
            base: base.into(),
            logger: "cpu".into(),
            record: vec![1; 10],
            class: DropClass::Performance,
        };
        for base in ["central", "old"] {
            store.subscribe(base, "cpu").unwrap();
        }
        store
            .spool_append(&[entry("central"), entry("old"), entry("old")], &[("cpu", 3)], &[], 1_000)
            .unwrap();
        // Taken out of the configuration: no longer subscribed, its records kept.
        assert_eq!(store.unsubscribe_bases_except(&["central"]).unwrap(), ["old"]);
        assert_eq!(store.subscribers("cpu").unwrap(), ["central"]);
        let summary =
            |base: &str, records, bytes| SpoolSummary { base: base.into(), records, bytes, dropped: 0 };
        assert_eq!(store.spools().unwrap(), [summary("central", 1, 10), summary("old", 2, 20)]);
        assert_eq!(store.unsubscribe_bases_except(&["central"]).unwrap(), Vec::<String>::new());

        assert_eq!(store.forget_spool("old").unwrap(), Some(summary("old", 2, 20)));
        assert_eq!(store.spools().unwrap(), [summary("central", 1, 10)]);
        assert_eq!(store.spool_stats("old").unwrap(), (0, 0, 0));
        assert_eq!(store.forget_spool("old").unwrap(), None, "nothing left to forget");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_spool_drops_performance_records_before_security_ones() {
        let dir = temp_data_dir("spool-priority");
        let store = Store::open(&dir).unwrap();
        let entry = |n: u8, droppable: bool| SpoolEntry {
            base: "central".into(),
            logger: if droppable { "cpu" } else { "procs" }.into(),
            record: vec![n; 100],
            class: if droppable { DropClass::Performance } else { DropClass::Kept },
        };
        store
            .spool_append(
                &[entry(1, false), entry(2, true), entry(3, false), entry(4, true)],
                &[],
                &[],
                1_000,
            )
            .unwrap();
        // Two over the bound: the two performance records go, though the security ones are older.
        let losses = store.spool_append(&[entry(5, true), entry(6, true)], &[], &[], 400).unwrap();
        assert_eq!(losses, [("central".into(), 2)]);
        let left: Vec<u8> =
            store.spool_batch("central", 10, 10_000).unwrap().iter().map(|r| r.record[0]).collect();
        assert_eq!(left, [1, 3, 5, 6]);
        // With only security records left to drop, the oldest of them goes.
        store
            .spool_ack(
                "central",
                &store.spool_batch("central", 10, 10_000).unwrap()[2..]
                    .iter()
                    .map(|r| r.id)
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let losses = store.spool_append(&[entry(7, false), entry(8, false)], &[], &[], 300).unwrap();
        assert_eq!(losses, [("central".into(), 1)]);
        let left: Vec<u8> =
            store.spool_batch("central", 10, 10_000).unwrap().iter().map(|r| r.record[0]).collect();
        assert_eq!(left, [3, 7, 8]);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
