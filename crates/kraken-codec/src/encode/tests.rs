//! Tests of the encoder: exact bytes (content-byte-length prefixes, canonical NaN), appending,
//! and the larger length prefixes of large containers, checked by decoding them back.

use super::*;
use crate::map;

fn hex(v: &Value) -> String {
    encode(v).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn nested_containers_carry_content_byte_lengths() {
    let v = map! {
        "outer" => map! { "inner" => map! { "x" => 1i32 } },
        "list" => Value::Array(vec![map! { "y" => 2i32 }, Value::from("z")]),
    };
    assert_eq!(
        hex(&v),
        "092905056f75746572090e0505696e6e657209050501780d0205046c6973740a0a09050501790d0405017a"
    );
    assert_eq!(encoded_len(&v), encode(&v).len());
}

#[test]
fn nan_is_canonical_and_negative_zero_kept() {
    assert_eq!(hex(&Value::F32(f32::from_bits(0xffc0_0001))), "0f7fc00000");
    assert_eq!(hex(&Value::F64(f64::from_bits(0x7ff0_0000_0000_0001))), "107ff8000000000000");
    assert_eq!(hex(&Value::F32(-0.0)), "0f80000000");
}

#[test]
fn appending_gives_the_same_bytes() {
    let a = map! { "a" => Value::Array(vec![1i32.into(), 2i32.into()]) };
    let b = Value::Array(vec![map! {}, map! { "k" => "v" }]);
    let mut out = Vec::new();
    encode_into(&a, &mut out);
    encode_into(&b, &mut out);
    let mut expected = encode(&a);
    expected.extend(encode(&b));
    assert_eq!(out, expected);
}

#[test]
fn large_containers_move_their_content_for_a_longer_prefix() {
    for n in [0usize, 60, 126, 127, 128, 200, 20_000] {
        let v = Value::Array(vec![Value::Blob(vec![7; n]), map! { "k" => "x".repeat(n) }]);
        let bytes = encode(&v);
        assert_eq!(bytes.len(), encoded_len(&v), "{n}");
        assert_eq!(crate::decode(&bytes).unwrap(), v, "{n}");
    }
}
