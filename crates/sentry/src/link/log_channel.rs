//! The log channel: a link's second connection to its base, which the base asks for.
//!
//! The base posts `run("connectLogChannel", [nonce])` on the command connection; the sentry
//! then dials the same base again (same certificate, key and CA), opens `kraken-base` and calls
//! `setLogChannel(guid, nonce)`. The log channel belongs to the command connection whose base
//! asked for it: every request opens a fresh channel that replaces the previous one (no stale
//! channel short-circuits the handshake: BUG-8), and when either connection closes both are
//! closed, so the next connection starts over. Records then travel on the log channel, commands
//! and events on the command connection.
//!
//! The requests come from the `connectLogChannel` and `disconnectLogChannel` entries of the
//! method table (`commands::log_channel`), through the command connection's [`Caller`].
//!
//! [`Caller`]: crate::commands::Caller

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kraken_codec::Value;
use kraken_rpc::{RpcConnection, RpcSession};
use sentry_protocol::names::{base_method, service};
use tokio::sync::{mpsc, watch};

use super::dial::CloseOnDrop;
use crate::commands::LogChannelRequest;

/// The current log channel of one command connection, shared by the link's tasks.
pub struct LogChannel {
    connection: Mutex<Option<RpcConnection>>,
    session: watch::Sender<Option<RpcSession>>,
}

impl Default for LogChannel {
    fn default() -> Self {
        LogChannel { connection: Mutex::new(None), session: watch::Sender::new(None) }
    }
}

impl LogChannel {
    /// Follows the log channel's session (`None` while there is none).
    pub fn watch(&self) -> watch::Receiver<Option<RpcSession>> {
        self.session.subscribe()
    }

    /// Makes `connection` the log channel, closing the one it replaces.
    fn set(&self, connection: RpcConnection, session: RpcSession) {
        let old = self.connection.lock().unwrap_or_else(|p| p.into_inner()).replace(connection);
        self.session.send_replace(Some(session));
        if let Some(old) = old {
            old.close("replaced by a new log channel");
        }
    }

    /// Whether `connection` is the current log channel.
    fn is_current(&self, connection: &RpcConnection) -> bool {
        self.connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|c| c.id() == connection.id())
    }

    /// Closes the log channel, if any.
    pub fn close(&self, reason: &str) {
        let old = self.connection.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.session.send_replace(None);
        if let Some(old) = old {
            old.close(reason.to_owned());
        }
    }
}

/// Serves the base's log channel requests for the command connection `command` until the
/// request queue closes; `limit` bounds `setLogChannel`. `dial` opens a new connection to the same base, peered and without
/// services. A log channel that closes by itself takes the command connection with it.
pub async fn serve_requests<D, F>(
    mut requests: mpsc::Receiver<LogChannelRequest>,
    channel: Arc<LogChannel>,
    command: RpcConnection,
    guid: String,
    limit: Duration,
    dial: D,
) where
    D: Fn() -> F,
    F: std::future::Future<Output = anyhow::Result<RpcConnection>>,
{
    while let Some(request) = requests.recv().await {
        let nonce = match request {
            LogChannelRequest::Connect(nonce) => nonce,
            LogChannelRequest::Disconnect => {
                channel.close("disconnectLogChannel");
                continue;
            }
        };
        match open(&dial, &guid, &nonce, limit).await {
            Ok((connection, session)) => {
                tracing::info!("log channel open");
                channel.set(connection.clone(), session);
                let (channel, command) = (channel.clone(), command.clone());
                tokio::spawn(async move {
                    let reason = connection.closed().await;
                    if channel.is_current(&connection) {
                        channel.close(&reason);
                        command.close(format!("the log channel closed: {reason}"));
                    }
                });
            }
            // The base asks again with a new nonce if it wants one.
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "cannot open the log channel"),
        }
    }
}

/// Dials the base and presents the nonce.
async fn open<D, F>(
    dial: &D,
    guid: &str,
    nonce: &str,
    limit: Duration,
) -> anyhow::Result<(RpcConnection, RpcSession)>
where
    D: Fn() -> F,
    F: std::future::Future<Output = anyhow::Result<RpcConnection>>,
{
    let connection = CloseOnDrop::new(dial().await?, "abandoned during setLogChannel");
    let handshake = async {
        let session = connection.create_session(service::BASE).await?;
        session
            .call_with_timeout(
                base_method::SET_LOG_CHANNEL,
                vec![Value::from(guid), Value::from(nonce)],
                limit,
            )
            .await?;
        Ok::<_, kraken_rpc::RpcError>(session)
    };
    match handshake.await {
        Ok(session) => Ok((connection.keep(), session)),
        Err(error) => {
            connection.close(format!("setLogChannel failed: {error}"));
            Err(anyhow::anyhow!("setLogChannel refused: {error}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use kraken_rpc::{PeerInfo, Role, RpcConfig, ServiceTable, service_fn};

    /// A peered connection (over an in-memory stream, both ends trusting the transport) with a
    /// `kraken-base` session on it; the far end is returned too, to keep it alive.
    async fn session() -> (RpcConnection, RpcSession, RpcConnection) {
        let (near, far) = tokio::io::duplex(4096);
        let start = |stream, role, services| {
            let config = Arc::new(RpcConfig::new(if role == Role::Initiator { "sentry" } else { "base" }));
            RpcConnection::start(stream, role, config, services, PeerInfo::default(), true)
        };
        let mut services = ServiceTable::new();
        services.insert(service::BASE.into(), service_fn(|_, _, _| async { Ok(Value::Null) }));
        let base = start(far, Role::Acceptor, services);
        let connection = start(near, Role::Initiator, ServiceTable::new());
        connection.peered(Duration::from_secs(10)).await.unwrap();
        let session = connection.create_session(service::BASE).await.unwrap();
        (connection, session, base)
    }

    #[tokio::test]
    async fn a_new_channel_replaces_and_closes_the_old_one_and_close_clears_it() {
        let channel = LogChannel::default();
        let mut watched = channel.watch();
        assert!(watched.borrow().is_none());

        let (first, first_session, _first_base) = session().await;
        let (second, second_session, _second_base) = session().await;
        channel.set(first.clone(), first_session);
        assert!(channel.is_current(&first) && !channel.is_current(&second));
        assert_eq!(watched.borrow_and_update().as_ref().map(|s| s.connection().id()), Some(first.id()));

        channel.set(second.clone(), second_session);
        assert_eq!(first.closed().await, "replaced by a new log channel");
        assert!(channel.is_current(&second) && !second.is_closed());
        assert_eq!(watched.borrow_and_update().as_ref().map(|s| s.connection().id()), Some(second.id()));

        channel.close("the command connection closed");
        assert_eq!(second.closed().await, "the command connection closed");
        assert!(!channel.is_current(&second));
        assert!(watched.borrow_and_update().is_none(), "the sender sees no channel");
    }
}
