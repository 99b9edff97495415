//! Decoding bytes into a [`Value`], accepting everything Java's `EncodingRule.decode` accepts and
//! never panicking on anything else.
//!
//! Java's leniencies are kept: over-long varints, integers wider than their kind (truncated the
//! way Java casts them), any BOOLEAN byte other than `0x01` read as false, malformed UTF-8 read as
//! U+FFFD, duplicate map keys (the last wins), container lengths used only as loop bounds, and
//! the "negative string length" quirk (an empty string and a rewind) where it still makes
//! progress. What Java would crash on, or loop on, is a typed [`DecodeError`] with a position.
//!
//! Unlike Java, every length read off the input is checked against what remains *before*
//! anything is allocated, and the nesting depth, the number of values and the input size are
//! bounded by [`DecodeLimits`].

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::DecodeError;
use crate::exact;
use crate::utf8;
use crate::value::{Map, Text, Value, type_byte};
use crate::varint;

pub use crate::limits::DecodeLimits;

/// Decodes the value at the start of `bytes` with the default limits. Bytes after the value are
/// ignored, as Java ignores them; use [`decode_prefix`] to learn how many were read.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode_prefix(bytes, &DecodeLimits::default()).map(|(value, _)| value)
}

/// Decodes the value at the start of `bytes` and returns it with the number of bytes read.
pub fn decode_prefix(bytes: &[u8], limits: &DecodeLimits) -> Result<(Value, usize), DecodeError> {
    if bytes.len() > limits.max_input {
        return Err(DecodeError::InputTooLarge { length: bytes.len(), limit: limits.max_input });
    }
    let mut stacks = SCRATCH.with(|s| s.take());
    let mut reader = Reader::new(bytes, limits);
    let result = reader.value(&mut stacks);
    // Keep the scratch space (not its contents) for the next decode on this thread, unless a
    // hostile input made it huge.
    if stacks.entries.capacity() <= MAX_KEPT_SCRATCH && stacks.items.capacity() <= MAX_KEPT_SCRATCH {
        stacks.entries.clear();
        stacks.items.clear();
        SCRATCH.with(|s| s.set(stacks));
    }
    Ok((result?, reader.pos))
}

/// Checks that `bytes` starts with a value [`decode_prefix`] would accept under `limits`, without
/// building it, and returns its length: the same errors at the same positions, and no
/// allocation. [`crate::RawValue`] is built on it.
pub fn validate_prefix(bytes: &[u8], limits: &DecodeLimits) -> Result<usize, DecodeError> {
    check_prefix(bytes, limits).map(|checked| checked.len)
}

/// What [`check_prefix`] learned of a well-formed value.
pub(crate) struct Checked {
    /// Bytes the value occupies.
    pub len: usize,
    /// True when no Java quirk was met: every part ends where its length prefix says.
    pub exact: bool,
}

/// [`validate_prefix`], also telling whether the value can be walked by its length prefixes.
pub(crate) fn check_prefix(bytes: &[u8], limits: &DecodeLimits) -> Result<Checked, DecodeError> {
    if bytes.len() > limits.max_input {
        return Err(DecodeError::InputTooLarge { length: bytes.len(), limit: limits.max_input });
    }
    if let Some(len) = exact::checked_len(bytes, limits) {
        return Ok(Checked { len, exact: true });
    }
    let mut reader = Reader::new(bytes, limits);
    reader.skip()?;
    Ok(Checked { len: reader.pos, exact: reader.exact })
}

/// Largest scratch stacks (in entries) kept between decodes.
pub(crate) const MAX_KEPT_SCRATCH: usize = 4096;

/// Where a decode keeps the entries and items of the containers it is building: a finished
/// container takes its own off the top, so each is allocated once at its exact size.
#[derive(Default)]
pub(crate) struct Stacks {
    entries: Vec<(Text, Value)>,
    items: Vec<Value>,
}

thread_local! {
    /// Scratch stacks reused by every decode on a thread, so that decoding allocates only the
    /// values it returns.
    static SCRATCH: std::cell::Cell<Stacks> =
        const { std::cell::Cell::new(Stacks { entries: Vec::new(), items: Vec::new() }) };
}

pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
    values: usize,
    limits: DecodeLimits,
    /// False once a Java quirk was met: a container whose items do not end exactly at its
    /// declared length, or a string with a negative length. Until then every value ends where
    /// its length prefix says, which the walks of [`crate::exact`] rely on.
    exact: bool,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub(crate) fn new(input: &'a [u8], limits: &DecodeLimits) -> Self {
        Reader { input, pos: 0, depth: 0, values: 0, limits: *limits, exact: true }
    }

    /// Where the reader is, as an offset into its input.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The whole input being read.
    pub(crate) fn input(&self) -> &'a [u8] {
        self.input
    }

    /// The byte at the reader's position, if any.
    #[inline(always)]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Leaves a container entered by [`Reader::container_len`] once its content is read.
    #[inline(always)]
    pub(crate) fn leave_container(&mut self) {
        self.depth -= 1;
    }

    /// Steps over a type byte already known (to a caller that checked the value).
    pub(crate) fn skip_tag(&mut self) {
        self.pos = (self.pos + 1).min(self.input.len());
    }

    /// Reads a container's type byte and length prefix; returns its content length.
    pub(crate) fn container_header(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        self.byte()?;
        self.container_len(start)
    }

    /// Counts one more value against the limit; `start` is its offset.
    pub(crate) fn count_value(&mut self, start: usize) -> Result<(), DecodeError> {
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(DecodeError::TooManyValues { position: start, limit: self.limits.max_values });
        }
        Ok(())
    }

    /// Reads one value, building containers on `stacks`.
    pub(crate) fn value(&mut self, stacks: &mut Stacks) -> Result<Value, DecodeError> {
        let start = self.pos;
        self.count_value(start)?;
        let tag = self.byte()?;
        match tag {
            type_byte::MAP => Ok(Value::Map(self.map(start, stacks)?)),
            type_byte::ARRAY => Ok(Value::Array(self.array_items(start, stacks)?)),
            _ => self.scalar(start, tag),
        }
    }

    /// Reads a map value or an array item: scalars in place, containers by recursion. Kept
    /// inline in the container loops: a value returned from a call is read back wider than it
    /// was written (a store-forwarding stall per item).
    #[inline(always)]
    fn item(&mut self, stacks: &mut Stacks) -> Result<Value, DecodeError> {
        match self.input.get(self.pos) {
            Some(&(type_byte::MAP | type_byte::ARRAY)) => self.value(stacks),
            _ => {
                let start = self.pos;
                self.count_value(start)?;
                let tag = self.byte()?;
                self.scalar(start, tag)
            }
        }
    }

    /// Reads what follows the type byte `tag` (read at `start`) of a value that is not a
    /// container, as an owned [`Value`] or a [`crate::BorrowedValue`].
    #[inline(always)]
    pub(crate) fn scalar<T: Scalar<'a>>(&mut self, start: usize, tag: u8) -> Result<T, DecodeError> {
        Ok(match tag {
            type_byte::NULL => T::null(),
            type_byte::BOOL => T::bool(self.byte()? == 1),
            type_byte::PLAIN_INT16 | type_byte::PLAIN_INT32 | type_byte::PLAIN_INT64 => {
                return Err(DecodeError::DeprecatedNumberType { position: start, type_byte: tag });
            }
            type_byte::STRING => T::str(self.string_bytes(start)?),
            type_byte::DATE => T::date(i64::from_be_bytes(self.array()?)),
            type_byte::IP4 => T::ipv4(Ipv4Addr::from(self.array::<4>()?)),
            type_byte::IP6 => {
                let addr = Ipv6Addr::from(self.array::<16>()?);
                // Java's InetAddress.getByAddress returns an Inet4Address for ::ffff:a.b.c.d.
                match addr.to_ipv4_mapped() {
                    Some(v4) => T::ipv4(v4),
                    None => T::ipv6(addr),
                }
            }
            type_byte::BLOB => T::blob(self.blob_bytes()?),
            type_byte::ZINT16 => T::i16(varint::unzigzag16(self.varint()?)),
            type_byte::ZINT32 => T::i32(varint::unzigzag32(self.varint()?)),
            type_byte::ZINT64 => T::i64(varint::unzigzag(self.varint()?)),
            type_byte::FLOAT => T::f32(f32::from_bits(u32::from_be_bytes(self.array()?))),
            type_byte::DOUBLE => T::f64(f64::from_bits(u64::from_be_bytes(self.array()?))),
            // MAP and ARRAY never come here.
            _ => return Err(DecodeError::UnknownType { position: start, type_byte: tag }),
        })
    }

    /// Reads a STRING's length and returns its bytes, borrowed from the input; `start` is the
    /// offset of its type byte. Callers build the text where it is stored: moving a freshly
    /// built text through a `Result` costs a store-forwarding stall per string.
    pub(crate) fn string_bytes(&mut self, start: usize) -> Result<&'a [u8], DecodeError> {
        let len_pos = self.pos;
        let len = java_int(self.varint()?);
        if len < 0 {
            // Java sets the buffer limit below the position: the result is "" and the position
            // moves back by |len|. Accept it only while the value as a whole still moves forward,
            // so no container can loop on it. Nor can rewinds add up: a negative length takes a
            // varint of five bytes or more, and the only places it can move back to are inside
            // that varint, on a byte that is 0x7F (its last, for -1) or has its top bit set,
            // which no type byte has. Whatever reads next there fails, unless every open
            // container ends first: one rewind is the last thing a decode reads.
            self.exact = false;
            let back = len.unsigned_abs() as usize;
            return match self.pos.checked_sub(back) {
                Some(new_pos) if new_pos > start => {
                    self.pos = new_pos;
                    Ok(&[])
                }
                _ => Err(DecodeError::NegativeLength { position: len_pos, length: len.into() }),
            };
        }
        self.take(len_pos, len as u64)
    }

    /// Moves past one value, checking it exactly as [`Reader::value`] does, building nothing.
    pub(crate) fn skip(&mut self) -> Result<(), DecodeError> {
        let start = self.pos;
        self.count_value(start)?;
        let tag = self.byte()?;
        // Strings are most of a message: a plain branch for them spares most values the
        // (often mispredicted) jump table below.
        if tag == type_byte::STRING {
            self.string_bytes(start)?;
            return Ok(());
        }
        match tag {
            type_byte::NULL => {}
            type_byte::BOOL => {
                self.byte()?;
            }
            type_byte::PLAIN_INT16 | type_byte::PLAIN_INT32 | type_byte::PLAIN_INT64 => {
                return Err(DecodeError::DeprecatedNumberType { position: start, type_byte: tag });
            }
            type_byte::DATE | type_byte::DOUBLE => {
                self.array::<8>()?;
            }
            type_byte::IP4 | type_byte::FLOAT => {
                self.array::<4>()?;
            }
            type_byte::IP6 => {
                self.array::<16>()?;
            }
            type_byte::MAP => {
                let mut remaining = self.container_len(start)?;
                while remaining > 0 {
                    let entry_start = self.pos;
                    self.map_key(entry_start)?;
                    self.skip()?;
                    remaining -= (self.pos - entry_start) as i64;
                }
                self.exact &= remaining == 0;
                self.depth -= 1;
            }
            type_byte::ARRAY => {
                let mut remaining = self.container_len(start)?;
                while remaining > 0 {
                    let item_start = self.pos;
                    self.skip()?;
                    remaining -= (self.pos - item_start) as i64;
                }
                self.exact &= remaining == 0;
                self.depth -= 1;
            }
            type_byte::BLOB => {
                self.blob_bytes()?;
            }
            type_byte::ZINT16 | type_byte::ZINT32 | type_byte::ZINT64 => {
                self.varint()?;
            }
            _ => return Err(DecodeError::UnknownType { position: start, type_byte: tag }),
        }
        Ok(())
    }

    /// Reads a map entry's key (counted as a value); `entry_start` is its type byte's offset.
    pub(crate) fn map_key(&mut self, entry_start: usize) -> Result<&'a [u8], DecodeError> {
        self.values += 1;
        let key_tag = self.byte()?;
        if key_tag != type_byte::STRING {
            return Err(DecodeError::KeyNotString { position: entry_start, actual: key_tag });
        }
        self.string_bytes(entry_start)
    }

    /// Reads a BLOB's length (after its type byte) and returns its bytes.
    pub(crate) fn blob_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len_pos = self.pos;
        let len = java_int(self.varint()?);
        if len < 0 {
            return Err(DecodeError::NegativeLength { position: len_pos, length: len.into() });
        }
        self.take(len_pos, len as u64)
    }

    fn map(&mut self, start: usize, stacks: &mut Stacks) -> Result<Map, DecodeError> {
        let mut remaining = self.container_len(start)?;
        let first = stacks.entries.len();
        while remaining > 0 {
            let entry_start = self.pos;
            let key = utf8::decode_lossy(self.map_key(entry_start)?);
            let value = self.item(stacks)?;
            stacks.entries.push((key, value));
            remaining -= (self.pos - entry_start) as i64;
        }
        self.depth -= 1;
        Ok(Map::from_entries(stacks.entries.drain(first..).collect()))
    }

    fn array_items(&mut self, start: usize, stacks: &mut Stacks) -> Result<Vec<Value>, DecodeError> {
        let mut remaining = self.container_len(start)?;
        let first = stacks.items.len();
        while remaining > 0 {
            let item_start = self.pos;
            let item = self.item(stacks)?;
            stacks.items.push(item);
            remaining -= (self.pos - item_start) as i64;
        }
        self.depth -= 1;
        Ok(stacks.items.drain(first..).collect())
    }

    /// Enters a container: checks depth, reads its content length as Java's `int` and checks it
    /// against the input left. A negative length is a loop bound that is already reached.
    pub(crate) fn container_len(&mut self, start: usize) -> Result<i64, DecodeError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(DecodeError::TooDeep { position: start, limit: self.limits.max_depth });
        }
        let len_pos = self.pos;
        let len = i64::from(java_int(self.varint()?));
        let left = self.input.len() - self.pos;
        if len > left as i64 {
            return Err(DecodeError::LengthBeyondInput {
                position: len_pos,
                length: len as u64,
                remaining: left,
            });
        }
        Ok(len)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.input.get(self.pos).ok_or(DecodeError::UnexpectedEnd { position: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.pos + N;
        let bytes =
            self.input.get(self.pos..end).ok_or(DecodeError::UnexpectedEnd { position: self.input.len() })?;
        self.pos = end;
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    /// Takes `len` bytes after a length prefix read at `len_pos`.
    fn take(&mut self, len_pos: usize, len: u64) -> Result<&'a [u8], DecodeError> {
        let input: &'a [u8] = self.input;
        let left = input.len() - self.pos;
        if len > left as u64 {
            return Err(DecodeError::LengthBeyondInput { position: len_pos, length: len, remaining: left });
        }
        let bytes = &input[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(bytes)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        // Most varints (short lengths, small integers) are one byte.
        if let Some(&b) = self.input.get(self.pos)
            && b & 0x80 == 0
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let mut acc: u64 = 0;
        loop {
            let b = self.byte()?;
            acc = (acc << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(acc);
            }
        }
    }
}

/// What a decode makes of the values that are not containers: owned [`Value`]s, or
/// [`crate::BorrowedValue`]s borrowing text and bytes from the input. One reading of the scalar
/// kinds ([`Reader::scalar`]) serves both, built in place.
pub(crate) trait Scalar<'a>: Sized {
    fn null() -> Self;
    fn bool(b: bool) -> Self;
    fn i16(v: i16) -> Self;
    fn i32(v: i32) -> Self;
    fn i64(v: i64) -> Self;
    /// A STRING's bytes as sent (malformed UTF-8 is read as U+FFFD).
    fn str(bytes: &'a [u8]) -> Self;
    fn date(ms: i64) -> Self;
    fn ipv4(addr: Ipv4Addr) -> Self;
    fn ipv6(addr: Ipv6Addr) -> Self;
    fn blob(bytes: &'a [u8]) -> Self;
    fn f32(v: f32) -> Self;
    fn f64(v: f64) -> Self;
}

impl<'a> Scalar<'a> for Value {
    #[inline(always)]
    fn null() -> Self {
        Value::Null
    }
    #[inline(always)]
    fn bool(b: bool) -> Self {
        Value::Bool(b)
    }
    #[inline(always)]
    fn i16(v: i16) -> Self {
        Value::I16(v)
    }
    #[inline(always)]
    fn i32(v: i32) -> Self {
        Value::I32(v)
    }
    #[inline(always)]
    fn i64(v: i64) -> Self {
        Value::I64(v)
    }
    #[inline(always)]
    fn str(bytes: &'a [u8]) -> Self {
        Value::Str(utf8::decode_lossy(bytes))
    }
    #[inline(always)]
    fn date(ms: i64) -> Self {
        Value::Date(ms)
    }
    #[inline(always)]
    fn ipv4(addr: Ipv4Addr) -> Self {
        Value::Ipv4(addr)
    }
    #[inline(always)]
    fn ipv6(addr: Ipv6Addr) -> Self {
        Value::Ipv6(addr)
    }
    #[inline(always)]
    fn blob(bytes: &'a [u8]) -> Self {
        Value::Blob(bytes.to_vec())
    }
    #[inline(always)]
    fn f32(v: f32) -> Self {
        Value::F32(v)
    }
    #[inline(always)]
    fn f64(v: f64) -> Self {
        Value::F64(v)
    }
}

/// A varint read as Java reads a length: cast to `int`, keeping the low 32 bits.
fn java_int(v: u64) -> i32 {
    v as u32 as i32
}

#[cfg(test)]
mod tests;
