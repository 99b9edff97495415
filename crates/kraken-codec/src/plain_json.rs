//! Kraken values as plain JSON, for people and log pipelines: integers are numbers, dates are
//! ISO-8601 UTC strings, IP addresses are strings, blobs are hex, maps keep their key order.
//! Encoded values ([`RawValue`]) can be written as the same JSON without being decoded first.
//! (The codec's typed JSON, which keeps every kind, is for tools and tests.)

use crate::java_text::instant_to_string;
use crate::{Map, RawValue, Value};
use serde_json::json;

/// A value as plain JSON.
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => json!(b),
        Value::I16(v) => json!(v),
        Value::I32(v) => json!(v),
        Value::I64(v) => json!(v),
        Value::F32(v) => json!(v),
        Value::F64(v) => json!(v),
        Value::Str(s) => json!(s.as_str()),
        Value::Date(ms) => json!(instant_to_string(*ms)),
        Value::Ipv4(ip) => json!(ip.to_string()),
        Value::Ipv6(ip) => json!(ip.to_string()),
        Value::Blob(bytes) => json!(hex::encode(bytes)),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
        }
    }
}

/// A value as plain JSON text, written straight from the value (no JSON tree in between):
/// the same JSON as [`to_json`], in the map's own key order.
pub fn to_json_string(value: &Value) -> String {
    serde_json::to_string(&Plain(value)).unwrap_or_else(|_| "null".into())
}

/// A value that serializes as plain JSON.
pub struct Plain<'a>(pub &'a Value);

impl serde::Serialize for Plain<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::I16(v) => serializer.serialize_i16(*v),
            Value::I32(v) => serializer.serialize_i32(*v),
            Value::I64(v) => serializer.serialize_i64(*v),
            Value::F32(v) => serializer.serialize_f32(*v),
            Value::F64(v) => serializer.serialize_f64(*v),
            Value::Str(s) => serializer.serialize_str(s.as_str()),
            Value::Date(ms) => serializer.serialize_str(&instant_to_string(*ms)),
            Value::Ipv4(ip) => serializer.collect_str(ip),
            Value::Ipv6(ip) => serializer.collect_str(ip),
            Value::Blob(bytes) => serializer.serialize_str(&hex::encode(bytes)),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(&Plain(item))?;
                }
                seq.end()
            }
            Value::Map(map) => PlainMap(map).serialize(serializer),
        }
    }
}

/// A map that serializes as plain JSON, in its own key order: a map not held in a [`Value`] is
/// written without being copied into one.
pub struct PlainMap<'a>(pub &'a Map);

impl serde::Serialize for PlainMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0.iter() {
            out.serialize_entry(key.as_str(), &Plain(value))?;
        }
        out.end()
    }
}

/// An encoded value as plain JSON text, read straight from its bytes: the same text as
/// [`to_json_string`] of the decoded value, without building the value. (A map whose keys repeat,
/// or are not valid UTF-8, or more than 64, is decoded first, so that it reads exactly as the
/// decoder reads it; so is a value with a Java quirk inside, which a walk would read again at
/// every level: each costs one linear decode.)
pub fn raw_to_json_string(raw: RawValue<'_>) -> String {
    serde_json::to_string(&RawPlain(raw)).unwrap_or_else(|_| "null".into())
}

/// An encoded value that serializes as plain JSON.
struct RawPlain<'a>(RawValue<'a>);

impl serde::Serialize for RawPlain<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap, SerializeSeq};
        let raw = self.0;
        if !raw.is_exact() {
            // Walked part by part, a quirky value would be read again at every level: decode it
            // once (linear) and write that.
            let value = raw.decode().map_err(S::Error::custom)?;
            return Plain(&value).serialize(serializer);
        }
        if let Some(entries) = raw.entries() {
            let Some(keys) = distinct_utf8_keys(raw) else {
                let value = raw.decode().map_err(S::Error::custom)?;
                return Plain(&value).serialize(serializer);
            };
            let mut out = serializer.serialize_map(Some(keys))?;
            for (key, value) in entries {
                let key = std::str::from_utf8(key).map_err(S::Error::custom)?;
                out.serialize_entry(key, &RawPlain(value))?;
            }
            return out.end();
        }
        if let Some(items) = raw.items() {
            let mut seq = serializer.serialize_seq(None)?;
            for item in items {
                seq.serialize_element(&RawPlain(item))?;
            }
            return seq.end();
        }
        if let Some(text) = raw.str_bytes().and_then(|bytes| std::str::from_utf8(bytes).ok()) {
            return serializer.serialize_str(text);
        }
        let value = raw.decode().map_err(S::Error::custom)?;
        Plain(&value).serialize(serializer)
    }
}

