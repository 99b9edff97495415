//! Decoding into a [`BorrowedValue`]: the reader of [`crate::decode`], building values whose
//! strings and blobs borrow from the input. It reads every byte as [`crate::decode_prefix`]
//! does (the same checks, limits, errors and Java leniencies; only the building differs), so the
//! two accept the same inputs and give the same value.

use std::borrow::Cow;
use std::cell::Cell;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::borrowed::{BorrowedMap, BorrowedValue};
use crate::decode::{MAX_KEPT_SCRATCH, Reader, Scalar};
use crate::error::DecodeError;
use crate::limits::DecodeLimits;
use crate::utf8;
use crate::value::type_byte;

/// Decodes the value at the start of `bytes` with the default limits, borrowing its strings and
/// blobs; bytes after the value are ignored.
pub fn decode_borrowed(bytes: &[u8]) -> Result<BorrowedValue<'_>, DecodeError> {
    decode_borrowed_prefix(bytes, &DecodeLimits::default()).map(|(value, _)| value)
}

/// [`crate::decode_prefix`], borrowing strings and blobs from `bytes`: the value and the number
/// of bytes read.
pub fn decode_borrowed_prefix<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<(BorrowedValue<'a>, usize), DecodeError> {
    if bytes.len() > limits.max_input {
        return Err(DecodeError::InputTooLarge { length: bytes.len(), limit: limits.max_input });
    }
    let mut stacks = relabel(SCRATCH.with(Cell::take));
    let mut reader = Reader::new(bytes, limits);
    let result = reader.borrowed_value(&mut stacks);
    if stacks.entries.capacity() <= MAX_KEPT_SCRATCH && stacks.items.capacity() <= MAX_KEPT_SCRATCH {
        SCRATCH.with(|s| s.set(relabel(stacks)));
    }
    Ok((result?, reader.position()))
}

/// Where a borrowed decode keeps the entries and items of the containers it is building (as
/// the owned decoder's stacks do).
#[derive(Default)]
struct BorrowedStacks<'a> {
    entries: Vec<(Cow<'a, str>, BorrowedValue<'a>)>,
    items: Vec<BorrowedValue<'a>>,
}

thread_local! {
    /// Scratch stacks reused by every borrowed decode on a thread, kept empty between decodes.
    static SCRATCH: Cell<BorrowedStacks<'static>> =
        const { Cell::new(BorrowedStacks { entries: Vec::new(), items: Vec::new() }) };
}

