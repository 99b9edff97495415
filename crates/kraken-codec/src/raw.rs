//! [`RawValue`]: a value left in its encoded form, checked but not built.
//!
//! Building a [`Value`] tree costs an allocation per container and long string, and most of a
//! message's bytes are often only passed on (an RPC layer reads a frame's header and hands the
//! parameters to a service). A `RawValue` is a borrowed slice that [`validate_prefix`] has
//! accepted: exactly what [`crate::decode_prefix`] accepts, with the same errors, but without
//! allocating. Its map entries and array items can be walked as further `RawValue`s, and any of
//! them decoded into a [`Value`] when it is needed.
//!
//! [`validate_prefix`]: crate::decode::validate_prefix

use bytes::Bytes;

use crate::borrowed::BorrowedValue;
use crate::borrowed_decode::decode_borrowed_prefix;
use crate::decode::{Reader, Stacks, check_prefix, decode_prefix};
use crate::error::DecodeError;
use crate::exact;
use crate::limits::DecodeLimits;
use crate::utf8;
use crate::value::{Value, type_byte};
use crate::varint;

/// Limits for re-reading bytes that were already checked under the caller's limits: the check
/// bounded depth, count and size, so nothing needs bounding twice.
static CHECKED: DecodeLimits =
    DecodeLimits { max_depth: usize::MAX, max_values: usize::MAX, max_input: usize::MAX };

/// One encoded value, known to be well formed; see the module documentation.
#[derive(Clone, Copy)]
pub struct RawValue<'a> {
    /// From the value's type byte to the end of the input it was found in. (A STRING with
    /// Java's negative-length quirk rewinds into bytes it has read, so a value is re-read with
    /// what follows it, as it was first read.)
    input: &'a [u8],
    /// Bytes the value occupies.
    len: usize,
    /// No Java quirk inside: every part ends where its length prefix says, so walking the value
    /// steps over each part by its prefix instead of reading it.
    exact: bool,
}

impl<'a> RawValue<'a> {
    /// Checks the value at the start of `bytes` under `limits`; bytes after it are ignored.
    pub fn parse(bytes: &'a [u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        let checked = check_prefix(bytes, limits)?;
        Ok(RawValue { input: bytes, len: checked.len, exact: checked.exact })
    }

    /// The same value, sharing `buffer` (which must hold this value's bytes: the buffer the value
    /// was parsed from) instead of borrowing it; `None` if it does not hold them.
    pub fn share(&self, buffer: &Bytes) -> Option<SharedRawValue> {
        let outer = buffer.as_ptr_range();
        let inner = self.input.as_ptr_range();
        let within = outer.start <= inner.start && inner.end <= outer.end;
        within.then(|| SharedRawValue {
            bytes: buffer.slice_ref(self.input),
            len: self.len,
            exact: self.exact,
        })
    }

    /// True when no Java quirk is inside (a rewinding string, a container that does not end
    /// where its length says), as in everything a sound peer sends: then walking the value's
    /// parts steps over each by its length prefix. A quirky value is walked by reading, each step
    /// costing the size of the part stepped over, so a recursive walk of one reads the deepest
    /// parts once per level above them: decode it whole instead.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The value's type byte.
    #[inline]
    pub fn type_byte(&self) -> u8 {
        self.input[0]
    }

    /// True for NULL.
    #[inline]
    pub fn is_null(&self) -> bool {
        self.type_byte() == type_byte::NULL
    }