/// The number of entries of a raw map if its keys are valid UTF-8 and all different (then its
/// entries read in wire order are exactly the decoded map's); `None` otherwise.
fn distinct_utf8_keys(map: RawValue<'_>) -> Option<usize> {
    const MOST: usize = 64;
    let mut signatures = [0u64; MOST];
    let mut keys: [&[u8]; MOST] = [&[]; MOST];
    let mut count = 0;
    for (key, _) in map.entries()? {
        if count == MOST || std::str::from_utf8(key).is_err() {
            return None;
        }
        let signature = crate::dedup::key_signature(key);
        let repeated = (0..count).any(|i| signatures[i] == signature && keys[i] == key);
        if repeated {
            return None;
        }
        signatures[count] = signature;
        keys[count] = key;
        count += 1;
    }
    Some(count)
}

/// Plain JSON as a value, for arguments typed by people: integers become `i32` when they fit
/// and `i64` otherwise, other numbers `f64`, objects maps (in their order), everything else
/// the obvious kind. (Dates and addresses stay strings: plain JSON cannot tell them apart.)
pub fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Value::I64(i), Value::I32),
            None => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(object) => {
            // Built in one linear pass (JSON keys are already distinct here).
            Value::Map(object.iter().map(|(key, value)| (key.as_str(), from_json(value))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_json_round_trips_what_it_can() {
        let json: serde_json::Value = serde_json::from_str(
            r#"{"name":"cpu","interval":5000,"big":5000000000,"ratio":0.5,"on":true,"x":null,"l":[1]}"#,
        )
        .unwrap();
        let value = from_json(&json);
        let map = value.as_map().unwrap();
        assert_eq!(map["interval"], Value::I32(5000));
        assert_eq!(map["big"], Value::I64(5_000_000_000));
        assert_eq!(map["ratio"], Value::F64(0.5));
        assert_eq!(to_json(&value), json);
        let text = to_json_string(&value);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), json);
        assert!(text.starts_with(r#"{"name":"cpu","interval":5000,"#), "key order kept: {text}");
    }

    #[test]
    fn encoded_maps_with_repeated_or_malformed_keys_read_as_decoded() {
        let repeated = [0x09, 0x0f, 5, 1, b'a', 0x0d, 2, 5, 1, b'b', 0x0d, 4, 5, 1, b'a', 0x0d, 6];
        let malformed = [0x09, 0x05, 5, 1, 0xff, 0x0d, 2];
        for (bytes, expected) in [(&repeated[..], r#"{"a":3,"b":2}"#), (&malformed[..], "{\"\u{FFFD}\":1}")] {
            let raw = RawValue::parse(bytes, &crate::DecodeLimits::default()).unwrap();
            assert_eq!(raw_to_json_string(raw), expected);
            assert_eq!(to_json_string(&crate::decode(bytes).unwrap()), expected);
        }
    }

    #[test]
    fn plain_json_text_writes_every_kind() {
        let mut map = crate::Map::new();
        map.insert("date", Value::Date(1_500));
        map.insert("ip", Value::Ipv4("10.0.0.1".parse().unwrap()));
        map.insert("blob", Value::Blob(vec![0xab, 0x01]));
        map.insert("list", Value::Array(vec![Value::I16(-2), Value::Bool(false), Value::Null]));
        let value = Value::Map(map);
        let text = to_json_string(&value);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), to_json(&value));
    }
}
