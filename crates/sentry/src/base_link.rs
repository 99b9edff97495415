//! A link to one base: dial out over mutual TLS, say `hello`, serve the base's calls, and dial
//! again when the connection goes.
//!
//! Each configured base gets its own task, so bases are independent and reached in parallel.
//! A link uses that base's own certificate, key and CA (BUG-3) and checks that the base's
//! certificate names the configured address. After TLS and RPC peering it binds the
//! `kraken-sentry` service (the method table), opens `kraken-base` and calls `hello(guid)` with
//! a time limit; the base's calls (which may come while `hello` is in flight) are served
//! concurrently. When the connection closes, everything about it is dropped and the next
//! connection starts from the beginning (BUG-7, BUG-8). Reconnection waits grow exponentially
//! with full jitter up to a cap, after a random first delay, so a fleet of sentries does not
//! return in step when a base restarts (BUG-12).
//!
//! While connected, the link sends the records spooled for its base (see `spool`): in
//! acknowledged batches to a base that announced `onLogBatch`, as plain `onLog` posts to an
//! original base. A record leaves the spool only after that. Records travel on the log channel
//! the base asks for (see `log_channel`); on the command connection only if none came.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use kraken_codec::Value;
use kraken_rpc::tls::{self, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcConnection, RpcSession, ServiceTable};
use tokio::sync::{Notify, mpsc, watch};

use crate::config::BaseConfig;
use crate::log_channel::{self, LinkService, LogChannel, LogChannelRequest};
use crate::loggers::{LoggerEvent, LoggerRegistry};
use crate::service::{SERVICE_NAME, SentryService};
use crate::store::Store;

/// How long `hello` (and `setLogChannel`) may take.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before reconnecting; it doubles up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// One base to link to.
pub struct LinkSettings {
    pub base: BaseConfig,
    pub guid: String,
    pub max_backoff: Duration,
    /// Where the records for this base wait; `None` sends none.
    pub spool: Option<SpoolAccess>,
    /// The loggers to tell the base about (`factoryAdded`, `loggerAdded`...); `None` tells none.
    pub loggers: Option<Arc<LoggerRegistry>>,
}

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

/// What a link reports of itself.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    Connected { base: String, hello: Value },
    Disconnected { base: String, reason: String },
    Failed { base: String, error: String },
}

/// Runs the link until the task is dropped. `events` receives what happens (for tests and
/// diagnostics); a closed receiver is ignored.
pub async fn run_link(
    settings: LinkSettings,
    service: Arc<SentryService>,
    events: Option<tokio::sync::mpsc::UnboundedSender<LinkEvent>>,
) {
    let settings = Arc::new(settings);
    let name = settings.base.name.clone();
    let report = |event: LinkEvent| {
        if let Some(events) = &events {
            let _ = events.send(event);
        }
    };
    tokio::time::sleep(jitter(Duration::from_secs(2))).await;
    let mut attempt: u32 = 0;
    loop {
        let started = Instant::now();
        match connect(&settings, service.clone()).await {
            Ok(Connected { connection, session, hello, log_requests }) => {
                tracing::info!(base = %name, "connected to the base");
                let batched = hello
                    .as_map()
                    .and_then(|m| m.get("extensions"))
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.contains(&Value::from("onLogBatch")));
                report(LinkEvent::Connected { base: name.clone(), hello });
                let log_channel = Arc::new(LogChannel::default());
                let log_task = tokio::spawn(log_channel::serve_requests(
                    log_requests,
                    log_channel.clone(),
                    connection.clone(),
                    settings.guid.clone(),
                    {
                        let settings = settings.clone();
                        move || {
                            let settings = settings.clone();
                            async move { dial(&settings, ServiceTable::new()).await }
                        }
                    },
                ));
                let events = settings.loggers.as_ref().map(|registry| {
                    // Subscribed before the snapshot is taken: a change in between is told
                    // twice rather than missed.
                    let changes = registry.event_sender().subscribe();
                    let present = registry.announcements();
                    tokio::spawn(forward_logger_events(
                        session.clone(),
                        present,
                        changes,
                        settings.guid.clone(),
                    ))
                });
                let reason = match &settings.spool {
                    Some(spool) => tokio::select! {
                        reason = connection.closed() => reason,
                        sent = send_spooled(&session, log_channel.watch(), spool, &name, &settings.guid, batched) => {
                            let reason = format!("{:#}", sent.err().unwrap_or_else(|| anyhow!("sender ended")));
                            connection.close(reason.clone());
                            reason
                        }
                    },
                    None => connection.closed().await,
                };
                log_task.abort();
                log_channel.close(&format!("the command connection closed: {reason}"));
                if let Some(events) = events {
                    events.abort();
                }
                tracing::warn!(base = %name, %reason, "connection to the base lost");
                report(LinkEvent::Disconnected { base: name.clone(), reason });
                if started.elapsed() >= STABLE_AFTER {
                    attempt = 0;
                }
            }
            Err(error) => {
                tracing::warn!(base = %name, error = %format!("{error:#}"), "cannot link to the base");
                report(LinkEvent::Failed { base: name.clone(), error: format!("{error:#}") });
            }
        }
        let ceiling = FIRST_BACKOFF.saturating_mul(1 << attempt.min(16)).min(settings.max_backoff);
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(jitter(ceiling)).await;
    }
}

