//! The base's listener: mutual TLS on the configured address (default port 7140), every
//! accepted connection served by the `kraken-base` service, and calls into connected sentries.
//!
//! The TLS handshake lets in only a certificate that names one allowed, unrevoked sentry
//! ([`SentryAccess`]); a connection then has [`ConnectionLimits::hello_timeout_ms`] to say
//! `hello` (or `setLogChannel`) before it is closed, and connections are counted by source
//! ([`ConnectionLimits`]). The revocation lists are read again within a second of a change, and
//! the connections of a certificate they now revoke are closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kraken_codec::Value;
use kraken_rpc::tls::{self, ClientPolicy, CrlWatch, TlsIdentity, TrustedCas};
use kraken_rpc::{RpcConfig, RpcServer, ServiceTable};
use sentry_protocol::names::{sentry_method, service};

use crate::access::SentryAccess;
use crate::config::ConnectionLimits;
use crate::intake::{Intake, IntakeLimits};
use crate::metrics::BaseMetrics;
use crate::sentries::SentryRegistry;
use crate::service::BaseService;
use crate::storage::{RecordWriter, SentryRow, Storage};

/// How long a call waits for a just-connected sentry's session to open.
const SESSION_WAIT: Duration = Duration::from_secs(5);
/// How often the revocation lists' file is looked at.
const CRL_CHECK_EVERY: Duration = Duration::from_secs(1);

/// What a base needs to start.
pub struct BaseSettings {
    pub listen: SocketAddr,
    /// The base's certificate and key.
    pub identity: TlsIdentity,
    /// The CA that signs sentry certificates.
    pub sentry_ca: TrustedCas,
    /// The base's own RPC GUID (peering).
    pub rpc_guid: String,
    /// Which certificates speak for which sentry, and which may connect.
    pub access: SentryAccess,
    /// How many connections are kept, and how long a new one has to say hello.
    pub connections: ConnectionLimits,
    /// How much received record data is held, and how fast one sentry may send.
    pub intake: IntakeLimits,
    pub storage: Arc<dyn Storage>,
    /// Connect every logger of every sentry at hello.
    pub connect_all_loggers: bool,
    /// How long a sentry's TLS handshake may take.
    pub handshake_timeout: Duration,
}

/// A running base.
pub struct Base {
    local_addr: SocketAddr,
    pub sentries: Arc<SentryRegistry>,
    pub storage: Arc<dyn Storage>,
    /// The record writer the service submits to, drained at shutdown.
    writer: RecordWriter,
    /// What this base counts (`/metrics`).
    pub metrics: Arc<BaseMetrics>,
    accept_loop: tokio::task::JoinHandle<()>,
    /// Reloads the revocation lists, when there are any.
    revocation_task: Option<tokio::task::JoinHandle<()>>,
}

/// A failed call into a sentry.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("sentry {0} is not connected")]
    NotConnected(String),
    #[error("sentry {0}: {1}")]
    Rpc(String, kraken_rpc::RpcError),
}

impl Base {
    /// Binds the listener and starts accepting sentries (inside a tokio runtime).
    pub async fn start(settings: BaseSettings) -> anyhow::Result<Base> {
        let access = settings.access.clone();
        let policy = ClientPolicy {
            revocations: access.revocations.clone(),
            admission: Some(Arc::new(access.clone())),
        };
        let server_tls = tls::server_config_with_policy(&settings.identity, &settings.sentry_ca, policy)?;
        let limits = settings.connections;
        let mut config = RpcConfig::new(settings.rpc_guid.clone());
        config.call_timeout = Duration::from_secs(30);
        config.handshake_timeout = settings.handshake_timeout;
        config.admission_timeout = Some(Duration::from_millis(limits.hello_timeout_ms));
        config.max_connections = limits.max_total;
        config.max_connections_per_source = limits.max_per_source;
        config.max_pending = limits.max_pending;
        config.max_pending_per_source = limits.max_pending_per_source;
        let sentries = Arc::new(SentryRegistry::default());
        let metrics = Arc::new(BaseMetrics::new());
        let writer = RecordWriter::start_counted(settings.storage.clone(), metrics.writer.clone())?;
        let service = Arc::new(BaseService {
            storage: settings.storage.clone(),
            writer: writer.clone(),
            sentries: sentries.clone(),
            access,
            intake: Intake::new(settings.intake),
            connect_all_loggers: settings.connect_all_loggers,
            event_budget: Arc::default(),
        });
        let mut services = ServiceTable::new();
        services.insert(service::BASE.into(), service);
        let mut server =
            RpcServer::bind(settings.listen, Arc::new(config), Some(server_tls), services).await?;
        let local_addr = server.local_addr();
        let accept_loop = tokio::spawn(async move {
            while let Some(connection) = server.accept().await {
                tracing::debug!(peer = ?connection.peer().address, "connection accepted");
            }
        });
        let revocation_task =
            settings.access.revocations.map(|lists| tokio::spawn(watch_revocations(lists, sentries.clone())));
        tracing::info!(%local_addr, "base listening");
        Ok(Base {
            local_addr,
            sentries,
            storage: settings.storage,
            writer,
            metrics,
            accept_loop,
            revocation_task,
        })
    }

