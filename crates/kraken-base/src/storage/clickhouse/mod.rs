//! ClickHouse storage: the [`Storage`] trait over ClickHouse's HTTP interface, for fleets one
//! disk and one writer cannot hold. Several base nodes may share one ClickHouse: each names
//! itself (`node`), and marks only its own sentries disconnected when it starts.
//!
//! Modules: `settings` (`[storage]`), `schema` (the tables), `rows` (their rows), `client`
//! (the HTTP client on its own runtime, with time limits and the health it shows), `clock`
//! (row ids and days), `group_commit` (rows of many callers in one insert), `holders` (which
//! node holds which sentry),
//! `resends` (resent records told from new ones), `retention` (whole days dropped, the
//! per-sentry quota).
//!
//! Statements are written with `?` placeholders that the `clickhouse` crate fills with
//! escaped literals (ClickHouse 18.16 has no server-side parameters); the only text written
//! into a statement as it is comes from the configuration (table names, checked to be
//! identifiers) or from ClickHouse itself (partition names, checked to be numbers).

mod client;
mod clock;
mod group_commit;
mod holders;
mod resends;
mod retention;
mod rows;
mod schema;
mod settings;

use std::collections::HashMap;
use std::sync::Mutex;

use super::event_detail::{MAX_EVENT_SUBJECT, capped_detail, truncated};
use super::model::{
    Backlog, Deleted, EventRow as SentryEvent, Grouping, PeerNode, RecordFilter, RetentionLimits, SentryRow,
    Storage, StorageError, StorageHealth, StoredRecord, record_bytes,
};
use client::{Effect, Line, now_ms};
use clock::{IdClock, utc_day};
use group_commit::GroupCommit;
use resends::{Found, LastStored, Lookup};
use rows::{
    EventRow, LoggerChange, NodeRow, NumberedRecord, ReadEvent, ReadRecord, RecordRow, SentryChange,
    SentryState, UsageRow,
};
use schema::{RECORD_KEY, Tables};
pub use settings::ClickHouseSettings;

/// The most lookups (sentry, logger and epoch) in one query (its text stays far under
/// ClickHouse's 256 KiB: names are at most a few hundred bytes).
const LOOKUPS_PER_QUERY: usize = 200;
/// The most stored rows one lookup query reads back.
const LOOKUP_ROWS: usize = 500_000;

/// The event noted when a sentry numbers new records as old ones.
const ROLLBACK_EVENT: &str = "sequence-rollback";

/// Records, events and sentries in ClickHouse.
pub struct ClickHouseStorage {
    line: Line,
    tables: Tables,
    settings: ClickHouseSettings,
    node: String,
    clock: IdClock,
    last_stored: LastStored,
    /// The address each sentry connected to this node from (kept with its disconnection).
    addresses: Mutex<HashMap<String, String>>,
    /// Sentries' connections and disconnections, written together when they come at once.
    sentry_changes: GroupCommit<SentryChange>,
    /// Sentries' events, the same (a reconnecting fleet brings a `synced` from each sentry).
    events: GroupCommit<EventRow>,
}

impl ClickHouseStorage {
    /// Reaches ClickHouse, creates what is missing, and marks the sentries this node held
    /// (before a restart) disconnected.
    pub fn open(settings: &ClickHouseSettings) -> Result<ClickHouseStorage, StorageError> {
        settings.check().map_err(|(key, message)| StorageError(format!("storage.{key}: {message}")))?;
        let node = match &settings.node {
            Some(node) => node.clone(),
            None => host_name(),
        };
        let storage = ClickHouseStorage {
            line: Line::new(settings)?,
            tables: Tables::of(settings),
            settings: settings.clone(),
            node,
            clock: IdClock::default(),
            last_stored: LastStored::default(),
            addresses: Mutex::new(HashMap::new()),
            sentry_changes: GroupCommit::new(),
            events: GroupCommit::new(),
        };
        for statement in storage.tables.create_statements() {
            storage.line.run("create tables", Effect::Store, move |client| async move {
                client.query(&statement).execute().await
            })?;
        }
        storage.disconnect_own_sentries()?;
        // Ids go on above the newest this node wrote, whatever the clock says now.
        let newest = storage.newest_record_id()?;
        let storage = ClickHouseStorage { clock: IdClock::above(newest), ..storage };
        Ok(storage)
    }

    /// This node's name, as kept with its sentries.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Stores a sentry's connection or disconnection, in one insert with those that come
    /// meanwhile.
    fn record_sentry_change(&self, change: SentryChange) -> Result<(), StorageError> {
        self.sentry_changes.submit(change, |changes| self.line.insert(&self.tables.sentries, changes))
    }