/// The stacks emptied and given another lifetime, keeping their allocations: collecting an
/// emptied vector into one of the same layout reuses its buffer.
fn relabel<'x, 'y>(stacks: BorrowedStacks<'x>) -> BorrowedStacks<'y> {
    BorrowedStacks { entries: emptied(stacks.entries), items: emptied(stacks.items) }
}

fn emptied<T, U>(mut vec: Vec<T>) -> Vec<U> {
    vec.clear();
    vec.into_iter().filter_map(|_| None).collect()
}

impl<'a> Reader<'a> {
    /// Reads one value, as [`Reader::value`] does, borrowing its text and bytes.
    fn borrowed_value(&mut self, stacks: &mut BorrowedStacks<'a>) -> Result<BorrowedValue<'a>, DecodeError> {
        let start = self.position();
        self.count_value(start)?;
        let tag = self.byte()?;
        match tag {
            type_byte::MAP => self.borrowed_map(start, stacks).map(BorrowedValue::Map),
            type_byte::ARRAY => self.borrowed_array(start, stacks).map(BorrowedValue::Array),
            _ => self.scalar(start, tag),
        }
    }

    /// Reads a map value or an array item, scalars in place (as the owned decoder's `item`).
    #[inline(always)]
    fn borrowed_item(&mut self, stacks: &mut BorrowedStacks<'a>) -> Result<BorrowedValue<'a>, DecodeError> {
        match self.peek() {
            Some(type_byte::MAP | type_byte::ARRAY) => self.borrowed_value(stacks),
            _ => {
                let start = self.position();
                self.count_value(start)?;
                let tag = self.byte()?;
                self.scalar(start, tag)
            }
        }
    }

    fn borrowed_map(
        &mut self,
        start: usize,
        stacks: &mut BorrowedStacks<'a>,
    ) -> Result<BorrowedMap<'a>, DecodeError> {
        let mut remaining = self.container_len(start)?;
        let first = stacks.entries.len();
        while remaining > 0 {
            let entry_start = self.position();
            let key = utf8::decode_lossy_borrowed(self.map_key(entry_start)?);
            let value = self.borrowed_item(stacks)?;
            stacks.entries.push((key, value));
            remaining -= (self.position() - entry_start) as i64;
        }
        self.leave_container();
        Ok(BorrowedMap::from_entries(stacks.entries.drain(first..).collect()))
    }

    fn borrowed_array(
        &mut self,
        start: usize,
        stacks: &mut BorrowedStacks<'a>,
    ) -> Result<Vec<BorrowedValue<'a>>, DecodeError> {
        let mut remaining = self.container_len(start)?;
        let first = stacks.items.len();
        while remaining > 0 {
            let item_start = self.position();
            let item = self.borrowed_item(stacks)?;
            stacks.items.push(item);
            remaining -= (self.position() - item_start) as i64;
        }
        self.leave_container();
        Ok(stacks.items.drain(first..).collect())
    }
}

impl<'a> Scalar<'a> for BorrowedValue<'a> {
    #[inline(always)]
    fn null() -> Self {
        BorrowedValue::Null
    }
    #[inline(always)]
    fn bool(b: bool) -> Self {
        BorrowedValue::Bool(b)
    }
    #[inline(always)]
    fn i16(v: i16) -> Self {
        BorrowedValue::I16(v)
    }
    #[inline(always)]
    fn i32(v: i32) -> Self {
        BorrowedValue::I32(v)
    }
    #[inline(always)]
    fn i64(v: i64) -> Self {
        BorrowedValue::I64(v)
    }
    #[inline(always)]
    fn str(bytes: &'a [u8]) -> Self {
        BorrowedValue::Str(utf8::decode_lossy_borrowed(bytes))
    }
    #[inline(always)]
    fn date(ms: i64) -> Self {
        BorrowedValue::Date(ms)
    }
    #[inline(always)]
    fn ipv4(addr: Ipv4Addr) -> Self {
        BorrowedValue::Ipv4(addr)
    }
    #[inline(always)]
    fn ipv6(addr: Ipv6Addr) -> Self {
        BorrowedValue::Ipv6(addr)
    }
    #[inline(always)]
    fn blob(bytes: &'a [u8]) -> Self {
        BorrowedValue::Blob(Cow::Borrowed(bytes))
    }
    #[inline(always)]
    fn f32(v: f32) -> Self {
        BorrowedValue::F32(v)
    }
    #[inline(always)]
    fn f64(v: f64) -> Self {
        BorrowedValue::F64(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Value, decode_prefix, encode, map};

    #[test]
    fn borrows_valid_text_and_owns_malformed_text() {
        let value = map! { "name" => "System", "blob" => Value::Blob(vec![7; 40]), "n" => 4i32 };
        let bytes = encode(&value);
        let borrowed = decode_borrowed(&bytes).unwrap();
        let map = borrowed.as_map().unwrap();
        let name = map.get("name").and_then(BorrowedValue::as_str).unwrap();
        assert!(bytes.as_ptr_range().contains(&name.as_ptr()), "the text points into the input");
        let blob = map.get("blob").and_then(BorrowedValue::as_blob).unwrap();
        assert!(bytes.as_ptr_range().contains(&blob.as_ptr()), "the blob points into the input");
        assert_eq!(borrowed.into_owned(), value);
        // A key and a string of malformed UTF-8 read as the JDK reads them.
        let malformed = [0x09, 0x06, 0x05, 0x01, 0xff, 0x05, 0x01, 0xc0];
        let (borrowed, consumed) = decode_borrowed_prefix(&malformed, &DecodeLimits::default()).unwrap();
        assert_eq!(
            (borrowed.into_owned(), consumed),
            decode_prefix(&malformed, &DecodeLimits::default()).unwrap()
        );
    }

    #[test]
    fn scratch_space_is_kept_between_decodes() {
        let bytes = encode(&Value::Array((0..100).map(|i| map! { "i" => i }).collect()));
        decode_borrowed(&bytes).unwrap();
        let kept = SCRATCH.with(|s| {
            let stacks = s.take();
            let capacity = (stacks.entries.capacity(), stacks.items.capacity());
            s.set(stacks);
            capacity
        });
        assert!(kept.0 >= 1 && kept.1 >= 100, "{kept:?}");
    }
}
