//! Tests of the full decoder and of its allocation-free check, including the property the
//! check's quick pass ([`crate::exact::checked_len`]) must keep: whatever it accepts, the full
//! reader accepts with the same length and no Java quirk met.

use super::*;
use crate::encode;
use crate::exact::{MAX_DEPTH, checked_len};
use proptest::prelude::*;

fn dec(hex: &str) -> Result<(Value, usize), DecodeError> {
    let bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    decode_prefix(&bytes, &DecodeLimits::default())
}

#[test]
fn java_leniencies() {
    assert_eq!(dec("0d8002").unwrap(), (Value::I32(1), 3));
    assert_eq!(dec("0102").unwrap(), (Value::Bool(false), 2));
    assert_eq!(dec("0e8081ffffffffffffffff7f").unwrap().0, Value::I64(i64::MIN));
    assert_eq!(dec("058fffffff7f").unwrap(), (Value::Str(Text::default()), 5));
    assert_eq!(dec("09010501610d020501620d04").unwrap().1, 7);
}

#[test]
fn errors_carry_positions() {
    assert_eq!(dec("").unwrap_err(), DecodeError::UnexpectedEnd { position: 0 });
    assert_eq!(dec("09040d020d02").unwrap_err(), DecodeError::KeyNotString { position: 2, actual: 0x0d });
    assert_eq!(dec("0a030d0211").unwrap_err(), DecodeError::UnknownType { position: 4, type_byte: 0x11 });
    assert!(matches!(dec("0b87ffffff7f"), Err(DecodeError::LengthBeyondInput { position: 1, .. })));
    assert!(matches!(dec("0b8fffffff7f"), Err(DecodeError::NegativeLength { length: -1, .. })));
}

#[test]
fn nothing_is_read_after_a_rewind() {
    // An array of two strings of length -1: the first rewinds onto its own length's last byte
    // (0x7F), where the second item would start.
    assert_eq!(
        dec("0a0c058fffffff7f058fffffff7f").unwrap_err(),
        DecodeError::UnknownType { position: 7, type_byte: 0x7f }
    );
}

#[test]
fn a_rewind_that_would_not_progress_is_refused() {
    // A string whose negative length points back before its own type byte.
    assert!(matches!(dec("0a06058880808000"), Err(DecodeError::NegativeLength { .. })));
}

#[test]
fn deep_values_check_as_they_decode() {
    // Deep nesting, up to and past the limit (64).
    for depth in [31, 32, 33, 40, 64, 65] {
        let mut value = Value::I32(7);
        for level in 0..depth {
            value = if level % 2 == 0 {
                Value::Array(vec![value, Value::Null])
            } else {
                crate::map! { "k" => value }
            };
        }
        let bytes = crate::encode(&value);
        let limits = DecodeLimits::default();
        let decoded = decode_prefix(&bytes, &limits).map(|(_, consumed)| consumed);
        assert_eq!(validate_prefix(&bytes, &limits), decoded, "depth {depth}");
        assert_eq!(decoded.is_ok(), depth <= 64, "depth {depth}");
    }
}

#[test]
fn depth_and_count_limits() {
    let deep = [0x0a, 0x01].repeat(100);
    let limits = DecodeLimits { max_depth: 10, ..DecodeLimits::default() };
    assert!(matches!(decode_prefix(&deep, &limits), Err(DecodeError::TooDeep { limit: 10, .. })));
    let many = [vec![0x0a, 0x0a], vec![0u8; 10]].concat();
    let limits = DecodeLimits { max_values: 5, ..DecodeLimits::default() };
    assert!(matches!(decode_prefix(&many, &limits), Err(DecodeError::TooManyValues { .. })));
}

/// Every quick answer is the full check's answer.
fn agrees(bytes: &[u8], limits: &DecodeLimits) -> Result<(), TestCaseError> {
    if let Some(len) = checked_len(bytes, limits) {
        let checked = check_prefix(bytes, limits);
        prop_assert!(matches!(checked, Ok(ref c) if c.len == len && c.exact), "{bytes:02x?}");
    }
    Ok(())
}

#[test]
fn quirks_errors_and_near_limits_go_to_the_full_check() {
    let limits = DecodeLimits::default();
    for hex in [
        "058fffffff7f", // a string with a negative length (Java's rewind)
        "0a030d020d02", // an array whose items run past its length
        "0a8fffffff7f", // an array with a negative length
        "09040d020d02", // a map key that is not a string
        "0a020211",     // a deprecated number type inside an array
        "11",           // an unknown type byte
        "0a05",         // an array longer than the input
        "",             // nothing at all
    ] {
        let bytes = hex::decode(hex).unwrap();
        assert_eq!(checked_len(&bytes, &limits), None, "{hex}");
    }
    let mut deep = encode(&Value::Null);
    for _ in 0..MAX_DEPTH + 1 {
        deep = encode(&Value::Array(vec![crate::decode(&deep).unwrap()]));
    }
    assert_eq!(checked_len(&deep, &limits), None);
    assert!(check_prefix(&deep, &limits).is_ok());
    let few = DecodeLimits { max_values: 2, ..limits };
    assert_eq!(checked_len(&encode(&Value::Array(vec![Value::Null; 2])), &few), None);
}

proptest! {
    #[test]
    fn agrees_with_the_full_check_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        agrees(&bytes, &DecodeLimits { max_depth: 6, max_values: 40, max_input: 200 })?;
        agrees(&bytes, &DecodeLimits::default())?;
    }

    #[test]
    fn agrees_with_the_full_check_on_mutated_frames(
        strings in proptest::collection::vec(".{0,20}", 1..6),
        numbers in proptest::collection::vec(any::<i64>(), 1..6),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let record: crate::Map = strings.iter().zip(&numbers).map(|(k, n)| (k.as_str(), Value::I64(*n))).collect();
        let frame = Value::Array(vec![Value::Map(record), Value::Array(strings.iter().map(Value::from).collect())]);
        let mut bytes = encode(&frame);
        let limits = DecodeLimits::default();
        prop_assert_eq!(checked_len(&bytes, &limits), Some(bytes.len()));
        let i = at.index(bytes.len());
        bytes[i] = byte;
        agrees(&bytes, &limits)?;
    }
}