    fn disconnect_own_sentries(&self) -> Result<(), StorageError> {
        let changes: Vec<SentryChange> = self
            .node_rows(None)?
            .into_iter()
            .filter(|state| state.node == self.node && state.connected == 1)
            .map(|state| SentryChange {
                guid: state.guid,
                connected: 0,
                address: state.address,
                node: self.node.clone(),
                at: self.clock.next(),
            })
            .collect();
        self.line.insert(&self.tables.sentries, changes)
    }

    /// The newest row of each sentry (or of `guid`) per node.
    fn node_rows(&self, guid: Option<&str>) -> Result<Vec<SentryState>, StorageError> {
        let only = if guid.is_some() { "WHERE guid = ?" } else { "" };
        let sql = format!(
            "SELECT guid, argMax(connected, at), argMax(address, at), node, max(at)
             FROM {} {only} GROUP BY guid, node ORDER BY guid",
            self.tables.sentries
        );
        let guid = guid.map(str::to_owned);
        self.line.run("read sentries", Effect::Read, move |client| async move {
            let mut query = client.query(&sql);
            if let Some(guid) = guid {
                query = query.bind(guid);
            }
            query.fetch_all().await
        })
    }

    /// Each sentry's (or `guid`'s) current state, as [`holders::current`] reads it.
    fn current_states(&self, guid: Option<&str>) -> Result<Vec<SentryState>, StorageError> {
        let rows = self.node_rows(guid)?;
        let nodes = self.announcements()?;
        Ok(holders::current(rows, &nodes, self.clock.next()))
    }

    /// Every node's newest announcement, by name.
    fn announcements(&self) -> Result<HashMap<String, NodeRow>, StorageError> {
        let sql =
            format!("SELECT node, argMax(admin_url, at), max(at) FROM {} GROUP BY node", self.tables.nodes);
        let rows: Vec<NodeRow> = self.line.run("read nodes", Effect::Read, move |client| async move {
            client.query(&sql).fetch_all().await
        })?;
        Ok(rows.into_iter().map(|row| (row.node.clone(), row)).collect())
    }

    /// Stored numbered records with the numbers and dates of `lookups`: their date and content
    /// hash. The query asks for each lookup's ranges of dates and numbers (what the primary
    /// key, sentry, logger and date first, narrows best, on every ClickHouse version); only
    /// rows with one of the exact numbers and dates are kept. A sentry sending far-apart
    /// numbers or dates makes the base read its own key range, small columns, at most
    /// [`LOOKUP_ROWS`] rows.
    fn look_up(&self, lookups: &[Lookup]) -> Result<Found, StorageError> {
        let mut found = Found::new();
        for chunk in lookups.chunks(LOOKUPS_PER_QUERY) {
            let condition = vec![
                "(guid = ? AND logger = ? AND epoch = ? AND date_ms >= ? AND date_ms <= ? AND seq >= ? AND seq <= ?)";
                chunk.len()
            ]
            .join(" OR ");
            let sql = format!(
                "SELECT guid, logger, epoch, seq, date_ms, dedup FROM {} WHERE has_seq = 1 AND ({condition}) LIMIT {LOOKUP_ROWS}",
                self.tables.records
            );
            let bounds: Vec<(String, String, String, [i64; 4])> = chunk
                .iter()
                .map(|lookup| {
                    let first =
                        |set: &std::collections::BTreeSet<i64>| set.first().copied().unwrap_or_default();
                    let last =
                        |set: &std::collections::BTreeSet<i64>| set.last().copied().unwrap_or_default();
                    let range = [
                        first(&lookup.dates_ms),
                        last(&lookup.dates_ms),
                        first(&lookup.seqs),
                        last(&lookup.seqs),
                    ];
                    (lookup.guid.clone(), lookup.logger.clone(), lookup.epoch.clone(), range)
                })
                .collect();
            let rows: Vec<NumberedRecord> =
                self.line.run("look up resends", Effect::Store, move |client| async move {
                    let mut query = client.query(&sql);
                    for (guid, logger, epoch, range) in bounds {
                        query = query.bind(guid).bind(logger).bind(epoch);
                        for value in range {
                            query = query.bind(value);
                        }
                    }
                    query.fetch_all().await
                })?;
            if rows.len() == LOOKUP_ROWS {
                tracing::warn!(
                    rows = LOOKUP_ROWS,
                    "resend lookup cut short: some resends may be stored twice (reads show them once)"
                );
            }
            let wanted: HashMap<(&str, &str, &str), &Lookup> =
                chunk.iter().map(|l| ((l.guid.as_str(), l.logger.as_str(), l.epoch.as_str()), l)).collect();
            for row in rows {
                let exact = wanted
                    .get(&(row.guid.as_str(), row.logger.as_str(), row.epoch.as_str()))
                    .is_some_and(|l| l.seqs.contains(&row.seq) && l.dates_ms.contains(&row.date_ms));
                if exact {
                    found
                        .entry((row.guid, row.logger, row.epoch, row.seq))
                        .or_default()
                        .push((row.date_ms, row.dedup));
                }
            }
        }
        Ok(found)
    }
}

