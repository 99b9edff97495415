//! What every job of the `kraken-base` service shares: its state ([`BaseService`]), faults,
//! storage calls run on the blocking pool, closing a refused connection once the refusal has
//! left, and forgetting a connection that closed.

use std::sync::Arc;
use std::time::Duration;

use kraken_rpc::{RpcConnection, RpcFault};

use crate::access::SentryAccess;
use crate::intake::Intake;
use crate::sentries::SentryRegistry;
use crate::service::event_budget::EventBudget;
use crate::storage::{RecordWriter, Storage, StorageError};

/// How long a refused connection stays open, so the refusal reaches the sentry first.
const REFUSAL_GRACE: Duration = Duration::from_millis(500);

/// Shared state of the base's service.
#[derive(Clone)]
pub struct BaseService {
    pub storage: Arc<dyn Storage>,
    /// Commits received records, in arrival order.
    pub writer: RecordWriter,
    pub sentries: Arc<SentryRegistry>,
    /// Which certificates speak for which sentry, and which may connect.
    pub access: SentryAccess,
    /// Room for received records not yet committed, and each sentry's rate.
    pub intake: Arc<Intake>,
    /// Connect every logger of every sentry at hello (a quickstart convenience).
    pub connect_all_loggers: bool,
    /// How much each sentry may still store as events.
    pub event_budget: Arc<EventBudget>,
}

/// A fault with `message`, as the sentry reads it.
pub(super) fn fault(message: impl Into<String>) -> RpcFault {
    RpcFault::new(message.into())
}

/// Runs a storage call on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, RpcFault> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| fault(format!("storage task failed: {e}")))?
        .map_err(|e| fault(e.to_string()))
}

/// Closes a refused connection once the refusal has had time to reach the sentry, so it
/// learns why (a sentry that keeps the connection gains nothing: it is bound to no GUID).
pub(super) fn close_after_reply(connection: &RpcConnection, reason: String) {
    let connection = connection.clone();
    tokio::spawn(async move {
        tokio::time::sleep(REFUSAL_GRACE).await;
        connection.close(reason);
    });
}

impl BaseService {
    /// Drops a closed (or replaced) connection from the registry, with its log channel, and
    /// records the disconnection.
    pub(super) async fn forget(&self, connection: &RpcConnection, reason: &str) {
        let Some(unbound) = self.sentries.unbind(connection) else { return };
        if let Some(log) = &unbound.log_connection {
            log.close(format!("the command connection closed: {reason}"));
        }
        if unbound.command {
            tracing::info!(guid = %unbound.guid, %reason, "sentry disconnected");
            let (storage, guid, reason) = (self.storage.clone(), unbound.guid, reason.to_owned());
            if let Err(error) = blocking(move || storage.sentry_disconnected(&guid, &reason)).await {
                tracing::warn!(%error, "cannot record the disconnection");
            }
        }
    }
}
