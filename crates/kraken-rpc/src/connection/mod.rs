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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use kraken_codec::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tokio_util::codec::FramedRead;
use tracing::{debug, info, warn};

use crate::activity::{ActivityReader, ActivityWriter, LastActivity};
use crate::auth::{TrustLevel, password_hash};
use crate::config::RpcConfig;
use crate::error::{RpcError, RpcFault};
use crate::frame::FrameCodec;
use crate::message::{Body, Message, MessageKind, encode_request_into, encode_request_with};
use crate::params::Params;
use crate::peer::PeerInfo;
use crate::service::{BoxFuture, CallContext, RpcService, ServiceTable};

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
/// Encoded bytes of posts waiting in all the sessions' backlogs of a connection before the
/// reader pauses: bounds the memory a peer can make us hold.
const BACKLOG_BUDGET: usize = 64 << 20;
/// Posts waiting per session (behind a running one) before the reader pauses.
const POST_QUEUE: usize = 256;
/// Encoded bytes waiting for the writer past which senders wait for it to catch up.
const OUTBOX_LIMIT: usize = 4 << 20;
/// Past this, even replies (which never wait, so the reader cannot block on its own peer)
/// close the connection: the peer asks and does not read the answers.
const OUTBOX_HARD_LIMIT: usize = 4 * OUTBOX_LIMIT;

/// How long, after a close, the writer may still spend sending what was queued.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Whether a send may wait for the writer when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backpressure {
    /// Calls and posts of our own: wait (within their time limit).
    Wait,
    /// Replies and control answers, sent from the reader: never wait, or two peers that both
    /// stop reading while their outboxes are full would wait on each other for ever.
    Never,
}

/// A handle to a connection; cheap to clone, all clones are the same connection.
#[derive(Clone)]
pub struct RpcConnection {
    inner: Arc<Inner>,
}

struct Inner {
    /// Unique within this process, for keying per-connection state.
    id: u64,
    role: Role,
    config: Arc<RpcConfig>,
    peer: PeerInfo,
    /// Whether this transport authenticates the peer (TLS): peering then succeeds at once.
    authenticated_transport: bool,
    next_id: AtomicI32,
    next_session: AtomicI32,
    outbox: Outbox,
    pending: Mutex<Pending>,
    /// By id; a few per connection, so an ordered map (no hashing per message).
    sessions: Mutex<BTreeMap<i32, SessionEntry>>,
    services: RwLock<ServiceTable>,
    /// The trust the peer granted us (from its reply to our peering request); calls wait for it.
    trusted: watch::Sender<Option<TrustLevel>>,
    /// What we know and granted of the peer.
    granted: Mutex<Granted>,
    /// `Some(reason)` once closed.
    closed: watch::Sender<Option<String>>,
    handler_slots: Arc<Semaphore>,
    /// Signalled when a session's post backlog shrinks.
    post_space: Notify,
    /// Encoded size of all posts waiting in backlogs.
    backlog_bytes: AtomicUsize,
    /// When bytes last arrived from the peer.
    last_read: Arc<LastActivity>,
    /// When the transport last took bytes we wrote.
    last_write: Arc<LastActivity>,
}

#[derive(Default)]
struct Pending {
    calls: HashMap<i32, oneshot::Sender<Result<Value, RpcError>>>,
    closed: Option<String>,
}

/// A session opened by the peer, with the service it was opened on (bound once, at opening).
struct SessionEntry {
    service: Arc<dyn RpcService>,
    /// Posts waiting behind one that is still running; `None` when no post is running.
    post_backlog: Option<VecDeque<QueuedPost>>,
}

