//! Typed JSON to [`Value`].

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map as JsonMap, Value as Json};

use super::error::TypedJsonError;
use super::generator;
use super::path::Path;
use crate::value::{Map, Text, Value};

/// Parses typed-JSON text. Escapes of unpaired UTF-16 surrogates (`"\ud800"`), which Java
/// strings can hold and Rust strings cannot, become `?`, as Java's encoder writes them.
pub fn parse_str(text: &str) -> Result<Value, TypedJsonError> {
    let text = replace_lone_surrogate_escapes(text);
    let json: Json = serde_json::from_str(&text).map_err(|e| TypedJsonError::Syntax(e.to_string()))?;
    parse(&json)
}

/// Converts a typed-JSON document to a value.
pub fn parse(json: &Json) -> Result<Value, TypedJsonError> {
    parse_at(json, &Path::ROOT)
}

fn parse_at(json: &Json, path: &Path<'_>) -> Result<Value, TypedJsonError> {
    let obj = json.as_object().ok_or_else(|| invalid(path, "expected an object with a type tag \"t\""))?;
    let tag = obj.get("t").and_then(Json::as_str).ok_or_else(|| invalid(path, "missing type tag \"t\""))?;
    let field = Field { obj, path };
    Ok(match tag {
        "null" => Value::Null,
        "bool" => Value::Bool(field.bool("v")?),
        "i16" => Value::I16(field.int("v")?),
        "i32" => Value::I32(field.int("v")?),
        "i64" => Value::I64(field.int("v")?),
        "f32" => Value::F32(field.float32()?),
        "f64" => Value::F64(field.float64()?),
        "str" => Value::Str(field.string_or_generated()?.into()),
        "date" => Value::Date(field.int("ms")?),
        "ipv4" => Value::Ipv4(field.parsed::<Ipv4Addr>("v")?),
        "ipv6" => Value::Ipv6(field.ipv6()?),
        "bytes" => Value::Blob(field.bytes_or_generated()?),
        "map" => Value::Map(field.entries()?),
        "list" => {
            let items = field.array("items")?;
            let items = items.iter().enumerate().map(|(i, item)| parse_at(item, &path.item("items", i)));
            Value::Array(items.collect::<Result<_, _>>()?)
        }
        "i16[]" => field.primitive_array(|j, p| int_of(j, p).map(Value::I16))?,
        "i32[]" => field.primitive_array(|j, p| int_of(j, p).map(Value::I32))?,
        "i64[]" => field.primitive_array(|j, p| int_of(j, p).map(Value::I64))?,
        "bool[]" => field.primitive_array(|j, p| {
            j.as_bool().map(Value::Bool).ok_or_else(|| invalid(p, "expected a boolean"))
        })?,
        "f32[]" => field.float_array(
            |bits| u32::from_str_radix(bits, 16).ok().map(|b| Value::F32(f32::from_bits(b))),
            |v| Value::F32(v as f32),
        )?,
        "f64[]" => field.float_array(
            |bits| u64::from_str_radix(bits, 16).ok().map(|b| Value::F64(f64::from_bits(b))),
            Value::F64,
        )?,
        "char[]" => return Err(unsupported(path, "[C")),
        "java-object" => {
            let class = obj.get("java").and_then(Json::as_str).unwrap_or("java.lang.Object");
            return Err(unsupported(path, class));
        }
        other => return Err(invalid(path, &format!("unknown type tag \"{other}\""))),
    })
}

/// Field access on one typed-JSON object, with errors that name the path.
struct Field<'a> {
    obj: &'a JsonMap<String, Json>,
    path: &'a Path<'a>,
}

