//! [`BorrowedValue`]: a decoded value whose strings and blobs are borrowed from the bytes it was
//! decoded from, for reading a record or a call's parameters without an allocation per string.
//!
//! [`crate::decode_borrowed`] accepts exactly what [`crate::decode`] accepts, with the same
//! errors at the same positions, and builds the same value: `into_owned` of the one equals the
//! other. A string is borrowed when its bytes are valid UTF-8 and owned only when they are not
//! (Java reads malformed UTF-8 as U+FFFD, so the text differs from the bytes); maps keep each
//! key at its first position with its last value, as [`Map`] does, in linear time.
//!
//! It also deserializes from any serde format (strings and bytes borrowed where the format
//! lends them), with the kinds `Value`'s own `Deserialize` gives.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::dedup;
use crate::value::{Map, Value};

/// One Kraken value, borrowing its text and bytes where it can; the variants are
/// [`Value`]'s.
#[derive(Debug, Clone, PartialEq)]
pub enum BorrowedValue<'a> {
    /// `0x00`
    Null,
    /// `0x01`
    Bool(bool),
    /// `0x0C`, `java.lang.Short`
    I16(i16),
    /// `0x0D`, `java.lang.Integer`
    I32(i32),
    /// `0x0E`, `java.lang.Long`
    I64(i64),
    /// `0x05`: borrowed unless the bytes were not valid UTF-8.
    Str(Cow<'a, str>),
    /// `0x06`: milliseconds since 1970-01-01T00:00Z.
    Date(i64),
    /// `0x07`
    Ipv4(Ipv4Addr),
    /// `0x08`
    Ipv6(Ipv6Addr),
    /// `0x09`
    Map(BorrowedMap<'a>),
    /// `0x0A`
    Array(Vec<BorrowedValue<'a>>),
    /// `0x0B`: borrowed when decoded.
    Blob(Cow<'a, [u8]>),
    /// `0x0F`
    F32(f32),
    /// `0x10`
    F64(f64),
}

/// The map of a [`BorrowedValue`]: entries in wire order, each key once.
#[derive(Clone, Default)]
pub struct BorrowedMap<'a> {
    entries: Vec<(Cow<'a, str>, BorrowedValue<'a>)>,
}

impl<'a> BorrowedValue<'a> {
    /// The same value, owning everything: what [`crate::decode`] gives for the same bytes.
    pub fn into_owned(self) -> Value {
        match self {
            BorrowedValue::Null => Value::Null,
            BorrowedValue::Bool(b) => Value::Bool(b),
            BorrowedValue::I16(v) => Value::I16(v),
            BorrowedValue::I32(v) => Value::I32(v),
            BorrowedValue::I64(v) => Value::I64(v),
            BorrowedValue::Str(s) => Value::from(s.as_ref()),
            BorrowedValue::Date(ms) => Value::Date(ms),
            BorrowedValue::Ipv4(a) => Value::Ipv4(a),
            BorrowedValue::Ipv6(a) => Value::Ipv6(a),
            BorrowedValue::Map(m) => Value::Map(m.into_owned()),
            BorrowedValue::Array(items) => Value::Array(items.into_iter().map(Self::into_owned).collect()),
            BorrowedValue::Blob(b) => Value::Blob(b.into_owned()),
            BorrowedValue::F32(v) => Value::F32(v),
            BorrowedValue::F64(v) => Value::F64(v),
        }
    }

    /// A short name of the value's kind, as [`Value::kind_name`] gives it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            BorrowedValue::Null => "null",
            BorrowedValue::Bool(_) => "bool",
            BorrowedValue::I16(_) => "i16",
            BorrowedValue::I32(_) => "i32",
            BorrowedValue::I64(_) => "i64",
            BorrowedValue::Str(_) => "str",
            BorrowedValue::Date(_) => "date",
            BorrowedValue::Ipv4(_) => "ipv4",
            BorrowedValue::Ipv6(_) => "ipv6",
            BorrowedValue::Map(_) => "map",
            BorrowedValue::Array(_) => "list",
            BorrowedValue::Blob(_) => "bytes",
            BorrowedValue::F32(_) => "f32",
            BorrowedValue::F64(_) => "f64",
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            BorrowedValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is a blob.
    pub fn as_blob(&self) -> Option<&[u8]> {
        match self {
            BorrowedValue::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// The map, if this is a map.
    pub fn as_map(&self) -> Option<&BorrowedMap<'a>> {
        match self {
            BorrowedValue::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[BorrowedValue<'a>]> {
        match self {
            BorrowedValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Any of the three integer kinds widened to `i64`, as [`Value::as_i64`] reads it.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            BorrowedValue::I16(v) => Some(i64::from(*v)),
            BorrowedValue::I32(v) => Some(i64::from(*v)),
            BorrowedValue::I64(v) => Some(*v),
            _ => None,
        }
    }
}

impl From<Value> for BorrowedValue<'static> {
    /// An owned value as a borrowed one that owns everything. The decoder uses it for the
    /// kinds that hold no text or bytes.
    #[inline]
    fn from(value: Value) -> Self {
        match value {
            Value::Null => BorrowedValue::Null,
            Value::Bool(b) => BorrowedValue::Bool(b),
            Value::I16(v) => BorrowedValue::I16(v),
            Value::I32(v) => BorrowedValue::I32(v),
            Value::I64(v) => BorrowedValue::I64(v),
            Value::Str(s) => BorrowedValue::Str(Cow::Owned(s.into_string())),
            Value::Date(ms) => BorrowedValue::Date(ms),
            Value::Ipv4(a) => BorrowedValue::Ipv4(a),
            Value::Ipv6(a) => BorrowedValue::Ipv6(a),
            Value::Map(m) => BorrowedValue::Map(BorrowedMap {
                entries: m.into_iter().map(|(k, v)| (Cow::Owned(k.into_string()), v.into())).collect(),
            }),
            Value::Array(items) => BorrowedValue::Array(items.into_iter().map(Into::into).collect()),
            Value::Blob(b) => BorrowedValue::Blob(Cow::Owned(b)),
            Value::F32(v) => BorrowedValue::F32(v),
            Value::F64(v) => BorrowedValue::F64(v),
        }
    }
}

impl<'a> BorrowedMap<'a> {
    /// Builds a map from entries that may repeat keys: each key at its first position with the
    /// last value given for it, in linear time.
    pub fn from_entries(entries: Vec<(Cow<'a, str>, BorrowedValue<'a>)>) -> Self {
        BorrowedMap { entries: dedup::last_value_wins(entries) }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&BorrowedValue<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &BorrowedValue<'a>)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The same map, owning everything.
    pub fn into_owned(self) -> Map {
        // Keys are already distinct: no repeat to resolve again.
        Map::from_entries(
            self.entries.into_iter().map(|(k, v)| (k.as_ref().into(), v.into_owned())).collect(),
        )
    }
}

impl<'a> IntoIterator for BorrowedMap<'a> {
    type Item = (Cow<'a, str>, BorrowedValue<'a>);
    type IntoIter = std::vec::IntoIter<Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl fmt::Debug for BorrowedMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for BorrowedMap<'_> {
    /// Same entries, in any order.
    fn eq(&self, other: &Self) -> bool {
        dedup::same_entries(&self.entries, &other.entries)
    }
}

impl<'de> Deserialize<'de> for BorrowedValue<'de> {
    /// Deserializes any self-describing format into the kinds [`Value`]'s `Deserialize` gives,
    /// borrowing strings and bytes where the format lends them.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BorrowedVisitor)
    }
}

struct BorrowedVisitor;

impl<'de> Visitor<'de> for BorrowedVisitor {
    type Value = BorrowedValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any Kraken-representable value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Bool(v))
    }
    fn visit_i16<E>(self, v: i16) -> Result<Self::Value, E> {
        Ok(BorrowedValue::I16(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(i32::try_from(v).map_or(BorrowedValue::I64(v), BorrowedValue::I32))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let v = i64::try_from(v).map_err(|_| E::custom(format!("{v} does not fit a Java long")))?;
        self.visit_i64(v)
    }
    fn visit_f32<E>(self, v: f32) -> Result<Self::Value, E> {
        Ok(BorrowedValue::F32(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(BorrowedValue::F64(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Str(Cow::Owned(v)))
    }
    fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Blob(Cow::Borrowed(v)))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Blob(Cow::Owned(v.to_vec())))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Blob(Cow::Owned(v)))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Null)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        BorrowedValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(BorrowedValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(4096));
        while let Some((Key(k), v)) = access.next_entry::<Key<'de>, BorrowedValue<'de>>()? {
            entries.push((k, v));
        }
        Ok(BorrowedValue::Map(BorrowedMap::from_entries(entries)))
    }
}

/// A map key, borrowed where the format lends it (serde's own `Cow<str>` always copies).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string map key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map;

    #[test]
    fn owned_and_borrowed_convert_both_ways() {
        let value = map! {
            "s" => "text", "b" => Value::Blob(vec![1, 2]), "l" => Value::Array(vec![Value::I16(-1), Value::Null]),
            "m" => map! { "x" => Value::Date(5) },
        };
        let borrowed = BorrowedValue::from(value.clone());
        assert_eq!(borrowed.as_map().unwrap().get("s").and_then(BorrowedValue::as_str), Some("text"));
        assert_eq!(borrowed.clone().into_owned(), value);
        assert_eq!(borrowed.kind_name(), "map");
    }

    #[test]
    fn deserializes_borrowing_where_the_format_lends() {
        let text = r#"{"a":"plain","b":"esc\"aped","a":7,"n":[1,5000000000,0.5,null,true]}"#;
        let value: BorrowedValue = serde_json::from_str(text).unwrap();
        let map = value.as_map().unwrap();
        // A repeated key keeps its first position and its last value.
        assert_eq!(map.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b", "n"]);
        assert_eq!(map.get("a"), Some(&BorrowedValue::I32(7)));
        assert!(
            matches!(map.get("b"), Some(BorrowedValue::Str(Cow::Owned(_)))),
            "an escaped string is owned"
        );
        let owned: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value.into_owned(), owned);
        let value: BorrowedValue = serde_json::from_str(r#"[{"key":"plain"}]"#).unwrap();
        let BorrowedValue::Map(map) = &value.as_array().unwrap()[0] else { panic!("{value:?}") };
        let (key, text) = map.clone().into_iter().next().unwrap();
        assert!(matches!(key, Cow::Borrowed("key")), "{key:?}");
        assert!(matches!(text, BorrowedValue::Str(Cow::Borrowed("plain"))), "{text:?}");
    }
}
