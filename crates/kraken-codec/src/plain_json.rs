//! Kraken values as plain JSON, for people and log pipelines: integers are numbers, dates are
//! ISO-8601 UTC strings, IP addresses are strings, blobs are hex, maps keep their key order.
//! (The codec's typed JSON, which keeps every kind, is for tools and tests.)

use crate::Value;
use crate::java_text::instant_to_string;
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
