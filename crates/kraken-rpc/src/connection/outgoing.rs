//! What this side sends on its own: calls (each with its time limit, which covers waiting for
//! peering and for room in the outbox), posts and pings. Every one but the peering exchange
//! itself waits until the peer has granted us a trust level.

use std::time::Duration;

use kraken_codec::Value;
use tokio::sync::oneshot;

use super::handle::{CONTROL_SESSION, RpcConnection};
use super::locks::lock;
use super::outbox::Backpressure;
use super::pending_reply::{PendingGuard, PendingReply};
use crate::auth::TrustLevel;
use crate::error::RpcError;
use crate::message::{MessageKind, encode_request_into, encode_request_with};

impl RpcConnection {
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
}
