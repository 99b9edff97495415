//! Quick passes over encoded values that are well-formed and *exact*: every part ends where its
//! length prefix says and no Java quirk is met. That is the shape of every frame a sound peer
//! sends, so these passes carry the load; anything else takes the full reader in
//! [`crate::decode`].
//!
//! * [`checked_len`] measures such a value, well within the limits, in one loop over a small
//!   stack of open containers, with a table of type bytes, no recursion and no error values. It
//!   answers only "well-formed, exact, N bytes" or "not sure": malformed input, a Java leniency
//!   (a rewinding string, a container that does not end on its length) or a limit being near is
//!   left to the full check, which gives the precise answer and error. So it must never accept
//!   what the full check refuses, and where it accepts, the full check would return the same
//!   length with `exact` set (tested beside the full check, in `decode/tests.rs`).
//! * [`value_end`], [`key`] and [`contents`] walk a value that has been checked and found exact,
//!   by its length prefixes alone (what [`crate::RawValue`] does).

use crate::limits::DecodeLimits;
use crate::value::type_byte;

/// Deepest nesting the quick pass follows; deeper values take the full check.
pub(crate) const MAX_DEPTH: usize = 32;

/// What follows a type byte.
#[derive(Clone, Copy)]
enum Shape {
    /// A fixed number of bytes.
    Fixed(u8),
    /// One varint (integers; any length, as Java reads them).
    Varint,
    /// A length varint and that many bytes (STRING, BLOB).
    Prefixed,
    /// A MAP: a length varint and that many bytes of entries.
    Map,
    /// An ARRAY: a length varint and that many bytes of items.
    Array,
    /// Anything else: unknown, deprecated, or left to the full check.
    Other,
}

/// The shape of every type byte.
const SHAPES: [Shape; 256] = {
    let mut shapes = [Shape::Other; 256];
    shapes[type_byte::NULL as usize] = Shape::Fixed(0);
    shapes[type_byte::BOOL as usize] = Shape::Fixed(1);
    shapes[type_byte::STRING as usize] = Shape::Prefixed;
    shapes[type_byte::DATE as usize] = Shape::Fixed(8);
    shapes[type_byte::IP4 as usize] = Shape::Fixed(4);
    shapes[type_byte::IP6 as usize] = Shape::Fixed(16);
    shapes[type_byte::MAP as usize] = Shape::Map;
    shapes[type_byte::ARRAY as usize] = Shape::Array;
    shapes[type_byte::BLOB as usize] = Shape::Prefixed;
    shapes[type_byte::ZINT16 as usize] = Shape::Varint;
    shapes[type_byte::ZINT32 as usize] = Shape::Varint;
    shapes[type_byte::ZINT64 as usize] = Shape::Varint;
    shapes[type_byte::FLOAT as usize] = Shape::Fixed(4);
    shapes[type_byte::DOUBLE as usize] = Shape::Fixed(8);
    shapes
};

/// The length of the exact, well-formed value at the start of `bytes`, or `None` when the full
/// check must decide.
pub(crate) fn checked_len(bytes: &[u8], limits: &DecodeLimits) -> Option<usize> {
    if bytes.len() > limits.max_input {
        return None;
    }
    let max_depth = limits.max_depth.min(MAX_DEPTH);
    // Where each open container ends; bit `d` of `maps` is set when container `d` is a map.
    let mut ends = [0usize; MAX_DEPTH];
    let mut maps: u32 = 0;
    let mut depth = 0;
    let mut pos = 0;
    let mut values = 0usize;
    loop {
        if depth > 0 {
            let end = ends[depth - 1];
            if pos >= end {
                if pos > end {
                    return None;
                }
                depth -= 1;
                if depth == 0 {
                    return Some(pos);
                }
                continue;
            }
            if maps >> (depth - 1) & 1 == 1 {
                // The entry's key: a STRING, counted as a value.
                if *bytes.get(pos)? != type_byte::STRING {
                    return None;
                }
                pos += 1;
                let len = length(bytes, &mut pos)?;
                pos = within(bytes, pos, len)?;
                values += 1;
            }
        }
        values += 1;
        if values > limits.max_values {
            return None;
        }
        let tag = *bytes.get(pos)?;
        pos += 1;
        match SHAPES[tag as usize] {
            Shape::Fixed(n) => pos = within(bytes, pos, n as usize)?,
            Shape::Varint => loop {
                let b = *bytes.get(pos)?;
                pos += 1;
                if b & 0x80 == 0 {
                    break;
                }
            },
            Shape::Prefixed => {
                let len = length(bytes, &mut pos)?;
                pos = within(bytes, pos, len)?;
            }
            shape @ (Shape::Map | Shape::Array) => {
                let len = length(bytes, &mut pos)?;
                if depth == max_depth {
                    return None;
                }
                ends[depth] = within(bytes, pos, len)?;
                maps = (maps & !(1 << depth)) | (u32::from(matches!(shape, Shape::Map)) << depth);
                depth += 1;
                continue;
            }
            Shape::Other => return None,
        }
        if depth == 0 {
            return Some(pos);
        }
    }
}