    /// Stops listening, closes every sentry connection, then waits (up to `limit`) until the
    /// records already received are committed: an original sentry's `onLog` posts are never
    /// acknowledged, so a record still queued for the writer at exit would be lost.
    pub async fn shutdown(&self, limit: Duration) {
        self.accept_loop.abort();
        if let Some(task) = &self.revocation_task {
            task.abort();
        }
        for guid in self.sentries.connected() {
            if let Some(sentry) = self.sentries.get(&guid) {
                sentry.connection.close("the base is shutting down");
            }
        }
        match tokio::time::timeout(limit, self.writer.drain()).await {
            Ok(Ok(())) => tracing::info!("received records committed"),
            Ok(Err(error)) => tracing::error!(%error, "the last received records could not be committed"),
            Err(_) => tracing::error!(?limit, "the record writer did not finish in time"),
        }
    }

    /// The sentries connected to this node now, as the storage would list them (for when it
    /// cannot).
    pub fn connected_sentries(&self) -> Vec<SentryRow> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut list: Vec<SentryRow> = self
            .sentries
            .connected()
            .into_iter()
            .filter_map(|guid| self.sentries.get(&guid))
            .map(|sentry| SentryRow {
                guid: sentry.guid,
                connected: true,
                address: sentry.connection.peer().address.map(|a| a.to_string()),
                last_seen_ms: now_ms,
                node: None,
            })
            .collect();
        list.sort_by(|a, b| a.guid.cmp(&b.guid));
        list
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Calls `method` on a connected sentry, as `run(method, params)`.
    pub async fn call(&self, guid: &str, method: &str, params: Vec<Value>) -> Result<Value, CallError> {
        // The session is opened just after hello; give it a moment.
        let session = self
            .sentries
            .wait_for(guid, SESSION_WAIT, |sentry| sentry.session.clone())
            .await
            .ok_or_else(|| CallError::NotConnected(guid.to_owned()))?;
        let logger = params.first().and_then(Value::as_str).map(str::to_owned);
        let params = if params.is_empty() { Value::Null } else { Value::Array(params) };
        let result = session
            .call(sentry_method::RUN, vec![Value::from(method), params])
            .await
            .map_err(|e| CallError::Rpc(guid.to_owned(), e))?;
        // The base remembers which loggers it connected, to connect them again after a
        // reconnection (BUG-7).
        if let (Some(logger), sentry_method::CONNECT_LOGGER | sentry_method::DISCONNECT_LOGGER) =
            (logger, method)
        {
            let wanted = method == sentry_method::CONNECT_LOGGER;
            let (storage, who) = (self.storage.clone(), guid.to_owned());
            let remembered =
                tokio::task::spawn_blocking(move || storage.set_wanted_logger(&who, &logger, wanted)).await;
            match remembered {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%guid, %error, "cannot remember the logger connection"),
                Err(error) => tracing::warn!(%guid, %error, "cannot remember the logger connection"),
            }
        }
        Ok(result)
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        self.accept_loop.abort();
        if let Some(task) = &self.revocation_task {
            task.abort();
        }
    }
}

/// Reads the revocation lists again when their file changes (the TLS verifier then uses the new
/// ones) and closes the connections of every sentry whose certificate they now revoke. A file
/// that turns unreadable is reported once per distinct error; the lists last read stay in force.
async fn watch_revocations(lists: Arc<CrlWatch>, sentries: Arc<SentryRegistry>) {
    let mut last_error: Option<String> = None;
    loop {
        tokio::time::sleep(CRL_CHECK_EVERY).await;
        match lists.refresh() {
            Ok(false) => {}
            Ok(true) => {
                last_error = None;
                tracing::info!(file = %lists.path().display(), revoked = lists.revoked_count(), "revocation lists read again");
                close_revoked(&lists, &sentries);
            }
            Err(error) => {
                let error = error.to_string();
                if last_error.as_ref() != Some(&error) {
                    tracing::error!(%error, "cannot read the revocation lists again; the previous ones stay in force");
                    last_error = Some(error);
                }
            }
        }
    }
}

/// Closes both connections of every connected sentry whose certificate is revoked.
fn close_revoked(lists: &CrlWatch, sentries: &SentryRegistry) {
    for guid in sentries.connected() {
        let Some(sentry) = sentries.get(&guid) else { continue };
        let connections = std::iter::once(&sentry.connection).chain(sentry.log_connection.as_ref());
        for connection in connections {
            let serial = connection.peer().certificate.as_ref().map(|c| c.serial_hex.as_str());
            if serial.is_some_and(|serial| lists.is_revoked(serial)) {
                tracing::warn!(%guid, "closing the connection of a revoked certificate");
                connection.close("the certificate was revoked");
            }
        }
    }
}
