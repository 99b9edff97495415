//! The original's logger event posts: a base is told the present state of the factories and
//! loggers when it connects, then every change, on its `kraken-base` session.

use kraken_codec::Value;
use kraken_rpc::RpcSession;
use sentry_protocol::names::base_method;
use tokio::sync::broadcast;

use crate::loggers::LoggerEvent;

/// Tells the base about the loggers as the original's posts: first the present state
/// (`factoryAdded(guid, info)` for each factory, `loggerAdded(guid, info)` for each logger and
/// `loggerStarted` for the running ones), then each change (`loggerAdded`, `loggerRemoved(guid,
/// name)`, `loggerStarted(guid, name, interval)`, `loggerStopped(guid, name)`), until the
/// connection goes. Changes lost to a full queue are not resent: the base reads the whole
/// picture with `getLoggers` at every hello.
pub async fn forward_logger_events(
    session: RpcSession,
    present: Vec<LoggerEvent>,
    mut changes: broadcast::Receiver<LoggerEvent>,
    guid: String,
) {
    for event in present {
        if post_logger_event(&session, &guid, event).await.is_err() {
            return;
        }
    }
    loop {
        let event = match changes.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "logger events dropped for a slow base");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if post_logger_event(&session, &guid, event).await.is_err() {
            return;
        }
    }
}

/// The method and parameters of the post that tells `event`.
fn event_post(guid: &str, event: LoggerEvent) -> (&'static str, Vec<Value>) {
    let guid = Value::from(guid);
    match event {
        LoggerEvent::FactoryAdded(info) => (base_method::FACTORY_ADDED, vec![guid, info]),
        LoggerEvent::Added(info) => (base_method::LOGGER_ADDED, vec![guid, info]),
        LoggerEvent::Removed(name) => (base_method::LOGGER_REMOVED, vec![guid, Value::from(name)]),
        LoggerEvent::Started { name, interval_ms } => (
            base_method::LOGGER_STARTED,
            vec![guid, Value::from(name), Value::I32(i32::try_from(interval_ms).unwrap_or(i32::MAX))],
        ),
        LoggerEvent::Stopped(name) => (base_method::LOGGER_STOPPED, vec![guid, Value::from(name)]),
    }
}

/// Posts one logger event to the base.
async fn post_logger_event(
    session: &RpcSession,
    guid: &str,
    event: LoggerEvent,
) -> Result<(), kraken_rpc::RpcError> {
    let (method, params) = event_post(guid, event);
    session.post(method, params).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_the_original_posts() {
        let started = event_post("g1", LoggerEvent::Started { name: "cpu".into(), interval_ms: 5_000 });
        assert_eq!(started, ("loggerStarted", vec!["g1".into(), "cpu".into(), Value::I32(5_000)]));
        let huge = event_post("g1", LoggerEvent::Started { name: "cpu".into(), interval_ms: u32::MAX });
        assert_eq!(huge.1[2], Value::I32(i32::MAX), "an interval past i32 is sent as the largest");
        assert_eq!(event_post("g1", LoggerEvent::Stopped("cpu".into())).0, "loggerStopped");
        assert_eq!(event_post("g1", LoggerEvent::Removed("cpu".into())).0, "loggerRemoved");
        let info = Value::from("info");
        assert_eq!(
            event_post("g1", LoggerEvent::Added(info.clone())),
            ("loggerAdded", vec!["g1".into(), info.clone()])
        );
        assert_eq!(event_post("g1", LoggerEvent::FactoryAdded(info)).0, "factoryAdded");
    }
}
