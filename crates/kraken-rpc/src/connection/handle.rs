//! The connection handle and what it is made of: [`RpcConnection`] (a cheap, clonable handle),
//! its shared state, and the interface of the services it dispatches to ([`RpcService`], with
//! the [`CallContext`] each call comes with).
//!
//! These types name one another (a connection holds its services; a service is handed the
//! connection its calls came on), so they are defined together, here and nowhere else: the
//! sibling modules, which act on them, depend on this one and it on none of them but the
//! [`Outbox`] and [`Limits`] it holds. The crate's `service` module re-exports the service side.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use kraken_codec::Value;
use tokio::sync::{Notify, Semaphore, oneshot, watch};

use super::limits::Limits;
use super::locks::{lock, write};
use super::outbox::Outbox;
use crate::activity::LastActivity;
use crate::auth::TrustLevel;
use crate::config::RpcConfig;
use crate::error::{RpcError, RpcFault};
use crate::params::Params;
use crate::peer::PeerInfo;

/// Which end of the TCP connection this side is; it decides the parity of session ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepted the connection: allocates even session ids (2, 4, ...).
    Acceptor,
    /// Opened the connection: allocates odd session ids (3, 5, ...).
    Initiator,
}

/// The control session's id and service name.
pub const CONTROL_SESSION: i32 = 0;

/// A handle to a connection; cheap to clone, all clones are the same connection.
#[derive(Clone)]
pub struct RpcConnection {
    pub(super) inner: Arc<Inner>,
}

/// The state of a connection, shared by its handles and tasks.
pub(super) struct Inner {
    /// Unique within this process, for keying per-connection state.
    pub(super) id: u64,
    pub(super) role: Role,
    pub(super) config: Arc<RpcConfig>,
    pub(super) limits: Limits,
    pub(super) peer: PeerInfo,
    /// Whether this transport authenticates the peer (TLS): peering then succeeds at once.
    pub(super) authenticated_transport: bool,
    pub(super) next_id: AtomicI32,
    pub(super) next_session: AtomicI32,
    pub(super) outbox: Outbox,
    pub(super) pending: Mutex<Pending>,
    /// By id; a few per connection, so an ordered map (no hashing per message).
    pub(super) sessions: Mutex<BTreeMap<i32, SessionEntry>>,
    pub(super) services: RwLock<ServiceTable>,
    /// The trust the peer granted us (from its reply to our peering request); calls wait for it.
    pub(super) trusted: watch::Sender<Option<TrustLevel>>,
    /// What we know and granted of the peer.
    pub(super) granted: Mutex<Granted>,
    /// `Some(reason)` once closed.
    pub(super) closed: watch::Sender<Option<String>>,
    /// True once the application has accepted the peer (see `admission`).
    pub(super) admitted: watch::Sender<bool>,
    pub(super) handler_slots: Arc<Semaphore>,
    /// Signalled when a session's post backlog shrinks.
    pub(super) post_space: Notify,
    /// Encoded size of the posts in backlogs and of those running that waited.
    pub(super) backlog_bytes: AtomicUsize,
    /// Encoded size of the calls whose handlers are running.
    pub(super) call_bytes: AtomicUsize,
    /// When bytes last arrived from the peer.
    pub(super) last_read: Arc<LastActivity>,
    /// When the transport last took bytes we wrote.
    pub(super) last_write: Arc<LastActivity>,
}

impl Inner {
    /// The state of a new connection, with nothing sent or received yet.
    pub(super) fn new(
        role: Role,
        config: Arc<RpcConfig>,
        limits: Limits,
        services: ServiceTable,
        peer: PeerInfo,
        authenticated_transport: bool,
    ) -> Inner {
        static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);
        let (closed, _) = watch::channel(None);
        let (trusted, _) = watch::channel(None);
        let (admitted, _) = watch::channel(false);
        Inner {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            role,
            peer,
            authenticated_transport,
            next_id: AtomicI32::new(1),
            next_session: AtomicI32::new(if role == Role::Acceptor { 2 } else { 3 }),
            outbox: Outbox::new(limits.outbox_limit, limits.outbox_hard_limit),
            pending: Mutex::new(Pending::default()),
            sessions: Mutex::new(BTreeMap::new()),
            services: RwLock::new(services),
            trusted,
            granted: Mutex::new(Granted::default()),
            closed,
            admitted,
            handler_slots: Arc::new(Semaphore::new(config.max_concurrent_handlers.max(1))),
            post_space: Notify::new(),
            backlog_bytes: AtomicUsize::new(0),
            call_bytes: AtomicUsize::new(0),
            last_read: LastActivity::new(),
            last_write: LastActivity::new(),
            limits,
            config,
        }
    }
}

