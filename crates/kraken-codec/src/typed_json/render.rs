//! [`Value`] to typed JSON.

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::java_text;
use crate::value::Value;

/// Whether long strings and blobs are printed whole or abbreviated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Abbreviate {
    /// As the vectors show decoded values: strings over 300 UTF-16 units and blobs over 300
    /// bytes become a head, a length and a SHA-256.
    #[default]
    LikeVectors,
    /// Everything whole, so the output can be encoded again.
    Never,
}

const ABBREVIATE_OVER: usize = 300;

/// Renders `value` in the typed-JSON form. Map entries keep the value's order (wire order for a
/// decoded value); maps are labelled `java.util.HashMap` and lists `java.lang.Object[]`, the
/// classes Java's decoder returns.
pub fn render(value: &Value, abbreviate: Abbreviate) -> Json {
    match value {
        Value::Null => json!({"t": "null"}),
        Value::Bool(b) => json!({"t": "bool", "v": b}),
        Value::I16(v) => json!({"t": "i16", "v": v}),
        Value::I32(v) => json!({"t": "i32", "v": v}),
        Value::I64(v) => json!({"t": "i64", "v": v.to_string()}),
        Value::F32(f) => json!({
            "t": "f32",
            "bits": format!("{:08x}", f.to_bits()),
            "v": java_text::float_to_string(*f),
        }),
        Value::F64(f) => json!({
            "t": "f64",
            "bits": format!("{:016x}", f.to_bits()),
            "v": java_text::double_to_string(*f),
        }),
        Value::Str(s) => render_string(s, abbreviate),
        Value::Date(ms) => {
            json!({"t": "date", "ms": ms.to_string(), "iso": java_text::instant_to_string(*ms)})
        }
        Value::Ipv4(a) => json!({"t": "ipv4", "v": a.to_string()}),
        Value::Ipv6(a) => json!({
            "t": "ipv6",
            "v": java_text::ipv6_to_string(a),
            "bytes": hex::encode(a.octets()),
        }),
        Value::Map(map) => {
            let entries: Vec<Json> = map
                .iter()
                .map(|(k, v)| Json::Array(vec![Json::String(k.to_string()), render(v, abbreviate)]))
                .collect();
            json!({"t": "map", "java": "java.util.HashMap", "entries": entries})
        }
        Value::Array(items) => {
            let items: Vec<Json> = items.iter().map(|v| render(v, abbreviate)).collect();
            json!({"t": "list", "java": "java.lang.Object[]", "items": items})
        }
        Value::Blob(bytes) => {
            if abbreviate == Abbreviate::LikeVectors && bytes.len() > ABBREVIATE_OVER {
                json!({
                    "t": "bytes",
                    "abbrev": true,
                    "head_hex": hex::encode(&bytes[..16]),
                    "len": bytes.len(),
                    "sha256": hex::encode(Sha256::digest(bytes)),
                })
            } else {
                json!({"t": "bytes", "hex": hex::encode(bytes)})
            }
        }
    }
}

fn render_string(s: &str, abbreviate: Abbreviate) -> Json {
    let utf16_len = s.encode_utf16().count();
    if abbreviate == Abbreviate::Never || utf16_len <= ABBREVIATE_OVER {
        return json!({"t": "str", "v": s});
    }
    let head: String = s.chars().take(32).collect();
    json!({
        "t": "str",
        "abbrev": true,
        "head": head,
        "utf16_len": utf16_len,
        "utf8_len": s.len(),
        "utf8_sha256": hex::encode(Sha256::digest(s.as_bytes())),
    })
}
