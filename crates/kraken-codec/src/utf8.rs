//! Text conversions that behave like the JDK's, so that strings match Java peers byte for byte.
//!
//! * Decoding malformed UTF-8 never fails: it yields U+FFFD, with the JDK's granularity. That
//!   granularity is the Unicode "maximal subpart" rule Rust also follows, with one exception:
//!   the JDK reads `ED A0..BF xx` (an encoded UTF-16 surrogate) as a single 3-byte malformed
//!   sequence and emits one U+FFFD for it, where Rust emits one per byte.
//! * Encoding from UTF-16 (text that comes from Win32 or Java) turns an unpaired surrogate into
//!   `?`, as Java's `String.getBytes("UTF-8")` does.

use crate::value::Text;

/// Decodes UTF-8 the way the JDK's decoder does in replace mode.
#[inline]
pub fn decode_lossy(bytes: &[u8]) -> Text {
    match valid_str(bytes) {
        Some(valid) => Text::from(valid),
        None => Text::from(decode_lossy_slow(bytes)),
    }
}

/// [`decode_lossy`] into a `String`.
pub fn decode_lossy_string(bytes: &[u8]) -> String {
    match valid_str(bytes) {
        Some(valid) => valid.to_owned(),
        None => decode_lossy_slow(bytes),
    }
}

/// [`decode_lossy`], borrowing the bytes when they are valid UTF-8 (the text is then the same).
#[inline]
pub fn decode_lossy_borrowed(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match valid_str(bytes) {
        Some(valid) => std::borrow::Cow::Borrowed(valid),
        None => std::borrow::Cow::Owned(decode_lossy_slow(bytes)),
    }
}

/// Texts up to this long are checked for ASCII in line before the full UTF-8 check; longer ones
/// go to the full check alone, whose cost per byte is lower (and stays low in debug builds).
const SHORT_TEXT: usize = 256;

/// The bytes as text when they are valid UTF-8. Keys and most values are short ASCII: those
/// are told apart here, without a call to the full check.
#[inline]
fn valid_str(bytes: &[u8]) -> Option<&str> {
    if bytes.len() <= SHORT_TEXT && is_ascii(bytes) {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// True when every byte is ASCII: eight bytes at a time, the last word overlapping the one
/// before it, so no byte is looked at alone (for short texts, quicker than
/// `<[u8]>::is_ascii`).
#[inline]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let word =
        |at: usize| bytes.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_ne_bytes);
    let seen = match bytes.len() {
        0..4 => bytes.iter().fold(0u64, |seen, &byte| seen | u64::from(byte)),
        len @ 4..8 => {
            let half = |at: usize| {
                bytes.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_ne_bytes)
            };
            u64::from(half(0) | half(len - 4))
        }
        len => (0..len / 8).fold(word(len - 8), |seen, n| seen | word(n * 8)),
    };
    seen & HIGH_BITS == 0
}

fn decode_lossy_slow(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(err) => {
                let (good, bad) = rest.split_at(err.valid_up_to());
                // The prefix was just validated by from_utf8.
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                let skip = jdk_malformed_len(bad, err.error_len());
                rest = &bad[skip..];
            }
        }
    }
}

/// How many bytes the JDK consumes for the malformed sequence at the start of `bad`.
fn jdk_malformed_len(bad: &[u8], rust_len: Option<usize>) -> usize {
    let is_continuation = |b: u8| b & 0xC0 == 0x80;
    if bad.len() >= 2 && bad[0] == 0xED && (0xA0..=0xBF).contains(&bad[1]) {
        return if bad.len() >= 3 && is_continuation(bad[2]) { 3 } else { 2 };
    }
    rust_len.unwrap_or(bad.len())
}

/// Converts UTF-16 to a Rust string, replacing each unpaired surrogate with `?` as Java's
/// UTF-8 encoder does.
pub fn from_utf16_java(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied()).map(|unit| unit.unwrap_or('?')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogate_sequences_count_once_like_the_jdk() {
        assert_eq!(decode_lossy(&[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]), "\u{FFFD}\u{FFFD}");
        assert_eq!(decode_lossy(&[0xED, 0xA0, 0x41]), "\u{FFFD}A");
        assert_eq!(decode_lossy(&[0xED, 0xA0]), "\u{FFFD}");
    }

    #[test]
    fn other_malformed_input_follows_maximal_subparts() {
        assert_eq!(decode_lossy(&[0xC0, 0x80]), "\u{FFFD}\u{FFFD}");
        assert_eq!(decode_lossy(&[0x61, 0xE4, 0xB8]), "a\u{FFFD}");
        assert_eq!(decode_lossy(&[0xF0, 0x9F, 0x41]), "\u{FFFD}A");
        assert_eq!(decode_lossy(&[0xE0, 0x80, 0x80]), "\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(decode_lossy("한글".as_bytes()), "한글");
        // Malformed bytes after eight or more ASCII ones, and at every place of a word.
        for at in 0..17 {
            let mut bytes = vec![b'a'; 17];
            bytes[at] = 0xFF;
            let mut expected = "a".repeat(17);
            expected.replace_range(at..=at, "\u{FFFD}");
            assert_eq!(decode_lossy(&bytes), expected.as_str(), "0xFF at {at}");
            assert_eq!(decode_lossy_borrowed(&bytes[..at]), "a".repeat(at));
        }
    }

    #[test]
    fn unpaired_surrogates_become_question_marks() {
        assert_eq!(from_utf16_java(&[0x61, 0xD800, 0x62]), "a?b");
        assert_eq!(from_utf16_java(&[0xD83D, 0xDE00]), "\u{1F600}");
        assert_eq!(from_utf16_java(&[0xDE00, 0xD83D]), "??");
    }
}