#[derive(Default)]
struct Granted {
    peer_guid: Option<String>,
    nonce: Option<String>,
    level: Option<TrustLevel>,
}

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
        let (read_half, write_half) = tokio::io::split(stream);
        let (closed, _) = watch::channel(None);
        let (trusted, _) = watch::channel(None);
        static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);
        let inner = Arc::new(Inner {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            role,
            peer,
            authenticated_transport,
            next_id: AtomicI32::new(1),
            next_session: AtomicI32::new(if role == Role::Acceptor { 2 } else { 3 }),
            outbox: Outbox::default(),
            pending: Mutex::new(Pending::default()),
            sessions: Mutex::new(BTreeMap::new()),
            services: RwLock::new(services),
            trusted,
            granted: Mutex::new(Granted::default()),
            closed,
            handler_slots: Arc::new(Semaphore::new(config.max_concurrent_handlers.max(1))),
            post_space: Notify::new(),
            backlog_bytes: AtomicUsize::new(0),
            last_read: LastActivity::new(),
            last_write: LastActivity::new(),
            config,
        });
        let conn = RpcConnection { inner };
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

    /// Waits until both sides are peered (the peer granted us a trust level), up to `timeout`.
    pub async fn peered(&self, timeout: Duration) -> Result<TrustLevel, RpcError> {
        if let Some(level) = *self.inner.trusted.borrow() {
            return Ok(level);
        }
        let mut trusted = self.inner.trusted.subscribe();
        let mut closed = self.inner.closed.subscribe();
        let wait = async {
            tokio::select! {
                level = trusted.wait_for(Option::is_some) => {
                    level.ok().and_then(|l| *l).ok_or_else(|| RpcError::Closed("connection dropped".into()))
                }
                reason = closed.wait_for(Option::is_some) => {
                    Err(RpcError::Closed(reason.ok().and_then(|r| r.clone()).unwrap_or_default()))
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| RpcError::Timeout { method: "peering".into(), after: timeout })?
    }

    /// Opens a session on the peer's service `service` (`session-request`), returning its id.
    pub async fn create_session(&self, service: &str) -> Result<RpcSession, RpcError> {
        let params = vec![Value::from(service), Value::Map(kraken_codec::Map::new())];
        let timeout = self.inner.config.call_timeout;
        let id = self.call(CONTROL_SESSION, "session-request", params, timeout).await?;
        let id = id.as_exact_i32().filter(|id| *id > 0).ok_or_else(|| {
            RpcError::Protocol(format!("session-request answered {} instead of a session id", id.kind_name()))
        })?;
        Ok(RpcSession { connection: self.clone(), id })
    }

    /// Calls `method(params...)` on `session` and waits for the result, up to `timeout`.
    pub async fn call(
        &self,
        session: i32,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let reply = self.start_call(session, method, params, timeout).await?;
        reply.wait().await
    }

    /// Sends a call and returns its reply still to come, so that a caller can have several
    /// calls in flight and know they reach the peer in the order they were started. The time
    /// limit counts from now and covers the sending (a peer that stops reading fills the outbox).
    pub async fn start_call(
        &self,
        session: i32,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<PendingReply, RpcError> {
        let write_params = |out: &mut Vec<u8>| {
            for param in &params {
                kraken_codec::encode_into(param, out);
            }
        };
        self.start_call_with(session, method, write_params, timeout).await
    }

    /// [`RpcConnection::start_call`] with parameters that are already encoded: `params` holds
    /// the items of the params array, one encoded value after another (a record spooled in
    /// its wire form goes out as it is, not decoded and encoded again). They are checked
    /// first: bytes that do not read as values are refused, and nothing is sent.
    pub async fn start_call_encoded(
        &self,
        session: i32,
        method: &str,
        params: &[u8],
        timeout: Duration,
    ) -> Result<PendingReply, RpcError> {
        let limits = kraken_codec::DecodeLimits::default();
        let mut rest = params;
        while !rest.is_empty() {
            let len = kraken_codec::validate_prefix(rest, &limits).map_err(|err| {
                RpcError::Protocol(format!("parameters of {method} are not well-formed: {err}"))
            })?;
            rest = &rest[len..];
        }
        let write_params = |out: &mut Vec<u8>| out.extend_from_slice(params);
        self.start_call_with(session, method, write_params, timeout).await
    }

    async fn start_call_with(
        &self,
        session: i32,
        method: &str,
        write_params: impl Fn(&mut Vec<u8>),
        timeout: Duration,
    ) -> Result<PendingReply, RpcError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || RpcError::Timeout { method: method.to_owned(), after: timeout };
        let peering_method =
            session == CONTROL_SESSION && matches!(method, "peering-request" | "authenticate");
        if !peering_method {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.peered(remaining).await.map_err(|e| match e {
                RpcError::Timeout { .. } => timed_out(),
                other => other,
            })?;
        }
        let id = self.next_id();
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.inner.pending);
            if let Some(reason) = &pending.closed {
                return Err(RpcError::Closed(reason.clone()));
            }
            pending.calls.insert(id, tx);
        }
        let guard = PendingGuard { connection: self.clone(), id };
        let frame = |out: &mut Vec<u8>| {
            encode_request_with(out, id, session, MessageKind::Call, method, |out| write_params(out))
        };
        tokio::time::timeout_at(deadline, self.send(frame, Backpressure::Wait))
            .await
            .unwrap_or_else(|_| Err(timed_out()))?;
        Ok(PendingReply { reply: rx, guard, deadline, method: method.to_owned(), timeout })
    }

    /// Asks the peer whether it is alive: a `ping` on the control session answered within
    /// `timeout`. (Used to tell a live connection from a dead one that has not noticed yet.)
    pub async fn ping(&self, timeout: Duration) -> Result<(), RpcError> {
        let probe = self.next_id();
        self.call(CONTROL_SESSION, "ping", vec![Value::I32(probe)], timeout).await.map(drop)
    }

    /// Posts `method(params...)` on `session`: sent once peered, never answered.
    pub async fn post(&self, session: i32, method: &str, params: Vec<Value>) -> Result<(), RpcError> {
        let timeout = self.inner.config.call_timeout;
        // Peered, with room in the outbox (the common case), a post needs no clock and no timer.
        let mut deadline = None;
        if self.inner.trusted.borrow().is_none() {
            deadline = Some(tokio::time::Instant::now() + timeout);
            self.peered(timeout).await?;
        }
        let id = self.next_id();
        let frame =
            |out: &mut Vec<u8>| encode_request_into(out, id, session, MessageKind::Post, method, &params);
        if self.try_queue(&frame, Backpressure::Wait)? {
            tokio::task::consume_budget().await;
            return Ok(());
        }
        // The outbox is full: wait for room, within the time limit.
        let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + timeout);
        tokio::time::timeout_at(deadline, self.send(frame, Backpressure::Wait))
            .await
            .unwrap_or_else(|_| Err(RpcError::Timeout { method: method.to_owned(), after: timeout }))
    }

    /// Closes the connection; pending calls fail with `reason`.
    pub fn close(&self, reason: impl Into<String>) {
        let reason = reason.into();
        let first = self.inner.closed.send_if_modified(|state| {
            if state.is_some() {
                return false;
            }
            *state = Some(reason.clone());
            true
        });
        if !first {
            return;
        }
        debug!(peer = ?self.inner.peer.address, %reason, "rpc connection closed");
        // The writer sends what is already queued, then ends the stream.
        lock(&self.inner.outbox.pending).closed = true;
        self.inner.outbox.ready.notify_one();
        self.inner.outbox.drained.notify_waiters();
        let calls = {
            let mut pending = lock(&self.inner.pending);
            pending.closed = Some(reason.clone());
            std::mem::take(&mut pending.calls)
        };
        for (_, waiter) in calls {
            let _ = waiter.send(Err(RpcError::Closed(reason.clone())));
        }
        // Nothing waits for a handler slot or backlog room any more.
        self.inner.handler_slots.close();
        self.inner.post_space.notify_waiters();
        let sessions = std::mem::take(&mut *lock(&self.inner.sessions));
        // Services often hold connections: dropping them here breaks those reference cycles
        // (outside the lock, in case a service's drop touches this connection).
        let services = std::mem::take(&mut *write(&self.inner.services));
        drop(services);
        for (id, entry) in sessions {
            entry.service.session_closed(self, id);
        }
    }

    fn close_reason(&self) -> String {
        self.inner.closed.borrow().clone().unwrap_or_else(|| "closed".into())
    }

    fn next_id(&self) -> i32 {
        // Java's counter starts at 1; wrap back to 1 rather than into negative ids.
        let step = |id: i32| Some(if id == i32::MAX { 1 } else { id + 1 });
        self.inner.next_id.fetch_update(Ordering::Relaxed, Ordering::Relaxed, step).unwrap_or(1)
    }

    /// Encodes a frame (`frame` appends it to a buffer) straight into the outbox, where the
    /// writer picks it up with whatever else is waiting: one buffer and one wake-up per batch,
    /// not per frame. With [`Backpressure::Wait`] it waits while the outbox is full.
    async fn send(
        &self,
        frame: impl Fn(&mut Vec<u8>) -> usize,
        backpressure: Backpressure,
    ) -> Result<(), RpcError> {
        loop {
            // Made before looking, so that a drain in between is not missed.
            let drained = self.inner.outbox.drained.notified();
            if self.try_queue(&frame, backpressure)? {
                if backpressure == Backpressure::Wait {
                    // A sender that never has to wait would otherwise keep its thread until the
                    // outbox is full: every so often let the writer (and others) run, so frames
                    // leave in modest batches and the outbox's buffer is reused.
                    tokio::task::consume_budget().await;
                }
                return Ok(());
            }
            // The peer reads slower than we write: wait for the writer to catch up.
            drained.await;
        }
    }

    /// Queues a frame if the outbox has room (or `backpressure` says never to wait); `false`
    /// when it is full.
    fn try_queue(
        &self,
        frame: &impl Fn(&mut Vec<u8>) -> usize,
        backpressure: Backpressure,
    ) -> Result<bool, RpcError> {
        let outbox = &self.inner.outbox;
        let mut pending = lock(&outbox.pending);
        if pending.closed {
            return Err(RpcError::Closed(self.close_reason()));
        }
        let queued = pending.bytes.len();
        if backpressure == Backpressure::Never && queued >= OUTBOX_HARD_LIMIT {
            drop(pending);
            self.close("the peer does not read what it asked for (outbox full)");
            return Err(RpcError::Closed(self.close_reason()));
        }
        if queued >= OUTBOX_LIMIT && backpressure == Backpressure::Wait {
            return Ok(false);
        }
        let length = frame(&mut pending.bytes);
        let max = self.inner.config.max_frame_len;
        if length > max {
            pending.bytes.truncate(queued);
            return Err(RpcError::TooLarge { length, max });
        }
        drop(pending);
        outbox.ready.notify_one();
        Ok(true)
    }

    async fn write_loop<W: AsyncWrite + Unpin + Send + 'static>(self, mut stream: W) {
        let outbox = &self.inner.outbox;
        let mut batch = Vec::new();
        let mut closed = self.inner.closed.subscribe();
        loop {
            let closing = {
                let mut pending = lock(&outbox.pending);
                std::mem::swap(&mut batch, &mut pending.bytes);
                pending.closed
            };
            if batch.is_empty() {
                if closing {
                    break;
                }
                // `notify_one` keeps a permit when nobody waits, so no frame is missed.
                outbox.ready.notified().await;
                continue;
            }
            outbox.drained.notify_waiters();
            let written = async {
                stream.write_all(&batch).await?;
                stream.flush().await
            };
            // A peer that stopped reading must not keep this task (and the connection) alive
            // after the close: give it a grace period, then drop the stream.
            let abandoned = async {
                let _ = closed.wait_for(Option::is_some).await;
                tokio::time::sleep(CLOSE_GRACE).await;
            };
            let result = tokio::select! {
                result = written => result,
                _ = abandoned => Err(std::io::Error::other("the peer stopped reading")),
            };
            if let Err(err) = result {
                self.close(format!("write failed: {err}"));
                break;
            }
            batch.clear();
            if batch.capacity() > OUTBOX_LIMIT {
                batch = Vec::new();
            }
        }
        // End the stream (TLS close_notify, TCP FIN), without waiting long on a dead peer.
        let _ = tokio::time::timeout(CLOSE_GRACE, stream.shutdown()).await;
    }

    async fn read_loop<R: AsyncRead + Unpin + Send + 'static>(self, stream: R) {
        let codec = FrameCodec::new(self.inner.config.max_frame_len);
        let limits = codec.limits();
        let mut frames = FramedRead::new(stream, codec);
        let mut closed = self.inner.closed.subscribe();
        loop {
            let next = tokio::select! {
                biased;
                next = frames.next() => next,
                _ = closed.wait_for(Option::is_some) => return,
            };
            let frame = match next {
                None => return self.close("the peer closed the connection"),
                Some(Err(err)) => {
                    warn!(peer = ?self.inner.peer.address, error = %err, "closing rpc connection");
                    return self.close(err.to_string());
                }
                Some(Ok(frame)) => frame,
            };
            match Message::parse(frame, &limits) {
                Ok(message) => {
                    if let Some((session, post)) = self.dispatch(message) {
                        self.dispatch_post_when_room(session, post).await;
                    }
                }
                Err(err) if err.unknown_kind => debug!(error = %err, "ignoring message"),
                Err(err) => {
                    warn!(peer = ?self.inner.peer.address, error = %err, "closing rpc connection");
                    return self.close(err.to_string());
                }
            }
        }
    }

    /// Acts on one message without waiting; a post that must wait for room in its session's
    /// backlog comes back with its session.
    fn dispatch(&self, message: Message<Params>) -> Option<(i32, (String, Params))> {
        let Message { id, session, body } = message;
        match body {
            Body::Return { ret_for, value, .. } => self.resolve(ret_for, Ok(value)),
            Body::Error { ret_for, cause } => self.resolve(ret_for, Err(RpcError::Remote(cause))),
            Body::Call { method, params } if session == CONTROL_SESSION => {
                let result = params.decode().and_then(|params| self.control(&method, params));
                self.reply(id, session, method, result);
            }
            Body::Post { method, .. } if session == CONTROL_SESSION => {
                debug!(%method, "ignoring a post to rpc-control");
            }
            Body::Call { method, params } => self.dispatch_call(id, session, method, params),
            Body::Post { method, params } => {
                return self.dispatch_post(session, method, params).map(|post| (session, post));
            }
        }
        None
    }

    fn resolve(&self, ret_for: i32, result: Result<Value, RpcError>) {
        let waiter = lock(&self.inner.pending).calls.remove(&ret_for);
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(result);
            }
            None => debug!(ret_for, "reply to no waiting call (it may have timed out)"),
        }
    }

    /// The service of `session`; `None` for an unknown session (dropped silently, as in Java).
    fn service_of(&self, session: i32) -> Option<Arc<dyn RpcService>> {
        lock(&self.inner.sessions).get(&session).map(|entry| entry.service.clone())
    }

    fn dispatch_call(&self, id: i32, session: i32, method: String, params: Params) {
        let Some(service) = self.service_of(session) else {
            return debug!(session, %method, "call on an unknown session dropped");
        };
        // The reader never waits for a handler slot: it must go on reading, among other things
        // the replies that running handlers wait for.
        if self.inner.handler_slots.available_permits() == 0 {
            let cause = format!("too many calls in progress ({})", self.inner.config.max_concurrent_handlers);
            return self.reply(id, session, method, Err(RpcFault::new(cause)));
        }
        let ctx = CallContext { connection: self.clone(), session, is_post: false };
        let mut handler = start_handler(&service, ctx, method.clone(), params);
        // Most handlers answer without waiting: run them here, and give a task (and a slot)
        // only to those that wait (for I/O, a blocking job or a call back to the peer).
        match poll_once(&mut handler) {
            Poll::Ready(result) => self.reply(id, session, method, result),
            Poll::Pending => {
                let slot = self.inner.handler_slots.clone().try_acquire_owned().ok();
                let conn = self.clone();
                tokio::spawn(async move {
                    let Some(_slot) = conn.handler_slot(slot).await else { return };
                    let result = finish_handler(handler).await;
                    conn.reply(id, session, method, result);
                });
            }
        }
    }

    /// A handler slot: the one taken already, or the next free one (a backlog task may have
    /// taken the last between the check and the take). `None` once the connection closed.
    async fn handler_slot(
        &self,
        taken: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match taken {
            Some(slot) => Some(slot),
            None => self.inner.handler_slots.clone().acquire_owned().await.ok(),
        }
    }

    /// Runs a post. Posts of one session run in arrival order: a post that does not finish at
    /// once (or finds no free handler slot) starts the session's backlog task, and the
    /// session's later posts queue behind it until that task has run them all. When that
    /// backlog (or the connection's budget) is full, the post comes back, to wait for room.
    fn dispatch_post(&self, session: i32, method: String, params: Params) -> Option<(String, Params)> {
        let service = {
            let mut sessions = lock(&self.inner.sessions);
            let Some(entry) = sessions.get_mut(&session) else {
                debug!(session, %method, "post on an unknown session dropped");
                return None;
            };
            match &mut entry.post_backlog {
                None => entry.service.clone(),
                Some(backlog) if backlog.len() < POST_QUEUE => {
                    let size = params.encoded_len();
                    let queued = self.inner.backlog_bytes.load(Ordering::Relaxed);
                    if queued != 0 && queued + size > BACKLOG_BUDGET {
                        return Some((method, params));
                    }
                    self.inner.backlog_bytes.fetch_add(size, Ordering::Relaxed);
                    backlog.push_back(QueuedPost { method, params, size });
                    return None;
                }
                Some(_) => return Some((method, params)),
            }
        };
        let first = if self.inner.handler_slots.available_permits() > 0 {
            let ctx = CallContext { connection: self.clone(), session, is_post: true };
            let mut handler = start_handler(&service, ctx, method, params);
            match poll_once(&mut handler) {
                Poll::Ready(result) => {
                    log_post_failure(result);
                    return None;
                }
                Poll::Pending => {
                    Backlogged::Running(handler, self.inner.handler_slots.clone().try_acquire_owned().ok())
                }
            }
        } else {
            Backlogged::Waiting(method, params)
        };
        if let Some(entry) = lock(&self.inner.sessions).get_mut(&session) {
            entry.post_backlog = Some(VecDeque::new());
        }
        tokio::spawn(self.clone().run_post_backlog(session, service, first));
        None
    }

    /// Runs a post that found its session's backlog full, once there is room (or the session
    /// or connection is gone). The reader waits here: a peer that posts faster than the
    /// service runs is slowed down rather than buffered without bound.
    async fn dispatch_post_when_room(&self, session: i32, post: (String, Params)) {
        let mut post = Some(post);
        while let Some((method, params)) = post.take() {
            // Made before trying, so that room made in between is not missed.
            let space = self.inner.post_space.notified();
            post = self.dispatch_post(session, method, params);
            if post.is_some() {
                space.await;
            }
        }
    }

    /// Finishes (or starts) the post that could not finish at once, then runs the posts queued
    /// behind it, in order, until the session's backlog is empty.
    async fn run_post_backlog(self, session: i32, service: Arc<dyn RpcService>, first: Backlogged) {
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Backlogged::Running(handler, slot)) => {
                    let Some(_slot) = self.handler_slot(slot).await else { break };
                    log_post_failure(finish_handler(handler).await);
                }
                Some(Backlogged::Waiting(method, params)) => {
                    let Ok(permit) = self.inner.handler_slots.clone().acquire_owned().await else { break };
                    let ctx = CallContext { connection: self.clone(), session, is_post: true };
                    log_post_failure(finish_handler(start_handler(&service, ctx, method, params)).await);
                    drop(permit);
                }
                None => {}
            }
            let queued = {
                let mut sessions = lock(&self.inner.sessions);
                let Some(entry) = sessions.get_mut(&session) else { break };
                let queued = entry.post_backlog.as_mut().and_then(VecDeque::pop_front);
                match &queued {
                    Some(post) => {
                        self.inner.backlog_bytes.fetch_sub(post.size, Ordering::Relaxed);
                    }
                    None => entry.post_backlog = None,
                }
                queued
            };
            self.inner.post_space.notify_waiters();
            let Some(QueuedPost { method, params, .. }) = queued else { return };
            next = Some(Backlogged::Waiting(method, params));
        }
        // The session or the connection is gone: free a reader waiting for room.
        self.inner.post_space.notify_waiters();
    }

    /// Queues the answer to call `id`. Replies never wait for room in the outbox (see
    /// [`Backpressure::Never`]), so this does not wait either.
    fn reply(&self, id: i32, session: i32, method: String, result: Result<Value, RpcFault>) {
        let reply_id = self.next_id();
        let body = match result {
            Ok(value) => Body::Return { ret_for: id, method, value },
            Err(fault) => Body::Error { ret_for: id, cause: fault.0 },
        };
        let message = Message { id: reply_id, session, body };
        match self.try_queue(&|out: &mut Vec<u8>| message.encode_into(out), Backpressure::Never) {
            Ok(_) => {}
            Err(RpcError::TooLarge { length, max }) => {
                let cause = format!("the result of {length} bytes exceeds the frame limit of {max} bytes");
                let body = Body::Error { ret_for: id, cause: Some(cause) };
                let message = Message { id: self.next_id(), session, body };
                let _ = self.try_queue(&|out: &mut Vec<u8>| message.encode_into(out), Backpressure::Never);
            }
            Err(err) => debug!(error = %err, "reply not sent"),
        }
    }

    /// Session 0: the `rpc-control` methods.
    fn control(&self, method: &str, params: Vec<Value>) -> Result<Value, RpcFault> {
        match method {
            "peering-request" => self.answer_peering_request(params),
            "authenticate" => self.answer_authenticate(params),
            "session-request" => self.answer_session_request(params),
            "ping" => match params.into_iter().next() {
                Some(value @ Value::I32(_)) => Ok(value),
                _ => Err(RpcFault::bad_arguments("ping", "expects one int")),
            },
            other => Err(RpcFault::method_not_found(other)),
        }
    }

    fn answer_peering_request(&self, params: Vec<Value>) -> Result<Value, RpcFault> {
        let Some(Value::Str(peer_guid)) = params.into_iter().next() else {
            return Err(RpcFault::bad_arguments("peering-request", "expects the peer's guid as a string"));
        };
        let config = &self.inner.config;
        let own_guid = Value::from(config.guid.as_str());
        let mut granted = lock(&self.inner.granted);
        if let Some(known) = granted.peer_guid.as_deref().filter(|known| *known != peer_guid.as_str()) {
            // A peer cannot change its identity (and keep the trust granted to the old one).
            return Err(RpcFault::new(format!("already peered as {known}")));
        }
        granted.peer_guid = Some(peer_guid.to_string());
        if self.inner.authenticated_transport {
            let level = config.peers.get(peer_guid.as_str()).map_or(TrustLevel::Low, |p| p.trust);
            granted.level = Some(level);
            Ok(Value::Array(vec!["success".into(), own_guid, Value::I32(level.code())]))
        } else {
            let nonce = uuid::Uuid::new_v4().to_string();
            granted.nonce = Some(nonce.clone());
            Ok(Value::Array(vec!["challenge".into(), own_guid, Value::from(nonce)]))
        }
    }

    fn answer_authenticate(&self, params: Vec<Value>) -> Result<Value, RpcFault> {
        let mut granted = lock(&self.inner.granted);
        let (Some(peer_guid), Some(nonce)) = (granted.peer_guid.clone(), granted.nonce.clone()) else {
            return Err(RpcFault::new("peer request first"));
        };
        let hash = params.get(1).and_then(Value::as_str);
        let accepted = self.inner.config.peers.get(&peer_guid).filter(|peer| {
            let expected = password_hash(Some(&peer.password), &nonce);
            hash.is_some() && expected.as_deref() == hash
        });
        match accepted {
            Some(peer) => {
                granted.level = Some(peer.trust);
                Ok(Value::Array(vec![Value::Bool(true), Value::I32(peer.trust.code())]))
            }
            None => {
                info!(peer = ?self.inner.peer.address, %peer_guid, "rpc authentication refused");
                Ok(Value::Array(vec![Value::Bool(false), Value::I32(TrustLevel::Low.code())]))
            }
        }
    }

    fn answer_session_request(&self, params: Vec<Value>) -> Result<Value, RpcFault> {
        let Some(Value::Str(name)) = params.into_iter().next() else {
            return Err(RpcFault::bad_arguments("session-request", "expects a service name"));
        };
        let level = lock(&self.inner.granted).level;
        if level.is_none_or(|l| l <= TrustLevel::Untrusted) {
            return Err(RpcFault::new(format!(
                "[{name}] session request not allowed, establish peering first"
            )));
        }
        let service = read(&self.inner.services)
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| RpcFault::new(format!("service binding not found: {name}")))?;
        if lock(&self.inner.sessions).len() >= self.inner.config.max_sessions {
            return Err(RpcFault::new(format!("too many sessions ({})", self.inner.config.max_sessions)));
        }
        let id = self
            .inner
            .next_session
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| id.checked_add(2))
            .map_err(|_| RpcFault::new("no session ids left on this connection"))?;
        service.session_opened(self, id)?;
        lock(&self.inner.sessions).insert(id, SessionEntry { service: service.clone(), post_backlog: None });
        // A close that ran meanwhile did not see this session: end it here.
        if self.is_closed() && lock(&self.inner.sessions).remove(&id).is_some() {
            service.session_closed(self, id);
            return Err(RpcFault::new("connection closed"));
        }
        Ok(Value::I32(id))
    }

    /// Sends this side's peering request and, when challenged, authenticates.
    async fn request_peering(self) {
        let config = self.inner.config.clone();
        let timeout = config.peering_timeout;
        let params = vec![Value::from(config.guid.as_str())];
        let reply = match self.call(CONTROL_SESSION, "peering-request", params, timeout).await {
            Ok(reply) => reply,
            Err(RpcError::Closed(_)) => return,
            Err(err) => return self.close(format!("peering failed: {err}")),
        };
        let items = reply.as_array().unwrap_or_default();
        let level = match items.first().and_then(Value::as_str) {
            Some("success") => items.get(2).and_then(Value::as_i32).map(TrustLevel::from_code),
            Some("challenge") => {
                let Some(nonce) = items.get(2).and_then(Value::as_str) else {
                    return self.close("peering failed: challenge without a nonce");
                };
                let hash = Value::from(password_hash(config.password.as_deref(), nonce));
                let params = vec![Value::from(config.guid.as_str()), hash];
                match self.call(CONTROL_SESSION, "authenticate", params, timeout).await {
                    Ok(answer) => {
                        let answer = answer.as_array().unwrap_or_default();
                        match (answer.first().and_then(Value::as_bool), answer.get(1).and_then(Value::as_i32))
                        {
                            (Some(true), Some(code)) => Some(TrustLevel::from_code(code)),
                            _ => return self.close("authentication refused by the peer"),
                        }
                    }
                    Err(err) => return self.close(format!("authentication failed: {err}")),
                }
            }
            _ => None,
        };
        match level {
            Some(level) => {
                self.inner.trusted.send_replace(Some(level));
            }
            None => self.close(format!("peering failed: unexpected answer {}", reply.kind_name())),
        }
    }

    /// How long nothing moved: no byte arrived and the transport took none of ours.
    fn idle_for(&self) -> Duration {
        self.inner.last_read.idle_for().min(self.inner.last_write.idle_for())
    }

    /// Pings the peer whenever nothing moved for `interval` (a large frame still arriving, or
    /// our writes still being taken, count as life); no answer within the ping timeout closes
    /// the connection (a half-open peer: once its buffers are full, writes stop moving too).
    async fn liveness_loop(self, interval: Duration) {
        let timeout = self.inner.config.ping_timeout;
        let mut closed = self.inner.closed.subscribe();
        let mut probe = 0i32;
        loop {
            let idle_for = self.idle_for();
            let wait = interval.saturating_sub(idle_for).max(Duration::from_millis(10));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = closed.wait_for(Option::is_some) => return,
            }
            if self.idle_for() < interval {
                continue;
            }
            probe = probe.wrapping_add(1);
            match self.call(CONTROL_SESSION, "ping", vec![Value::I32(probe)], timeout).await {
                Ok(_) => {}
                Err(RpcError::Closed(_)) => return,
                Err(err) => {
                    warn!(peer = ?self.inner.peer.address, error = %err, "peer does not answer pings");
                    return self.close(format!("no answer to ping within {timeout:?}"));
                }
            }
        }
    }
}

