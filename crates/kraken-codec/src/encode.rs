//! Encoding a [`Value`] to bytes identical to Java's `EncodingRule.encode`.
//!
//! MAP and ARRAY carry the number of *content bytes* as their prefix, and that prefix is itself a
//! varint of variable width, so every container's size must be known before its first byte is
//! written. The [`Encoder`] does this in two linear passes: the first walks the value in pre-order
//! and records each container's content size, the second writes bytes using those sizes. Its
//! scratch space is kept between calls, so a long-lived encoder allocates nothing per value once
//! warmed up.

use crate::value::{Value, type_byte};
use crate::varint;

/// The canonical NaN bit patterns Java's encoder writes for every NaN.
const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Encodes `value` into a new buffer of exactly the right size.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut encoder = Encoder::default();
    let mut out = Vec::new();
    encoder.encode_into(value, &mut out);
    out
}

/// The exact number of bytes [`encode`] produces for `value` (Java's `lengthOf`).
pub fn encoded_len(value: &Value) -> usize {
    Encoder::default().measure(value)
}

/// A reusable encoder; see the module documentation.
#[derive(Debug, Default)]
pub struct Encoder {
    /// Content sizes of the containers of the value being encoded, in pre-order.
    container_sizes: Vec<usize>,
}

impl Encoder {
    /// Creates an encoder with empty scratch space.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the encoding of `value` to `out` and returns the number of bytes appended.
    pub fn encode_into(&mut self, value: &Value, out: &mut Vec<u8>) -> usize {
        let total = self.measure(value);
        out.reserve(total);
        let start = out.len();
        let mut next_container = 0;
        self.write(value, out, &mut next_container);
        debug_assert_eq!(out.len() - start, total);
        total
    }

    /// Measures `value`, leaving the container sizes in the scratch space for [`Self::write`].
    fn measure(&mut self, value: &Value) -> usize {
        self.container_sizes.clear();
        self.size_of(value)
    }

    fn size_of(&mut self, value: &Value) -> usize {
        match value {
            Value::Null => 1,
            Value::Bool(_) => 2,
            Value::I16(v) => 1 + varint::len(varint::zigzag(i64::from(*v))),
            Value::I32(v) => 1 + varint::len(varint::zigzag(i64::from(*v))),
            Value::I64(v) => 1 + varint::len(varint::zigzag(*v)),
            Value::Str(s) => prefixed_len(s.len()),
            Value::Blob(b) => prefixed_len(b.len()),
            Value::Date(_) => 9,
            Value::Ipv4(_) => 5,
            Value::Ipv6(_) => 17,
            Value::F32(_) => 5,
            Value::F64(_) => 9,
            Value::Map(map) => {
                let slot = self.reserve_slot();
                let content = map.iter().map(|(key, v)| prefixed_len(key.len()) + self.size_of(v)).sum();
                self.container_sizes[slot] = content;
                prefixed_len(content)
            }
            Value::Array(items) => {
                let slot = self.reserve_slot();
                let content = items.iter().map(|v| self.size_of(v)).sum();
                self.container_sizes[slot] = content;
                prefixed_len(content)
            }
        }
    }

    fn reserve_slot(&mut self) -> usize {
        self.container_sizes.push(0);
        self.container_sizes.len() - 1
    }

    fn write(&self, value: &Value, out: &mut Vec<u8>, next_container: &mut usize) {
        out.push(value.type_byte());
        match value {
            Value::Null => {}
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::I16(v) => varint::write(out, varint::zigzag(i64::from(*v))),
            Value::I32(v) => varint::write(out, varint::zigzag(i64::from(*v))),
            Value::I64(v) => varint::write(out, varint::zigzag(*v)),
            Value::Str(s) => write_bytes(out, s.as_bytes()),
            Value::Blob(b) => write_bytes(out, b),
            Value::Date(ms) => out.extend_from_slice(&ms.to_be_bytes()),
            Value::Ipv4(a) => out.extend_from_slice(&a.octets()),
            Value::Ipv6(a) => out.extend_from_slice(&a.octets()),
            Value::F32(f) => {
                let bits = if f.is_nan() { F32_CANONICAL_NAN } else { f.to_bits() };
                out.extend_from_slice(&bits.to_be_bytes());
            }
            Value::F64(f) => {
                let bits = if f.is_nan() { F64_CANONICAL_NAN } else { f.to_bits() };
                out.extend_from_slice(&bits.to_be_bytes());
            }
            Value::Map(map) => {
                varint::write(out, self.take_size(next_container));
                for (key, v) in map {
                    out.push(type_byte::STRING);
                    write_bytes(out, key.as_bytes());
                    self.write(v, out, next_container);
                }
            }
            Value::Array(items) => {
                varint::write(out, self.take_size(next_container));
                for v in items {
                    self.write(v, out, next_container);
                }
            }
        }
    }

    fn take_size(&self, next_container: &mut usize) -> u64 {
        let size = self.container_sizes[*next_container];
        *next_container += 1;
        size as u64
    }
}

/// Size of a type byte, a varint length and `len` payload bytes.
fn prefixed_len(len: usize) -> usize {
    1 + varint::len(len as u64) + len
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    varint::write(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map;

    fn hex(v: &Value) -> String {
        encode(v).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn nested_containers_carry_content_byte_lengths() {
        let v = map! {
            "outer" => map! { "inner" => map! { "x" => 1i32 } },
            "list" => Value::Array(vec![map! { "y" => 2i32 }, Value::from("z")]),
        };
        assert_eq!(
            hex(&v),
            "092905056f75746572090e0505696e6e657209050501780d0205046c6973740a0a09050501790d0405017a"
        );
        assert_eq!(encoded_len(&v), encode(&v).len());
    }

    #[test]
    fn nan_is_canonical_and_negative_zero_kept() {
        assert_eq!(hex(&Value::F32(f32::from_bits(0xffc0_0001))), "0f7fc00000");
        assert_eq!(hex(&Value::F64(f64::from_bits(0x7ff0_0000_0000_0001))), "107ff8000000000000");
        assert_eq!(hex(&Value::F32(-0.0)), "0f80000000");
    }

    #[test]
    fn encoder_reuse_gives_same_bytes() {
        let mut enc = Encoder::new();
        let a = map! { "a" => Value::Array(vec![1i32.into(), 2i32.into()]) };
        let b = Value::Array(vec![map! {}, map! { "k" => "v" }]);
        let mut out = Vec::new();
        enc.encode_into(&a, &mut out);
        enc.encode_into(&b, &mut out);
        let mut expected = encode(&a);
        expected.extend(encode(&b));
        assert_eq!(out, expected);
    }
}
