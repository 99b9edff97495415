//! The "raw number" varint and zigzag mapping of the Kraken codec.
//!
//! This is **not** LEB128: groups of 7 bits go from the most significant to the least
//! significant (big-endian base 128), every byte but the last has `0x80` set, and the encoder
//! uses the minimal number of groups. One quirk is reproduced on purpose: Java shifts a signed
//! `long` arithmetically, so a value with bit 63 set (only a ZINT64 whose zigzag form is
//! "negative") is written as ten groups whose first byte is `0xFF` instead of `0x81`.
//!
//! Decoding shifts a 64-bit accumulator left by 7 per byte and silently drops what overflows, so
//! over-long forms (leading `0x80` groups, eleven groups...) are accepted exactly as Java does.

/// Number of bytes [`write`] emits for `value`.
#[inline]
pub fn len(value: u64) -> usize {
    if value >> 63 != 0 {
        return 10;
    }
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Appends the varint form of `value` to `out`.
#[inline(always)]
pub fn write(out: &mut Vec<u8>, value: u64) {
    // One byte is the common case (short lengths, small integers): kept inline in the caller.
    if value < 0x80 {
        out.push(value as u8);
    } else {
        write_long(out, value);
    }
}

#[inline(never)]
fn write_long(out: &mut Vec<u8>, value: u64) {
    let (buf, n) = to_bytes(value);
    out.extend_from_slice(&buf[..n]);
}

/// The varint form of `value`: a buffer and how many of its bytes are used.
#[inline]
pub fn to_bytes(value: u64) -> ([u8; 10], usize) {
    let n = len(value);
    // The groups are gathered in a register and stored at once: stored byte by byte, they would
    // be read back wider before the stores land (a store-forwarding stall per length prefix).
    let mut groups: u128 = 0;
    for i in 0..n {
        let shift = 7 * (n - 1 - i);
        // Arithmetic shift of the signed value, as Java does: the top group of a value with bit
        // 63 set comes out as all ones (0xFF once OR-ed with 0x80).
        let group = ((value as i64) >> shift) as u8;
        let byte = if i + 1 == n { group & 0x7F } else { group | 0x80 };
        groups |= u128::from(byte) << (8 * (15 - i));
    }
    let mut buf = [0u8; 10];
    buf.copy_from_slice(&groups.to_be_bytes()[..10]);
    (buf, n)
}

/// Zigzag-maps a signed value (`0 → 0, -1 → 1, 1 → 2, ...`).
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Zigzag decoding narrowed to 32 bits the way Java does it: the accumulator is cast to `int`
/// first, so only its low 32 bits count.
#[inline]
pub fn unzigzag32(u: u64) -> i32 {
    let low = u as u32;
    ((low >> 1) as i32) ^ -((low & 1) as i32)
}

/// Zigzag decoding narrowed to 16 bits: only the low 16 bits of the accumulator count.
#[inline]
pub fn unzigzag16(u: u64) -> i16 {
    let low = u as u16;
    ((low >> 1) as i16) ^ -((low & 1) as i16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(v: u64) -> String {
        let mut out = Vec::new();
        write(&mut out, v);
        out.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn big_endian_groups() {
        assert_eq!(hex(0), "00");
        assert_eq!(hex(127), "7f");
        assert_eq!(hex(128), "8100");
        assert_eq!(hex(10000), "ce10");
        assert_eq!(hex(16384), "818000");
        assert_eq!(hex(30000), "81ea30");
        assert_eq!(hex(60000), "83d460");
    }

    #[test]
    fn top_bit_values_lead_with_ff() {
        assert_eq!(hex(zigzag(i64::MAX)), "ffffffffffffffffff7e");
        assert_eq!(hex(zigzag(1 << 62)), "ff808080808080808000");
        assert_eq!(len(zigzag(i64::MIN)), 10);
    }

    #[test]
    fn length_matches_written_bytes() {
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                let mut out = Vec::new();
                write(&mut out, v);
                assert_eq!(out.len(), len(v), "value {v}");
            }
        }
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN, 1 << 40] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(unzigzag32((1 << 32) + 2), 1);
        assert_eq!(unzigzag16(65538), 1);
        assert_eq!(unzigzag32(zigzag(i64::from(i32::MIN))), i32::MIN);
    }
}
