//! One Kraken RPC connection: framing, peering, sessions, calls and posts in both directions.
//!
//! A connection runs three tasks over one byte stream (TCP or TLS):
//!
//! * the **reader** cuts frames ([`crate::frame`]) and reads them as messages (checked in full,
//!   parameters left encoded: [`crate::Params`]), answers returns and errors to the pending call
//!   they belong to, handles session 0 (`rpc-control`: peering, authentication, session
//!   requests, ping) inline, and hands calls and posts of other sessions to their service;
//! * the **writer** sends encoded frames in order: senders encode straight into a shared outbox,
//!   and the writer takes all that is there in one go, so a burst of posts costs one write;
//! * the **peering** task sends this side's `peering-request` (and `authenticate` when the peer
//!   challenges) and, when configured, the **liveness** task pings an idle peer.
//!
//! A handler is first run by the reader itself; one that finishes without waiting (most do:
//! an `onLog` that queues a record, a `getDate`) costs no task and no thread switch. One that
//! waits moves to its own task, so calls run concurrently: a slow handler delays only its own
//! caller, and a handler may call back to the peer while its caller waits. Handlers must not
//! block the thread (heavy work goes to `spawn_blocking`). Posts of one session run one after
//! another, in arrival order. At most `max_concurrent_handlers` handlers wait at once (each
//! holds a slot while it waits; one that finishes at once needs none); past that a call is
//! refused and posts queue, which pushes back on the peer.
//!
//! Closing (by either side, a protocol error or a failed ping) fails every pending call at once
//! with the reason, tells the services their sessions ended, and ends the tasks.
//!
//! The parts, each depending only on those listed before it (and this module, which starts a
//! connection, on all of them; none of them on this module):
//!
//! * `limits`, `locks`: the bounds a connection keeps, and poison-tolerant locking;
//! * `outbox`: encoded frames waiting for the writer, with their soft and hard limits;
//! * `handle`: [`RpcConnection`] and its state, with the service interface it dispatches to
//!   ([`RpcService`], [`CallContext`]), which names the connection in turn;
//! * `admission`: the application's word that the peer is who it may be;
//! * `close`: closing; `send`: queuing our frames and replies; `handler`: running a handler;
//! * `pending_reply`, `outgoing`, `session`: our calls, posts and pings, and [`RpcSession`];
//! * `writer`, `dispatch`, `control`, `reader`, `liveness`: the tasks and what the reader
//!   hands work to.

mod admission;
mod close;
mod control;
mod dispatch;
mod handle;
mod handler;
mod limits;
mod liveness;
mod locks;
mod outbox;
mod outgoing;
mod pending_reply;
mod reader;
mod send;
mod session;
mod writer;

#[cfg(test)]
mod test_support;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

pub use self::handle::{
    BoxFuture, CONTROL_SESSION, CallContext, Role, RpcConnection, RpcService, ServiceTable, call_decoded,
};
pub use self::pending_reply::PendingReply;
pub use self::session::RpcSession;

use self::handle::Inner;
use self::limits::Limits;
use crate::activity::{ActivityReader, ActivityWriter};
use crate::config::RpcConfig;
use crate::peer::PeerInfo;

impl RpcConnection {
    /// Starts the protocol over an established stream. `authenticated_transport` is true for TLS
    /// (the peer's certificate was verified), which makes peering succeed without a password.
    pub fn start<S>(
        stream: S,
        role: Role,
        config: Arc<RpcConfig>,
        services: ServiceTable,
        peer: PeerInfo,
        authenticated_transport: bool,
    ) -> RpcConnection
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let inner = Inner::new(role, config, Limits::default(), services, peer, authenticated_transport);
        launch(stream, inner)
    }
}

/// Spawns the tasks of a connection with this state over `stream`.
fn launch<S>(stream: S, inner: Inner) -> RpcConnection
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let conn = RpcConnection { inner: Arc::new(inner) };
    let write_half = ActivityWriter::new(write_half, conn.inner.last_write.clone());
    tokio::spawn(conn.clone().write_loop(write_half));
    let read_half = ActivityReader::new(read_half, conn.inner.last_read.clone());
    tokio::spawn(conn.clone().read_loop(read_half));
    tokio::spawn(conn.clone().request_peering());
    if let Some(interval) = conn.inner.config.ping_interval {
        tokio::spawn(conn.clone().liveness_loop(interval));
    }
    conn
}
