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
//! sessions, `Limits::backlog_budget` encoded bytes, counting the posts that wait (a session's
//! first post that did not finish at once holds its parameters, or what it made of them, as
//! long as the queued ones). Past that the reader pauses until there is room, which pushes back
//! on the peer instead of buffering without bound. Calls that wait are bounded the same way,
//! in a budget of their own: past it a call is refused at once, like one that finds no slot.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Takes `size` bytes of `budget` out of `held`; false when they do not fit. Something that
/// does not fit is still taken when nothing is held, so that any one frame gets through.
fn take_budget(held: &AtomicUsize, size: usize, budget: usize) -> bool {
    let before = held.load(Ordering::Relaxed);
    if before != 0 && before + size > budget {
        return false;
    }
    held.fetch_add(size, Ordering::Relaxed);
    true
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
        // Counted before the handler starts, as a handler that waits holds its parameters (or
        // what it made of them) until it ends.
        let size = params.encoded_len();
        let budget = self.inner.limits.backlog_budget;
        if !take_budget(&self.inner.call_bytes, size, budget) {
            let cause = format!("too many call bytes in progress (budget {budget})");
            return self.reply(id, session, method, Err(RpcFault::new(cause)));
        }
        let ctx = CallContext { connection: self.clone(), session, is_post: false };
        let mut handler = start_handler(&service, ctx, method.clone(), params);
        // Most handlers answer without waiting: run them here, and give a task (and a slot)
        // only to those that wait (for I/O, a blocking job or a call back to the peer).
        match poll_once(&mut handler) {
            Poll::Ready(result) => {
                self.inner.call_bytes.fetch_sub(size, Ordering::Relaxed);
                self.reply(id, session, method, result)
            }
            Poll::Pending => {
                let slot = self.inner.handler_slots.clone().try_acquire_owned().ok();
                let conn = self.clone();
                tokio::spawn(async move {
                    let slot = conn.handler_slot(slot).await;
                    let result = match slot {
                        Some(_slot) => Some(finish_handler(handler).await),
                        None => None,
                    };
                    conn.inner.call_bytes.fetch_sub(size, Ordering::Relaxed);
                    if let Some(result) = result {
                        conn.reply(id, session, method, result);
                    }
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
        let size = params.encoded_len();
        let service = {
            let mut sessions = lock(&self.inner.sessions);
            let Some(entry) = sessions.get_mut(&session) else {
                debug!(session, %method, "post on an unknown session dropped");
                return None;
            };
            // Bytes are taken before the post starts: if it waits, it holds them until it ends.
            let fits = |size| take_budget(&self.inner.backlog_bytes, size, limits.backlog_budget);
            match &mut entry.post_backlog {
                None if fits(size) => entry.service.clone(),
                Some(backlog) if backlog.len() < limits.post_queue && fits(size) => {
                    backlog.push_back(QueuedPost { method, params, size });
                    return None;
                }
                _ => return Some((method, params)),
            }
        };
        let first = if self.inner.handler_slots.available_permits() > 0 {
            let ctx = CallContext { connection: self.clone(), session, is_post: true };
            let mut handler = start_handler(&service, ctx, method, params);
            match poll_once(&mut handler) {
                Poll::Ready(result) => {
                    // No reader waits for room: the reader is here.
                    self.inner.backlog_bytes.fetch_sub(size, Ordering::Relaxed);
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
        tokio::spawn(self.clone().run_post_backlog(session, service, first, size));
        None
    }

    /// Gives back the budget of a post that ended, and wakes a reader waiting for room.
    fn release_post_bytes(&self, size: usize) {
        self.inner.backlog_bytes.fetch_sub(size, Ordering::Relaxed);
        self.inner.post_space.notify_waiters();
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
    async fn run_post_backlog(
        self,
        session: i32,
        service: Arc<dyn RpcService>,
        first: Backlogged,
        first_size: usize,
    ) {
        let mut next = Some((first, first_size));
        while let Some((post, size)) = next.take() {
            let ran = match post {
                Backlogged::Running(handler, slot) => match self.handler_slot(slot).await {
                    Some(_slot) => {
                        log_post_failure(finish_handler(handler).await);
                        true
                    }
                    None => false,
                },
                Backlogged::Waiting(method, params) => {
                    match self.inner.handler_slots.clone().acquire_owned().await {
                        Ok(_permit) => {
                            let ctx = CallContext { connection: self.clone(), session, is_post: true };
                            log_post_failure(
                                finish_handler(start_handler(&service, ctx, method, params)).await,
                            );
                            true
                        }
                        Err(_) => false,
                    }
                }
            };
            self.release_post_bytes(size);
            if !ran {
                break;
            }
            let mut sessions = lock(&self.inner.sessions);
            let Some(entry) = sessions.get_mut(&session) else { break };
            match entry.post_backlog.as_mut().and_then(VecDeque::pop_front) {
                Some(QueuedPost { method, params, size }) => {
                    next = Some((Backlogged::Waiting(method, params), size))
                }
                None => entry.post_backlog = None,
            }
        }
        // The session or the connection is gone: free a reader waiting for room. (Posts still
        // queued go with the session; their bytes no longer matter to a closed connection.)
        self.inner.post_space.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
