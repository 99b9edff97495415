//! Received records on their way to the writer: room taken in the intake ([`crate::intake`]),
//! queued in arrival order, acknowledged once committed and once the sentry's rate allows.
//!
//! An acknowledged batch (`onLogBatch`) is admitted or refused the moment it is dispatched; a
//! refusal is sticky for its connection, which is closed once the refusal has left (the sentry
//! sends the batch again after reconnecting). A post (`onLog`) waits for room, and for the rate,
//! before its record is queued: it cannot be sent again.

use kraken_codec::Value;
use kraken_rpc::service::BoxFuture;
use kraken_rpc::{RpcConnection, RpcFault};

use super::state::{BaseService, close_after_reply, fault};
use crate::intake::RateDelay;
use crate::storage::StoredRecord;

/// The event noted when a sentry's acknowledgements start waiting for its rate.
const THROTTLED_EVENT: &str = "quota-throttled";

/// Admits and queues a batch taking `bytes` (what its records hold), replying with its record
/// count.
pub(super) fn batch(
    service: &BaseService,
    connection: &RpcConnection,
    records: Vec<StoredRecord>,
    bytes: usize,
) -> BoxFuture<'static, Result<Value, RpcFault>> {
    let guid = service.sentries.guid_of(connection).unwrap_or_default();
    let room = match service.intake.try_admit(connection.id(), &guid, bytes) {
        Ok(room) => room,
        Err(refused) => {
            tracing::warn!(%guid, %refused, bytes, "batch refused");
            let (intake, closing) = (service.intake.clone(), connection.clone());
            tokio::spawn(async move {
                closing.closed().await;
                intake.connection_closed(closing.id());
            });
            close_after_reply(connection, refused.to_string());
            return Box::pin(std::future::ready(Err(fault(refused.to_string()))));
        }
    };
    let count = records.len();
    let stored = service.writer.submit(records, Some(room));
    let delay = service.intake.charge(&guid, count);
    let service = service.clone();
    Box::pin(async move {
        stored.await.map_err(|e| fault(e.to_string()))?;
        pay(&service, &guid, delay).await;
        Ok(Value::I32(count as i32))
    })
}

/// Queues a post's records once there is room for their `bytes` and the rate allows.
pub(super) fn post(
    service: &BaseService,
    connection: &RpcConnection,
    records: Vec<StoredRecord>,
    bytes: usize,
) -> BoxFuture<'static, Result<Value, RpcFault>> {
    let guid = service.sentries.guid_of(connection).unwrap_or_default();
    let service = service.clone();
    Box::pin(async move {
        let room = service.intake.admit(&guid, bytes).await;
        pay(&service, &guid, service.intake.charge(&guid, records.len())).await;
        service.writer.submit(records, Some(room)).await.map_err(|e| fault(e.to_string()))?;
        Ok(Value::Null)
    })
}

/// Waits what the rate asks, noting the first wait in a while as an event of the sentry.
async fn pay(service: &BaseService, guid: &str, delay: RateDelay) {
    if delay.report {
        tracing::info!(%guid, wait = ?delay.wait, "sentry over its records/s quota: acknowledgements slowed");
        let (storage, who) = (service.storage.clone(), guid.to_owned());
        let detail = serde_json::json!({ "ack_delay_ms": delay.wait.as_millis() as u64 });
        let noted =
            tokio::task::spawn_blocking(move || storage.record_event(&who, THROTTLED_EVENT, "", &detail));
        if let Ok(Err(error)) = noted.await {
            tracing::warn!(%guid, %error, "cannot note the throttling event");
        }
    }
    if !delay.wait.is_zero() {
        tokio::time::sleep(delay.wait).await;
    }
}