/// Encoded frames on their way to the writer.
#[derive(Default)]
struct Outbox {
    pending: Mutex<OutboxBytes>,
    /// Wakes the writer: bytes were added, or the connection closed.
    ready: Notify,
    /// Wakes senders waiting for room.
    drained: Notify,
}

#[derive(Default)]
struct OutboxBytes {
    bytes: Vec<u8>,
    closed: bool,
}

/// Removes a call's waiter when the caller stops waiting (answer, timeout or cancellation).
struct PendingGuard {
    connection: RpcConnection,
    id: i32,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.connection.inner.pending).calls.remove(&self.id);
    }
}

/// The reply to a call already sent ([`RpcConnection::start_call`]).
pub struct PendingReply {
    reply: oneshot::Receiver<Result<Value, RpcError>>,
    guard: PendingGuard,
    deadline: tokio::time::Instant,
    method: String,
    timeout: Duration,
}

impl PendingReply {
    /// Waits for the reply, up to the call's time limit.
    pub async fn wait(self) -> Result<Value, RpcError> {
        let PendingReply { reply, guard, deadline, method, timeout } = self;
        let connection = &guard.connection;
        match tokio::time::timeout_at(deadline, reply).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(RpcError::Closed(connection.close_reason())),
            Err(_) => Err(RpcError::Timeout { method, after: timeout }),
        }
    }
}

