//! The `kraken-base` RPC service: what sentries call on the base.
//!
//! * `hello(guid)`: the connection's certificate must name `guid` (CN or SAN) and, with an
//!   allow-list, `guid` must be on it; then the connection is bound to `guid` and the reply
//!   comes at once: a map announcing this base's extensions (an original base replies null).
//!   A GUID already connected is refused, unless its connection no longer answers a ping: then
//!   the dead connection is closed and replaced. Everything else happens afterwards, in the
//!   background, each step with a time limit (BUG-12, BUG-13): the base opens its session on
//!   the sentry, asks for the log channel, reads the sentry's factories and loggers, and
//!   connects the loggers it wants (again after every reconnection: BUG-7).
//! * `setLogChannel(guid, nonce)`: the sentry's second connection presents the nonce the base
//!   sent in `connectLogChannel`; the certificate must name `guid`, the nonce must be the one
//!   requested and unexpired, and it is good once (BUG-11). The two connections then live and
//!   die together (BUG-8).
//! * `onLog(guid, loggerName, record)`: a post; the record `{date, msg, params}` is stored.
//!   The GUID must be the connection's own (BUG-2), on either of its connections.
//! * `onLogBatch(guid, records[, epoch])`: the acknowledged batch of this base (an
//!   extension): a list of `{logger, date, msg, params, seq}`, committed before the reply (the
//!   count) acknowledges it. With the sender's spool epoch, records already stored (a resend
//!   after a crash, by `seq`) are skipped.
//! * `loggerAdded`/`Removed`/`Started`/`Stopped`, `factoryAdded`/`Removed`: stored as events
//!   of that sentry.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kraken_codec::{Map, Value};
use kraken_rpc::service::{BoxFuture, call_decoded};
use kraken_rpc::{CallContext, Params, RpcConnection, RpcFault, RpcService, RpcSession};

use crate::records;
use crate::sentries::{BindError, SentryRegistry};
use crate::storage::{RecordWriter, Storage, StoredRecord};

/// The service name sentries open.
pub const SERVICE_NAME: &str = "kraken-base";
/// The sentry-side service the base calls.
pub const SENTRY_SERVICE: &str = "kraken-sentry";
/// The extensions this base announces in its `hello` reply.
pub const EXTENSIONS: &[&str] = &["onLogBatch"];
pub use crate::records::MAX_BATCH;
/// How long a log channel nonce stays good.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(15);
/// How many times the base asks for a log channel before it gives up on that connection.
const LOG_CHANNEL_ATTEMPTS: u32 = 3;
/// The limit on each call the base makes into a sentry after hello.
const SENTRY_CALL_LIMIT: Duration = Duration::from_secs(10);
/// How long a connected sentry has to answer a ping before a new connection replaces it.
const LIVENESS_PING: Duration = Duration::from_secs(3);

/// Shared state of the base's service.
#[derive(Clone)]
pub struct BaseService {
    pub storage: Arc<dyn Storage>,
    /// Commits received records, in arrival order.
    pub writer: RecordWriter,
    pub sentries: Arc<SentryRegistry>,
    /// GUIDs allowed to connect; `None`: any GUID with a certificate from the CA.
    pub allowed: Option<Arc<HashSet<String>>>,
    /// Connect every logger of every sentry at hello (a quickstart convenience).
    pub connect_all_loggers: bool,
}

fn fault(message: impl Into<String>) -> RpcFault {
    RpcFault::new(message.into())
}

impl RpcService for BaseService {
    fn call(
        &self,
        ctx: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        self.respond(self.handle(&ctx, &method, params))
    }

    /// Records (`onLog`, `onLogBatch`) are read from their encoded form ([`crate::records`]);
    /// every other method gets its parameters decoded.
    fn call_encoded(
        &self,
        ctx: CallContext,
        method: String,
        params: Params,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        let own_guid = |claimed: &str| self.own_guid(&ctx.connection, claimed);
        let read = match method.as_str() {
            "onLog" => records::on_log(&params, own_guid).map(|records| Handled::Store(records, Value::Null)),
            "onLogBatch" => records::on_log_batch(&params, own_guid).map(|records| {
                let count = Value::I32(records.len() as i32);
                Handled::Store(records, count)
            }),
            _ => return call_decoded(self, ctx, method, params),
        };
        self.respond(read.unwrap_or_else(|error| Handled::Now(Err(error))))
    }
}

