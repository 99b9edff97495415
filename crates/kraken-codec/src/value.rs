//! The Kraken value model: one Rust variant for every type byte of the wire.
//!
//! Java peers cast decoded values hard (`(Integer) header.get("id")`), so the three zigzag integer
//! kinds stay distinct here: a [`Value::I32`] decodes from and encodes to `0x0D` and never turns
//! into a [`Value::I64`] behind the caller's back. Maps keep their insertion order, so a value
//! encodes with its entries in the order they were built (or decoded), which is what golden tests
//! compare against; Java decoders ignore the order.

use std::net::{Ipv4Addr, Ipv6Addr};

pub mod map;

/// The text of strings and map keys: a `String` that keeps up to 24 bytes inline, so the short
/// keys and values that fill Kraken messages cost no allocation. It derefs to `str`.
pub type Text = compact_str::CompactString;

/// Type bytes of the Kraken codec (`EncodingRule`), section 2.1 of the wire specification.
pub mod type_byte {
    /// `null`, no payload.
    pub const NULL: u8 = 0x00;
    /// Boolean, one payload byte; only `0x01` is true.
    pub const BOOL: u8 = 0x01;
    /// Deprecated plain (non-zigzag) 16-bit integer: refused by Java's generic decoder.
    pub const PLAIN_INT16: u8 = 0x02;
    /// Deprecated plain 32-bit integer.
    pub const PLAIN_INT32: u8 = 0x03;
    /// Deprecated plain 64-bit integer.
    pub const PLAIN_INT64: u8 = 0x04;
    /// UTF-8 string with a byte-length prefix.
    pub const STRING: u8 = 0x05;
    /// Milliseconds since the Unix epoch, 8 bytes big-endian.
    pub const DATE: u8 = 0x06;
    /// IPv4 address, 4 bytes.
    pub const IP4: u8 = 0x07;
    /// IPv6 address, 16 bytes.
    pub const IP6: u8 = 0x08;
    /// String-keyed map with a content-byte-length prefix.
    pub const MAP: u8 = 0x09;
    /// Array with a content-byte-length prefix.
    pub const ARRAY: u8 = 0x0A;
    /// Raw bytes with a byte-length prefix.
    pub const BLOB: u8 = 0x0B;
    /// Zigzag 16-bit integer (`java.lang.Short`).
    pub const ZINT16: u8 = 0x0C;
    /// Zigzag 32-bit integer (`java.lang.Integer`).
    pub const ZINT32: u8 = 0x0D;
    /// Zigzag 64-bit integer (`java.lang.Long`).
    pub const ZINT64: u8 = 0x0E;
    /// IEEE-754 single, 4 bytes big-endian.
    pub const FLOAT: u8 = 0x0F;
    /// IEEE-754 double, 8 bytes big-endian.
    pub const DOUBLE: u8 = 0x10;
}

/// One Kraken value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
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
    /// `0x05`
    Str(Text),
    /// `0x06`: milliseconds since 1970-01-01T00:00Z (no time zone on the wire).
    Date(i64),
    /// `0x07`
    Ipv4(Ipv4Addr),
    /// `0x08` (a scope id is never transmitted).
    Ipv6(Ipv6Addr),
    /// `0x09`
    Map(Map),
    /// `0x0A` (Java decodes every array as `Object[]`).
    Array(Vec<Value>),
    /// `0x0B` (`byte[]`)
    Blob(Vec<u8>),
    /// `0x0F`
    F32(f32),
    /// `0x10`
    F64(f64),
}

/// An insertion-ordered map from strings to [`Value`]s; see [`map`] for what it does and why.
///
/// Declared here, beside the [`Value`] that holds it and that it holds, so that `value` and
/// `map` do not import each other; `map`, a child of this module, implements it.
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(Text, Value)>,
}

impl Value {
    /// The type byte this value is written with.
    pub fn type_byte(&self) -> u8 {
        use type_byte::*;
        match self {
            Value::Null => NULL,
            Value::Bool(_) => BOOL,
            Value::I16(_) => ZINT16,
            Value::I32(_) => ZINT32,
            Value::I64(_) => ZINT64,
            Value::Str(_) => STRING,
            Value::Date(_) => DATE,
            Value::Ipv4(_) => IP4,
            Value::Ipv6(_) => IP6,
            Value::Map(_) => MAP,
            Value::Array(_) => ARRAY,
            Value::Blob(_) => BLOB,
            Value::F32(_) => FLOAT,
            Value::F64(_) => DOUBLE,
        }
    }

