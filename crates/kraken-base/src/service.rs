//! The `kraken-base` RPC service: what sentries call on the base.
//!
//! * `hello(guid)`: the connection's certificate must name `guid` (CN or SAN) and, with an
//!   allow-list, `guid` must be on it; then the connection is bound to `guid` and the reply
//!   comes at once: a map announcing this base's extensions (an original base replies null).
//!   Opening the base's session on the sentry happens afterwards, in the background (BUG-12).
//! * `onLog(guid, loggerName, record)`: a post; the record `{date, msg, params}` is stored.
//!   The GUID must be the connection's own (BUG-2).
//! * `onLogBatch(guid, records)`: the acknowledged batch of this base (an extension): a list
//!   of `{logger, date, msg, params}` stored in one transaction; the reply (the count) is the
//!   acknowledgement.
//! * `loggerAdded`/`Removed`/`Started`/`Stopped`: stored as events of that sentry.
//! * `setLogChannel`, `factoryAdded`/`Removed`: accepted from a bound connection and logged.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kraken_codec::{Map, Value};
use kraken_rpc::service::BoxFuture;
use kraken_rpc::{CallContext, RpcConnection, RpcFault, RpcService};

use crate::sentries::SentryRegistry;
use crate::storage::{Storage, StoredRecord};

/// The service name sentries open.
pub const SERVICE_NAME: &str = "kraken-base";
/// The sentry-side service the base calls.
pub const SENTRY_SERVICE: &str = "kraken-sentry";
/// The extensions this base announces in its `hello` reply.
pub const EXTENSIONS: &[&str] = &["onLogBatch"];
/// The most records one `onLogBatch` may carry.
pub const MAX_BATCH: usize = 10_000;

/// Shared state of the base's service.
pub struct BaseService {
    pub storage: Arc<dyn Storage>,
    pub sentries: Arc<SentryRegistry>,
    /// GUIDs allowed to connect; `None`: any GUID with a certificate from the CA.
    pub allowed: Option<HashSet<String>>,
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
        match self.handle(&ctx, &method, params) {
            Handled::Now(outcome) => Box::pin(async move { outcome }),
            // SQLite commits (an fsync) run on the blocking pool, never on the RPC tasks.
            Handled::Store(records, reply) => {
                let storage = self.storage.clone();
                Box::pin(async move {
                    tokio::task::spawn_blocking(move || storage.append(&records))
                        .await
                        .map_err(|e| fault(format!("storage task failed: {e}")))?
                        .map_err(|e| fault(e.to_string()))?;
                    Ok(reply)
                })
            }
        }
    }
}

