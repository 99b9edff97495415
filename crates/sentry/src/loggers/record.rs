//! A log record: what a logger run produces and what a base receives in `onLog`.
//!
//! `params` always carries `logtype` and `msg` beside the logger's own fields, as the original
//! `SimpleLog` put them there (§6.4). [`Record::to_value`] is the `{date, msg, params}` map of
//! `onLog`; [`Record::to_json`] the JSON line of the local sink.

use std::time::SystemTime;

use kraken_codec::{Map, Text, Value};

/// One record of one logger.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When the record was made.
    pub date: SystemTime,
    /// The logger's short name (`cpu`).
    pub logger: Text,
    /// The fields, including `logtype` and `msg`.
    pub params: Map,
}

/// Builds a record's params: `logtype` and `msg` first, then the fields in order.
pub fn params(logtype: &str, msg: String, fields: impl IntoIterator<Item = (&'static str, Value)>) -> Map {
    let fields = fields.into_iter();
    let mut map = Map::with_capacity(2 + fields.size_hint().0);
    map.insert("logtype", Value::from(logtype));
    map.insert("msg", Value::from(msg));
    for (key, value) in fields {
        map.insert(key, value);
    }
    map
}

impl Record {
    /// The message (`params.msg`), if any.
    pub fn msg(&self) -> Option<&str> {
        self.params.get("msg").and_then(Value::as_str)
    }

    /// The `onLog` form: `{date, msg, params}`.
    pub fn to_value(&self) -> Value {
        let mut map = Map::with_capacity(3);
        map.insert("date", Value::from(self.date));
        map.insert("msg", self.msg().map_or(Value::Null, Value::from));
        map.insert("params", Value::Map(self.params.clone()));
        Value::Map(map)
    }

    /// One JSON object: `{"date", "logger", "msg", "params"}` (date as ISO-8601 UTC).
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::with_capacity(4);
        object.insert("date".into(), kraken_codec::plain_json::to_json(&Value::from(self.date)));
        object.insert("logger".into(), serde_json::Value::from(self.logger.as_str()));
        object.insert("msg".into(), self.msg().map_or(serde_json::Value::Null, serde_json::Value::from));
        object.insert("params".into(), kraken_codec::plain_json::to_json(&Value::Map(self.params.clone())));
        serde_json::Value::Object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn on_log_and_json_forms() {
        let record = Record {
            date: UNIX_EPOCH + Duration::from_millis(1_500),
            logger: "cpu".into(),
            params: params("system", "cpu usage: 7%".into(), [("idle", Value::I32(93))]),
        };
        let value = record.to_value();
        let map = value.as_map().unwrap();
        assert_eq!(map["date"], Value::Date(1_500));
        assert_eq!(map["msg"], Value::from("cpu usage: 7%"));
        let keys: Vec<&str> = map["params"].as_map().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["logtype", "msg", "idle"]);
        assert_eq!(
            record.to_json().to_string(),
            r#"{"date":"1970-01-01T00:00:01.500Z","logger":"cpu","msg":"cpu usage: 7%","params":{"logtype":"system","msg":"cpu usage: 7%","idle":93}}"#
        );
    }
}
