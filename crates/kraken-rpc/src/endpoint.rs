//! Opening connections: [`Connector`] dials a peer (plain TCP or TLS), [`RpcServer`] listens and
//! hands out established connections.
//!
//! Both set `TCP_NODELAY` and `SO_KEEPALIVE`, as the original does, and bound the TLS handshake
//! in time. The server's accept loop never waits on a client: each new connection is counted
//! by source ([`crate::source_limits`]: refused at once over a limit) and handed to a task of
//! its own, which gives the client [`RpcConfig::handshake_timeout`] to send its first byte and
//! as long again to finish the handshake. With an admission time limit, a connection the
//! application has not admitted in time (for a base: no accepted `hello`) is closed. Failed
//! handshakes and refusals are logged, at most one line per kind every ten seconds with a count
//! of the rest, so a flood cannot flood the log too.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::warn;

use crate::config::RpcConfig;
use crate::connection::{Role, RpcConnection};
use crate::error::RpcError;
use crate::peer::{CertificateIdentity, PeerInfo};
use crate::service::ServiceTable;
use crate::source_limits::{SourceCaps, SourceLimits, SourceSlot};
use crate::tls::{ServerPin, server_name_for};

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
    let limits = SourceLimits::new(SourceCaps {
        total: config.max_connections.max(1),
        per_source: config.max_connections_per_source.max(1),
        pending_total: config.max_pending.max(1),
        pending_per_source: config.max_pending_per_source.max(1),
    });
    let refusals = Arc::new(ThrottledLog::new("new connections refused"));
    let failures = Arc::new(ThrottledLog::new("connections failed before they were established"));
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors and the like: back off briefly and keep serving.
                warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if established.is_closed() {
            return;
        }
        let slot = match limits.open(addr.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                refusals.note(addr, &refusal);
                continue;
            }
        };
        tune(&tcp);
        let accepted_at = tokio::time::Instant::now();
        let (config, tls, services, established, failures) =
            (config.clone(), tls.clone(), services.clone(), established.clone(), failures.clone());
        tokio::spawn(async move {
            let eviction = slot.evicted();
            let establishing = async {
                match tls {
                    None => {
                        let peer = PeerInfo { address: Some(addr), certificate: None };
                        Ok(RpcConnection::start(tcp, Role::Acceptor, config.clone(), services, peer, false))
                    }
                    Some(acceptor) => handshake(acceptor, tcp, addr, config.clone(), services).await,
                }
            };
            let conn = tokio::select! {
                conn = establishing => conn,
                _ = eviction.notified() => Err(RpcError::Connect(EVICTED.into())),
            };
            let conn = match conn {
                Ok(conn) => conn,
                Err(err) => return failures.note(addr, &err),
            };
            let deadline = config.admission_timeout.map(|limit| (accepted_at + limit, limit));
            tokio::spawn(watch_admission(conn.clone(), slot, deadline));
            if let Err(rejected) = established.send(conn).await {
                rejected.0.close("server stopped");
            }
        });
    }
}

/// Why a pending connection is closed when a newcomer takes its place.
const EVICTED: &str = "not yet admitted and its place given to a client from a less busy source";

/// Holds a connection's slot while it lives: pending until the application admits it (closed
/// if that has not happened by the deadline: the admission limit counted from the accept, so
/// the handshake's time is part of it), live until it closes.
async fn watch_admission(
    conn: RpcConnection,
    mut slot: SourceSlot,
    deadline: Option<(tokio::time::Instant, Duration)>,
) {
    let eviction = slot.evicted();
    match deadline {
        None => slot.settle(),
        Some((deadline, limit)) => tokio::select! {
            // An admission that comes with an eviction or the deadline wins: the peer is in.
            biased;
            _ = conn.admitted() => slot.settle(),
            _ = conn.closed() => {}
            _ = eviction.notified() => {
                tracing::info!(peer = ?conn.peer().address, "closed: {EVICTED}");
                conn.close(EVICTED);
            }
            _ = tokio::time::sleep_until(deadline) => {
                tracing::info!(peer = ?conn.peer().address, ?limit, "closed: not admitted in time");
                conn.close(format!("not admitted within {limit:?}"));
            }
        },
    }
    conn.closed().await;
    drop(slot);
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    addr: SocketAddr,
    config: Arc<RpcConfig>,
    services: ServiceTable,
) -> Result<RpcConnection, RpcError> {
    let limit = config.handshake_timeout;
    // A client that connects and says nothing is dropped after `limit`, before any TLS state
    // is made for it.
    let mut first = [0u8; 1];
    match tokio::time::timeout(limit, tcp.peek(&mut first)).await {
        Err(_) => return Err(RpcError::Connect(format!("nothing received within {limit:?}"))),
        Ok(Err(e)) => return Err(RpcError::Connect(format!("cannot read: {e}"))),
        Ok(Ok(0)) => return Err(RpcError::Connect("closed before the TLS handshake".into())),
        Ok(Ok(_)) => {}
    }
    let tls = tokio::time::timeout(limit, acceptor.accept(tcp))
        .await
        .map_err(|_| RpcError::Connect(format!("TLS handshake timed out after {limit:?}")))?
        .map_err(|e| RpcError::Connect(format!("TLS handshake failed: {e}")))?;
    let peer = tls_peer(addr, tls.get_ref().1.peer_certificates())?;
    Ok(RpcConnection::start(tls, Role::Acceptor, config, services, peer, true))
}

/// A warning that repeats at most once every [`ThrottledLog::EVERY`], counting what it held
/// back: one line per event would let a flood of bad clients flood the log as well.
struct ThrottledLog {
    what: &'static str,
    state: Mutex<(Option<Instant>, u64)>,
}

impl ThrottledLog {
    const EVERY: Duration = Duration::from_secs(10);

    fn new(what: &'static str) -> Self {
        ThrottledLog { what, state: Mutex::new((None, 0)) }
    }

    fn note(&self, peer: SocketAddr, why: &dyn std::fmt::Display) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, held_back) = &mut *state;
        if last.is_some_and(|at| at.elapsed() < Self::EVERY) {
            *held_back += 1;
            return;
        }
        *last = Some(Instant::now());
        let more = std::mem::take(held_back);
        warn!(%peer, reason = %why, more_since_last_line = more, "{}", self.what);
    }
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
