//! Retention and the per-sentry quota on ClickHouse, in whole days: ClickHouse deletes a day
//! partition at once and cheaply, while deleting rows one by one rewrites parts.
//!
//! * Age (`max_age_days`): each step drops the oldest day partition (records first, then
//!   events) that ended before the cutoff; a record is gone within a day after it expired.
//! * Only one node applies them where several share the storage (the live one first by name).
//! * Quota (`max_bytes_per_sentry`): the usage table sums each sentry's bytes per day (and
//!   loses a day with its records); a
//!   sentry over it loses its oldest day of records (an `ALTER TABLE ... DELETE`, which
//!   ClickHouse runs in the background), and the usage table takes that day's bytes away.
//! * A count limit (`max_records`) is refused with ClickHouse when the configuration loads.

use std::time::Instant;

use clickhouse::Row;
use serde::Deserialize;

use super::super::model::{Deleted, RetentionLimits, StorageError};
use super::client::{Effect, Line};
use super::clock::utc_day;
use super::rows::UsageRow;
use super::schema::Tables;
use super::settings::ClickHouseSettings;

/// One day partition of a table and its rows.
#[derive(Debug, Row, Deserialize)]
struct Partition {
    partition: String,
    rows: u64,
}

/// One step of age retention: the oldest day of records, or else of events, that ended before
/// the cutoff, dropped.
pub fn drop_expired_day(
    line: &Line,
    tables: &Tables,
    settings: &ClickHouseSettings,
    limits: &RetentionLimits,
) -> Result<Deleted, StorageError> {
    let started = Instant::now();
    let cutoff_day = utc_day(limits.received_before_ms);
    let mut deleted = Deleted::default();
    for (name, quoted) in
        [(&settings.records_table, &tables.records), (&settings.events_table, &tables.events)]
    {
        let Some(oldest) = oldest_partition_before(line, &settings.database, name, cutoff_day)? else {
            continue;
        };
        let day: u32 = oldest.partition.trim_matches('\'').parse().map_err(|_| {
            StorageError(format!("clickhouse: unexpected partition {:?} of {name}", oldest.partition))
        })?;
        let sql = format!("ALTER TABLE {quoted} DROP PARTITION {day}");
        line.run("drop an expired day", Effect::Store, move |client| async move {
            client.query(&sql).execute().await
        })?;
        if name == &settings.records_table {
            // The day's bytes leave the quota's sums with it.
            let usage = format!("ALTER TABLE {} DROP PARTITION {day}", tables.usage);
            line.run("drop an expired day", Effect::Store, move |client| async move {
                client.query(&usage).execute().await
            })?;
            deleted.records = oldest.rows;
        } else {
            deleted.other_rows = oldest.rows;
        }
        break;
    }
    deleted.held = started.elapsed();
    Ok(deleted)
}

/// The oldest active partition of `table` (a name in `database`) whose day is before
/// `cutoff_day`.
fn oldest_partition_before(
    line: &Line,
    database: &str,
    table: &str,
    cutoff_day: u32,
) -> Result<Option<Partition>, StorageError> {
    let sql = "SELECT partition, toUInt64(sum(rows)) FROM system.parts
               WHERE database = ? AND table = ? AND active
               GROUP BY partition HAVING toUInt32(partition) < ? ORDER BY partition LIMIT 1";
    let (database, table) = (database.to_owned(), table.to_owned());
    line.run("read partitions", Effect::Read, move |client| async move {
        client.query(sql).bind(database).bind(table).bind(cutoff_day).fetch_optional().await
    })
}

/// Sentries whose records take more than `max_bytes`, with what they take.
pub fn sentries_over(
    line: &Line,
    tables: &Tables,
    max_bytes: u64,
) -> Result<Vec<(String, u64)>, StorageError> {
    let sql = format!(
        "SELECT guid, toUInt64(sum(bytes)) FROM {} GROUP BY guid HAVING sum(bytes) > ? ORDER BY guid",
        tables.usage
    );
    let limit = i64::try_from(max_bytes).unwrap_or(i64::MAX);
    line.run("read usage", Effect::Read, move |client| async move {
        client.query(&sql).bind(limit).fetch_all().await
    })
}

/// Deletes `guid`'s oldest day of records; returns how many records it held, and what the
/// sentry's records take afterwards.
pub fn delete_oldest_day_of(line: &Line, tables: &Tables, guid: &str) -> Result<(u64, u64), StorageError> {
    let sql = format!(
        "SELECT guid, day, sum(bytes) FROM {} WHERE guid = ? GROUP BY guid, day HAVING sum(bytes) > 0
         ORDER BY day LIMIT 1",
        tables.usage
    );
    let who = guid.to_owned();
    let oldest: Option<UsageRow> = line.run("read usage", Effect::Read, move |client| async move {
        client.query(&sql).bind(who).fetch_optional().await
    })?;
    let Some(oldest) = oldest else { return Ok((0, 0)) };
    let count_sql = format!("SELECT count() FROM {} WHERE guid = ? AND day = ?", tables.records);
    let delete_sql = format!("ALTER TABLE {} DELETE WHERE guid = ? AND day = ?", tables.records);
    let (who, day) = (guid.to_owned(), oldest.day);
    let records: u64 = line.run("delete a sentry's oldest day", Effect::Store, move |client| async move {
        let count = client.query(&count_sql).bind(&who).bind(day).fetch_one().await?;
        client.query(&delete_sql).bind(&who).bind(day).execute().await?;
        Ok(count)
    })?;
    line.insert(&tables.usage, vec![UsageRow { guid: guid.to_owned(), day, bytes: -oldest.bytes }])?;
    let left_sql = format!("SELECT toUInt64(greatest(sum(bytes), 0)) FROM {} WHERE guid = ?", tables.usage);
    let who = guid.to_owned();
    let left: u64 = line.run("read usage", Effect::Read, move |client| async move {
        client.query(&left_sql).bind(who).fetch_one().await
    })?;
    Ok((records, left))
}