    /// The encoded bytes of the value.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        &self.input[..self.len]
    }

    /// The bytes of a STRING as sent (empty for Java's negative-length quirk); `None` for other
    /// kinds. [`crate::utf8::decode_lossy`] gives the text [`RawValue::decode`] would make.
    #[inline]
    pub fn str_bytes(&self) -> Option<&'a [u8]> {
        if self.type_byte() != type_byte::STRING {
            return None;
        }
        if self.exact {
            return exact::contents(self.input, 0).map(|(start, end)| &self.input[start..end]);
        }
        quirky_str_bytes(self.input)
    }

    /// The text of a STRING, as [`RawValue::decode`] would make it (malformed UTF-8 read as
    /// U+FFFD); `None` for other kinds.
    pub fn text(&self) -> Option<String> {
        self.str_bytes().map(utf8::decode_lossy_string)
    }

    /// An integer of any kind (ZINT16, ZINT32, ZINT64) widened to `i64`, as [`Value::as_i64`]
    /// reads it; `None` for anything else.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        // An integer has no quirk: its varint follows the type byte, exact or not.
        Some(match self.type_byte() {
            type_byte::ZINT16 => i64::from(varint::unzigzag16(exact::varint(self.input, 1)?)),
            type_byte::ZINT32 => i64::from(varint::unzigzag32(exact::varint(self.input, 1)?)),
            type_byte::ZINT64 => varint::unzigzag(exact::varint(self.input, 1)?),
            _ => return None,
        })
    }

    /// A DATE's milliseconds since 1970-01-01T00:00Z; `None` for other kinds.
    #[inline]
    pub fn as_date_ms(&self) -> Option<i64> {
        if self.type_byte() != type_byte::DATE {
            return None;
        }
        // Checked: the type byte is followed by its eight bytes.
        self.input.get(1..9).and_then(|bytes| bytes.try_into().ok()).map(i64::from_be_bytes)
    }

    /// An integer of any kind that fits 32 bits, as [`Value::as_i32`] reads it.
    #[inline]
    pub fn as_i32(&self) -> Option<i32> {
        self.as_i64().and_then(|wide| i32::try_from(wide).ok())
    }

    /// Builds the value. It was checked, so this fails only if the checks and the decoder
    /// disagree, which the codec's property tests rule out.
    pub fn decode(&self) -> Result<Value, DecodeError> {
        match self.type_byte() {
            // Containers reuse the decoder's scratch space; a scalar needs none.
            type_byte::MAP | type_byte::ARRAY => decode_prefix(self.input, &CHECKED).map(|(value, _)| value),
            _ => Reader::new(self.input, &CHECKED).value(&mut Stacks::default()),
        }
    }

    /// Builds the value with its strings and blobs borrowed from the input (see
    /// [`crate::BorrowedValue`]); fails only where [`RawValue::decode`] would.
    pub fn decode_borrowed(&self) -> Result<BorrowedValue<'a>, DecodeError> {
        decode_borrowed_prefix(self.input, &CHECKED).map(|(value, _)| value)
    }

    /// The entries of a MAP, in wire order (a repeated key appears each time); `None` for other
    /// kinds. Keys come as their bytes: [`crate::utf8::decode_lossy`] gives the text the decoder
    /// would make of them, and comparing bytes with an ASCII name is the same as comparing that
    /// text.
    #[inline]
    pub fn entries(&self) -> Option<RawEntries<'a>> {
        (self.type_byte() == type_byte::MAP).then(|| RawEntries(Contents::open(self)))
    }

    /// The items of an ARRAY, in order; `None` for other kinds.
    #[inline]
    pub fn items(&self) -> Option<RawItems<'a>> {
        (self.type_byte() == type_byte::ARRAY).then(|| RawItems(Contents::open(self)))
    }
}

/// A [`RawValue`] that shares its buffer (a frame read off a connection, say) instead of
/// borrowing it, so it can be kept and sent to another task; made by [`RawValue::share`].
#[derive(Clone)]
pub struct SharedRawValue {
    /// From the value's type byte to the end of the buffer (see [`RawValue`]).
    bytes: Bytes,
    len: usize,
    exact: bool,
}

impl SharedRawValue {
    /// The value, borrowed from the shared buffer (no new check).
    pub fn get(&self) -> RawValue<'_> {
        RawValue { input: &self.bytes, len: self.len, exact: self.exact }
    }
}

impl std::fmt::Debug for SharedRawValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl std::fmt::Debug for RawValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.decode() {
            Ok(value) => f.debug_tuple("RawValue").field(&value).finish(),
            Err(err) => f.debug_tuple("RawValue").field(&err).finish(),
        }
    }
}