/// A session on the peer's service, opened by [`RpcConnection::create_session`].
#[derive(Clone)]
pub struct RpcSession {
    connection: RpcConnection,
    id: i32,
}

impl RpcSession {
    /// The session id (allocated by the peer).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The connection it belongs to.
    pub fn connection(&self) -> &RpcConnection {
        &self.connection
    }

    /// Calls a method of the service, with the connection's default time limit.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, RpcError> {
        let timeout = self.connection.inner.config.call_timeout;
        self.connection.call(self.id, method, params, timeout).await
    }

    /// Calls a method of the service with an explicit time limit.
    pub async fn call_with_timeout(
        &self,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        self.connection.call(self.id, method, params, timeout).await
    }

    /// Sends a call to the service and returns its reply still to come (see
    /// [`RpcConnection::start_call`]).
    pub async fn start_call(
        &self,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<PendingReply, RpcError> {
        self.connection.start_call(self.id, method, params, timeout).await
    }

    /// [`RpcConnection::start_call_encoded`] on this session.
    pub async fn start_call_encoded(
        &self,
        method: &str,
        params: &[u8],
        timeout: Duration,
    ) -> Result<PendingReply, RpcError> {
        self.connection.start_call_encoded(self.id, method, params, timeout).await
    }

    /// Posts to a method of the service.
    pub async fn post(&self, method: &str, params: Vec<Value>) -> Result<(), RpcError> {
        self.connection.post(self.id, method, params).await
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

impl std::fmt::Debug for RpcSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcSession").field("id", &self.id).field("connection", &self.connection).finish()
    }
}