    /// A short name of the value's kind, as used in the typed-JSON form (`i32`, `str`, `map`...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::I16(_) => "i16",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::Str(_) => "str",
            Value::Date(_) => "date",
            Value::Ipv4(_) => "ipv4",
            Value::Ipv6(_) => "ipv6",
            Value::Map(_) => "map",
            Value::Array(_) => "list",
            Value::Blob(_) => "bytes",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The map, if this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Any of the three integer kinds widened to `i64`, leniently (as a Java `long` parameter
    /// accepts `Long`, `Integer` and `Short`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I16(v) => Some(i64::from(*v)),
            Value::I32(v) => Some(i64::from(*v)),
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// Any integer kind whose value fits in an `i32`.
    pub fn as_i32(&self) -> Option<i32> {
        self.as_i64().and_then(|v| i32::try_from(v).ok())
    }

    /// An exact [`Value::I32`] only (as a boxed Java `Integer` parameter accepts only `0x0D`).
    pub fn as_exact_i32(&self) -> Option<i32> {
        match self {
            Value::I32(v) => Some(*v),
            _ => None,
        }
    }
}

/// Builds a [`Value::Map`] from `key => value` pairs, in order; values go through `Value::from`.
///
/// ```
/// use kraken_codec::{map, Value};
/// let record = map! { "pid" => 4i32, "name" => "System", "working_set" => 1_024i64 };
/// assert_eq!(record.as_map().unwrap()["pid"], Value::I32(4));
/// ```
#[macro_export]
macro_rules! map {
    () => { $crate::Value::Map($crate::Map::new()) };
    ($($key:expr => $value:expr),+ $(,)?) => {{
        let mut map = $crate::Map::new();
        $( map.insert($key, $crate::Value::from($value)); )+
        $crate::Value::Map(map)
    }};
}

macro_rules! from_scalar {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::$variant(v)
            }
        })*
    };
}

from_scalar! {
    bool => Bool,
    i16 => I16,
    i32 => I32,
    i64 => I64,
    Text => Str,
    Ipv4Addr => Ipv4,
    Ipv6Addr => Ipv6,
    Map => Map,
    f32 => F32,
    f64 => F64,
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(Text::from(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Text::from(v))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Str(Text::from(v.as_str()))
    }
}

impl From<std::net::IpAddr> for Value {
    fn from(v: std::net::IpAddr) -> Self {
        match v {
            std::net::IpAddr::V4(a) => Value::Ipv4(a),
            std::net::IpAddr::V6(a) => Value::Ipv6(a),
        }
    }
}

impl From<std::time::SystemTime> for Value {
    /// A [`Value::Date`] with millisecond precision (sub-millisecond parts are dropped, as Java's
    /// `Date` drops them).
    fn from(t: std::time::SystemTime) -> Self {
        let ms = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => {
                let d = before.duration();
                // Round towards negative infinity, as Java's Date does.
                let whole = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                let extra = i64::from(d.subsec_nanos() % 1_000_000 != 0);
                whole.saturating_add(extra).saturating_neg()
            }
        };
        Value::Date(ms)
    }
}

impl From<Vec<u8>> for Value {
    /// Raw bytes become a BLOB, as Java's `byte[]` does.
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl FromIterator<Value> for Value {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Value::Array(iter.into_iter().collect())
    }
}

impl<K: Into<Text>> FromIterator<(K, Value)> for Value {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        Value::Map(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// The error of a `TryFrom<Value>` conversion: the value had another kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct KindMismatch {
    /// The kind the conversion wanted.
    pub expected: &'static str,
    /// The kind the value had.
    pub found: &'static str,
}

macro_rules! try_from_value {
    ($($ty:ty => $expected:literal, |$v:ident| $pick:expr),* $(,)?) => {
        $(impl TryFrom<Value> for $ty {
            type Error = KindMismatch;
            fn try_from($v: Value) -> Result<Self, KindMismatch> {
                let found = $v.kind_name();
                let picked: Option<$ty> = $pick;
                picked.ok_or(KindMismatch { expected: $expected, found })
            }
        })*
    };
}

try_from_value! {
    bool => "bool", |v| v.as_bool(),
    i64 => "an integer", |v| v.as_i64(),
    i32 => "an integer that fits in i32", |v| v.as_i32(),
    String => "str", |v| match v { Value::Str(s) => Some(s.into_string()), _ => None },
    Text => "str", |v| match v { Value::Str(s) => Some(s), _ => None },
    Map => "map", |v| match v { Value::Map(m) => Some(m), _ => None },
    Vec<Value> => "list", |v| match v { Value::Array(a) => Some(a), _ => None },
    Vec<u8> => "bytes", |v| match v { Value::Blob(b) => Some(b), _ => None },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_macro_keeps_order_and_kinds() {
        let v = map! { "z" => 1i32, "a" => 2i64, "m" => "x" };
        let m = v.as_map().unwrap();
        let keys: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(m["z"], Value::I32(1));
        assert_eq!(m["a"], Value::I64(2));
    }

    #[test]
    fn lenient_and_exact_integer_access() {
        assert_eq!(Value::I16(-3).as_i64(), Some(-3));
        assert_eq!(Value::I64(1 << 40).as_i32(), None);
        assert_eq!(Value::I64(7).as_i32(), Some(7));
        assert_eq!(Value::I64(7).as_exact_i32(), None);
        assert_eq!(i32::try_from(Value::Str("x".into())).unwrap_err().found, "str");
    }

    #[test]
    fn system_time_before_epoch_rounds_down() {
        let t = std::time::UNIX_EPOCH - std::time::Duration::from_micros(1500);
        assert_eq!(Value::from(t), Value::Date(-2));
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1500);
        assert_eq!(Value::from(t), Value::Date(1));
    }
}
