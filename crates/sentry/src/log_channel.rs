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
//! [`LinkService`] is the `kraken-sentry` service of one command connection: it takes
//! `connectLogChannel` and `disconnectLogChannel` (link matters, not host ones) and hands every
//! other `run` to the sentry's method table.

use std::sync::{Arc, Mutex};

use kraken_codec::Value;
use kraken_rpc::service::BoxFuture;
use kraken_rpc::{CallContext, RpcConnection, RpcFault, RpcService, RpcSession};
use tokio::sync::{mpsc, watch};

/// What the base asked of the log channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogChannelRequest {
    /// `connectLogChannel(nonce)`: open a new log channel presenting `nonce`.
    Connect(String),
    /// `disconnectLogChannel()`: close the log channel, keep the command connection.
    Disconnect,
}

/// The `kraken-sentry` service of one command connection.
pub struct LinkService {
    inner: Arc<dyn RpcService>,
    requests: mpsc::Sender<LogChannelRequest>,
}

impl LinkService {
    pub fn new(inner: Arc<dyn RpcService>, requests: mpsc::Sender<LogChannelRequest>) -> Arc<Self> {
        Arc::new(LinkService { inner, requests })
    }

    fn request(&self, params: &[Value]) -> Result<LogChannelRequest, RpcFault> {
        let arguments = params.get(1).and_then(Value::as_array).unwrap_or_default();
        match params.first().and_then(Value::as_str) {
            Some("connectLogChannel") => match arguments {
                [Value::Str(nonce)] if !nonce.is_empty() && nonce.len() <= 256 => {
                    Ok(LogChannelRequest::Connect(nonce.to_string()))
                }
                _ => Err(RpcFault::new("illegal argument: connectLogChannel takes (nonce: str)")),
            },
            _ => Ok(LogChannelRequest::Disconnect),
        }
    }
}

impl RpcService for LinkService {
    fn call(
        &self,
        ctx: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        let name = params.first().and_then(Value::as_str);
        if method != "run" || !matches!(name, Some("connectLogChannel" | "disconnectLogChannel")) {
            return self.inner.call(ctx, method, params);
        }
        let outcome = self.request(&params).and_then(|request| {
            self.requests
                .try_send(request)
                .map(|()| Value::Null)
                .map_err(|_| RpcFault::new("the log channel is busy; ask again later"))
        });
        Box::pin(async move { outcome })
    }
}

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
/// request queue closes. `dial` opens a new connection to the same base, peered and without
/// services. A log channel that closes by itself takes the command connection with it.
pub async fn serve_requests<D, F>(
    mut requests: mpsc::Receiver<LogChannelRequest>,
    channel: Arc<LogChannel>,
    command: RpcConnection,
    guid: String,
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
        match open(&dial, &guid, &nonce).await {
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
async fn open<D, F>(dial: &D, guid: &str, nonce: &str) -> anyhow::Result<(RpcConnection, RpcSession)>
where
    D: Fn() -> F,
    F: std::future::Future<Output = anyhow::Result<RpcConnection>>,
{
    let connection = crate::base_link::CloseOnDrop::new(dial().await?, "abandoned during setLogChannel");
    let handshake = async {
        let session = connection.create_session("kraken-base").await?;
        session
            .call_with_timeout(
                "setLogChannel",
                vec![Value::from(guid), Value::from(nonce)],
                crate::base_link::HELLO_TIMEOUT,
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

    fn run(service: &LinkService, name: &str, arguments: Value) -> Result<Value, RpcFault> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _inside = runtime.enter();
        let (client, _server) = tokio::io::duplex(64);
        let connection = RpcConnection::start(
            client,
            kraken_rpc::Role::Initiator,
            Arc::new(kraken_rpc::RpcConfig::new("test")),
            kraken_rpc::ServiceTable::new(),
            kraken_rpc::PeerInfo::default(),
            false,
        );
        let ctx = CallContext { connection, session: 1, is_post: true };
        runtime.block_on(service.call(ctx, "run".into(), vec![Value::from(name), arguments]))
    }

    #[test]
    fn log_channel_requests_are_queued_and_other_methods_pass_through() {
        let inner = kraken_rpc::service_fn(|_, _, params: Vec<Value>| async move { Ok(params[0].clone()) });
        let (requests, mut queued) = mpsc::channel(4);
        let service = LinkService { inner, requests };
        let nonce = Value::Array(vec![Value::from("3f2b")]);
        assert_eq!(run(&service, "connectLogChannel", nonce), Ok(Value::Null));
        assert_eq!(queued.try_recv(), Ok(LogChannelRequest::Connect("3f2b".into())));
        assert_eq!(run(&service, "disconnectLogChannel", Value::Null), Ok(Value::Null));
        assert_eq!(queued.try_recv(), Ok(LogChannelRequest::Disconnect));
        let error = run(&service, "connectLogChannel", Value::Array(vec![Value::I32(7)])).unwrap_err();
        assert!(error.to_string().contains("connectLogChannel takes (nonce: str)"), "{error}");
        assert_eq!(run(&service, "getHostName", Value::Null), Ok(Value::from("getHostName")));
    }
}