impl BaseService {
    /// The reply to a handled call: at once, after the records are committed, or later.
    fn respond(&self, handled: Handled) -> BoxFuture<'static, Result<Value, RpcFault>> {
        match handled {
            Handled::Now(outcome) => Box::pin(async move { outcome }),
            // Queued for the writer thread when the call is dispatched (so in arrival order);
            // the reply, the acknowledgement, waits for the commit.
            Handled::Store(records, reply) => {
                let stored = self.writer.submit(records);
                Box::pin(async move {
                    stored.await.map_err(|e| fault(e.to_string()))?;
                    Ok(reply)
                })
            }
            Handled::Later(future) => future,
        }
    }
}

/// Runs a storage call on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::storage::StorageError> + Send + 'static,
) -> Result<T, RpcFault> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| fault(format!("storage task failed: {e}")))?
        .map_err(|e| fault(e.to_string()))
}

/// What a call needs: an answer now, records to store first (then the reply), or more work.
enum Handled {
    Now(Result<Value, RpcFault>),
    Store(Vec<StoredRecord>, Value),
    Later(BoxFuture<'static, Result<Value, RpcFault>>),
}

impl From<Value> for Handled {
    fn from(reply: Value) -> Self {
        Handled::Now(Ok(reply))
    }
}

impl From<Result<Value, RpcFault>> for Handled {
    fn from(outcome: Result<Value, RpcFault>) -> Self {
        Handled::Now(outcome)
    }
}

impl BaseService {
    fn handle(&self, ctx: &CallContext, method: &str, params: Vec<Value>) -> Handled {
        match self.parse(ctx, method, params) {
            Ok(handled) => handled,
            Err(error) => Handled::Now(Err(error)),
        }
    }

    fn parse(&self, ctx: &CallContext, method: &str, params: Vec<Value>) -> Result<Handled, RpcFault> {
        let connection = &ctx.connection;
        let guid_arg = |params: &[Value]| -> Result<String, RpcFault> {
            params
                .first()
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| fault(format!("{method}: the first argument must be the sentry GUID")))
        };
        match method {
            "hello" => {
                let guid = guid_arg(&params)?;
                let (service, connection) = (self.clone(), connection.clone());
                Ok(Handled::Later(Box::pin(async move { service.hello(&connection, &guid).await })))
            }
            "setLogChannel" => {
                let guid = guid_arg(&params)?;
                let nonce = params
                    .get(1)
                    .and_then(Value::as_str)
                    .ok_or_else(|| fault("setLogChannel: the nonce must be a string"))?;
                Ok(self.set_log_channel(connection, &guid, nonce).into())
            }
            "loggerAdded" | "loggerRemoved" | "loggerStarted" | "loggerStopped" | "factoryAdded"
            | "factoryRemoved" => {
                let guid = self.own_guid(connection, &guid_arg(&params)?)?;
                // loggerAdded carries a LoggerInfo, factory events a FactoryInfo; the others
                // the logger's name (and interval).
                let (subject, detail) = match params.get(1) {
                    Some(Value::Map(info)) => (
                        ["logger_name", "name"]
                            .iter()
                            .find_map(|key| info.get(key).and_then(Value::as_str))
                            .unwrap_or_default()
                            .to_owned(),
                        kraken_codec::plain_json::to_json(&Value::Map(info.clone())),
                    ),
                    Some(name) => (
                        name.as_str().unwrap_or_default().to_owned(),
                        params.get(2).map_or(serde_json::Value::Null, kraken_codec::plain_json::to_json),
                    ),
                    None => return Err(fault(format!("{method}: the logger or factory is missing"))),
                };
                tracing::info!(%guid, %subject, event = method, "sentry event");
                let (storage, kind) = (self.storage.clone(), method.to_owned());
                Ok(Handled::Later(Box::pin(async move {
                    blocking(move || storage.record_event(&guid, &kind, &subject, &detail)).await?;
                    Ok(Value::Null)
                })))
            }
            other => Err(RpcFault::method_not_found(other)),
        }
    }

    /// The GUID this connection may speak for; `claimed` must be it (BUG-2).
    fn own_guid(&self, connection: &RpcConnection, claimed: &str) -> Result<String, RpcFault> {
        match self.sentries.guid_of(connection) {
            Some(guid) if guid == claimed => Ok(guid),
            Some(guid) => Err(fault(format!("this connection speaks for sentry {guid}, not {claimed}"))),
            None => Err(fault("hello first")),
        }
    }

