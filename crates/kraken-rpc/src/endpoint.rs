//! Opening connections: [`Connector`] dials a peer (plain TCP or TLS), [`RpcServer`] listens and
//! hands out established connections.
//!
//! Both set `TCP_NODELAY` and `SO_KEEPALIVE`, as the original does, and bound the TLS handshake
//! in time. The server runs every handshake in its own task (at most [`MAX_HANDSHAKES`] at once),
//! so a slow or hostile client never holds up the others; a failed handshake is logged and
//! dropped, and the listener keeps serving.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};

use crate::config::RpcConfig;
use crate::connection::{Role, RpcConnection};
use crate::error::RpcError;
use crate::peer::{CertificateIdentity, PeerInfo};
use crate::service::ServiceTable;
use crate::tls::{ServerPin, server_name_for};

/// Most TLS handshakes a server runs at the same time.
pub const MAX_HANDSHAKES: usize = 256;

/// Dials peers with one configuration.
#[derive(Clone)]
pub struct Connector {
    config: Arc<RpcConfig>,
    tls: Option<(Arc<ClientConfig>, ServerPin)>,
}

impl Connector {
    /// Plain TCP (peering by password): for compatibility and tests.
    pub fn plain(config: Arc<RpcConfig>) -> Self {
        Connector { config, tls: None }
    }

    /// Mutual TLS with a client configuration from [`crate::tls::client_config`]; `pin` is the
    /// one that configuration checks (it also picks the name sent to the server).
    pub fn tls(config: Arc<RpcConfig>, client: Arc<ClientConfig>, pin: ServerPin) -> Self {
        Connector { config, tls: Some((client, pin)) }
    }

    /// Connects to `addr`, binding `services` on the new connection.
    pub async fn connect(&self, addr: SocketAddr, services: ServiceTable) -> Result<RpcConnection, RpcError> {
        let limit = self.config.handshake_timeout;
        let tcp = tokio::time::timeout(limit, TcpStream::connect(addr))
            .await
            .map_err(|_| RpcError::Connect(format!("connecting to {addr} timed out after {limit:?}")))?
            .map_err(|e| RpcError::Connect(format!("cannot connect to {addr}: {e}")))?;
        tune(&tcp);
        let Some((client, pin)) = &self.tls else {
            let peer = PeerInfo { address: Some(addr), certificate: None };
            return Ok(RpcConnection::start(
                tcp,
                Role::Initiator,
                self.config.clone(),
                services,
                peer,
                false,
            ));
        };
        let name = server_name_for(pin, addr.ip());
        let tls = tokio::time::timeout(limit, TlsConnector::from(client.clone()).connect(name, tcp))
            .await
            .map_err(|_| RpcError::Connect(format!("TLS handshake with {addr} timed out after {limit:?}")))?
            .map_err(|e| RpcError::Connect(format!("TLS handshake with {addr} failed: {e}")))?;
        let peer = tls_peer(addr, tls.get_ref().1.peer_certificates())?;
        Ok(RpcConnection::start(tls, Role::Initiator, self.config.clone(), services, peer, true))
    }
}

/// A listening endpoint; [`RpcServer::accept`] yields connections once established.
pub struct RpcServer {
    local_addr: SocketAddr,
    incoming: mpsc::Receiver<RpcConnection>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl RpcServer {
    /// Listens on `addr`: TLS when `tls` is given (client certificates required by it), plain
    /// TCP otherwise. Every accepted connection gets `services` bound.
    pub async fn bind(
        addr: SocketAddr,
        config: Arc<RpcConfig>,
        tls: Option<Arc<ServerConfig>>,
        services: ServiceTable,
    ) -> std::io::Result<RpcServer> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (tx, incoming) = mpsc::channel(64);
        let accept_task =
            tokio::spawn(accept_loop(listener, config, tls.map(TlsAcceptor::from), services, tx));
        Ok(RpcServer { local_addr, incoming, accept_task })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next established connection; `None` once the listener has stopped.
    pub async fn accept(&mut self) -> Option<RpcConnection> {
        self.incoming.recv().await
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<RpcConfig>,
    tls: Option<TlsAcceptor>,
    services: ServiceTable,
    established: mpsc::Sender<RpcConnection>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let live = Arc::new(Semaphore::new(config.max_connections.max(1)));
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors and the like: back off briefly and keep serving.
                warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if established.is_closed() {
            return;
        }
        let Ok(live_slot) = live.clone().try_acquire_owned() else {
            warn!(peer = %addr, limit = config.max_connections, "too many connections; dropping a new one");
            continue;
        };
        tune(&tcp);
        let Ok(permit) = handshakes.clone().acquire_owned().await else { return };
        let (config, tls, services, established) =
            (config.clone(), tls.clone(), services.clone(), established.clone());
        tokio::spawn(async move {
            let conn = match tls {
                None => {
                    let peer = PeerInfo { address: Some(addr), certificate: None };
                    Ok(RpcConnection::start(tcp, Role::Acceptor, config, services, peer, false))
                }
                Some(acceptor) => handshake(acceptor, tcp, addr, config, services).await,
            };
            drop(permit);
            match conn {
                Ok(conn) => {
                    // The connection holds its slot until it closes.
                    let watched = conn.clone();
                    tokio::spawn(async move {
                        watched.closed().await;
                        drop(live_slot);
                    });
                    if let Err(rejected) = established.send(conn).await {
                        rejected.0.close("server stopped");
                    }
                }
                Err(err) => info!(peer = %addr, error = %err, "connection refused"),
            }
        });
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    addr: SocketAddr,
    config: Arc<RpcConfig>,
    services: ServiceTable,
) -> Result<RpcConnection, RpcError> {
    let limit = config.handshake_timeout;
    let tls = tokio::time::timeout(limit, acceptor.accept(tcp))
        .await
        .map_err(|_| RpcError::Connect(format!("TLS handshake timed out after {limit:?}")))?
        .map_err(|e| RpcError::Connect(format!("TLS handshake failed: {e}")))?;
    let peer = tls_peer(addr, tls.get_ref().1.peer_certificates())?;
    Ok(RpcConnection::start(tls, Role::Acceptor, config, services, peer, true))
}

/// The peer of a TLS connection: its address and the identity in its (verified) certificate.
fn tls_peer(
    addr: SocketAddr,
    certificates: Option<&[rustls::pki_types::CertificateDer<'_>]>,
) -> Result<PeerInfo, RpcError> {
    let certificate = certificates.and_then(|c| c.first());
    let certificate =
        certificate.map(|c| CertificateIdentity::from_der(c)).transpose().map_err(RpcError::Connect)?;
    Ok(PeerInfo { address: Some(addr), certificate })
}

/// `TCP_NODELAY` and `SO_KEEPALIVE`, as the original sets them; failures only cost latency.
fn tune(tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(tcp).set_keepalive(true);
}
