//! The Kraken binary codec, byte for byte as Java's `org.krakenapps.codec.EncodingRule` writes
//! and reads it, and its typed-JSON form.
//!
//! * [`Value`] models every type byte; the integer kinds `I16`/`I32`/`I64` stay distinct because
//!   Java peers cast hard. Build values with `From`, the [`map!`] macro or [`to_value`].
//! * [`encode`] writes exactly Java's bytes, quirks included: big-endian base-128 varints, the
//!   `0xFF` lead byte of large zigzag longs, canonical NaN.
//! * [`decode`] / [`decode_prefix`] accept everything Java accepts and never panic; failures are
//!   [`DecodeError`]s with the byte position, and [`DecodeLimits`] bound depth, value count and
//!   input size.
//! * [`decode_borrowed`] / [`decode_borrowed_prefix`] decode the same into a [`BorrowedValue`]
//!   whose strings and blobs borrow from the input: no allocation per string.
//! * [`RawValue`] checks bytes as the decoder would, without building anything, and decodes the
//!   parts that are needed later.
//! * [`typed_json`] is the `{"t": ...}` form of the shared golden vectors.
//!
//! The wire format itself is described in `kraken-wire/SPEC.md` of the project's shared specs.

pub mod borrowed;
mod borrowed_decode;
pub mod decode;
mod dedup;
pub mod encode;
pub mod error;
mod exact;
pub mod java_text;
mod limits;
pub mod plain_json;
pub mod raw;
pub mod serde_value;
pub mod typed_json;
pub mod utf8;
pub mod value;
pub mod varint;

pub use borrowed::{BorrowedMap, BorrowedValue};
pub use borrowed_decode::{decode_borrowed, decode_borrowed_prefix};
pub use decode::{DecodeLimits, decode, decode_prefix, validate_prefix};
pub use encode::{encode, encode_into, encoded_len};
pub use error::DecodeError;
pub use map::Map;
// `map` lives under `value` (a `Value` holds a `Map`, which holds `Value`s) and is reachable here.
pub use raw::{RawValue, SharedRawValue};
pub use serde_value::{Date, ToValueError, to_value};
pub use value::map;
pub use value::{KindMismatch, Text, Value, type_byte};
