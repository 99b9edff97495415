//! Calls and posts of the peer's sessions, handed to their service with back-pressure.
//!
//! A handler is first run by the reader itself; one that finishes without waiting costs no
//! task. One that waits moves to its own task and holds one of the connection's
//! `max_concurrent_handlers` slots while it waits. With no slot free, a call is refused at once
//! ("too many calls in progress"); the reader never waits for a slot, as it must go on reading
//! the replies that running handlers may wait for.
//!
//! Posts of one session run one after another, in arrival order: behind one that waits, the
//! session's later posts queue in its backlog, up to `Limits::post_queue` of them and, over all
//! sessions, `Limits::backlog_budget` encoded bytes. Past that the reader pauses until there is
//! room, which pushes back on the peer instead of buffering without bound.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use super::handle::{CallContext, QueuedPost, RpcConnection, RpcService};
use super::handler::{Handler, finish_handler, log_post_failure, poll_once, start_handler};
use super::locks::lock;
use crate::error::RpcFault;
use crate::params::Params;

/// The first post of a session's backlog: already started (with its handler slot, or waiting
/// for one), or not started for want of a slot.
enum Backlogged {
    Running(Handler, Option<OwnedSemaphorePermit>),
    Waiting(String, Params),
}

impl RpcConnection {
    /// The service of `session`; `None` for an unknown session (dropped silently, as in Java).
    fn service_of(&self, session: i32) -> Option<Arc<dyn RpcService>> {
        lock(&self.inner.sessions).get(&session).map(|entry| entry.service.clone())
    }

    /// Runs a call of the peer and queues its answer, or refuses it when no handler slot is free.
    pub(super) fn dispatch_call(&self, id: i32, session: i32, method: String, params: Params) {
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
    async fn handler_slot(&self, taken: Option<OwnedSemaphorePermit>) -> Option<OwnedSemaphorePermit> {
        match taken {
            Some(slot) => Some(slot),
            None => self.inner.handler_slots.clone().acquire_owned().await.ok(),
        }
    }

    /// Runs a post. Posts of one session run in arrival order: a post that does not finish at
    /// once (or finds no free handler slot) starts the session's backlog task, and the
    /// session's later posts queue behind it until that task has run them all. When that
    /// backlog (or the connection's budget) is full, the post comes back, to wait for room.
    pub(super) fn dispatch_post(
        &self,
        session: i32,
        method: String,
        params: Params,
    ) -> Option<(String, Params)> {
        let limits = &self.inner.limits;
        let service = {
            let mut sessions = lock(&self.inner.sessions);
            let Some(entry) = sessions.get_mut(&session) else {
                debug!(session, %method, "post on an unknown session dropped");
                return None;
            };
            match &mut entry.post_backlog {
                None => entry.service.clone(),
                Some(backlog) if backlog.len() < limits.post_queue => {
                    let size = params.encoded_len();
                    let queued = self.inner.backlog_bytes.load(Ordering::Relaxed);
                    if queued != 0 && queued + size > limits.backlog_budget {
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
    pub(super) async fn dispatch_post_when_room(&self, session: i32, post: (String, Params)) {
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
}

#[cfg(test)]
mod tests;