/// Tells the base about the loggers as the original's posts: first the present state
/// (`factoryAdded(guid, info)` for each factory, `loggerAdded(guid, info)` for each logger and
/// `loggerStarted` for the running ones), then each change (`loggerAdded`, `loggerRemoved(guid,
/// name)`, `loggerStarted(guid, name, interval)`, `loggerStopped(guid, name)`), until the
/// connection goes. Changes lost to a full queue are not resent: the base reads the whole
/// picture with `getLoggers` at every hello.
async fn forward_logger_events(
    session: RpcSession,
    present: Vec<LoggerEvent>,
    mut changes: tokio::sync::broadcast::Receiver<LoggerEvent>,
    guid: String,
) {
    for event in present {
        if post_logger_event(&session, &guid, event).await.is_err() {
            return;
        }
    }
    loop {
        let event = match changes.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "logger events dropped for a slow base");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if post_logger_event(&session, &guid, event).await.is_err() {
            return;
        }
    }
}

/// Posts one logger event to the base.
async fn post_logger_event(
    session: &RpcSession,
    guid: &str,
    event: LoggerEvent,
) -> Result<(), kraken_rpc::RpcError> {
    let guid = Value::from(guid);
    let (method, params) = match event {
        LoggerEvent::FactoryAdded(info) => ("factoryAdded", vec![guid, info]),
        LoggerEvent::Added(info) => ("loggerAdded", vec![guid, info]),
        LoggerEvent::Removed(name) => ("loggerRemoved", vec![guid, Value::from(name)]),
        LoggerEvent::Started { name, interval_ms } => (
            "loggerStarted",
            vec![guid, Value::from(name), Value::I32(i32::try_from(interval_ms).unwrap_or(i32::MAX))],
        ),
        LoggerEvent::Stopped(name) => ("loggerStopped", vec![guid, Value::from(name)]),
    };
    session.post(method, params).await
}

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
async fn send_spooled(
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
    let mut in_flight: VecDeque<(SessionKey, usize, kraken_rpc::PendingReply, usize, Vec<i64>)> =
        VecDeque::new();
    let mut last_sent = 0;
    loop {
        let woken = spool.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let window = if batched { BATCHES_IN_FLIGHT } else { 1 };
        let session = log_channel.borrow().clone().unwrap_or_else(|| command.clone());
        let key = session_key(&session);
        if may_send(in_flight.iter().map(|(key, ..)| *key), window, key) {
            let (store, name) = (spool.store.clone(), base.to_owned());
            let batch = tokio::task::spawn_blocking(move || {
                store.spool_batch_after(&name, last_sent, BATCH_RECORDS, BATCH_BYTES)
            })
            .await??;
            if let Some(last) = batch.last() {
                last_sent = last.id;
                let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
                if batched {
                    let (params, count) = batch_params(guid, &batch, &epoch);
                    let queued: usize =
                        in_flight.iter().map(|(_, bytes, ..)| bytes).sum::<usize>() + params.len();
                    let reply = session
                        .start_call_encoded("onLogBatch", &params, ack_timeout(queued))
                        .await
                        .map_err(|e| anyhow!("batch not sent: {e}"))?;
                    in_flight.push_back((key, params.len(), reply, count, ids));
                    continue;
                }
                post_records(&session, guid, decode_batch(&batch)).await?;
                session
                    .connection()
                    .ping(ack_timeout(0))
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
fn batch_params(guid: &str, batch: &[crate::store::SpooledRecord], epoch: &Value) -> (Vec<u8>, usize) {
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
fn decode_batch(batch: &[crate::store::SpooledRecord]) -> Vec<Value> {
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
        let logger = record.remove("logger").unwrap_or(Value::Null);
        session.post("onLog", vec![Value::from(guid), logger, Value::Map(record)]).await?;
    }
    Ok(())
}

/// Deletes records the base has (acknowledged, or posted to an original base).
async fn acknowledge(spool: &SpoolAccess, base: &str, ids: Vec<i64>) -> anyhow::Result<()> {
    let (store, name) = (spool.store.clone(), base.to_owned());
    tokio::task::spawn_blocking(move || store.spool_ack(&name, &ids)).await??;
    Ok(())
}

/// A command connection that said `hello`.
struct Connected {
    connection: RpcConnection,
    /// The `kraken-base` session.
    session: RpcSession,
    /// The base's reply to `hello`.
    hello: Value,
    /// What the base asks of the log channel.
    log_requests: mpsc::Receiver<LogChannelRequest>,
}

/// One command connection: TLS, peering, the `kraken-sentry` service bound, `hello`.
async fn connect(settings: &LinkSettings, service: Arc<SentryService>) -> anyhow::Result<Connected> {
    let (requests, log_requests) = mpsc::channel(4);
    let mut services = ServiceTable::new();
    services.insert(SERVICE_NAME.into(), LinkService::new(service, requests));
    let connection = dial(settings, services).await?;
    let hello = async {
        let session = connection.create_session("kraken-base").await?;
        let reply = session
            .call_with_timeout("hello", vec![Value::from(settings.guid.as_str())], HELLO_TIMEOUT)
            .await?;
        Ok::<_, kraken_rpc::RpcError>((session, reply))
    };
    match hello.await {
        Ok((session, hello)) => Ok(Connected { connection, session, hello, log_requests }),
        Err(error) => {
            connection.close(format!("hello failed: {error}"));
            Err(anyhow!("hello refused: {error}"))
        }
    }
}

/// Opens a connection to the base (TLS with its own certificate, key and CA, then RPC
/// peering), serving `services`.
async fn dial(settings: &LinkSettings, services: ServiceTable) -> anyhow::Result<RpcConnection> {
    let base = &settings.base;
    let identity = TlsIdentity::from_pem_files(&base.certificate, &base.key).with_context(|| {
        format!("certificate {} / key {}", base.certificate.display(), base.key.display())
    })?;
    let ca = TrustedCas::from_pem_file(&base.ca).with_context(|| format!("CA {}", base.ca.display()))?;
    let pin = ServerPin::Name(base.address.clone());
    let client = tls::client_config(&identity, &ca, pin.clone())?;
    let address = resolve(&base.address, base.port).await?;
    let mut config = RpcConfig::new(settings.guid.clone());
    config.call_timeout = Duration::from_secs(30);
    let connection = CloseOnDrop::new(
        Connector::tls(Arc::new(config), client, pin).connect(address, services).await?,
        "abandoned while peering",
    );
    if let Err(error) = connection.peered(HELLO_TIMEOUT).await {
        connection.close(format!("peering failed: {error}"));
        return Err(error.into());
    }
    Ok(connection.keep())
}

/// A connection being set up, closed if dropped before [`Self::keep`]: a task aborted while
/// dialling, peering or shaking hands (a log channel whose command connection closed
/// meanwhile) would otherwise leave it open for good, kept alive by its own reader, writer
/// and ping tasks, and holding a connection slot at the base (BUG-8).
pub(crate) struct CloseOnDrop {
    connection: Option<RpcConnection>,
    reason: &'static str,
}

impl CloseOnDrop {
    pub(crate) fn new(connection: RpcConnection, reason: &'static str) -> Self {
        CloseOnDrop { connection: Some(connection), reason }
    }

    /// The connection, set up: no longer closed on drop.
    pub(crate) fn keep(mut self) -> RpcConnection {
        self.connection.take().expect("kept once")
    }
}

impl std::ops::Deref for CloseOnDrop {
    type Target = RpcConnection;

    fn deref(&self) -> &RpcConnection {
        self.connection.as_ref().expect("not kept yet")
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.close(self.reason);
        }
    }
}

async fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let mut addresses =
        tokio::net::lookup_host((host, port)).await.with_context(|| format!("cannot resolve {host}"))?;
    addresses.next().ok_or_else(|| anyhow!("{host} has no address"))
}

/// A uniformly random duration in `[0, ceiling]` ("full jitter").
fn jitter(ceiling: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(if nanos == 0 { 0 } else { random % (nanos + 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_dropped_while_being_set_up_is_closed_and_a_kept_one_is_not() {
        let connection = || {
            let (client, _server) = tokio::io::duplex(64);
            RpcConnection::start(
                client,
                kraken_rpc::Role::Initiator,
                Arc::new(RpcConfig::new("test")),
                ServiceTable::new(),
                kraken_rpc::PeerInfo::default(),
                false,
            )
        };
        let abandoned = connection();
        drop(CloseOnDrop::new(abandoned.clone(), "abandoned while peering"));
        assert!(abandoned.is_closed());
        assert_eq!(abandoned.closed().await, "abandoned while peering");
        let kept = connection();
        let _ = CloseOnDrop::new(kept.clone(), "abandoned while peering").keep();
        assert!(!kept.is_closed());
    }

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
    fn jitter_stays_within_its_ceiling_and_varies() {
        let ceiling = Duration::from_millis(500);
        let samples: Vec<Duration> = (0..50).map(|_| jitter(ceiling)).collect();
        assert!(samples.iter().all(|d| *d <= ceiling));
        assert!(samples.iter().any(|d| *d != samples[0]), "no variation: {samples:?}");
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn batch_params_carry_spooled_records_as_they_are_and_leave_out_unreadable_ones() {
        let record = |n: i32| kraken_codec::map! { "logger" => "cpu", "date" => Value::Date(7), "params" => kraken_codec::map! { "n" => n } };
        let spooled =
            |id: i64, record: Vec<u8>| crate::store::SpooledRecord { id, logger: "cpu".into(), record };
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
