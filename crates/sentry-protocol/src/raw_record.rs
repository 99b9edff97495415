//! A log record read from its wire form: the fields of a record map, still encoded.
//!
//! The base reads every record it receives this way (no value tree per record), and so does
//! anything else that only needs a few fields. A repeated key keeps its last value, as the
//! decoded map does.

use kraken_codec::{RawValue, type_byte};

use crate::record::field;

/// The fields of one record map (`{logger, date, msg, params, seq}` or the original's
/// `{date, msg, params}`), each still encoded; absent ones are `None`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawLogRecord<'a> {
    pub logger: Option<RawValue<'a>>,
    pub date: Option<RawValue<'a>>,
    pub msg: Option<RawValue<'a>>,
    pub params: Option<RawValue<'a>>,
    pub seq: Option<RawValue<'a>>,
}

impl<'a> RawLogRecord<'a> {
    /// The fields of `record`; `None` if it is not a map.
    pub fn read(record: RawValue<'a>) -> Option<Self> {
        if record.type_byte() != type_byte::MAP {
            return None;
        }
        let mut fields = RawLogRecord::default();
        for (key, value) in record.entries().into_iter().flatten() {
            let slot = match key {
                k if k == field::LOGGER.as_bytes() => &mut fields.logger,
                k if k == field::DATE.as_bytes() => &mut fields.date,
                k if k == field::MSG.as_bytes() => &mut fields.msg,
                k if k == field::PARAMS.as_bytes() => &mut fields.params,
                k if k == field::SEQ.as_bytes() => &mut fields.seq,
                _ => continue,
            };
            *slot = Some(value);
        }
        Some(fields)
    }

    /// The logger's name, if the record names one as a string.
    pub fn logger(&self) -> Option<String> {
        self.logger.and_then(|logger| logger.text())
    }

    /// The date in milliseconds since the epoch, if it is a DATE.
    pub fn date_ms(&self) -> Option<i64> {
        self.date.and_then(|date| date.as_date_ms())
    }

    /// The top-level message, if it is a string.
    pub fn msg(&self) -> Option<String> {
        self.msg.and_then(|msg| msg.text())
    }

    /// The sequence number, if it is an integer.
    pub fn seq(&self) -> Option<i64> {
        self.seq.and_then(|seq| seq.as_i64())
    }

    /// `params.logtype` and `params.msg` (the last of each), read in one walk over params.
    pub fn logtype_and_params_msg(&self) -> (Option<RawValue<'a>>, Option<RawValue<'a>>) {
        let (mut logtype, mut msg) = (None, None);
        for (key, value) in self.params.and_then(|params| params.entries()).into_iter().flatten() {
            if key == field::LOGTYPE.as_bytes() {
                logtype = Some(value);
            } else if key == field::MSG.as_bytes() {
                msg = Some(value);
            }
        }
        (logtype, msg)
    }

    /// The last value of `key` inside `params`, if params is a map that has it.
    pub fn param(&self, key: &str) -> Option<RawValue<'a>> {
        self.params?.entries()?.filter(|(k, _)| *k == key.as_bytes()).last().map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogRecord, params};
    use kraken_codec::{DecodeLimits, Value, encode, map};
    use std::time::{Duration, UNIX_EPOCH};

    fn read(bytes: &[u8]) -> Option<RawLogRecord<'_>> {
        RawLogRecord::read(RawValue::parse(bytes, &DecodeLimits::default()).unwrap())
    }

    #[test]
    fn a_batch_entry_reads_back_field_by_field() {
        let record = LogRecord {
            date: UNIX_EPOCH + Duration::from_millis(1_764_300_000_123),
            logger: "cpu".into(),
            params: params("system", "cpu usage: 17%".into(), [("idle", Value::I32(83))]),
        };
        let bytes = record.entry_bytes(7);
        let fields = read(&bytes).unwrap();
        assert_eq!(fields.logger().as_deref(), Some("cpu"));
        assert_eq!(fields.date_ms(), Some(1_764_300_000_123));
        assert_eq!(fields.msg().as_deref(), Some("cpu usage: 17%"));
        assert_eq!(fields.seq(), Some(7));
        assert_eq!(fields.param("logtype").and_then(|v| v.text()).as_deref(), Some("system"));
        assert_eq!(fields.param("idle").and_then(|v| v.as_i64()), Some(83));
        assert!(fields.param("absent").is_none());
        let (logtype, msg) = fields.logtype_and_params_msg();
        assert_eq!(
            (logtype.and_then(|v| v.text()), msg.and_then(|v| v.text())),
            (Some("system".into()), Some("cpu usage: 17%".into()))
        );
    }

    #[test]
    fn odd_records_read_as_far_as_they_go() {
        // A date of the wrong kind, a repeated key (the last wins), params that are not a map.
        let odd = map! { "date" => 5i64, "logger" => "a", "logger" => "b", "params" => Value::Array(vec![]) };
        let bytes = encode(&odd);
        let fields = read(&bytes).unwrap();
        assert_eq!((fields.date_ms(), fields.logger().as_deref()), (None, Some("b")));
        assert!(fields.param("msg").is_none() && fields.msg().is_none() && fields.seq().is_none());
        assert!(read(&encode(&Value::I32(1))).is_none(), "not a map");
    }
}
