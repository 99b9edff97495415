//! Log records as the base stores them, read straight from the wire form of `onLog` and
//! `onLogBatch`: the parameters are walked, not built into values, and each record's params are
//! written as JSON text from their encoded bytes (`plain_json::raw_to_json_string`). Reading a
//! record this way gives exactly what decoding it first would (the codec's property tests hold
//! the two paths together); it only skips building a tree per record.

use kraken_codec::plain_json::raw_to_json_string;
use kraken_codec::{RawValue, type_byte};
use kraken_rpc::{Params, RpcFault};
use sentry_protocol::RawLogRecord;
use sentry_protocol::names::base_method;

use crate::storage::StoredRecord;

/// The most records one `onLogBatch` may carry.
pub const MAX_BATCH: usize = 10_000;
/// The longest logger name taken (a sentry's are far shorter): names are keys the base
/// remembers and looks records up by.
pub const MAX_LOGGER_NAME: usize = 256;
/// The longest spool epoch taken (a sentry's is 16 hex digits).
pub const MAX_EPOCH: usize = 64;

/// The records of an `onLog(guid, loggerName, record)` post. `own_guid` checks the claimed
/// GUID (the first parameter) and returns the one the records are stored under.
pub fn on_log(
    params: &Params,
    own_guid: impl FnOnce(&str) -> Result<String, RpcFault>,
) -> Result<Vec<StoredRecord>, RpcFault> {
    let mut items = params.items();
    let guid = own_guid(&guid_param(base_method::ON_LOG, items.next())?)?;
    let logger = items
        .next()
        .and_then(|logger| logger.text())
        .ok_or_else(|| RpcFault::new("onLog: loggerName must be a string"))?;
    let record = items.next().filter(is_map).ok_or_else(|| RpcFault::new("onLog: record must be a map"))?;
    check_logger(base_method::ON_LOG, &logger)?;
    Ok(vec![stored_record(&guid, Some(&logger), record, None).0])
}

/// The records of an `onLogBatch(guid, records[, epoch])` call: each record a map
/// `{logger, date, msg, params, seq}`.
pub fn on_log_batch(
    params: &Params,
    own_guid: impl FnOnce(&str) -> Result<String, RpcFault>,
) -> Result<Vec<StoredRecord>, RpcFault> {
    let mut items = params.items();
    let guid = own_guid(&guid_param(base_method::ON_LOG_BATCH, items.next())?)?;
    let list = items
        .next()
        .and_then(|list| list.items())
        .ok_or_else(|| RpcFault::new("onLogBatch: records must be a list"))?;
    let epoch = items.next().and_then(|epoch| epoch.text());
    if epoch.as_ref().is_some_and(|epoch| epoch.len() > MAX_EPOCH) {
        return Err(RpcFault::new(format!("onLogBatch: the epoch is longer than {MAX_EPOCH} bytes")));
    }
    let mut records = Vec::new();
    for item in list {
        if records.len() == MAX_BATCH {
            return Err(RpcFault::new(format!("onLogBatch: at most {MAX_BATCH} records per batch")));
        }
        if !is_map(&item) {
            return Err(RpcFault::new("onLogBatch: each record must be a map"));
        }
        let (record, has_logger) = stored_record(&guid, None, item, epoch.as_deref());
        if !has_logger {
            return Err(RpcFault::new("onLogBatch: record without logger"));
        }
        check_logger(base_method::ON_LOG_BATCH, &record.logger)?;
        records.push(record);
    }
    Ok(records)
}

fn check_logger(method: &str, logger: &str) -> Result<(), RpcFault> {
    if logger.len() > MAX_LOGGER_NAME {
        return Err(RpcFault::new(format!("{method}: a logger name is longer than {MAX_LOGGER_NAME} bytes")));
    }
    Ok(())
}

fn guid_param(method: &str, guid: Option<RawValue<'_>>) -> Result<String, RpcFault> {
    guid.and_then(|guid| guid.text())
        .ok_or_else(|| RpcFault::new(format!("{method}: the first argument must be the sentry GUID")))
}

fn is_map(value: &RawValue<'_>) -> bool {
    value.type_byte() == type_byte::MAP
}

