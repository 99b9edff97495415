//! Encoding a [`Value`] to bytes identical to Java's `EncodingRule.encode`.
//!
//! MAP and ARRAY carry the number of *content bytes* as their prefix, a varint of variable
//! width, so a container's prefix is only known once its content is written. The encoder works
//! in one pass: it leaves two bytes for the prefix (enough for content under 16 KiB), writes
//! the content, then writes the prefix, moving the content when the prefix is shorter (content
//! under 128 bytes: a short move) or longer (16 KiB and more). That is far cheaper than walking
//! the value twice, and messages of a few hundred bytes move almost nothing.

use crate::value::{Value, type_byte};
use crate::varint;

/// The canonical NaN bit patterns Java's encoder writes for every NaN.
const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Encodes `value` into a new buffer.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_value(value, &mut out);
    out
}

/// Appends the encoding of `value` to `out` and returns the number of bytes appended.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    write_value(value, out);
    out.len() - start
}

/// A MAP or ARRAY being written straight into a buffer, for values that are not held in a
/// [`Value`] (an RPC frame around parameters it borrows, say): write the content with
/// [`encode_into`] and, in a map, [`write_key`] before each value; then [`OpenContainer::close`].
/// The bytes are those [`encode`] writes for the same container.
#[must_use = "a container must be closed to write its length prefix"]
pub struct OpenContainer {
    prefix_at: usize,
}

/// Opens a MAP at the end of `out`.
pub fn open_map(out: &mut Vec<u8>) -> OpenContainer {
    out.push(type_byte::MAP);
    OpenContainer { prefix_at: begin_container(out) }
}

/// Opens an ARRAY at the end of `out`.
pub fn open_array(out: &mut Vec<u8>) -> OpenContainer {
    out.push(type_byte::ARRAY);
    OpenContainer { prefix_at: begin_container(out) }
}

/// Writes a map key (a STRING).
pub fn write_key(out: &mut Vec<u8>, key: &str) {
    write_str(out, key);
}

/// Writes a STRING value.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    out.push(type_byte::STRING);
    write_bytes(out, text.as_bytes());
}

impl OpenContainer {
    /// Ends the container: writes its length prefix.
    pub fn close(self, out: &mut Vec<u8>) {
        end_container(out, self.prefix_at);
    }
}

/// The exact number of bytes [`encode`] produces for `value` (Java's `lengthOf`).
pub fn encoded_len(value: &Value) -> usize {
    match value {
        Value::Null => 1,
        Value::Bool(_) => 2,
        Value::I16(v) => 1 + varint::len(varint::zigzag(i64::from(*v))),
        Value::I32(v) => 1 + varint::len(varint::zigzag(i64::from(*v))),
        Value::I64(v) => 1 + varint::len(varint::zigzag(*v)),
        Value::Str(s) => prefixed_len(s.len()),
        Value::Blob(b) => prefixed_len(b.len()),
        Value::Date(_) | Value::F64(_) => 9,
        Value::Ipv4(_) | Value::F32(_) => 5,
        Value::Ipv6(_) => 17,
        Value::Map(map) => {
            prefixed_len(map.iter().map(|(k, v)| prefixed_len(k.len()) + encoded_len(v)).sum())
        }
        Value::Array(items) => prefixed_len(items.iter().map(encoded_len).sum()),
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Map(map) => {
            out.push(type_byte::MAP);
            let prefix_at = begin_container(out);
            for (key, v) in map {
                out.push(type_byte::STRING);
                write_bytes(out, key.as_bytes());
                write_item(v, out);
            }
            end_container(out, prefix_at);
        }
        Value::Array(items) => {
            out.push(type_byte::ARRAY);
            let prefix_at = begin_container(out);
            for v in items {
                write_item(v, out);
            }
            end_container(out, prefix_at);
        }
        scalar => write_scalar(scalar, out),
    }
}

/// Writes a map value or an array item: scalars in place, containers by recursion. Keeping
/// scalars out of a call keeps the buffer's length in a register across a container's content.
#[inline(always)]
fn write_item(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Map(_) | Value::Array(_) => write_value(value, out),
        scalar => write_scalar(scalar, out),
    }
}

/// Writes a value that is not a container (the callers send containers to [`write_value`]).
#[inline(always)]
fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    out.push(value.type_byte());
    match value {
        Value::Map(_) | Value::Array(_) => unreachable!("containers are written by write_value"),
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
    }
}

/// Bytes left for a container's length prefix before its content is written: two, enough for
/// content under 16 KiB. A smaller container moves its (short) content down one byte; only a
/// larger one moves its content up.
const RESERVED_PREFIX: usize = 2;

/// Leaves room for a container's length prefix; returns where it is.
fn begin_container(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0; RESERVED_PREFIX]);
    out.len() - RESERVED_PREFIX
}

/// Writes the length prefix of the container whose content follows the room left at
/// `prefix_at`, moving the content when the prefix is not exactly that long.
fn end_container(out: &mut Vec<u8>, prefix_at: usize) {
    let content_start = prefix_at + RESERVED_PREFIX;
    let content = out.len() - content_start;
    match content {
        // The common sizes are written directly.
        0..0x80 => {
            out.copy_within(content_start.., prefix_at + 1);
            out.truncate(prefix_at + 1 + content);
            out[prefix_at] = content as u8;
        }
        0x80..0x4000 => {
            out[prefix_at] = 0x80 | (content >> 7) as u8;
            out[prefix_at + 1] = (content & 0x7F) as u8;
        }
        _ => {
            let (prefix, n) = varint::to_bytes(content as u64);
            out.resize(out.len() + n - RESERVED_PREFIX, 0);
            out.copy_within(content_start..content_start + content, prefix_at + n);
            out[prefix_at..prefix_at + n].copy_from_slice(&prefix[..n]);
        }
    }
}

/// Size of a type byte, a varint length and `len` payload bytes.
fn prefixed_len(len: usize) -> usize {
    1 + varint::len(len as u64) + len
}

#[inline(always)]
fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    varint::write(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests;