/// Our calls waiting for their answers.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) calls: HashMap<i32, oneshot::Sender<Result<Value, RpcError>>>,
    /// `Some(reason)` once closed: no call may wait any more.
    pub(super) closed: Option<String>,
}

/// A session opened by the peer, with the service it was opened on (bound once, at opening).
pub(super) struct SessionEntry {
    pub(super) service: Arc<dyn RpcService>,
    /// Posts waiting behind one that is still running; `None` when no post is running.
    pub(super) post_backlog: Option<VecDeque<QueuedPost>>,
}

/// A post waiting in its session's backlog, with its encoded size (counted in the budget).
pub(super) struct QueuedPost {
    pub(super) method: String,
    pub(super) params: Params,
    pub(super) size: usize,
}

/// What this side knows of the peer and granted it, from the peer's `rpc-control` calls.
#[derive(Default)]
pub(super) struct Granted {
    pub(super) peer_guid: Option<String>,
    pub(super) nonce: Option<String>,
    pub(super) level: Option<TrustLevel>,
}

impl RpcConnection {
    /// A number unique to this connection within the process (never reused).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// What is known of the peer: address and certificate.
    pub fn peer(&self) -> &PeerInfo {
        &self.inner.peer
    }

    /// The GUID the peer announced in its peering request, once it has.
    pub fn peer_guid(&self) -> Option<String> {
        lock(&self.inner.granted).peer_guid.clone()
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// Binds (or replaces) a service on this connection.
    pub fn bind(&self, name: impl Into<String>, service: Arc<dyn RpcService>) {
        let mut services = write(&self.inner.services);
        // After the close the table stays empty, so nothing keeps the connection alive.
        if !self.is_closed() {
            services.insert(name.into(), service);
        }
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.borrow().is_some()
    }

    /// Waits until the connection is closed and returns why.
    pub async fn closed(&self) -> String {
        let mut rx = self.inner.closed.subscribe();
        let reason = rx.wait_for(Option::is_some).await.ok().and_then(|r| r.clone());
        reason.unwrap_or_else(|| "closed".to_owned())
    }

    /// Why the connection closed ("closed" while it is open).
    pub(super) fn close_reason(&self) -> String {
        self.inner.closed.borrow().clone().unwrap_or_else(|| "closed".into())
    }

    /// The next message id of this side.
    pub(super) fn next_id(&self) -> i32 {
        // Java's counter starts at 1; wrap back to 1 rather than into negative ids.
        let step = |id: i32| Some(if id == i32::MAX { 1 } else { id + 1 });
        self.inner.next_id.fetch_update(Ordering::Relaxed, Ordering::Relaxed, step).unwrap_or(1)
    }
}

impl std::fmt::Debug for RpcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcConnection")
            .field("role", &self.inner.role)
            .field("peer", &self.inner.peer)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a call or post came from.
#[derive(Clone)]
pub struct CallContext {
    /// The connection it arrived on; use it to call back.
    pub connection: RpcConnection,
    /// The session id it arrived on.
    pub session: i32,
    /// True for a post (its result is discarded).
    pub is_post: bool,
}

/// A named RPC service.
pub trait RpcService: Send + Sync + 'static {
    /// Runs `method(params...)`. The value is returned to a caller; a post's is dropped.
    fn call(
        &self,
        ctx: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>>;

    /// Runs a call or post as it arrived, its parameters still encoded. By default they are
    /// decoded and [`RpcService::call`] runs; a service that can use the encoded form (to pass
    /// records on without building them, say) overrides this for the methods that gain from it.
    fn call_encoded(
        &self,
        ctx: CallContext,
        method: String,
        params: Params,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        call_decoded(self, ctx, method, params)
    }

    /// A peer opens a session on this service; an error refuses it, with that cause.
    fn session_opened(&self, _connection: &RpcConnection, _session: i32) -> Result<(), RpcFault> {
        Ok(())
    }

    /// A session on this service ended (its connection closed).
    fn session_closed(&self, _connection: &RpcConnection, _session: i32) {}
}

/// Decodes `params` and runs [`RpcService::call`]: what [`RpcService::call_encoded`] does by
/// default, for overriding services to fall back on for the methods they leave alone.
pub fn call_decoded<S: RpcService + ?Sized>(
    service: &S,
    ctx: CallContext,
    method: String,
    params: Params,
) -> BoxFuture<'static, Result<Value, RpcFault>> {
    match params.decode() {
        Ok(params) => service.call(ctx, method, params),
        Err(fault) => Box::pin(std::future::ready(Err(fault))),
    }
}

/// Services by name, as bound on a connection.
pub type ServiceTable = HashMap<String, Arc<dyn RpcService>>;