/// What a call needs: an answer now, or records to store first (then the reply).
enum Handled {
    Now(Result<Value, RpcFault>),
    Store(Vec<StoredRecord>, Value),
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
                Ok(self.hello(connection, &guid).into())
            }
            "onLog" => {
                let guid = self.own_guid(connection, &guid_arg(&params)?)?;
                let logger = params
                    .get(1)
                    .and_then(Value::as_str)
                    .ok_or_else(|| fault("onLog: loggerName must be a string"))?;
                let record = params
                    .get(2)
                    .and_then(Value::as_map)
                    .ok_or_else(|| fault("onLog: record must be a map"))?;
                Ok(Handled::Store(vec![stored_record(&guid, logger, record)], Value::Null))
            }
            "onLogBatch" => {
                let guid = self.own_guid(connection, &guid_arg(&params)?)?;
                let items = params
                    .get(1)
                    .and_then(Value::as_array)
                    .ok_or_else(|| fault("onLogBatch: records must be a list"))?;
                if items.len() > MAX_BATCH {
                    return Err(fault(format!("onLogBatch: at most {MAX_BATCH} records per batch")));
                }
                let mut records = Vec::with_capacity(items.len());
                for item in items {
                    let map = item.as_map().ok_or_else(|| fault("onLogBatch: each record must be a map"))?;
                    let logger = map
                        .get("logger")
                        .and_then(Value::as_str)
                        .ok_or_else(|| fault("onLogBatch: record without logger"))?;
                    records.push(stored_record(&guid, logger, map));
                }
                let count = Value::I32(records.len() as i32);
                Ok(Handled::Store(records, count))
            }
            "loggerAdded" | "loggerRemoved" | "loggerStarted" | "loggerStopped" => {
                let guid = self.own_guid(connection, &guid_arg(&params)?)?;
                // loggerAdded carries a LoggerInfo; the others the logger's name (and interval).
                let (logger, detail) = match params.get(1) {
                    Some(Value::Map(info)) => (
                        info.get("logger_name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        kraken_codec::plain_json::to_json(&Value::Map(info.clone())),
                    ),
                    Some(name) => (
                        name.as_str().unwrap_or_default().to_owned(),
                        params.get(2).map_or(serde_json::Value::Null, kraken_codec::plain_json::to_json),
                    ),
                    None => return Err(fault(format!("{method}: the logger is missing"))),
                };
                tracing::info!(%guid, %logger, event = method, "sentry logger event");
                self.storage
                    .record_event(&guid, method, &logger, &detail)
                    .map_err(|e| fault(e.to_string()))?;
                Ok(Value::Null.into())
            }
            "setLogChannel" | "factoryAdded" | "factoryRemoved" => {
                let guid = self.own_guid(connection, &guid_arg(&params)?)?;
                tracing::debug!(%guid, method, "sentry event");
                Ok(Value::Null.into())
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

    fn hello(&self, connection: &RpcConnection, guid: &str) -> Result<Value, RpcFault> {
        let certificate = connection.peer().certificate.as_ref();
        if !certificate.is_some_and(|c| c.names(guid)) {
            let shown =
                certificate.and_then(|c| c.common_name.clone()).unwrap_or_else(|| "(no certificate)".into());
            tracing::warn!(claimed = guid, certificate = %shown, "hello refused: the certificate names another sentry");
            close_after_reply(connection, format!("certificate {shown} does not name sentry {guid}"));
            return Err(fault(format!("certificate does not name sentry {guid}")));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(guid)
        {
            close_after_reply(connection, format!("sentry {guid} is not allowed"));
            return Err(fault(format!("sentry {guid} is not allowed on this base")));
        }
        self.sentries.bind(guid, connection).map_err(|e| fault(e.to_string()))?;
        let address = connection.peer().address.map(|a| a.to_string()).unwrap_or_default();
        self.storage.sentry_connected(guid, &address).map_err(|e| fault(e.to_string()))?;
        tracing::info!(%guid, %address, "sentry connected");
        self.after_hello(connection.clone(), guid.to_owned());
        let mut reply = Map::new();
        reply.insert("extensions", EXTENSIONS.iter().map(|e| Value::from(*e)).collect());
        Ok(Value::Map(reply))
    }

    /// In the background: open the session on the sentry, connect the loggers this base wants
    /// (again after every reconnection: BUG-7), and clean up when the connection goes.
    fn after_hello(&self, connection: RpcConnection, guid: String) {
        let (sentries, storage) = (self.sentries.clone(), self.storage.clone());
        let connect_all = self.connect_all_loggers;
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(10), connection.create_session(SENTRY_SERVICE))
                .await
            {
                Ok(Ok(session)) => {
                    sentries.set_session(&guid, &connection, session.clone());
                    connect_wanted_loggers(&session, storage.as_ref(), &guid, connect_all).await;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%guid, %error, "cannot open the sentry's kraken-sentry session")
                }
                Err(_) => tracing::warn!(%guid, "opening the sentry's kraken-sentry session timed out"),
            }
            let reason = connection.closed().await;
            if sentries.unbind(&connection).is_some() {
                tracing::info!(%guid, %reason, "sentry disconnected");
                if let Err(error) = storage.sentry_disconnected(&guid, &reason) {
                    tracing::warn!(%guid, %error, "cannot record the disconnection");
                }
            }
        });
    }
}

/// Connects the loggers the base wants from this sentry (and, with `connect_all`, every one).
async fn connect_wanted_loggers(
    session: &kraken_rpc::RpcSession,
    storage: &dyn Storage,
    guid: &str,
    connect_all: bool,
) {
    let limit = Duration::from_secs(10);
    let mut names = storage.wanted_loggers(guid).unwrap_or_default();
    if connect_all {
        match session.call_with_timeout("run", vec![Value::from("getLoggers"), Value::Null], limit).await {
            Ok(Value::Array(loggers)) => names.extend(loggers.iter().filter_map(|l| {
                l.as_map().and_then(|m| m.get("logger_name")).and_then(Value::as_str).map(str::to_owned)
            })),
            Ok(_) => {}
            Err(error) => tracing::warn!(%guid, %error, "cannot list the sentry's loggers"),
        }
    }
    names.sort();
    names.dedup();
    for name in names {
        let params = Value::Array(vec![Value::from(name.as_str())]);
        match session.call_with_timeout("run", vec![Value::from("connectLogger"), params], limit).await {
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

/// A stored record from an `onLog` record map `{date, msg, params}` (plus `logger` in batches).
fn stored_record(guid: &str, logger: &str, record: &Map) -> StoredRecord {
    let params = record.get("params").and_then(Value::as_map);
    let text = |map: Option<&Map>, key: &str| {
        map.and_then(|m| m.get(key)).and_then(Value::as_str).map(str::to_owned)
    };
    StoredRecord {
        guid: guid.to_owned(),
        logger: logger.to_owned(),
        date_ms: match record.get("date") {
            Some(Value::Date(ms)) => *ms,
            _ => 0,
        },
        logtype: text(params, "logtype"),
        msg: text(Some(record), "msg").or_else(|| text(params, "msg")),
        params: params
            .map_or(serde_json::Value::Null, |p| kraken_codec::plain_json::to_json(&Value::Map(p.clone()))),
    }
}
