//! Sentry events (`loggerAdded`/`Removed`/`Started`/`Stopped`, `factoryAdded`/`Removed`):
//! stored as events of the sentry that sent them, with the logger or factory they are about.

use kraken_codec::Value;
use kraken_rpc::RpcFault;
use kraken_rpc::service::BoxFuture;
use sentry_protocol::names::{factory_info, logger_info};

use super::state::{BaseService, blocking, fault};
use crate::storage::bounded_detail;

/// What an event is about (a logger's or factory's name) and its details, as JSON:
/// `loggerAdded` carries a `LoggerInfo`, factory events a `FactoryInfo`; the others the
/// logger's name (and interval). `params[0]` is the sentry's GUID.
pub(super) fn subject_and_detail(
    method: &str,
    params: &[Value],
) -> Result<(String, serde_json::Value), RpcFault> {
    match params.get(1) {
        Some(Value::Map(info)) => Ok((
            [logger_info::LOGGER_NAME, factory_info::NAME]
                .iter()
                .find_map(|key| info.get(key).and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned(),
            kraken_codec::plain_json::to_json(&Value::Map(info.clone())),
        )),
        Some(name) => Ok((
            name.as_str().unwrap_or_default().to_owned(),
            params.get(2).map_or(serde_json::Value::Null, kraken_codec::plain_json::to_json),
        )),
        None => Err(fault(format!("{method}: the logger or factory is missing"))),
    }
}

/// Stores event `method` of sentry `guid` (already checked to be the connection's own); the
/// reply (null) comes once it is stored.
pub(super) fn store_event(
    service: &BaseService,
    guid: String,
    method: &str,
    params: &[Value],
) -> Result<BoxFuture<'static, Result<Value, RpcFault>>, RpcFault> {
    let (subject, detail) = subject_and_detail(method, params)?;
    // Trimmed now, so that a huge detail is not held while the event waits for the storage.
    let (detail, received_bytes) = bounded_detail(detail);
    if !service.event_budget.take(&guid, subject.len() + received_bytes) {
        return Err(fault(format!("{method}: refused, the sentry's events are over their budget")));
    }
    tracing::info!(%guid, %subject, event = method, "sentry event");
    let (storage, kind) = (service.storage.clone(), method.to_owned());
    Ok(Box::pin(async move {
        blocking(move || storage.record_event(&guid, &kind, &subject, &detail)).await?;
        Ok(Value::Null)
    }))
}

#[cfg(test)]
mod tests {
    use kraken_codec::Map;

    use super::*;

    fn info(key: &str, name: &str) -> Value {
        let mut map = Map::new();
        map.insert(key, Value::from(name));
        map.insert("interval", Value::I32(1000));
        Value::Map(map)
    }

    #[test]
    fn an_info_map_gives_its_name_and_the_whole_map() {
        let (subject, detail) =
            subject_and_detail("loggerAdded", &["s1".into(), info(logger_info::LOGGER_NAME, "cpu")]).unwrap();
        assert_eq!(subject, "cpu");
        assert_eq!(detail, serde_json::json!({ "logger_name": "cpu", "interval": 1000 }));
        let (subject, _) =
            subject_and_detail("factoryAdded", &["s1".into(), info(factory_info::NAME, "disk")]).unwrap();
        assert_eq!(subject, "disk");
    }

    #[test]
    fn a_name_gives_itself_and_the_next_parameter_as_detail() {
        let params = ["s1".into(), "cpu".into(), Value::I32(500)];
        assert_eq!(
            subject_and_detail("loggerStarted", &params).unwrap(),
            ("cpu".into(), serde_json::json!(500))
        );
        let params = ["s1".into(), "cpu".into()];
        assert_eq!(
            subject_and_detail("loggerStopped", &params).unwrap(),
            ("cpu".into(), serde_json::Value::Null)
        );
    }

    #[test]
    fn an_event_without_its_subject_is_refused() {
        let error = subject_and_detail("loggerRemoved", &["s1".into()]).unwrap_err();
        assert_eq!(error.to_string(), "loggerRemoved: the logger or factory is missing");
    }
}