impl Field<'_> {
    fn get(&self, key: &str) -> Result<&Json, TypedJsonError> {
        self.obj.get(key).ok_or_else(|| invalid(self.path, &format!("missing field \"{key}\"")))
    }

    fn sub<'k>(&'k self, key: &'k str) -> Path<'k> {
        self.path.field(key)
    }

    fn bool(&self, key: &str) -> Result<bool, TypedJsonError> {
        self.get(key)?.as_bool().ok_or_else(|| invalid(&self.sub(key), "expected a boolean"))
    }

    fn str(&self, key: &str) -> Result<&str, TypedJsonError> {
        self.get(key)?.as_str().ok_or_else(|| invalid(&self.sub(key), "expected a string"))
    }

    fn array(&self, key: &str) -> Result<&Vec<Json>, TypedJsonError> {
        self.get(key)?.as_array().ok_or_else(|| invalid(&self.sub(key), "expected an array"))
    }

    fn int<T: TryFrom<i128>>(&self, key: &str) -> Result<T, TypedJsonError> {
        int_of(self.get(key)?, &self.sub(key))
    }

    fn parsed<T: std::str::FromStr>(&self, key: &str) -> Result<T, TypedJsonError> {
        let text = self.str(key)?;
        text.parse().map_err(|_| invalid(&self.sub(key), &format!("cannot parse \"{text}\"")))
    }

    fn float32(&self) -> Result<f32, TypedJsonError> {
        if let Some(bits) = self.obj.get("bits") {
            let bits = bits.as_str().and_then(|b| u32::from_str_radix(b, 16).ok());
            return bits
                .map(f32::from_bits)
                .ok_or_else(|| invalid(&self.sub("bits"), "expected 8 hex digits"));
        }
        float_of(self.get("v")?, &self.sub("v")).map(|v| v as f32)
    }

    fn float64(&self) -> Result<f64, TypedJsonError> {
        if let Some(bits) = self.obj.get("bits") {
            let bits = bits.as_str().and_then(|b| u64::from_str_radix(b, 16).ok());
            return bits
                .map(f64::from_bits)
                .ok_or_else(|| invalid(&self.sub("bits"), "expected 16 hex digits"));
        }
        float_of(self.get("v")?, &self.sub("v"))
    }

    fn ipv6(&self) -> Result<Ipv6Addr, TypedJsonError> {
        if let Some(bytes) = self.obj.get("bytes") {
            let octets: Option<[u8; 16]> =
                bytes.as_str().and_then(|h| hex::decode(h).ok()).and_then(|b| b.try_into().ok());
            return octets
                .map(Ipv6Addr::from)
                .ok_or_else(|| invalid(&self.sub("bytes"), "expected 32 hex digits"));
        }
        // The scope id (`%3`) is never transmitted.
        let text = self.str("v")?;
        let text = text.split('%').next().unwrap_or(text);
        text.parse().map_err(|_| invalid(&self.sub("v"), &format!("cannot parse \"{text}\"")))
    }

    fn string_or_generated(&self) -> Result<String, TypedJsonError> {
        if self.obj.contains_key("v") {
            return Ok(self.str("v")?.to_owned());
        }
        if self.obj.contains_key("abbrev") {
            return Err(invalid(self.path, "an abbreviated string cannot be encoded; decode with --full"));
        }
        let rule = self.str("gen")?;
        let text = generator::string(rule).ok_or_else(|| {
            invalid(
                &self.sub("gen"),
                &format!("unknown generator \"{rule}\" (or over {} bytes)", generator::MAX_GENERATED),
            )
        })?;
        self.check_len("utf16_len", text.encode_utf16().count())?;
        self.check_len("utf8_len", text.len())?;
        Ok(text)
    }

    fn bytes_or_generated(&self) -> Result<Vec<u8>, TypedJsonError> {
        if self.obj.contains_key("hex") {
            let text = self.str("hex")?;
            return hex::decode(text).map_err(|e| invalid(&self.sub("hex"), &e.to_string()));
        }
        if self.obj.contains_key("abbrev") {
            return Err(invalid(self.path, "abbreviated bytes cannot be encoded; decode with --full"));
        }
        let rule = self.str("gen")?;
        let bytes = generator::bytes(rule).ok_or_else(|| {
            invalid(
                &self.sub("gen"),
                &format!("unknown generator \"{rule}\" (or over {} bytes)", generator::MAX_GENERATED),
            )
        })?;
        self.check_len("len", bytes.len())?;
        Ok(bytes)
    }

    fn check_len(&self, key: &str, actual: usize) -> Result<(), TypedJsonError> {
        match self.obj.get(key).and_then(Json::as_u64) {
            Some(stated) if stated != actual as u64 => {
                Err(invalid(&self.sub(key), &format!("states {stated} but the generator gives {actual}")))
            }
            _ => Ok(()),
        }
    }

    /// The map's entries, built in one linear pass: a repeated key keeps its first position and
    /// its last value, as Java's `HashMap.put` does.
    fn entries(&self) -> Result<Map, TypedJsonError> {
        let entries = self.array("entries")?.iter().enumerate().map(|(i, entry)| {
            let path = self.path.item("entries", i);
            let pair = entry
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| invalid(&path, "expected [key, value]"))?;
            let key = map_key(&pair[0], &path.index(0))?;
            let value = parse_at(&pair[1], &path.index(1))?;
            Ok((key, value))
        });
        Ok(Map::from_entries(entries.collect::<Result<_, TypedJsonError>>()?))
    }

    fn primitive_array(
        &self,
        element: impl Fn(&Json, &Path<'_>) -> Result<Value, TypedJsonError>,
    ) -> Result<Value, TypedJsonError> {
        let items = self.array("v")?;
        let items = items.iter().enumerate().map(|(i, j)| element(j, &self.path.item("v", i)));
        Ok(Value::Array(items.collect::<Result<_, _>>()?))
    }

    fn float_array(
        &self,
        from_bits: impl Fn(&str) -> Option<Value>,
        from_number: impl Fn(f64) -> Value,
    ) -> Result<Value, TypedJsonError> {
        if let Some(bits) = self.obj.get("bits") {
            let bits = bits.as_array().ok_or_else(|| invalid(&self.sub("bits"), "expected an array"))?;
            let items = bits.iter().enumerate().map(|(i, b)| {
                b.as_str()
                    .and_then(&from_bits)
                    .ok_or_else(|| invalid(&self.path.item("bits", i), "expected hex bits"))
            });
            return Ok(Value::Array(items.collect::<Result<_, _>>()?));
        }
        self.primitive_array(|j, p| float_of(j, p).map(&from_number))
    }
}

