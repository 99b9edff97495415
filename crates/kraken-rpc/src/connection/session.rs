//! Sessions on the peer's services: [`RpcConnection::create_session`] opens one
//! (`session-request` on `rpc-control`), and the [`RpcSession`] it returns calls and posts to
//! that service with the session's id.

use std::time::Duration;

use kraken_codec::Value;

use super::handle::{CONTROL_SESSION, RpcConnection};
use super::pending_reply::PendingReply;
use crate::error::RpcError;

impl RpcConnection {
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

impl std::fmt::Debug for RpcSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcSession").field("id", &self.id).field("connection", &self.connection).finish()
    }
}