impl Storage for ClickHouseStorage {
    fn kind(&self) -> &'static str {
        "clickhouse"
    }

    fn health(&self) -> StorageHealth {
        self.line.health()
    }

    fn grouping(&self) -> Grouping {
        Grouping { linger: self.settings.insert_interval(), max_records: self.settings.insert_max_rows }
    }

    fn announce_node(&self, admin_url: &str) -> Result<(), StorageError> {
        let row = NodeRow { node: self.node.clone(), admin_url: admin_url.to_owned(), at: self.clock.next() };
        self.line.insert(&self.tables.nodes, vec![row])
    }

    fn runs_retention(&self) -> Result<bool, StorageError> {
        // The live node first by name: two nodes deleting the same day would count its bytes
        // off a sentry's quota twice.
        let now_us = self.clock.next();
        let first = self
            .announcements()?
            .into_values()
            .filter(|row| holders::is_live(Some(row), now_us))
            .map(|row| row.node)
            .min();
        Ok(first.is_none_or(|first| first == self.node))
    }

    fn peer_holding(&self, guid: &str) -> Result<Option<PeerNode>, StorageError> {
        let Some(state) = self.current_states(Some(guid))?.pop() else { return Ok(None) };
        if state.connected == 0 || state.node == self.node {
            return Ok(None);
        }
        Ok(self
            .announcements()?
            .remove(&state.node)
            .map(|row| PeerNode { node: row.node, admin_url: row.admin_url }))
    }

    fn sentry_connected(&self, guid: &str, address: &str) -> Result<(), StorageError> {
        // It may have sent records to another node since this one stored its last.
        self.last_stored.forget_sentry(guid);
        self.addresses.lock().unwrap_or_else(|p| p.into_inner()).insert(guid.to_owned(), address.to_owned());
        let change = SentryChange {
            guid: guid.to_owned(),
            connected: 1,
            address: address.to_owned(),
            node: self.node.clone(),
            at: self.clock.next(),
        };
        self.record_sentry_change(change)
    }

    fn sentry_disconnected(&self, guid: &str, _reason: &str) -> Result<(), StorageError> {
        let address =
            self.addresses.lock().unwrap_or_else(|p| p.into_inner()).remove(guid).unwrap_or_default();
        let change = SentryChange {
            guid: guid.to_owned(),
            connected: 0,
            address,
            node: self.node.clone(),
            at: self.clock.next(),
        };
        self.record_sentry_change(change)
    }

    fn sentries(&self) -> Result<Vec<SentryRow>, StorageError> {
        Ok(self
            .current_states(None)?
            .into_iter()
            .map(|state| SentryRow {
                guid: state.guid,
                connected: state.connected == 1,
                address: Some(state.address).filter(|a| !a.is_empty()),
                last_seen_ms: state.at / 1000,
                node: Some(state.node),
            })
            .collect())
    }

    fn append(&self, records: &[StoredRecord]) -> Result<usize, StorageError> {
        if records.is_empty() {
            return Ok(0);
        }
        // What is known of the loggers of this append, taken out while ClickHouse is asked.
        let mut last = self.last_stored.start_append(records);
        let lookups = resends::lookups(records, &last);
        let found = self.look_up(&lookups)?;
        let decision = resends::decide(records, &mut last, found);
        let (received_ms, node) = (now_ms(), &self.node);
        let (day, received) = (utc_day(received_ms), (received_ms / 1000) as u32);
        let mut usage: HashMap<&str, i64> = HashMap::new();
        let rows: Vec<RecordRow> = decision
            .keep
            .iter()
            .map(|&index| {
                let record = &records[index];
                *usage.entry(record.guid.as_str()).or_default() +=
                    record_bytes(&record.params, record.msg.as_deref());
                let id = self.clock.next();
                RecordRow {
                    id,
                    guid: record.guid.clone(),
                    logger: record.logger.clone(),
                    date_ms: record.date_ms,
                    logtype: record.logtype.clone(),
                    msg: record.msg.clone(),
                    params: record.params.clone(),
                    epoch: record.epoch.clone().unwrap_or_default(),
                    seq: record.seq.unwrap_or(0),
                    has_seq: u8::from(record.seq.is_some()),
                    dedup: resends::dedup_key(record, index),
                    day,
                    received,
                    node: node.clone(),
                }
            })
            .collect();
        let stored = rows.len();
        if let Err(error) = self.line.insert(&self.tables.records, rows) {
            // It may have been stored all the same (its answer lost): look them up next time.
            self.last_stored.forget_loggers(records);
            return Err(error);
        }
        self.last_stored.finish_append(last);
        let usage: Vec<UsageRow> =
            usage.into_iter().map(|(guid, bytes)| UsageRow { guid: guid.to_owned(), day, bytes }).collect();
        if let Err(error) = self.line.insert(&self.tables.usage, usage) {
            tracing::warn!(%error, "stored records not counted in their sentries' quota");
        }
        for rollback in decision.rollbacks {
            let detail = serde_json::json!({ "epoch": rollback.epoch, "last_seq": rollback.last_seq, "seq": rollback.seq });
            if let Err(error) = self.record_event(&rollback.guid, ROLLBACK_EVENT, &rollback.logger, &detail) {
                tracing::warn!(%error, guid = %rollback.guid, "cannot note a sequence rollback");
            }
        }
        Ok(stored)
    }

    fn newest_record_id(&self) -> Result<i64, StorageError> {
        let sql = format!("SELECT max(id) FROM {} WHERE node = ?", self.tables.records);
        let node = self.node.clone();
        self.line.run("read the newest record id", Effect::Read, move |client| async move {
            client.query(&sql).bind(node).fetch_one::<i64>().await
        })
    }

    fn forward_backlog(&self, after_id: i64, keep: u64) -> Result<Backlog, StorageError> {
        // Ids are arrival times in microseconds: only the days since `after_id` are read.
        let condition = format!("{} WHERE node = ? AND day >= ? AND id > ?", self.tables.records);
        let (node, day) = (self.node.clone(), utc_day(after_id / 1000 - 60_000));
        let count_sql = format!("SELECT count() FROM {condition}");
        let (count_node, count_day) = (node.clone(), day);
        let waiting = self.line.run("count the forward backlog", Effect::Read, move |client| async move {
            client.query(&count_sql).bind(count_node).bind(count_day).bind(after_id).fetch_one::<u64>().await
        })?;
        if waiting <= keep {
            return Ok(Backlog { waiting, skip_to: None, skipped: 0 });
        }
        let skipped = waiting - keep;
        let nth_sql = format!("SELECT id FROM {condition} ORDER BY id LIMIT 1 OFFSET ?");
        let skip_to = self.line.run(
            "find where the forward backlog starts",
            Effect::Read,
            move |client| async move {
                client
                    .query(&nth_sql)
                    .bind(node)
                    .bind(day)
                    .bind(after_id)
                    .bind(skipped - 1)
                    .fetch_one::<i64>()
                    .await
            },
        )?;
        Ok(Backlog { waiting, skip_to: Some(skip_to), skipped })
    }

    fn records(&self, filter: &RecordFilter) -> Result<Vec<(i64, StoredRecord)>, StorageError> {
        let mut conditions = vec!["id > ?".to_owned()];
        let after = filter.after_id.unwrap_or(0);
        if after > 0 {
            // Ids are arrival times in microseconds: older days need not be read (a minute of
            // slack for the clocks of other nodes).
            conditions.push("day >= ?".into());
        }
        for (column, present) in
            [("guid = ?", filter.guid.is_some()), ("logger = ?", filter.logger.is_some())]
        {
            if present {
                conditions.push(column.into());
            }
        }
        if filter.since_ms.is_some() {
            conditions.push("date_ms >= ?".into());
        }
        if filter.until_ms.is_some() {
            conditions.push("date_ms < ?".into());
        }
        if filter.own_node_only {
            conditions.push("node = ?".into());
        }
        let text = filter.text.clone().filter(|text| !text.is_empty());
        if text.is_some() {
            conditions.push("(position(params, ?) > 0 OR position(ifNull(msg, ''), ?) > 0)".into());
        }
        if filter.before_id.is_some() {
            conditions.push("id < ?".into());
        }
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let limit = if filter.limit == 0 { 1000 } else { filter.limit } as u64;
        let sql = format!(
            "SELECT id, guid, logger, date_ms, logtype, msg, params, seq, has_seq FROM {}
             WHERE {} ORDER BY id {order} LIMIT 1 BY {RECORD_KEY} LIMIT ?",
            self.tables.records,
            conditions.join(" AND ")
        );
        let filter = filter.clone();
        let node = self.node.clone();
        let max_bytes = filter.max_bytes.unwrap_or(usize::MAX);
        let rows: Vec<ReadRecord> =
            self.line.run("read records", Effect::Read, move |client| async move {
                let mut query = client.query(&sql).bind(after);
                if after > 0 {
                    query = query.bind(utc_day(after / 1000 - 60_000));
                }
                for value in [filter.guid, filter.logger].into_iter().flatten() {
                    query = query.bind(value);
                }
                for value in [filter.since_ms, filter.until_ms].into_iter().flatten() {
                    query = query.bind(value);
                }
                if filter.own_node_only {
                    query = query.bind(node);
                }
                if let Some(text) = text {
                    query = query.bind(text.clone()).bind(text);
                }
                if let Some(before) = filter.before_id {
                    query = query.bind(before);
                }
                // Read row by row: a page stops at `max_bytes` of params and messages.
                let mut cursor = query.bind(limit).fetch::<ReadRecord>()?;
                let (mut rows, mut bytes) = (Vec::new(), 0usize);
                while bytes < max_bytes {
                    let Some(row) = cursor.next().await? else { break };
                    bytes += row.params.len() + row.msg.as_ref().map_or(0, String::len);
                    rows.push(row);
                }
                Ok(rows)
            })?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    row.id,
                    StoredRecord {
                        guid: row.guid,
                        logger: row.logger,
                        date_ms: row.date_ms,
                        logtype: row.logtype,
                        msg: row.msg,
                        params: row.params,
                        seq: (row.has_seq == 1).then_some(row.seq),
                        epoch: None,
                    },
                )
            })
            .collect())
    }

    fn record_event(
        &self,
        guid: &str,
        kind: &str,
        logger: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StorageError> {
        let received_ms = now_ms();
        let event = EventRow {
            id: self.clock.next(),
            guid: guid.to_owned(),
            kind: kind.to_owned(),
            logger: truncated(logger, MAX_EVENT_SUBJECT).to_owned(),
            detail: capped_detail(detail),
            day: utc_day(received_ms),
            received: (received_ms / 1000) as u32,
        };
        self.events.submit(event, |events| self.line.insert(&self.tables.events, events))
    }

    fn events(&self, guid: &str, limit: usize) -> Result<Vec<SentryEvent>, StorageError> {
        let sql = format!(
            "SELECT kind, logger, detail, id FROM {} WHERE guid = ? ORDER BY id DESC LIMIT ?",
            self.tables.events
        );
        let guid = guid.to_owned();
        let rows: Vec<ReadEvent> = self.line.run("read events", Effect::Read, move |client| async move {
            client.query(&sql).bind(guid).bind(limit as u64).fetch_all().await
        })?;
        Ok(rows
            .into_iter()
            .map(|event| SentryEvent {
                kind: event.kind,
                logger: event.logger,
                detail: serde_json::from_str(&event.detail).unwrap_or(serde_json::Value::Null),
                // Ids are arrival times in microseconds.
                received_ms: event.id / 1000,
            })
            .collect())
    }

    fn delete_expired(&self, limits: &RetentionLimits, _batch: usize) -> Result<Deleted, StorageError> {
        retention::drop_expired_day(&self.line, &self.tables, &self.settings, limits)
    }

    fn sentries_over(&self, max_bytes: u64) -> Result<Vec<(String, u64)>, StorageError> {
        retention::sentries_over(&self.line, &self.tables, max_bytes)
    }

    fn delete_oldest_of(&self, guid: &str, _batch: usize) -> Result<(u64, u64), StorageError> {
        retention::delete_oldest_day_of(&self.line, &self.tables, guid)
    }

    fn set_wanted_logger(&self, guid: &str, logger: &str, wanted: bool) -> Result<(), StorageError> {
        let change = LoggerChange {
            guid: guid.to_owned(),
            logger: logger.to_owned(),
            wanted: u8::from(wanted),
            at: self.clock.next(),
        };
        self.line.insert(&self.tables.loggers, vec![change])
    }

    fn wanted_loggers(&self, guid: &str) -> Result<Vec<String>, StorageError> {
        let sql = format!(
            "SELECT logger FROM {} WHERE guid = ? GROUP BY logger HAVING argMax(wanted, at) = 1 ORDER BY logger",
            self.tables.loggers
        );
        let guid = guid.to_owned();
        self.line.run("read wanted loggers", Effect::Read, move |client| async move {
            client.query(&sql).bind(guid).fetch_all().await
        })
    }
}

/// This machine's host name (for a node that names none).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|name| name.trim().to_owned()))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "kraken-base".into())
}