/// A map key: a plain JSON string or a typed string. Java refuses other keys.
fn map_key(json: &Json, path: &Path<'_>) -> Result<Text, TypedJsonError> {
    if let Some(key) = json.as_str() {
        return Ok(Text::from(key));
    }
    match parse_at(json, path)? {
        Value::Str(key) => Ok(key),
        Value::Null => Err(unsupported(path, "a null map key")),
        other => Err(unsupported(path, &format!("a map key of type {}", other.kind_name()))),
    }
}

/// An integer given as a JSON number or a decimal string, checked against the target range.
fn int_of<T: TryFrom<i128>>(json: &Json, path: &Path<'_>) -> Result<T, TypedJsonError> {
    let wide: Option<i128> = match json {
        Json::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let wide = wide.ok_or_else(|| invalid(path, "expected an integer"))?;
    T::try_from(wide).map_err(|_| invalid(path, &format!("{wide} is out of range for this kind")))
}

/// A float given as a JSON number or as Java's text (`"NaN"`, `"-Infinity"`, `"1.5E10"`).
fn float_of(json: &Json, path: &Path<'_>) -> Result<f64, TypedJsonError> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
    .ok_or_else(|| invalid(path, "expected a number"))
}

fn invalid(path: &Path<'_>, message: &str) -> TypedJsonError {
    TypedJsonError::Invalid { path: path.to_string(), message: message.to_owned() }
}

fn unsupported(path: &Path<'_>, what: &str) -> TypedJsonError {
    TypedJsonError::Unsupported { path: path.to_string(), what: what.to_owned() }
}

/// Replaces `\uXXXX` escapes of unpaired surrogates with `?` (as plain text, which is valid
/// JSON wherever an escape was).
fn replace_lone_surrogate_escapes(text: &str) -> Cow<'_, str> {
    fn escape_at(bytes: &[u8], i: usize) -> Option<u16> {
        let digits = bytes.get(i..i + 6)?;
        if digits[0] != b'\\' || digits[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&digits[2..]).ok()?, 16).ok()
    }
    let bytes = text.as_bytes();
    if !text.contains("\\u") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escape_at(bytes, i) else {
            i += 2; // some other escape, such as \\ or \"
            continue;
        };
        let is_high = (0xD800..0xDC00).contains(&unit);
        let is_low = (0xDC00..0xE000).contains(&unit);
        let paired = is_high && escape_at(bytes, i + 6).is_some_and(|next| (0xDC00..0xE000).contains(&next));
        if paired {
            i += 12;
        } else if is_high || is_low {
            out.push_str(&text[copied..i]);
            out.push('?');
            i += 6;
            copied = i;
        } else {
            i += 6;
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_question_marks() {
        let v = parse_str(r#"{"t":"str","v":"a\ud800b\ud83d\ude00\\ud800\udc00"}"#).unwrap();
        assert_eq!(v, Value::Str("a?b\u{1F600}\\ud800?".into()));
    }

    #[test]
    fn errors_name_the_path() {
        let err = parse_str(r#"{"t":"map","entries":[["k",{"t":"i32","v":"x"}]]}"#).unwrap_err();
        assert_eq!(err.to_string(), "$.entries[0][1].v: expected an integer");
        let err = parse_str(r#"{"t":"i16","v":40000}"#).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = parse_str(r#"{"t":"list","items":[{"t":"java-object","java":"java.util.HashSet"}]}"#)
            .unwrap_err();
        assert_eq!(err, unsupported(&Path::ROOT.item("items", 0), "java.util.HashSet"));
    }

    #[test]
    fn scalars_and_primitive_arrays() {
        assert_eq!(parse_str(r#"{"t":"i64","v":"-9223372036854775808"}"#).unwrap(), Value::I64(i64::MIN));
        assert_eq!(parse_str(r#"{"t":"f32","v":"NaN"}"#).unwrap().kind_name(), "f32");
        assert_eq!(
            parse_str(r#"{"t":"i16[]","v":[1,-1]}"#).unwrap(),
            Value::Array(vec![Value::I16(1), Value::I16(-1)])
        );
        assert_eq!(
            parse_str(r#"{"t":"ipv6","v":"fe80:0:0:0:0:0:0:1%3"}"#).unwrap(),
            Value::Ipv6("fe80::1".parse().unwrap())
        );
    }
}
