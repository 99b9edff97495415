//! The typed errors of decoding, each carrying the byte position where it was found.

/// Why a byte sequence is not a Kraken value.
///
/// Every variant names the position (offset from the start of the input) of the byte that made
/// decoding fail: the type byte of an unsupported value, the first missing byte of a truncated
/// one, the length prefix that is out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended where another byte was needed (Java: `BufferUnderflowException` or
    /// `IndexOutOfBoundsException`).
    #[error("unexpected end of input at byte {position}")]
    UnexpectedEnd {
        /// Offset of the first missing byte.
        position: usize,
    },
    /// Type bytes `0x02`..`0x04` (plain integers) are refused, as Java's generic decoder does.
    #[error("deprecated plain number type 0x{type_byte:02x} at byte {position}")]
    DeprecatedNumberType {
        /// Offset of the type byte.
        position: usize,
        /// The type byte.
        type_byte: u8,
    },
    /// A type byte above `0x10`.
    #[error("unknown type byte 0x{type_byte:02x} at byte {position}")]
    UnknownType {
        /// Offset of the type byte.
        position: usize,
        /// The type byte.
        type_byte: u8,
    },
    /// A map key that is not a STRING (Java: `TypeMismatchException`).
    #[error("map key at byte {position} has type 0x{actual:02x}, expected a string (0x05)")]
    KeyNotString {
        /// Offset of the key's type byte.
        position: usize,
        /// The key's type byte.
        actual: u8,
    },
    /// A length prefix that is negative once read as a Java `int` where Java fails too (a BLOB,
    /// or a STRING whose rewind would not make progress).
    #[error("negative length {length} at byte {position}")]
    NegativeLength {
        /// Offset of the length prefix.
        position: usize,
        /// The length as Java reads it.
        length: i64,
    },
    /// A length prefix larger than what is left of the input; nothing was allocated for it.
    #[error("length {length} at byte {position} runs past the end of the input ({remaining} bytes left)")]
    LengthBeyondInput {
        /// Offset of the length prefix.
        position: usize,
        /// The declared length.
        length: u64,
        /// Bytes left after the prefix.
        remaining: usize,
    },
    /// Containers nested deeper than [`crate::DecodeLimits::max_depth`].
    #[error("containers nested deeper than {limit} at byte {position}")]
    TooDeep {
        /// Offset of the container that went too deep.
        position: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More values than [`crate::DecodeLimits::max_values`].
    #[error("more than {limit} values at byte {position}")]
    TooManyValues {
        /// Offset of the value that went over the limit.
        position: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The input is longer than [`crate::DecodeLimits::max_input`].
    #[error("input of {length} bytes exceeds the limit of {limit} bytes")]
    InputTooLarge {
        /// The input length.
        length: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl DecodeError {
    /// The byte offset at which decoding failed.
    pub fn position(&self) -> usize {
        match self {
            DecodeError::UnexpectedEnd { position }
            | DecodeError::DeprecatedNumberType { position, .. }
            | DecodeError::UnknownType { position, .. }
            | DecodeError::KeyNotString { position, .. }
            | DecodeError::NegativeLength { position, .. }
            | DecodeError::LengthBeyondInput { position, .. }
            | DecodeError::TooDeep { position, .. }
            | DecodeError::TooManyValues { position, .. } => *position,
            DecodeError::InputTooLarge { .. } => 0,
        }
    }
}
