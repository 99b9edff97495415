//! Opening connections to a base: TLS with the base's own certificate, key and CA (BUG-3),
//! the base's certificate checked against the address dialled (one of the base's nodes), RPC peering, and for a
//! command connection the `kraken-sentry` service bound and `hello(guid)` said, each step with
//! a time limit. A connection abandoned half-way is closed ([`CloseOnDrop`], BUG-8).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use kraken_codec::Value;
use kraken_rpc::tls::{self, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcConnection, RpcSession, ServiceTable};
use sentry_protocol::names::{base_method, hello, service};
use tokio::sync::mpsc;

use super::settings::LinkSettings;
use crate::commands::{Caller, LogChannelRequest, SentryService};
use crate::config::BaseNode;

/// How many log channel requests may wait for a link (a base asks for one at a time).
const LOG_CHANNEL_REQUESTS: usize = 4;

/// A command connection that said `hello`.
pub struct Connected {
    pub connection: RpcConnection,
    /// The `kraken-base` session.
    pub session: RpcSession,
    /// The base's reply to `hello`.
    pub hello: Value,
    /// What the base asks of the log channel.
    pub log_requests: mpsc::Receiver<LogChannelRequest>,
}

impl Connected {
    /// Whether the base acknowledges batches ([`acknowledges_batches`]).
    pub fn acknowledges_batches(&self) -> bool {
        acknowledges_batches(&self.hello)
    }
}

/// Whether a `hello` reply announces `onLogBatch` among its extensions; an original base
/// replies null and gets plain `onLog` posts.
fn acknowledges_batches(hello: &Value) -> bool {
    hello
        .as_map()
        .and_then(|m| m.get(hello::EXTENSIONS))
        .and_then(Value::as_array)
        .is_some_and(|extensions| extensions.contains(&Value::from(hello::ON_LOG_BATCH)))
}

/// One command connection to `node` of the base: TLS, peering, the `kraken-sentry` service
/// bound for this base and this connection, `hello`.
pub async fn connect(
    settings: &LinkSettings,
    node: &BaseNode,
    service: &SentryService,
) -> anyhow::Result<Connected> {
    let (requests, log_requests) = mpsc::channel(LOG_CHANNEL_REQUESTS);
    let mut services = ServiceTable::new();
    let caller = Caller { base: settings.base.name.clone(), log_channel: requests };
    services.insert(service::SENTRY.into(), service.for_caller(caller));
    let connection = dial(settings, node, services).await?;
    let hello = async {
        let session = connection.create_session(service::BASE).await?;
        let reply = session
            .call_with_timeout(
                base_method::HELLO,
                vec![Value::from(settings.guid.as_str())],
                settings.setup_timeout,
            )
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

/// Opens a connection to `node` of the base (TLS with the base's own certificate, key and CA,
/// the node's certificate checked against the host dialled, then RPC peering), serving
/// `services`.
pub async fn dial(
    settings: &LinkSettings,
    node: &BaseNode,
    services: ServiceTable,
) -> anyhow::Result<RpcConnection> {
    let base = &settings.base;
    let identity = TlsIdentity::from_pem_files(&base.certificate, &base.key).with_context(|| {
        format!("certificate {} / key {}", base.certificate.display(), base.key.display())
    })?;
    let ca = TrustedCas::from_pem_file(&base.ca).with_context(|| format!("CA {}", base.ca.display()))?;
    let pin = ServerPin::Name(node.host.clone());
    let client = tls::client_config(&identity, &ca, pin.clone())?;
    let address = resolve(&node.host, node.port).await?;
    let mut config = RpcConfig::new(settings.guid.clone());
    config.call_timeout = Duration::from_secs(30);
    config.handshake_timeout = settings.setup_timeout;
    let connection = CloseOnDrop::new(
        Connector::tls(Arc::new(config), client, pin).connect(address, services).await?,
        "abandoned while peering",
    );
    if let Err(error) = connection.peered(settings.setup_timeout).await {
        connection.close(format!("peering failed: {error}"));
        return Err(error.into());
    }
    Ok(connection.keep())
}

/// A connection being set up, closed if dropped before [`Self::keep`]: a task aborted while
/// dialling, peering or shaking hands (a log channel whose command connection closed
/// meanwhile) would otherwise leave it open for good, kept alive by its own reader, writer
/// and ping tasks, and holding a connection slot at the base (BUG-8).
pub struct CloseOnDrop {
    connection: Option<RpcConnection>,
    reason: &'static str,
}

impl CloseOnDrop {
    pub fn new(connection: RpcConnection, reason: &'static str) -> Self {
        CloseOnDrop { connection: Some(connection), reason }
    }

    /// The connection, set up: no longer closed on drop.
    pub fn keep(mut self) -> RpcConnection {
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
    fn batches_go_to_a_base_that_announces_them_and_posts_to_an_original_one() {
        let hello = |extensions: Vec<Value>| kraken_codec::map! { "extensions" => Value::Array(extensions) };
        assert!(acknowledges_batches(&hello(vec!["other".into(), "onLogBatch".into()])));
        assert!(!acknowledges_batches(&hello(vec!["other".into()])));
        assert!(!acknowledges_batches(&Value::Null), "an original base replies null");
        assert!(!acknowledges_batches(&kraken_codec::map! { "extensions" => "onLogBatch" }));
    }
}