    /// Refuses (and soon closes) a connection whose certificate does not name `guid`, or
    /// whose `guid` is not allowed here.
    fn check_identity(&self, connection: &RpcConnection, guid: &str) -> Result<(), RpcFault> {
        let certificate = connection.peer().certificate.as_ref();
        if !certificate.is_some_and(|c| c.names(guid)) {
            let shown =
                certificate.and_then(|c| c.common_name.clone()).unwrap_or_else(|| "(no certificate)".into());
            tracing::warn!(claimed = guid, certificate = %shown, "refused: the certificate names another sentry");
            close_after_reply(connection, format!("certificate {shown} does not name sentry {guid}"));
            return Err(fault(format!("certificate does not name sentry {guid}")));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(guid)
        {
            close_after_reply(connection, format!("sentry {guid} is not allowed"));
            return Err(fault(format!("sentry {guid} is not allowed on this base")));
        }
        Ok(())
    }

    async fn hello(&self, connection: &RpcConnection, guid: &str) -> Result<Value, RpcFault> {
        self.check_identity(connection, guid)?;
        let bound = match self.sentries.bind(guid, connection) {
            Err(BindError::AlreadyConnected(_)) => {
                self.replace_if_dead(guid, Some(connection)).await?;
                self.sentries.bind(guid, connection)
            }
            other => other,
        };
        let newly_bound = bound.map_err(|e| {
            close_after_reply(connection, e.to_string());
            fault(e.to_string())
        })?;
        let mut reply = Map::new();
        reply.insert("extensions", EXTENSIONS.iter().map(|e| Value::from(*e)).collect());
        if !newly_bound {
            // A second hello on the same connection changes nothing.
            return Ok(Value::Map(reply));
        }
        let address = connection.peer().address.map(|a| a.to_string()).unwrap_or_default();
        let (storage, who) = (self.storage.clone(), guid.to_owned());
        blocking(move || storage.sentry_connected(&who, &address)).await?;
        tracing::info!(%guid, peer = ?connection.peer().address, "sentry connected");
        self.after_hello(connection.clone(), guid.to_owned());
        Ok(Value::Map(reply))
    }

    /// A new connection for a connected GUID: the old one is closed and forgotten if it does
    /// not answer a ping; otherwise the newcomer is refused.
    async fn replace_if_dead(&self, guid: &str, newcomer: Option<&RpcConnection>) -> Result<(), RpcFault> {
        let Some(existing) = self.sentries.get(guid) else { return Ok(()) };
        if existing.connection.ping(LIVENESS_PING).await.is_ok() {
            let refusal = format!("sentry {guid} is already connected");
            if let Some(newcomer) = &newcomer {
                close_after_reply(newcomer, refusal.clone());
            }
            return Err(fault(refusal));
        }
        tracing::warn!(%guid, "the sentry's old connection does not answer a ping: replaced");
        existing.connection.close("replaced: no answer to ping");
        self.forget(&existing.connection, "replaced: no answer to ping").await;
        Ok(())
    }

    /// Drops a closed (or replaced) connection from the registry, with its log channel, and
    /// records the disconnection.
    async fn forget(&self, connection: &RpcConnection, reason: &str) {
        let Some(unbound) = self.sentries.unbind(connection) else { return };
        if let Some(log) = &unbound.log_connection {
            log.close(format!("the command connection closed: {reason}"));
        }
        if unbound.command {
            tracing::info!(guid = %unbound.guid, %reason, "sentry disconnected");
            let (storage, guid, reason) = (self.storage.clone(), unbound.guid, reason.to_owned());
            if let Err(error) = blocking(move || storage.sentry_disconnected(&guid, &reason)).await {
                tracing::warn!(%error, "cannot record the disconnection");
            }
        }
    }

    fn set_log_channel(
        &self,
        connection: &RpcConnection,
        guid: &str,
        nonce: &str,
    ) -> Result<Value, RpcFault> {
        self.check_identity(connection, guid)?;
        let (command, replaced) = self.sentries.set_log_channel(guid, nonce, connection).map_err(|e| {
            tracing::warn!(%guid, error = %e, "log channel refused");
            close_after_reply(connection, e.to_string());
            fault(e.to_string())
        })?;
        if let Some(old) = replaced {
            old.close("replaced by a new log channel");
        }
        tracing::info!(%guid, "log channel set");
        // The log channel and its command connection close together (BUG-8).
        let (service, log, guid) = (self.clone(), connection.clone(), guid.to_owned());
        tokio::spawn(async move {
            tokio::select! {
                reason = log.closed() => {
                    // A log channel replaced by a newer one takes nothing with it.
                    let current = service.sentries.get(&guid).is_some_and(|s| {
                        s.log_connection.as_ref().is_some_and(|l| l.id() == log.id())
                    });
                    if current {
                        command.close(format!("the log channel closed: {reason}"));
                    }
                }
                reason = command.closed() => log.close(format!("the command connection closed: {reason}")),
            }
            service.sentries.unbind(&log);
        });
        Ok(Value::Null)
    }

    /// In the background: open the session on the sentry, ask for its log channel, read its
    /// factories and loggers, connect the loggers this base wants, and clean up when the
    /// connection goes.
    fn after_hello(&self, connection: RpcConnection, guid: String) {
        let service = self.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(SENTRY_CALL_LIMIT, connection.create_session(SENTRY_SERVICE)).await {
                Ok(Ok(session)) => {
                    service.sentries.set_session(&guid, &connection, session.clone());
                    tokio::spawn(service.clone().request_log_channel(
                        connection.clone(),
                        session.clone(),
                        guid.clone(),
                    ));
                    let names = service.sync_inventory(&session, &guid).await;
                    let mut wanted = service.storage.wanted_loggers(&guid).unwrap_or_default();
                    if service.connect_all_loggers {
                        wanted.extend(names);
                    }
                    connect_loggers(&session, &guid, wanted).await;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%guid, %error, "cannot open the sentry's kraken-sentry session")
                }
                Err(_) => tracing::warn!(%guid, "opening the sentry's kraken-sentry session timed out"),
            }
            let reason = connection.closed().await;
            service.forget(&connection, &reason).await;
        });
    }

    /// Asks the sentry for its log channel with a fresh one-shot nonce, again (with a new
    /// nonce) if none came while the nonce was good, a few times (BUG-11).
    async fn request_log_channel(self, connection: RpcConnection, session: RpcSession, guid: String) {
        for attempt in 1..=LOG_CHANNEL_ATTEMPTS {
            let Some(nonce) = self.sentries.request_log_channel(&guid, &connection, NONCE_LIFETIME) else {
                return;
            };
            let params = Value::Array(vec![Value::from(nonce)]);
            if let Err(error) = session.post("run", vec![Value::from("connectLogChannel"), params]).await {
                tracing::warn!(%guid, %error, "cannot ask for the log channel");
                return;
            }
            let deadline = tokio::time::Instant::now() + NONCE_LIFETIME;
            while tokio::time::Instant::now() < deadline {
                if connection.is_closed() {
                    return;
                }
                if self.sentries.has_log_channel(&guid, &connection) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tracing::warn!(%guid, attempt, "no log channel came; asking again");
        }
        tracing::warn!(%guid, "the sentry opened no log channel; its records come on the command connection");
    }

    /// Reads the sentry's factories and loggers (each call with a time limit) and notes them as
    /// a `synced` event. Returns the loggers' names.
    async fn sync_inventory(&self, session: &RpcSession, guid: &str) -> Vec<String> {
        let mut inventory = serde_json::Map::new();
        let mut names = Vec::new();
        for (method, key) in [("getLoggerFactories", "factories"), ("getLoggers", "loggers")] {
            match session
                .call_with_timeout("run", vec![Value::from(method), Value::Null], SENTRY_CALL_LIMIT)
                .await
            {
                Ok(reply) => {
                    if key == "loggers"
                        && let Value::Array(loggers) = &reply
                    {
                        names = loggers
                            .iter()
                            .filter_map(|l| {
                                l.as_map().and_then(|m| m.get("logger_name")).and_then(Value::as_str)
                            })
                            .map(str::to_owned)
                            .collect();
                    }
                    inventory.insert(key.into(), kraken_codec::plain_json::to_json(&reply));
                }
                Err(error) => tracing::warn!(%guid, %error, method, "cannot read the sentry's inventory"),
            }
        }
        let (storage, who) = (self.storage.clone(), guid.to_owned());
        let detail = serde_json::Value::Object(inventory);
        if let Err(error) = blocking(move || storage.record_event(&who, "synced", "", &detail)).await {
            tracing::warn!(%guid, %error, "cannot record the sentry's inventory");
        }
        names
    }
}

/// Connects the named loggers of the sentry (each call with a time limit).
async fn connect_loggers(session: &RpcSession, guid: &str, mut names: Vec<String>) {
    names.sort();
    names.dedup();
    for name in names {
        let params = Value::Array(vec![Value::from(name.as_str())]);
        match session
            .call_with_timeout("run", vec![Value::from("connectLogger"), params], SENTRY_CALL_LIMIT)
            .await
        {
            Ok(_) => tracing::info!(%guid, logger = %name, "logger connected"),
            Err(error) => tracing::warn!(%guid, logger = %name, %error, "cannot connect logger"),
        }
    }
}

/// Closes a refused connection once the refusal has had time to reach the sentry, so it
/// learns why (a sentry that keeps the connection gains nothing: it is bound to no GUID).
fn close_after_reply(connection: &RpcConnection, reason: String) {
    let connection = connection.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        connection.close(reason);
    });
}
