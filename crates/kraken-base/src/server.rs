//! The base's listener: mutual TLS on the configured address (default port 7140), every
//! accepted connection served by the `kraken-base` service, and calls into connected sentries.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kraken_codec::Value;
use kraken_rpc::tls::{self, TlsIdentity, TrustedCas};
use kraken_rpc::{RpcConfig, RpcServer, ServiceTable};
use sentry_protocol::names::{sentry_method, service};

use crate::sentries::SentryRegistry;
use crate::service::BaseService;
use crate::storage::{RecordWriter, Storage};

/// How long a call waits for a just-connected sentry's session to open.
const SESSION_WAIT: Duration = Duration::from_secs(5);

/// What a base needs to start.
pub struct BaseSettings {
    pub listen: SocketAddr,
    /// The base's certificate and key.
    pub identity: TlsIdentity,
    /// The CA that signs sentry certificates.
    pub sentry_ca: TrustedCas,
    /// The base's own RPC GUID (peering).
    pub rpc_guid: String,
    /// GUIDs allowed to connect (`None`: any with a certificate from the CA).
    pub allowed: Option<HashSet<String>>,
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
    accept_loop: tokio::task::JoinHandle<()>,
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
        let server_tls = tls::server_config(&settings.identity, &settings.sentry_ca)?;
        let mut config = RpcConfig::new(settings.rpc_guid.clone());
        config.call_timeout = Duration::from_secs(30);
        config.handshake_timeout = settings.handshake_timeout;
        let sentries = Arc::new(SentryRegistry::default());
        let writer = RecordWriter::start(settings.storage.clone())?;
        let service = Arc::new(BaseService {
            storage: settings.storage.clone(),
            writer: writer.clone(),
            sentries: sentries.clone(),
            allowed: settings.allowed.map(Arc::new),
            connect_all_loggers: settings.connect_all_loggers,
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
        tracing::info!(%local_addr, "base listening");
        Ok(Base { local_addr, sentries, storage: settings.storage, writer, accept_loop })
    }

    /// Stops listening, closes every sentry connection, then waits (up to `limit`) until the
    /// records already received are committed: an original sentry's `onLog` posts are never
    /// acknowledged, so a record still queued for the writer at exit would be lost.
    pub async fn shutdown(&self, limit: Duration) {
        self.accept_loop.abort();
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
            if let Err(error) = self.storage.set_wanted_logger(guid, &logger, wanted) {
                tracing::warn!(%guid, %logger, %error, "cannot remember the logger connection");
            }
        }
        Ok(result)
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}