/// [`RawValue::str_bytes`] of a STRING with Java quirks around it.
fn quirky_str_bytes(input: &[u8]) -> Option<&[u8]> {
    let mut reader = Reader::new(input, &CHECKED);
    reader.skip_tag();
    reader.string_bytes(0).ok()
}

/// A walk through a checked container's content.
enum Contents<'a> {
    /// An exact container, walked by length prefixes alone: `pos` up to `end`.
    Exact { input: &'a [u8], pos: usize, end: usize },
    /// A container with Java quirks, walked by reading as the decoder reads.
    Quirky {
        reader: Reader<'a>,
        /// Content bytes not yet walked (Java's loop bound).
        remaining: i64,
    },
}

impl<'a> Contents<'a> {
    /// Positions a walk after the container's type byte and length prefix.
    #[inline]
    fn open(container: &RawValue<'a>) -> Self {
        if container.exact {
            // The container was checked, so its header reads; an empty walk is the safe fallback.
            let (pos, end) = exact::contents(container.input, 0).unwrap_or((0, 0));
            return Contents::Exact { input: container.input, pos, end };
        }
        Self::open_quirky(container.input)
    }

    /// [`Contents::open`] for a container with Java quirks.
    fn open_quirky(input: &'a [u8]) -> Self {
        let mut reader = Reader::new(input, &CHECKED);
        let remaining = reader.container_header().unwrap_or(0);
        Contents::Quirky { reader, remaining }
    }

    /// The next entry's key (in a map) and the next value. Inlined: returned through memory,
    /// the value would be read back wider than it was written (a store-forwarding stall).
    #[inline(always)]
    fn next(&mut self, in_map: bool) -> Option<(&'a [u8], RawValue<'a>)> {
        match self {
            Contents::Exact { input, pos, end } => {
                if *pos >= *end {
                    return None;
                }
                let (key, start) = if in_map { exact::key(input, *pos)? } else { (&[][..], *pos) };
                let value_end = exact::value_end(input, start)?;
                *pos = value_end;
                Some((key, RawValue { input: &input[start..], len: value_end - start, exact: true }))
            }
            Contents::Quirky { reader, remaining } => quirky_next(reader, remaining, in_map),
        }
    }
}

/// [`Contents::next`] in a container with Java quirks.
fn quirky_next<'a>(
    reader: &mut Reader<'a>,
    remaining: &mut i64,
    in_map: bool,
) -> Option<(&'a [u8], RawValue<'a>)> {
    if *remaining <= 0 {
        return None;
    }
    let entry_start = reader.position();
    let key = if in_map { reader.map_key(entry_start).ok()? } else { &[] };
    let start = reader.position();
    reader.skip().ok()?;
    let value = RawValue { input: &reader.input()[start..], len: reader.position() - start, exact: false };
    *remaining -= (reader.position() - entry_start) as i64;
    Some((key, value))
}

/// The entries of a [`RawValue`] map: keys as bytes, values left encoded.
pub struct RawEntries<'a>(Contents<'a>);

impl<'a> Iterator for RawEntries<'a> {
    type Item = (&'a [u8], RawValue<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next(true)
    }
}

/// The items of a [`RawValue`] array, left encoded.
pub struct RawItems<'a>(Contents<'a>);

impl<'a> Iterator for RawItems<'a> {
    type Item = RawValue<'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next(false).map(|(_, item)| item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode, map};

