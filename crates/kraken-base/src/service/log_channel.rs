//! The log channel: the sentry's second connection, asked for with a nonce that is good once
//! and only for a while (BUG-11).
//!
//! The base asks with `run("connectLogChannel", [nonce])` and waits until the log channel is
//! set (woken by the registry when it is, not by polling), again with a new nonce if none
//! came in time. `setLogChannel(guid, nonce)` on the new connection presents the nonce; the
//! certificate must name `guid`. The two connections then live and die together (BUG-8).

use std::time::Duration;

use kraken_codec::Value;
use kraken_rpc::{RpcConnection, RpcFault, RpcSession};
use sentry_protocol::names::sentry_method;

use super::identity::check_identity;
use super::state::{BaseService, close_after_reply, fault};

/// How long a log channel nonce stays good.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(15);
/// How many times the base asks for a log channel before it gives up on that connection.
const LOG_CHANNEL_ATTEMPTS: u32 = 3;

/// `setLogChannel(guid, nonce)`: makes `connection` the log channel of `guid` if the nonce is
/// the one requested and still good, and ties the two connections' lives together.
pub(super) fn set_log_channel(
    service: &BaseService,
    connection: &RpcConnection,
    guid: &str,
    nonce: &str,
) -> Result<Value, RpcFault> {
    check_identity(service, connection, guid)?;
    let (command, replaced) = service.sentries.set_log_channel(guid, nonce, connection).map_err(|e| {
        tracing::warn!(%guid, error = %e, "log channel refused");
        close_after_reply(connection, e.to_string());
        fault(e.to_string())
    })?;
    connection.admit();
    if let Some(old) = replaced {
        old.close("replaced by a new log channel");
    }
    tracing::info!(%guid, "log channel set");
    // The log channel and its command connection close together (BUG-8).
    let (service, log, guid) = (service.clone(), connection.clone(), guid.to_owned());
    tokio::spawn(async move {
        tokio::select! {
            reason = log.closed() => {
                // A log channel replaced by a newer one takes nothing with it.
                let current = service.sentries.get(&guid).is_some_and(|s| {
                    s.log_connection.as_ref().is_some_and(|l| l.id() == log.id())
                });
                if current {
                    command.close(format!("the log channel closed: {reason}"));
                }
            }
            reason = command.closed() => log.close(format!("the command connection closed: {reason}")),
        }
        service.sentries.unbind(&log);
    });
    Ok(Value::Null)
}

/// Asks the sentry for its log channel with a fresh one-shot nonce, again (with a new nonce)
/// if none came while the nonce was good, a few times (BUG-11). Stops as soon as the log
/// channel is set or the command connection closes.
pub(super) async fn request_log_channel(
    service: BaseService,
    connection: RpcConnection,
    session: RpcSession,
    guid: String,
) {
    for attempt in 1..=LOG_CHANNEL_ATTEMPTS {
        let Some(nonce) = service.sentries.request_log_channel(&guid, &connection, NONCE_LIFETIME) else {
            return;
        };
        let params = Value::Array(vec![Value::from(nonce)]);
        if let Err(error) = session
            .post(sentry_method::RUN, vec![Value::from(sentry_method::CONNECT_LOG_CHANNEL), params])
            .await
        {
            tracing::warn!(%guid, %error, "cannot ask for the log channel");
            return;
        }
        let has_log_channel = |sentry: &crate::sentries::ConnectedSentry| {
            (sentry.connection.id() == connection.id() && sentry.log_connection.is_some()).then_some(())
        };
        let came = tokio::select! {
            _ = connection.closed() => return,
            came = service.sentries.wait_for(&guid, NONCE_LIFETIME, has_log_channel) => came,
        };
        if came.is_some() || connection.is_closed() {
            return;
        }
        tracing::warn!(%guid, attempt, "no log channel came; asking again");
    }
    tracing::warn!(%guid, "the sentry opened no log channel; its records come on the command connection");
}
