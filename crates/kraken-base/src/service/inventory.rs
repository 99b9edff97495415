//! What the base does once a sentry said hello, in the background and each step with a time
//! limit (BUG-12, BUG-13): it opens its session on the sentry, asks for the log channel, reads
//! the sentry's factories and loggers (stored as a `synced` event), connects the loggers it
//! wants (again after every reconnection: BUG-7), and forgets the sentry when the connection
//! closes.

use std::time::Duration;

use kraken_codec::Value;
use kraken_rpc::{RpcConnection, RpcSession};
use sentry_protocol::names::{logger_info, sentry_method, service};

use super::log_channel::request_log_channel;
use super::state::{BaseService, blocking};

/// The limit on each call the base makes into a sentry after hello.
const SENTRY_CALL_LIMIT: Duration = Duration::from_secs(10);

/// In the background: open the session on the sentry, ask for its log channel, read its
/// factories and loggers, connect the loggers this base wants, and clean up when the
/// connection goes.
pub(super) fn after_hello(service: &BaseService, connection: RpcConnection, guid: String) {
    let service = service.clone();
    tokio::spawn(async move {
        match tokio::time::timeout(SENTRY_CALL_LIMIT, connection.create_session(service::SENTRY)).await {
            Ok(Ok(session)) => {
                service.sentries.set_session(&guid, &connection, session.clone());
                tokio::spawn(request_log_channel(
                    service.clone(),
                    connection.clone(),
                    session.clone(),
                    guid.clone(),
                ));
                let names = sync_inventory(&service, &session, &guid).await;
                let (storage, who) = (service.storage.clone(), guid.clone());
                let mut wanted =
                    blocking(move || storage.wanted_loggers(&who)).await.unwrap_or_else(|error| {
                        tracing::warn!(%guid, error = ?error, "cannot read the loggers to connect");
                        Vec::new()
                    });
                if service.connect_all_loggers {
                    wanted.extend(names);
                }
                connect_loggers(&session, &guid, wanted).await;
            }
            Ok(Err(error)) => {
                tracing::warn!(%guid, %error, "cannot open the sentry's kraken-sentry session")
            }
            Err(_) => tracing::warn!(%guid, "opening the sentry's kraken-sentry session timed out"),
        }
        let reason = connection.closed().await;
        service.forget(&connection, &reason).await;
    });
}

/// Reads the sentry's factories and loggers (each call with a time limit) and notes them as a
/// `synced` event. Returns the loggers' names.
async fn sync_inventory(service: &BaseService, session: &RpcSession, guid: &str) -> Vec<String> {
    let mut inventory = serde_json::Map::new();
    let mut names = Vec::new();
    for (method, key) in
        [(sentry_method::GET_LOGGER_FACTORIES, "factories"), (sentry_method::GET_LOGGERS, "loggers")]
    {
        match session
            .call_with_timeout(sentry_method::RUN, vec![Value::from(method), Value::Null], SENTRY_CALL_LIMIT)
            .await
        {
            Ok(reply) => {
                if key == "loggers"
                    && let Value::Array(loggers) = &reply
                {
                    names = logger_names(loggers);
                }
                inventory.insert(key.into(), kraken_codec::plain_json::to_json(&reply));
            }
            Err(error) => tracing::warn!(%guid, %error, method, "cannot read the sentry's inventory"),
        }
    }
    let (storage, who) = (service.storage.clone(), guid.to_owned());
    let detail = serde_json::Value::Object(inventory);
    if let Err(error) = blocking(move || storage.record_event(&who, "synced", "", &detail)).await {
        tracing::warn!(%guid, %error, "cannot record the sentry's inventory");
    }
    names
}

/// The names in a `getLoggers` reply (a list of `LoggerInfo` maps); entries without one are
/// skipped.
fn logger_names(loggers: &[Value]) -> Vec<String> {
    loggers
        .iter()
        .filter_map(|l| l.as_map().and_then(|m| m.get(logger_info::LOGGER_NAME)).and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Connects the named loggers of the sentry (each call with a time limit).
async fn connect_loggers(session: &RpcSession, guid: &str, mut names: Vec<String>) {
    names.sort();
    names.dedup();
    for name in names {
        let params = Value::Array(vec![Value::from(name.as_str())]);
        match session
            .call_with_timeout(
                sentry_method::RUN,
                vec![Value::from(sentry_method::CONNECT_LOGGER), params],
                SENTRY_CALL_LIMIT,
            )
            .await
        {
            Ok(_) => tracing::info!(%guid, logger = %name, "logger connected"),
            Err(error) => tracing::warn!(%guid, logger = %name, %error, "cannot connect logger"),
        }
    }
}

#[cfg(test)]
mod tests {
    use kraken_codec::Map;

    use super::*;

    #[test]
    fn logger_names_are_read_from_logger_infos_and_others_skipped() {
        let info = |name: &str| {
            let mut map = Map::new();
            map.insert(logger_info::LOGGER_NAME, Value::from(name));
            Value::Map(map)
        };
        let loggers = [info("cpu"), Value::from("not a map"), Value::Map(Map::new()), info("memory")];
        assert_eq!(logger_names(&loggers), ["cpu", "memory"]);
    }
}
