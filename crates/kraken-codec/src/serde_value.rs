//! serde support: build a [`Value`] from any `Serialize` type with [`to_value`], and let
//! [`Value`] itself be serialized and deserialized by other formats.
//!
//! [`to_value`] keeps Rust's integer widths as Java's box types (`i16` → `Short`, `i32` →
//! `Integer`, `i64` → `Long`), so a `#[derive(Serialize)]` struct produces exactly the wire kinds a
//! Java base casts to. Struct fields become map entries in declaration order; `Option::None`
//! becomes NULL; `Vec<u8>` serialized through `serde_bytes`-style `serialize_bytes` becomes a
//! BLOB; a field of type [`Date`] becomes a DATE.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, Serializer};

use crate::value::{Map, Text, Value};

/// Milliseconds since the Unix epoch that [`to_value`] turns into a DATE (other serializers see
/// a plain `i64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i64);

/// The newtype-struct name by which [`Date`] is recognised.
const DATE_MARKER: &str = "$kraken_codec::Date";

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(DATE_MARKER, &self.0)
    }
}

impl From<Date> for Value {
    fn from(d: Date) -> Self {
        Value::Date(d.0)
    }
}

/// Why a Rust value could not become a Kraken value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToValueError(String);

impl ser::Error for ToValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ToValueError(msg.to_string())
    }
}

/// Converts any `Serialize` value into a [`Value`]; see the module documentation.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ToValueError> {
    value.serialize(ValueSerializer)
}

/// The serializer behind [`to_value`].
struct ValueSerializer;

type Result2<T> = Result<T, ToValueError>;

