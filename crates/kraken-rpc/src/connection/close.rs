//! Closing a connection, by either side, a protocol error, a failed write or an unanswered
//! ping: every pending call fails at once with the reason, the writer sends what was queued and
//! ends the stream, nothing waits for a handler slot or backlog room any more, and the services
//! are told their sessions ended.

use tracing::debug;

use super::handle::RpcConnection;
use super::locks::{lock, write};
use crate::error::RpcError;

impl RpcConnection {
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
        self.inner.outbox.close();
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
}