    #[test]
    fn walks_and_decodes_what_it_checked() {
        let value = map! {
            "method" => "onLog",
            "params" => Value::Array(vec![Value::from("guid"), Value::I32(7), map! { "a" => 1i64 }]),
        };
        let bytes = encode(&value);
        let raw = RawValue::parse(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(raw.as_bytes(), &bytes[..]);
        assert_eq!(raw.decode().unwrap(), value);
        assert_eq!(raw.decode_borrowed().unwrap().into_owned(), value);
        let entries: Vec<(&[u8], RawValue)> = raw.entries().unwrap().collect();
        assert_eq!(entries[0].1.str_bytes(), Some(&b"onLog"[..]));
        assert_eq!(entries[1].1.str_bytes(), None);
        assert_eq!(entries.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [&b"method"[..], b"params"]);
        assert_eq!(entries[0].1.decode().unwrap(), Value::from("onLog"));
        let items: Vec<Value> = entries[1].1.items().unwrap().map(|item| item.decode().unwrap()).collect();
        assert_eq!(items, [Value::from("guid"), Value::I32(7), map! { "a" => 1i64 }]);
        assert!(entries[0].1.items().is_none() && entries[1].1.entries().is_none());
        // Integers of every kind, read as Value::as_i32 reads them.
        for value in
            [Value::I16(-7), Value::I32(i32::MIN), Value::I64(1 << 40), Value::I64(-3), Value::from("7")]
        {
            let bytes = encode(&value);
            let raw = RawValue::parse(&bytes, &DecodeLimits::default()).unwrap();
            assert_eq!(raw.as_i32(), value.as_i32(), "{value:?}");
            assert_eq!(raw.as_i64(), value.as_i64(), "{value:?}");
            assert_eq!(raw.text().as_deref(), value.as_str(), "{value:?}");
        }
        for value in [Value::Date(-1), Value::Date(1_764_300_000_123), Value::I64(5), Value::from("x")] {
            let bytes = encode(&value);
            let raw = RawValue::parse(&bytes, &DecodeLimits::default()).unwrap();
            let expected = match value {
                Value::Date(ms) => Some(ms),
                _ => None,
            };
            assert_eq!(raw.as_date_ms(), expected, "{value:?}");
        }
    }

    #[test]
    fn long_varints_read_as_the_decoder_reads_them() {
        // Java reads a varint of any length, the high bits shifted out.
        let limits = DecodeLimits::default();
        for tag in [type_byte::ZINT16, type_byte::ZINT32, type_byte::ZINT64] {
            let mut bytes = vec![tag];
            bytes.extend([0xFF; 11]);
            bytes.push(0x03);
            let raw = RawValue::parse(&bytes, &limits).unwrap();
            assert_eq!(raw.as_i64(), decode_prefix(&bytes, &limits).unwrap().0.as_i64(), "{tag:#x}");
        }
    }

    #[test]
    fn refuses_what_the_decoder_refuses() {
        // A map whose key is an integer, and a truncated array.
        for hex in [[0x09u8, 0x04, 0x0d, 0x02, 0x0d, 0x02].as_slice(), &[0x0a, 0x05, 0x0d]] {
            let limits = DecodeLimits::default();
            assert_eq!(RawValue::parse(hex, &limits).unwrap_err(), decode_prefix(hex, &limits).unwrap_err());
        }
    }

    #[test]
    fn a_rewinding_string_reads_the_same_inside_and_alone() {
        // An array holding one string whose negative length (-1) rewinds one byte: the array
        // ends before the last byte of that string's length prefix.
        let bytes = [0x0a, 0x05, 0x05, 0x8f, 0xff, 0xff, 0xff, 0x7f];
        let limits = DecodeLimits::default();
        let raw = RawValue::parse(&bytes, &limits).unwrap();
        let whole = decode_prefix(&bytes, &limits).unwrap().0;
        let walked: Vec<Value> = raw.items().unwrap().map(|item| item.decode().unwrap()).collect();
        assert_eq!(Value::Array(walked), whole);
        assert_eq!(whole, Value::Array(vec![Value::from("")]));
        assert_eq!(raw.items().unwrap().next().unwrap().str_bytes(), Some(&b""[..]));
        assert!(!raw.exact, "a rewind makes the value inexact: walked by reading, not by prefixes");
    }

    #[test]
    fn a_shared_value_outlives_the_borrow() {
        let frame = Bytes::from(encode(&Value::Array(vec![Value::from("x"), Value::I64(-3)])));
        let shared = {
            let raw = RawValue::parse(&frame, &DecodeLimits::default()).unwrap();
            assert!(raw.exact);
            let second = raw.items().unwrap().nth(1).unwrap();
            assert!(second.share(&Bytes::from_static(b"elsewhere")).is_none());
            second.share(&frame).unwrap()
        };
        drop(frame);
        assert_eq!(shared.get().decode().unwrap(), Value::I64(-3));
    }
}