/// A post waiting in its session's backlog, with its encoded size (counted in the budget).
struct QueuedPost {
    method: String,
    params: Params,
    size: usize,
}

/// A handler's result, to come.
type Handler = BoxFuture<'static, Result<Value, RpcFault>>;

/// The first post of a session's backlog: already started (with its handler slot, or waiting
/// for one), or not started for want of a slot.
enum Backlogged {
    Running(Handler, Option<tokio::sync::OwnedSemaphorePermit>),
    Waiting(String, Params),
}

/// Starts a handler; a panic while starting it becomes a fault.
fn start_handler(service: &Arc<dyn RpcService>, ctx: CallContext, method: String, params: Params) -> Handler {
    match std::panic::catch_unwind(AssertUnwindSafe(|| service.call_encoded(ctx, method, params))) {
        Ok(handler) => handler,
        Err(panic) => Box::pin(std::future::ready(Err(panic_fault(panic)))),
    }
}

/// Polls a handler once, without a task: `Ready` if it finished without waiting (a panic is a
/// fault). A `Pending` handler then moves to a task, whose first poll registers its real waker.
fn poll_once(handler: &mut Handler) -> Poll<Result<Value, RpcFault>> {
    let poll = std::panic::catch_unwind(AssertUnwindSafe(|| {
        handler.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }));
    poll.unwrap_or_else(|panic| Poll::Ready(Err(panic_fault(panic))))
}

/// Runs a handler to its end; a panic is a fault, answered like any other.
async fn finish_handler(handler: Handler) -> Result<Value, RpcFault> {
    AssertUnwindSafe(handler).catch_unwind().await.unwrap_or_else(|panic| Err(panic_fault(panic)))
}

fn panic_fault(panic: Box<dyn std::any::Any + Send>) -> RpcFault {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    warn!(panic = %text, "rpc handler panicked");
    RpcFault::new(format!("internal error in the handler: {text}"))
}

fn log_post_failure(result: Result<Value, RpcFault>) {
    if let Err(fault) = result {
        debug!(%fault, "post failed");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}