/// Where the value at `pos` of a checked, exact input ends.
#[inline]
pub(crate) fn value_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let tag = *bytes.get(pos)?;
    let mut pos = pos + 1;
    match SHAPES[tag as usize] {
        Shape::Fixed(n) => within(bytes, pos, n as usize),
        Shape::Varint => loop {
            let b = *bytes.get(pos)?;
            pos += 1;
            if b & 0x80 == 0 {
                return Some(pos);
            }
        },
        Shape::Prefixed | Shape::Map | Shape::Array => {
            let len = length(bytes, &mut pos)?;
            within(bytes, pos, len)
        }
        Shape::Other => None,
    }
}

/// The map key (a STRING) at `pos` of a checked, exact input, and where its value starts.
#[inline]
pub(crate) fn key(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    if *bytes.get(pos)? != type_byte::STRING {
        return None;
    }
    let mut start = pos + 1;
    let len = length(bytes, &mut start)?;
    let end = within(bytes, start, len)?;
    Some((&bytes[start..end], end))
}

/// Where the content of the MAP, ARRAY, STRING or BLOB at `pos` of a checked, exact input
/// starts and ends.
#[inline]
pub(crate) fn contents(bytes: &[u8], pos: usize) -> Option<(usize, usize)> {
    let mut start = pos + 1;
    let len = length(bytes, &mut start)?;
    Some((start, within(bytes, start, len)?))
}

/// Reads the varint at `pos` of a checked input as Java reads it (any length, the high bits
/// shifted out); `None` if the input ends first.
#[inline]
pub(crate) fn varint(bytes: &[u8], mut pos: usize) -> Option<u64> {
    let mut acc = 0u64;
    loop {
        let b = *bytes.get(pos)?;
        pos += 1;
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            return Some(acc);
        }
    }
}

/// Reads a length varint as Java reads it (its low 32 bits as an `int`); `None` if the input
/// ends first or the length is negative (a quirk the full check handles).
#[inline(always)]
fn length(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    let first = *bytes.get(*pos)?;
    *pos += 1;
    if first & 0x80 == 0 {
        return Some(usize::from(first));
    }
    let mut acc = u64::from(first & 0x7F);
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            break;
        }
    }
    usize::try_from(acc as u32 as i32).ok()
}

/// The offset `len` bytes after `pos`, if the input holds them.
#[inline(always)]
fn within(bytes: &[u8], pos: usize, len: usize) -> Option<usize> {
    let end = pos.checked_add(len)?;
    (end <= bytes.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Value, encode, map};

    #[test]
    fn a_frame_is_measured_quickly() {
        let frame = Value::Array(vec![
            map! { "session" => 3i32, "id" => 17i32, "type" => "rpc-post" },
            map! {
                "method" => "onLog",
                "params" => Value::Array(vec![
                    Value::from("sentry"),
                    map! { "date" => Value::Date(1), "ip" => Value::Ipv6(std::net::Ipv6Addr::LOCALHOST),
                           "n" => Value::I64(-1 << 40), "f" => Value::F32(0.5), "b" => Value::Blob(vec![1; 300]),
                           "none" => Value::Null, "yes" => true, "s" => "x".repeat(200) },
                ]),
            },
        ]);
        let bytes = encode(&frame);
        let limits = DecodeLimits::default();
        assert_eq!(checked_len(&bytes, &limits), Some(bytes.len()));
        // Bytes after the value are not part of it.
        let longer = [bytes.as_slice(), &[0xff; 3]].concat();
        assert_eq!(checked_len(&longer, &limits), Some(bytes.len()));
    }
}