impl Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ToValueError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantBuilder<SeqBuilder>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantBuilder<MapBuilder>;

    fn serialize_bool(self, v: bool) -> Result2<Value> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result2<Value> {
        Ok(Value::I16(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result2<Value> {
        Ok(Value::I16(v))
    }
    fn serialize_i32(self, v: i32) -> Result2<Value> {
        Ok(Value::I32(v))
    }
    fn serialize_i64(self, v: i64) -> Result2<Value> {
        Ok(Value::I64(v))
    }
    fn serialize_u8(self, v: u8) -> Result2<Value> {
        Ok(Value::I16(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result2<Value> {
        Ok(Value::I32(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result2<Value> {
        Ok(Value::I64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result2<Value> {
        i64::try_from(v).map(Value::I64).map_err(|_| ToValueError(format!("{v} does not fit a Java long")))
    }
    fn serialize_f32(self, v: f32) -> Result2<Value> {
        Ok(Value::F32(v))
    }
    fn serialize_f64(self, v: f64) -> Result2<Value> {
        Ok(Value::F64(v))
    }
    fn serialize_char(self, v: char) -> Result2<Value> {
        Ok(Value::Str(Text::from(v.encode_utf8(&mut [0; 4]) as &str)))
    }
    fn serialize_str(self, v: &str) -> Result2<Value> {
        Ok(Value::Str(Text::from(v)))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result2<Value> {
        Ok(Value::Blob(v.to_vec()))
    }
    fn serialize_none(self) -> Result2<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result2<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result2<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result2<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result2<Value> {
        Ok(Value::Str(Text::from(variant)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result2<Value> {
        let inner = value.serialize(self)?;
        match (name, inner) {
            (DATE_MARKER, Value::I64(ms)) => Ok(Value::Date(ms)),
            (_, inner) => Ok(inner),
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result2<Value> {
        let mut map = Map::with_capacity(1);
        map.insert(variant, value.serialize(self)?);
        Ok(Value::Map(map))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result2<SeqBuilder> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Result2<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result2<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result2<VariantBuilder<SeqBuilder>> {
        Ok(VariantBuilder { variant, inner: self.serialize_seq(Some(len))? })
    }
    fn serialize_map(self, len: Option<usize>) -> Result2<MapBuilder> {
        Ok(MapBuilder { entries: Vec::with_capacity(len.unwrap_or(0).min(4096)), key: None })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result2<MapBuilder> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result2<VariantBuilder<MapBuilder>> {
        Ok(VariantBuilder { variant, inner: self.serialize_map(Some(len))? })
    }
    fn is_human_readable(&self) -> bool {
        true
    }
}

/// Collects the elements of a sequence or tuple.
struct SeqBuilder(Vec<Value>);

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result2<()> {
        self.0.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result2<()> {
        self.push(value)
    }
    fn end(self) -> Result2<Value> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result2<()> {
        self.push(value)
    }
    fn end(self) -> Result2<Value> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result2<()> {
        self.push(value)
    }
    fn end(self) -> Result2<Value> {
        Ok(Value::Array(self.0))
    }
}

/// Collects the entries of a map or struct (keys must serialize to strings), then builds the
/// map in one linear pass ([`Map::from_entries`]: a repeated key keeps its last value).
struct MapBuilder {
    entries: Vec<(Text, Value)>,
    key: Option<Text>,
}

impl MapBuilder {
    fn finish(self) -> Map {
        Map::from_entries(self.entries)
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result2<()> {
        match key.serialize(ValueSerializer)? {
            Value::Str(k) => {
                self.key = Some(k);
                Ok(())
            }
            other => Err(ToValueError(format!("map keys must be strings, found {}", other.kind_name()))),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result2<()> {
        let key = self.key.take().ok_or_else(|| ToValueError("map value without a key".into()))?;
        self.entries.push((key, value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result2<Value> {
        Ok(Value::Map(self.finish()))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result2<()> {
        self.entries.push((Text::from(key), value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result2<Value> {
        Ok(Value::Map(self.finish()))
    }
}

/// Wraps a tuple or struct variant as `{variant: ...}`.
struct VariantBuilder<B> {
    variant: &'static str,
    inner: B,
}

impl<B> VariantBuilder<B> {
    fn wrap(variant: &'static str, inner: Value) -> Value {
        let mut map = Map::with_capacity(1);
        map.insert(variant, inner);
        Value::Map(map)
    }
}

impl ser::SerializeTupleVariant for VariantBuilder<SeqBuilder> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result2<()> {
        self.inner.push(value)
    }
    fn end(self) -> Result2<Value> {
        Ok(Self::wrap(self.variant, Value::Array(self.inner.0)))
    }
}

impl ser::SerializeStructVariant for VariantBuilder<MapBuilder> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result2<()> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result2<Value> {
        Ok(Self::wrap(self.variant, Value::Map(self.inner.finish())))
    }
}

impl Serialize for Value {
    /// Serializes into the other format's nearest model: dates as `i64` milliseconds, IP
    /// addresses as their text, blobs as bytes.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::I16(v) => s.serialize_i16(*v),
            Value::I32(v) => s.serialize_i32(*v),
            Value::I64(v) | Value::Date(v) => s.serialize_i64(*v),
            Value::F32(v) => s.serialize_f32(*v),
            Value::F64(v) => s.serialize_f64(*v),
            Value::Str(v) => s.serialize_str(v),
            Value::Ipv4(a) => s.collect_str(a),
            Value::Ipv6(a) => s.collect_str(a),
            Value::Blob(b) => s.serialize_bytes(b),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k.as_str(), v)?;
                }
                out.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    /// Deserializes any self-describing format into the nearest kinds: integers that fit `i32` as
    /// [`Value::I32`], wider ones as [`Value::I64`], bytes as BLOB.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any Kraken-representable value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i16<E>(self, v: i16) -> Result<Value, E> {
        Ok(Value::I16(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(i32::try_from(v).map_or(Value::I64(v), Value::I32))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        let v = i64::try_from(v).map_err(|_| E::custom(format!("{v} does not fit a Java long")))?;
        self.visit_i64(v)
    }
    fn visit_f32<E>(self, v: f32) -> Result<Value, E> {
        Ok(Value::F32(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::F64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(Text::from(v)))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(Text::from(v)))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Blob(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Blob(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    /// Entries are gathered, then built into a map in one linear pass: a repeated key keeps
    /// its first position and last value, as in [`Map::from_entries`].
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(4096));
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            entries.push((Text::from(k), v));
        }
        Ok(Value::Map(Map::from_entries(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map;

    #[derive(serde::Serialize)]
    struct Process {
        pid: i32,
        name: String,
        cpu_usage: Option<i32>,
        working_set: i64,
        started: Date,
    }

    #[test]
    fn derived_structs_keep_field_order_and_java_kinds() {
        let p = Process {
            pid: 4,
            name: "System".into(),
            cpu_usage: None,
            working_set: 1 << 33,
            started: Date(5),
        };
        let expected = map! {
            "pid" => 4i32,
            "name" => "System",
            "cpu_usage" => Value::Null,
            "working_set" => 1i64 << 33,
            "started" => Value::Date(5),
        };
        assert_eq!(to_value(&p).unwrap(), expected);
    }

    #[test]
    fn non_string_keys_and_huge_unsigned_are_refused() {
        let m: std::collections::BTreeMap<i32, i32> = [(1, 2)].into();
        assert!(to_value(&m).unwrap_err().to_string().contains("keys must be strings"));
        assert!(to_value(&u64::MAX).is_err());
    }

    #[test]
    fn value_through_json_and_back() {
        let v = map! { "a" => 1i32, "b" => Value::Array(vec!["x".into(), Value::Null]) };
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, r#"{"a":1,"b":["x",null]}"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}
