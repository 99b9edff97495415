//! The reply to a call already sent ([`PendingReply`]): waits for the answer within the call's
//! time limit, and removes the call's waiter from the connection however the wait ends (answer,
//! timeout or the caller giving up).

use std::time::Duration;

use kraken_codec::Value;
use tokio::sync::oneshot;

use super::handle::RpcConnection;
use super::locks::lock;
use crate::error::RpcError;

/// Removes a call's waiter when the caller stops waiting (answer, timeout or cancellation).
pub(super) struct PendingGuard {
    pub(super) connection: RpcConnection,
    pub(super) id: i32,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.connection.inner.pending).calls.remove(&self.id);
    }
}

/// The reply to a call already sent ([`RpcConnection::start_call`]).
pub struct PendingReply {
    pub(super) reply: oneshot::Receiver<Result<Value, RpcError>>,
    pub(super) guard: PendingGuard,
    pub(super) deadline: tokio::time::Instant,
    pub(super) method: String,
    pub(super) timeout: Duration,
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
