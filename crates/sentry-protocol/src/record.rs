//! The log record: what a logger run makes, and its two wire forms.
//!
//! A record is built once ([`LogRecord`]: the logger's name, the time and the params) and
//! encoded once, straight from its fields, into one of:
//! * the batch entry `{logger, date, msg, params, seq}` of `onLogBatch`, which is also the form a
//!   sentry keeps in its spool ([`LogRecord::encode_entry`]);
//! * the original's `onLog` record `{date, msg, params}` ([`LogRecord::encode_on_log`]).
//!
//! `params` always carries `logtype` and `msg` beside the logger's own fields, as the original's
//! `SimpleLog` put them there (protocol spec §6.4); the top-level `msg` repeats `params.msg`.

use std::time::SystemTime;

use kraken_codec::encode::{open_map, write_key, write_str};
use kraken_codec::{Map, Text, Value, encode_into};

/// The keys of a record map, in the order they are written.
pub mod field {
    /// The logger's name (batch entries only; `onLog` names it in a parameter).
    pub const LOGGER: &str = "logger";
    /// When the record was made (a DATE).
    pub const DATE: &str = "date";
    /// The record's message (a STRING, or null).
    pub const MSG: &str = "msg";
    /// The record's fields (a MAP).
    pub const PARAMS: &str = "params";
    /// The logger's sequence number of the record (an I64; batch entries only).
    pub const SEQ: &str = "seq";
    /// Inside `params`: the kind of record.
    pub const LOGTYPE: &str = "logtype";
}

/// One record of one logger.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
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
    map.insert(field::LOGTYPE, Value::from(logtype));
    map.insert(field::MSG, Value::from(msg));
    for (key, value) in fields {
        map.insert(key, value);
    }
    map
}

impl LogRecord {
    /// The message (`params.msg`), if any.
    pub fn msg(&self) -> Option<&str> {
        self.params.get(field::MSG).and_then(Value::as_str)
    }

    /// Appends the batch entry `{logger, date, msg, params, seq}` to `out`.
    pub fn encode_entry(&self, seq: i64, out: &mut Vec<u8>) {
        let entry = open_map(out);
        write_key(out, field::LOGGER);
        write_str(out, &self.logger);
        self.write_body(out);
        write_key(out, field::SEQ);
        encode_into(&Value::I64(seq), out);
        entry.close(out);
    }

    /// The batch entry `{logger, date, msg, params, seq}`, encoded.
    pub fn entry_bytes(&self, seq: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.encode_entry(seq, &mut out);
        out
    }

    /// Appends the original's `onLog` record `{date, msg, params}` to `out`.
    pub fn encode_on_log(&self, out: &mut Vec<u8>) {
        let record = open_map(out);
        self.write_body(out);
        record.close(out);
    }

    /// `date`, `msg` and `params`, as keys and values of an open map.
    fn write_body(&self, out: &mut Vec<u8>) {
        write_key(out, field::DATE);
        encode_into(&Value::from(self.date), out);
        write_key(out, field::MSG);
        match self.msg() {
            Some(msg) => write_str(out, msg),
            None => {
                encode_into(&Value::Null, out);
            }
        }
        write_key(out, field::PARAMS);
        let params = open_map(out);
        for (key, value) in self.params.iter() {
            write_key(out, key);
            encode_into(value, out);
        }
        params.close(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraken_codec::{decode, encode, map};
    use std::time::{Duration, UNIX_EPOCH};

    fn record() -> LogRecord {
        LogRecord {
            date: UNIX_EPOCH + Duration::from_millis(1_500),
            logger: "cpu".into(),
            params: params("system", "cpu usage: 7%".into(), [("idle", Value::I32(93))]),
        }
    }

    #[test]
    fn params_start_with_logtype_and_msg() {
        let record = record();
        let keys: Vec<&str> = record.params.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["logtype", "msg", "idle"]);
        assert_eq!(record.msg(), Some("cpu usage: 7%"));
    }

    #[test]
    fn the_batch_entry_is_the_bytes_of_the_same_map_encoded_as_a_value() {
        let expected = map! {
            "logger" => "cpu",
            "date" => Value::Date(1_500),
            "msg" => "cpu usage: 7%",
            "params" => map! { "logtype" => "system", "msg" => "cpu usage: 7%", "idle" => 93i32 },
            "seq" => 42i64,
        };
        assert_eq!(record().entry_bytes(42), encode(&expected));
        assert_eq!(decode(&record().entry_bytes(42)).unwrap(), expected);
    }

    #[test]
    fn the_on_log_form_has_no_logger_and_no_seq_and_a_record_without_msg_sends_null() {
        let mut out = Vec::new();
        record().encode_on_log(&mut out);
        let expected = map! {
            "date" => Value::Date(1_500),
            "msg" => "cpu usage: 7%",
            "params" => map! { "logtype" => "system", "msg" => "cpu usage: 7%", "idle" => 93i32 },
        };
        assert_eq!(out, encode(&expected));

        let silent = LogRecord { params: Map::new(), ..record() };
        let mut out = Vec::new();
        silent.encode_on_log(&mut out);
        assert_eq!(
            out,
            encode(
                &map! { "date" => Value::Date(1_500), "msg" => Value::Null, "params" => Value::Map(Map::new()) }
            )
        );
    }

    #[test]
    fn large_params_encode_as_the_value_does() {
        // Past 16 KiB a container's length prefix grows: the direct writer must agree.
        let big = params("t", "x".repeat(20_000), [("blob", Value::Blob(vec![7; 70_000]))]);
        let record = LogRecord { params: big.clone(), ..record() };
        let mut expected = Map::new();
        expected.insert("logger", Value::from("cpu"));
        expected.insert("date", Value::Date(1_500));
        expected.insert("msg", Value::from("x".repeat(20_000)));
        expected.insert("params", Value::Map(big));
        expected.insert("seq", Value::I64(1));
        assert_eq!(record.entry_bytes(1), encode(&Value::Map(expected)));
    }
}