/// A stored record from a record map (`logger` from the map unless given); also whether the
/// record named a logger.
fn stored_record(
    guid: &str,
    logger: Option<&str>,
    record: RawValue<'_>,
    epoch: Option<&str>,
) -> (StoredRecord, bool) {
    let fields = RawLogRecord::read(record).unwrap_or_default();
    let (logtype, params_msg) = fields.logtype_and_params_msg();
    let text = |value: Option<RawValue<'_>>| value.and_then(|v| v.text());
    let logger = logger.map(str::to_owned).or_else(|| fields.logger());
    let has_logger = logger.is_some();
    let record = StoredRecord {
        guid: guid.to_owned(),
        logger: logger.unwrap_or_default(),
        date_ms: fields.date_ms().unwrap_or(0),
        logtype: text(logtype),
        msg: fields.msg().or_else(|| text(params_msg)),
        params: fields.params.map_or_else(|| "null".into(), raw_to_json_string),
        seq: fields.seq(),
        epoch: epoch.map(str::to_owned),
    };
    (record, has_logger)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraken_codec::{Map, Value, encode, map};

    /// What the records read from decoded values were before this module: the reference.
    fn from_decoded(guid: &str, logger: &str, record: &Map, epoch: Option<&str>) -> StoredRecord {
        let params = record.get("params").and_then(Value::as_map);
        let text = |map: Option<&Map>, key: &str| {
            map.and_then(|m| m.get(key)).and_then(Value::as_str).map(str::to_owned)
        };
        StoredRecord {
            guid: guid.to_owned(),
            logger: logger.to_owned(),
            date_ms: match record.get("date") {
                Some(Value::Date(ms)) => *ms,
                _ => 0,
            },
            logtype: text(params, "logtype"),
            msg: text(Some(record), "msg").or_else(|| text(params, "msg")),
            params: record
                .get("params")
                .map_or_else(|| "null".into(), kraken_codec::plain_json::to_json_string),
            seq: record.get("seq").and_then(Value::as_i64),
            epoch: epoch.map(str::to_owned),
        }
    }

    fn params_of(values: Vec<Value>) -> Params {
        let bytes = bytes::Bytes::from(encode(&Value::Array(values)));
        let raw = RawValue::parse(&bytes, &kraken_codec::DecodeLimits::default()).unwrap();
        Params::from_checked(raw.share(&bytes).unwrap())
    }

    fn records() -> Vec<Value> {
        vec![
            map! {
                "logger" => "cpu", "date" => Value::Date(1_764_300_000_123), "msg" => "cpu usage: 17%", "seq" => 7i64,
                "params" => map! { "logtype" => "system", "idle" => 83i32, "ip" => Value::Ipv4("10.0.0.1".parse().unwrap()) },
            },
            // No msg at the top: the params' msg; a date of the wrong kind; seq as an i32.
            map! { "logger" => "mem", "date" => 5i64, "seq" => 3i32, "params" => map! { "msg" => "low", "n" => Value::Null } },
            // Params that are not a map, and no seq.
            map! { "logger" => "odd", "params" => Value::Array(vec![Value::I16(1), Value::from("x")]) },
            // No params at all.
            map! { "logger" => "bare", "msg" => Value::I32(1) },
        ]
    }

    #[test]
    fn over_long_logger_names_and_epochs_are_refused() {
        let record = map! { "logger" => "l".repeat(MAX_LOGGER_NAME + 1) };
        let params = params_of(vec![Value::from("g"), Value::Array(vec![record])]);
        let error = on_log_batch(&params, |g| Ok(g.to_owned())).unwrap_err();
        assert!(format!("{error:?}").contains("logger name is longer"), "{error:?}");
        let record = map! { "logger" => "cpu" };
        let params = params_of(vec![
            Value::from("g"),
            Value::Array(vec![record]),
            Value::from("e".repeat(MAX_EPOCH + 1)),
        ]);
        let error = on_log_batch(&params, |g| Ok(g.to_owned())).unwrap_err();
        assert!(format!("{error:?}").contains("epoch is longer"), "{error:?}");
    }

    #[test]
    fn batches_read_as_they_did_from_decoded_values() {
        let params = params_of(vec![Value::from("s1"), Value::Array(records()), Value::from("e9")]);
        let stored = on_log_batch(&params, |claimed| Ok(claimed.to_owned())).unwrap();
        let expected: Vec<StoredRecord> = records()
            .iter()
            .map(|record| {
                let map = record.as_map().unwrap();
                from_decoded("s1", map["logger"].as_str().unwrap(), map, Some("e9"))
            })
            .collect();
        assert_eq!(stored, expected);
    }

    #[test]
    fn a_single_record_reads_as_it_did() {
        for record in records() {
            let params = params_of(vec![Value::from("s1"), Value::from("cpu"), record.clone()]);
            let stored = on_log(&params, |claimed| Ok(claimed.to_owned())).unwrap();
            assert_eq!(stored, vec![from_decoded("s1", "cpu", record.as_map().unwrap(), None)]);
        }
    }

    #[test]
    fn bad_parameters_are_refused_with_the_same_words() {
        type Reader =
            fn(&Params, fn(&str) -> Result<String, RpcFault>) -> Result<Vec<StoredRecord>, RpcFault>;
        let refused = |method: Reader, values: Vec<Value>| {
            method(&params_of(values), |claimed| Ok(claimed.to_owned())).unwrap_err().to_string()
        };
        assert_eq!(refused(on_log, vec![Value::I32(1)]), "onLog: the first argument must be the sentry GUID");
        assert_eq!(refused(on_log, vec!["s".into(), Value::I32(1)]), "onLog: loggerName must be a string");
        assert_eq!(
            refused(on_log, vec!["s".into(), "cpu".into(), "x".into()]),
            "onLog: record must be a map"
        );
        assert_eq!(
            refused(on_log_batch, vec!["s".into(), Value::Null]),
            "onLogBatch: records must be a list"
        );
        let not_a_map = Value::Array(vec![Value::I32(1)]);
        assert_eq!(
            refused(on_log_batch, vec!["s".into(), not_a_map]),
            "onLogBatch: each record must be a map"
        );
        let no_logger = Value::Array(vec![map! { "msg" => "x" }]);
        assert_eq!(refused(on_log_batch, vec!["s".into(), no_logger]), "onLogBatch: record without logger");
        let too_many = Value::Array(vec![map! { "logger" => "l" }; MAX_BATCH + 1]);
        assert_eq!(
            refused(on_log_batch, vec!["s".into(), too_many]),
            format!("onLogBatch: at most {MAX_BATCH} records per batch")
        );
        let wrong_guid =
            on_log(&params_of(vec!["s".into()]), |_| Err(RpcFault::new("hello first"))).unwrap_err();
        assert_eq!(wrong_guid.to_string(), "hello first");
    }
}
