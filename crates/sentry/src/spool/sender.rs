//! The spool's sender: what waits in a base's spool goes out on the session the link hands it,
//! and leaves the spool only once the base has it.
//!
//! A base that announced `onLogBatch` acknowledges each batch (`onLogBatch(guid, records,
//! epoch)`: the store's spool epoch lets the base skip records it already has, by their `seq`,
//! so a resend after a crash stores nothing twice), and up to [`BATCHES_IN_FLIGHT`] batches
//! travel at once, all on one session (the base stores them in arrival order). An original base
//! gets one `onLog` post per record, deleted once it answers a `ping` sent after them.
//! Records travel on the log channel the base asks for; on the command connection only if none
//! came within [`LOG_CHANNEL_GRACE`]. Each batch is shared between the loggers with records
//! waiting (`Store::spool_batch_shared`): one logger's backlog does not hold the others back.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use kraken_codec::Value;
use kraken_rpc::{PendingReply, RpcSession};
use sentry_protocol::names::base_method;
use sentry_protocol::record::field;
use tokio::sync::{Notify, watch};

use super::queries::SpooledRecord;
use crate::store::Store;

/// The spool as a link reads it.
#[derive(Clone)]
pub struct SpoolAccess {
    pub store: Arc<Store>,
    /// Woken when records were spooled.
    pub wake: Arc<Notify>,
}

/// The most records in one batch.
const BATCH_RECORDS: usize = 2_000;
/// The most bytes (encoded) in one batch.
const BATCH_BYTES: usize = 1 << 20;
/// How many acknowledged batches may travel at once.
const BATCHES_IN_FLIGHT: usize = 3;
/// How long a batch may wait for its acknowledgement once sent, besides its time on the wire.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest link batches are expected to cross (bytes per second): each batch's wait also
/// covers sending it and the batches queued before it at this rate. A dead connection is found
/// by the RPC layer's pings, not by this wait.
const SLOWEST_LINK_BYTES_PER_S: u64 = 8 * 1024;
/// How long records wait for the log channel after `hello` before they take the command
/// connection.
const LOG_CHANNEL_GRACE: Duration = Duration::from_secs(10);

