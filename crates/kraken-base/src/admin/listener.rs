//! The admin API's HTTP/1.1 server (hyper, serving the [`super::api`] router), with the limits
//! that keep one hostile local client from holding it:
//!
//! * at most [`AdminLimits::max_connections`] connections at once (default 32); one more is
//!   closed as soon as it is accepted, with a warning at most every 10 s;
//! * a request's headers must arrive within [`AdminLimits::header_read_timeout`] (default
//!   10 s), counted from the connection's start, or from the end of the last response on a
//!   kept-alive connection: a client sending headers byte by byte, or idling, is closed;
//! * at most 64 KiB of a request read ahead per connection;
//! * with TLS (required off loopback), the handshake within the header-read time limit.
//!
//! The body and the whole request have their own limits in the router. [`AdminServer::run`]
//! serves until it is told to stop, then stops accepting, closes idle connections, lets
//! requests in progress finish for a grace period and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Extension};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// The bounds of the admin server.
#[derive(Debug, Clone, Copy)]
pub struct AdminLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// How long requests in progress may go on once the base stops.
    pub stop_grace: Duration,
}

impl Default for AdminLimits {
    fn default() -> Self {
        AdminLimits {
            max_connections: 32,
            header_read_timeout: Duration::from_secs(10),
            stop_grace: Duration::from_secs(5),
        }
    }
}

/// The most bytes buffered for one connection.
const MAX_BUFFER: usize = 64 * 1024;
/// How often, at most, refused connections are logged.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The admin server, bound.
pub struct AdminServer {
    listener: TcpListener,
    router: Router,
    limits: AdminLimits,
    tls: Option<TlsAcceptor>,
}

impl AdminServer {
    /// Binds `address`.
    /// Binds `address`; with `tls`, connections are HTTPS.
    pub async fn bind(
        address: SocketAddr,
        router: Router,
        limits: AdminLimits,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<AdminServer> {
        let tls = tls.map(TlsAcceptor::from);
        Ok(AdminServer { listener: TcpListener::bind(address).await?, router, limits, tls })
    }

    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves; then stops as the module documentation says.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let AdminServer { listener, router, limits, tls } = self;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(MAX_BUFFER);
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let graceful = GracefulShutdown::new();
        let mut refused = Refusals::default();
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, most likely: wait rather than spin.
                        tracing::warn!(%error, "admin API: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                refused.note(limits.max_connections);
                drop(stream);
                continue;
            };
            let (http, router, tls, watcher) =
                (http.clone(), router.clone(), tls.clone(), graceful.watcher());
            tokio::spawn(async move {
                match tls {
                    None => serve(&http, stream, router, watcher, peer).await,
                    Some(acceptor) => {
                        let limit = limits.header_read_timeout;
                        match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => serve(&http, stream, router, watcher, peer).await,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "admin API: TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "admin API: TLS handshake timed out"),
                        }
                    }
                }
                drop(slot);
            });
        }
        drop(listener);
        if tokio::time::timeout(limits.stop_grace, graceful.shutdown()).await.is_err() {
            tracing::warn!(grace = ?limits.stop_grace, "admin API: requests still in progress are dropped");
        }
    }
}

/// Serves one connection until it ends (or the graceful shutdown ends it).
async fn serve<S>(http: &http1::Builder, stream: S, router: Router, watcher: Watcher, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // The peer's address, for the handlers that count per client (console logins).
    let router = router.layer(Extension(ConnectInfo(peer)));
    let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer, %error, "admin API connection ended");
    }
}

/// Connections refused since the last warning.
#[derive(Default)]
struct Refusals {
    count: u64,
    last_warning: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, max: usize) {
        self.count += 1;
        if self.last_warning.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY) {
            tracing::warn!(
                refused = self.count,
                max,
                "admin API: connection limit reached, connections closed"
            );
            self.count = 0;
            self.last_warning = Some(Instant::now());
        }
    }
}
