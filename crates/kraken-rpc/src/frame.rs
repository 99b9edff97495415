//! Frames: how Kraken RPC cuts a byte stream into messages.
//!
//! There is no separate header: a frame is one codec ARRAY value, `0a <varint length> <content>`,
//! and the array's own content-length prefix says where it ends. Like mini-redis's `frame.rs`,
//! [`check`] looks at buffered bytes and tells "complete, this long" from "need more bytes" from
//! "this can never be a frame" *before* anything is decoded or allocated; the maximum frame size
//! is enforced from the length prefix alone, so a peer announcing a huge frame is refused at once
//! instead of being buffered forever (as Java's `RpcDecoder` would).
//!
//! [`crate::frame_reader::FrameReader`] uses this to read whole frames off a connection; their
//! content is checked when they are read as messages.

use kraken_codec::{DecodeLimits, type_byte};

/// The default largest frame accepted or sent: 8 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 8 << 20;

/// Outcome of [`check`] on buffered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCheck {
    /// A whole frame of this many bytes is at the front of the buffer.
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
}

/// Why bytes on a connection are not a frame; the connection is closed with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first byte is not the ARRAY type byte.
    #[error("a frame must start with an array (0x0a), found 0x{0:02x}")]
    NotAnArray(u8),
    /// The length prefix runs over ten bytes (no valid frame length needs more).
    #[error("the frame length prefix is longer than 10 bytes")]
    LengthPrefixTooLong,
    /// The announced frame is bigger than the configured maximum.
    #[error("frame of {length} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Total frame length announced.
        length: u64,
        /// The configured maximum.
        max: usize,
    },
}

/// Checks whether `buf` starts with a complete frame no longer than `max_len` bytes.
pub fn check(buf: &[u8], max_len: usize) -> Result<FrameCheck, FrameError> {
    Ok(match announced_len(buf, max_len)? {
        Some(total) if buf.len() >= total => FrameCheck::Complete(total),
        _ => FrameCheck::Incomplete,
    })
}

/// The whole length (type byte and prefix included) of the frame `buf` starts with, once its
/// length prefix has arrived; `None` before. A frame over `max_len` bytes is refused from the
/// prefix alone.
pub fn announced_len(buf: &[u8], max_len: usize) -> Result<Option<usize>, FrameError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    if first != type_byte::ARRAY {
        return Err(FrameError::NotAnArray(first));
    }
    let mut content_len: u64 = 0;
    for (i, &b) in buf[1..].iter().enumerate() {
        if i >= 10 {
            return Err(FrameError::LengthPrefixTooLong);
        }
        content_len = (content_len << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            let total = content_len.saturating_add(2 + i as u64);
            if total > max_len as u64 {
                return Err(FrameError::TooLarge { length: total, max: max_len });
            }
            return Ok(Some(total as usize));
        }
    }
    Ok(None)
}

/// The decoding limits for the frames of a connection refusing frames over `max_len` bytes.
pub fn limits(max_len: usize) -> DecodeLimits {
    DecodeLimits { max_input: max_len, ..DecodeLimits::default() }
}

/// A frame error or an I/O error of the underlying stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameDecodeError {
    /// The bytes are not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Reading or writing the stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_incomplete_from_complete_from_invalid() {
        let frame = hex::decode("0a060d020d040d06").unwrap();
        assert_eq!(check(&frame, 100), Ok(FrameCheck::Complete(8)));
        assert_eq!(check(&frame[..7], 100), Ok(FrameCheck::Incomplete));
        assert_eq!(check(&frame[..1], 100), Ok(FrameCheck::Incomplete));
        assert_eq!(check(&[], 100), Ok(FrameCheck::Incomplete));
        assert_eq!(check(&[0x09, 0x00], 100), Err(FrameError::NotAnArray(0x09)));
        assert_eq!(check(&frame, 7), Err(FrameError::TooLarge { length: 8, max: 7 }));
    }

    #[test]
    fn a_huge_length_prefix_is_refused_from_the_prefix_alone() {
        // 0a + varint(2^40): nothing but the prefix has arrived.
        let prefix = [0x0a, 0xA0, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert!(matches!(check(&prefix, DEFAULT_MAX_FRAME_LEN), Err(FrameError::TooLarge { .. })));
        let endless = [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80];
        assert_eq!(check(&endless, usize::MAX), Err(FrameError::LengthPrefixTooLong));
    }

    #[test]
    fn the_length_is_known_once_the_prefix_is_in() {
        let frame = hex::decode("0a8101").unwrap(); // 0a, varint(129): 132 bytes in all
        assert_eq!(announced_len(&frame[..2], 1000), Ok(None));
        assert_eq!(announced_len(&frame, 1000), Ok(Some(132)));
        assert_eq!(announced_len(&frame, 131), Err(FrameError::TooLarge { length: 132, max: 131 }));
    }
}