/// Sends what waits in the spool for `base`, deleting each batch once acknowledged; returns
/// only on an error (the connection is then closed and redone, and what was not acknowledged
/// goes again). A base that announced `onLogBatch` acknowledges each batch
/// (`onLogBatch(guid, records, epoch)`: the store's spool epoch lets the base skip records it
/// already has, by their `seq`, so a resend after a crash stores nothing twice), and up to
/// [`BATCHES_IN_FLIGHT`] batches travel at once (the base stores them in arrival order, so the
/// order holds); an original base gets one `onLog` post per record, deleted once the base has
/// read them all: it answers nothing to a post, but it reads a connection in order, so its
/// answer to a `ping` sent after the batch's posts says they arrived. A connection lost before
/// then sends them again (a record may arrive twice; none is lost on the way).
pub async fn send_spooled(
    command: &RpcSession,
    mut log_channel: watch::Receiver<Option<RpcSession>>,
    spool: &SpoolAccess,
    base: &str,
    guid: &str,
    batched: bool,
) -> anyhow::Result<()> {
    let _ = tokio::time::timeout(LOG_CHANNEL_GRACE, log_channel.wait_for(Option::is_some)).await;
    let store = spool.store.clone();
    let epoch = Value::from(tokio::task::spawn_blocking(move || store.spool_epoch()).await??);
    // Batches sent and not yet acknowledged, oldest first: their session, size, reply, record
    // count and spool ids.
    let mut in_flight: VecDeque<(SessionKey, usize, PendingReply, usize, Vec<i64>)> = VecDeque::new();
    // The last record sent of each logger: the next batch takes each logger's records after it.
    let mut sent: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        let woken = spool.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let window = if batched { BATCHES_IN_FLIGHT } else { 1 };
        let session = log_channel.borrow().clone().unwrap_or_else(|| command.clone());
        let key = session_key(&session);
        if may_send(in_flight.iter().map(|(key, ..)| *key), window, key) {
            let (store, name, after) = (spool.store.clone(), base.to_owned(), sent.clone());
            let batch = tokio::task::spawn_blocking(move || {
                store.spool_batch_shared(&name, &after, BATCH_RECORDS, BATCH_BYTES)
            })
            .await??;
            if !batch.is_empty() {
                for record in &batch {
                    let last = sent.entry(record.logger.clone()).or_default();
                    *last = (*last).max(record.id);
                }
                let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
                if batched {
                    let (params, count) = batch_params(guid, &batch, &epoch);
                    let queued: usize =
                        in_flight.iter().map(|(_, bytes, ..)| bytes).sum::<usize>() + params.len();
                    let reply = session
                        .start_call_encoded(base_method::ON_LOG_BATCH, &params, ack_timeout(queued))
                        .await
                        .map_err(|e| anyhow!("batch not sent: {e}"))?;
                    in_flight.push_back((key, params.len(), reply, count, ids));
                    continue;
                }
                // The ping waits behind the posts: its answer may take as long as they do.
                let posted: usize = batch.iter().map(|spooled| spooled.record.len()).sum();
                post_records(&session, guid, decode_batch(&batch)).await?;
                session
                    .connection()
                    .ping(ack_timeout(posted))
                    .await
                    .map_err(|e| anyhow!("posted records not confirmed by a ping: {e}"))?;
                acknowledge(spool, base, ids).await?;
                continue;
            }
        }
        match in_flight.pop_front() {
            Some((_, _, reply, count, ids)) => {
                let ack = reply.wait().await.map_err(|e| anyhow!("batch not acknowledged: {e}"))?;
                if ack.as_i64() != Some(count as i64) {
                    anyhow::bail!("the base acknowledged {ack:?} of {count} records");
                }
                acknowledge(spool, base, ids).await?;
            }
            None => {
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// How long a batch may wait for its acknowledgement when `queued` bytes (it and the batches
/// before it) are to cross the link first: [`ACK_TIMEOUT`] plus their time at
/// [`SLOWEST_LINK_BYTES_PER_S`]. The clock starts when the batch is queued, so a slow link
/// still drains, batch by batch, instead of timing out and sending everything again.
fn ack_timeout(queued: usize) -> Duration {
    ACK_TIMEOUT + Duration::from_millis(queued as u64 * 1000 / SLOWEST_LINK_BYTES_PER_S)
}

/// A session's identity: its connection (unique in this process) and its id there.
type SessionKey = (u64, i32);

fn session_key(session: &RpcSession) -> SessionKey {
    (session.connection().id(), session.id())
}

/// Whether another batch may go out on session `next`: the window has room, and every batch
/// in flight went on that same session. Batches on two connections could overtake each other,
/// and the base stores a sentry's batches in arrival order, skipping as a resend any record
/// whose `seq` is not above the last it stored, while still acknowledging it: so when the log
/// channel arrives (or changes), new batches wait until those on the old session are
/// acknowledged.
fn may_send(in_flight: impl Iterator<Item = SessionKey>, window: usize, next: SessionKey) -> bool {
    let mut count = 0;
    for key in in_flight {
        if key != next {
            return false;
        }
        count += 1;
    }
    count < window
}

/// The encoded parameters of `onLogBatch(guid, records, epoch)` and the number of records in
/// it. Records go as they were spooled, in their wire form (checked, not decoded and encoded
/// again); an unreadable one is logged and left out.
fn batch_params(guid: &str, batch: &[SpooledRecord], epoch: &Value) -> (Vec<u8>, usize) {
    let limits = kraken_codec::DecodeLimits::default();
    let mut params = Vec::with_capacity(batch.iter().map(|r| r.record.len()).sum::<usize>() + 64);
    kraken_codec::encode_into(&Value::from(guid), &mut params);
    let records = kraken_codec::encode::open_array(&mut params);
    let mut count = 0;
    for spooled in batch {
        match kraken_codec::RawValue::parse(&spooled.record, &limits) {
            Ok(record) => {
                params.extend_from_slice(record.as_bytes());
                count += 1;
            }
            Err(error) => tracing::error!(id = spooled.id, %error, "an unreadable spooled record is dropped"),
        }
    }
    records.close(&mut params);
    kraken_codec::encode_into(epoch, &mut params);
    (params, count)
}

/// The spooled records as values; an unreadable one is logged and left out.
fn decode_batch(batch: &[SpooledRecord]) -> Vec<Value> {
    let mut entries = Vec::with_capacity(batch.len());
    for spooled in batch {
        match kraken_codec::decode(&spooled.record) {
            Ok(entry) => entries.push(entry),
            Err(error) => tracing::error!(id = spooled.id, %error, "an unreadable spooled record is dropped"),
        }
    }
    entries
}

/// Posts each record as the original's `onLog(guid, loggerName, {date, msg, params})`.
async fn post_records(session: &RpcSession, guid: &str, entries: Vec<Value>) -> anyhow::Result<()> {
    for entry in entries {
        let Value::Map(mut record) = entry else { continue };
        let logger = record.remove(field::LOGGER).unwrap_or(Value::Null);
        session.post(base_method::ON_LOG, vec![Value::from(guid), logger, Value::Map(record)]).await?;
    }
    Ok(())
}

/// Deletes records the base has (acknowledged, or posted to an original base).
async fn acknowledge(spool: &SpoolAccess, base: &str, ids: Vec<i64>) -> anyhow::Result<()> {
    let (store, name) = (spool.store.clone(), base.to_owned());
    tokio::task::spawn_blocking(move || store.spool_ack(&name, &ids)).await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ack_wait_covers_the_bytes_queued_at_the_slowest_link() {
        assert_eq!(ack_timeout(0), ACK_TIMEOUT);
        assert_eq!(ack_timeout(8 * 1024), ACK_TIMEOUT + Duration::from_secs(1));
        // Three full batches in flight on a 64 kbit/s link: each still gets its answer.
        assert_eq!(ack_timeout(3 * BATCH_BYTES), ACK_TIMEOUT + Duration::from_secs(384));
    }

    #[test]
    fn batches_never_go_on_two_sessions_at_once() {
        let (command, log_channel) = ((1, 1), (2, 1));
        assert!(may_send([].into_iter(), 3, log_channel));
        assert!(may_send([command, command].into_iter(), 3, command));
        assert!(!may_send([command, command, command].into_iter(), 3, command), "the window is full");
        // The log channel arrived with batches in flight on the command connection: wait.
        assert!(!may_send([command].into_iter(), 3, log_channel));
        // Same session id on another connection is another session.
        assert!(!may_send([(3, 1)].into_iter(), 3, log_channel));
    }

    #[test]
    fn batch_params_carry_spooled_records_as_they_are_and_leave_out_unreadable_ones() {
        let record = |n: i32| kraken_codec::map! { "logger" => "cpu", "date" => Value::Date(7), "params" => kraken_codec::map! { "n" => n } };
        let spooled = |id: i64, record: Vec<u8>| SpooledRecord { id, logger: "cpu".into(), record };
        let batch = [
            spooled(1, kraken_codec::encode(&record(1))),
            spooled(2, vec![0x09, 0x7f]), // a map longer than its bytes
            spooled(3, kraken_codec::encode(&record(3))),
        ];
        let epoch = Value::I64(42);
        let (params, count) = batch_params("guid-1", &batch, &epoch);
        assert_eq!(count, 2);
        // The params are the items of the frame's params array: guid, records, epoch.
        let mut items = Vec::new();
        let mut rest = &params[..];
        while !rest.is_empty() {
            let (item, len) = kraken_codec::decode_prefix(rest, &Default::default()).unwrap();
            items.push(item);
            rest = &rest[len..];
        }
        assert_eq!(items, [Value::from("guid-1"), Value::Array(vec![record(1), record(3)]), epoch]);
    }
}
