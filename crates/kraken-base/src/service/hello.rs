//! `hello(guid)`: a connection names its sentry. The certificate must name `guid` (and the
//! GUID be allowed); the connection is then bound to it and the reply comes at once, a map
//! announcing this base's extensions (an original base replies null). A GUID already connected
//! is refused, unless its connection no longer answers a ping: then the dead connection is
//! closed and replaced. The rest (session, log channel, inventory) follows in the background.

use std::time::Duration;

use kraken_codec::{Map, Value};
use kraken_rpc::{RpcConnection, RpcFault};
use sentry_protocol::names::base_method;

use super::identity::check_identity;
use super::inventory::after_hello;
use super::state::{BaseService, blocking, close_after_reply, fault};
use crate::sentries::BindError;

/// The extensions this base announces in its `hello` reply.
pub const EXTENSIONS: &[&str] = &[base_method::ON_LOG_BATCH];
/// How long a connected sentry has to answer a ping before a new connection replaces it.
const LIVENESS_PING: Duration = Duration::from_secs(3);

/// Checks the identity, binds the connection to `guid` and replies with the extensions; a
/// first hello on the connection records the connection and starts what follows hello.
pub(super) async fn hello(
    service: &BaseService,
    connection: &RpcConnection,
    guid: &str,
) -> Result<Value, RpcFault> {
    check_identity(service, connection, guid)?;
    let bound = match service.sentries.bind(guid, connection) {
        Err(BindError::AlreadyConnected(_)) => {
            replace_if_dead(service, guid, connection).await?;
            service.sentries.bind(guid, connection)
        }
        other => other,
    };
    let newly_bound = bound.map_err(|e| {
        close_after_reply(connection, e.to_string());
        fault(e.to_string())
    })?;
    // The endpoint closes a connection that has not said hello in time; this one has.
    connection.admit();
    let mut reply = Map::new();
    reply.insert(
        sentry_protocol::names::hello::EXTENSIONS,
        EXTENSIONS.iter().map(|e| Value::from(*e)).collect(),
    );
    if !newly_bound {
        // A second hello on the same connection changes nothing.
        return Ok(Value::Map(reply));
    }
    let address = connection.peer().address.map(|a| a.to_string()).unwrap_or_default();
    let (storage, who) = (service.storage.clone(), guid.to_owned());
    if let Err(error) = blocking(move || storage.sentry_connected(&who, &address)).await {
        if service.storage.health().available {
            return Err(error);
        }
        // A storage server down: the sentry can still be called; its records wait in its
        // spool until the storage is back.
        tracing::warn!(%guid, error = ?error, "storage unavailable: this connection is not recorded");
    }
    tracing::info!(%guid, peer = ?connection.peer().address, "sentry connected");
    after_hello(service, connection.clone(), guid.to_owned());
    Ok(Value::Map(reply))
}

/// A new connection for a connected GUID: the old one is closed and forgotten if it does not
/// answer a ping; otherwise the newcomer is refused.
async fn replace_if_dead(
    service: &BaseService,
    guid: &str,
    newcomer: &RpcConnection,
) -> Result<(), RpcFault> {
    let Some(existing) = service.sentries.get(guid) else { return Ok(()) };
    if existing.connection.ping(LIVENESS_PING).await.is_ok() {
        let refusal = format!("sentry {guid} is already connected");
        close_after_reply(newcomer, refusal.clone());
        return Err(fault(refusal));
    }
    tracing::warn!(%guid, "the sentry's old connection does not answer a ping: replaced");
    existing.connection.close("replaced: no answer to ping");
    service.forget(&existing.connection, "replaced: no answer to ping").await;
    Ok(())
}
