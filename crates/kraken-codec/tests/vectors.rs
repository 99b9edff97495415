//! Every golden vector produced by running the original Java codec (`tests/data/vectors.json`, a
//! copy of the shared `kraken-wire/vectors.json`), checked against this crate: encodings byte for
//! byte, decodings as Java decoded them, errors where Java threw.

use kraken_codec::typed_json::{self, Abbreviate, TypedJsonError};
use kraken_codec::{
    DecodeError, DecodeLimits, Value, decode_borrowed_prefix, decode_prefix, encode, encoded_len,
    validate_prefix,
};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

fn vectors() -> Vec<Json> {
    let text = include_str!("data/vectors.json");
    let doc: Json = serde_json::from_str(text).expect("vectors.json is JSON");
    doc["vectors"].as_array().expect("a vectors array").clone()
}

fn of_kind(kind: &str) -> Vec<Json> {
    let all: Vec<Json> = vectors().into_iter().filter(|v| v["kind"] == kind).collect();
    assert!(!all.is_empty(), "no vectors of kind {kind}");
    all
}

fn name(v: &Json) -> &str {
    v["name"].as_str().unwrap_or("?")
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex in vectors")
}

/// Decodes a vector's bytes, checking on the way that the allocation-free check
/// (`validate_prefix`, behind `RawValue`) and the borrowed decoder accept or refuse them exactly
/// as the decoder does, the borrowed decoder with the same value.
fn decode_all(bytes: &[u8]) -> Result<(Value, usize), DecodeError> {
    let decoded = decode_prefix(bytes, &DecodeLimits::default());
    let checked = validate_prefix(bytes, &DecodeLimits::default());
    assert_eq!(checked, decoded.clone().map(|(_, consumed)| consumed), "check and decoder disagree");
    let borrowed = decode_borrowed_prefix(bytes, &DecodeLimits::default());
    let as_bytes = |(value, consumed): (Value, usize)| (encode(&value), consumed);
    assert_eq!(
        borrowed.map(|(value, consumed)| as_bytes((value.into_owned(), consumed))),
        decoded.clone().map(as_bytes),
        "borrowed and owned decoders disagree"
    );
    decoded
}

/// Sorts map entries by key, recursively, so maps compare as sets (Java's HashMap order is not
/// part of the contract).
fn normalize(json: &Json) -> Json {
    match json {
        Json::Object(obj) => {
            let mut out = serde_json::Map::new();
            for (k, v) in obj {
                if k == "entries" {
                    let mut entries: Vec<Json> = v.as_array().unwrap().iter().map(normalize).collect();
                    entries.sort_by_key(|e| e[0].as_str().unwrap_or_default().to_owned());
                    out.insert(k.clone(), Json::Array(entries));
                } else {
                    out.insert(k.clone(), normalize(v));
                }
            }
            Json::Object(out)
        }
        Json::Array(items) => Json::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// The class label the vectors give Java's decoded containers; ours always say HashMap /
/// Object[], which is what Java's decoder returns, so only decoded values are compared.
fn same_decoded(ours: &Value, java: &Json) -> bool {
    normalize(&typed_json::render(ours, Abbreviate::LikeVectors)) == normalize(java)
}

/// Checks an encoding against a vector's `hex`, or its head/tail/length/sha256 for long ones.
fn check_encoding(v: &Json, bytes: &[u8]) {
    if let Some(hex) = v["hex"].as_str() {
        assert_eq!(hex::encode(bytes), hex, "{}: encoding", name(v));
        return;
    }
    let head = unhex(v["hex_head"].as_str().unwrap());
    let tail = unhex(v["hex_tail"].as_str().unwrap());
    assert_eq!(bytes.len() as u64, v["hex_total_len"].as_u64().unwrap(), "{}: length", name(v));
    assert!(bytes.starts_with(&head), "{}: head", name(v));
    assert!(bytes.ends_with(&tail), "{}: tail", name(v));
    assert_eq!(hex::encode(Sha256::digest(bytes)), v["hex_sha256"].as_str().unwrap(), "{}: sha256", name(v));
}

#[test]
fn encode_vectors_encode_byte_for_byte() {
    for v in of_kind("encode") {
        let value = typed_json::parse(&v["value"]).unwrap_or_else(|e| panic!("{}: {e}", name(&v)));
        let bytes = encode(&value);
        check_encoding(&v, &bytes);
        assert_eq!(encoded_len(&value) as u64, v["length_of"].as_u64().unwrap(), "{}: length_of", name(&v));
    }
}

#[test]
fn encode_vectors_decode_as_java_decodes_them() {
    for v in of_kind("encode") {
        let value = typed_json::parse(&v["value"]).unwrap();
        let bytes = encode(&value);
        let (decoded, consumed) = decode_all(&bytes).unwrap_or_else(|e| panic!("{}: {e}", name(&v)));
        assert_eq!(consumed as u64, v["decode_consumed"].as_u64().unwrap(), "{}: consumed", name(&v));
        assert!(
            same_decoded(&decoded, &v["java_decoded"]),
            "{}: decoded {} but Java saw {}",
            name(&v),
            typed_json::render(&decoded, Abbreviate::LikeVectors),
            v["java_decoded"]
        );
        // Re-encoding what was decoded gives the same bytes, except where only map order
        // differs (the vectors' round trip went through a Java HashMap).
        let again = encode(&decoded);
        if v["roundtrip_same_bytes"] == true {
            assert_eq!(again, bytes, "{}: round trip", name(&v));
        } else {
            let java_again = unhex(v["roundtrip_hex"].as_str().unwrap());
            let (theirs, _) = decode_all(&java_again).unwrap();
            assert!(same_decoded(
                &theirs,
                &normalize(&typed_json::render(&decoded, Abbreviate::LikeVectors))
            ));
        }
    }
}

#[test]
fn encode_error_vectors_are_refused() {
    for v in of_kind("encode-error") {
        let err = typed_json::parse(&v["value"]).expect_err(name(&v));
        assert!(matches!(err, TypedJsonError::Unsupported { .. }), "{}: {err}", name(&v));
    }
}

#[test]
fn decode_vectors_are_accepted_like_java() {
    for v in of_kind("decode") {
        let bytes = unhex(v["hex"].as_str().unwrap());
        let (decoded, consumed) = decode_all(&bytes).unwrap_or_else(|e| panic!("{}: {e}", name(&v)));
        assert_eq!(consumed as u64, v["decode_consumed"].as_u64().unwrap(), "{}: consumed", name(&v));
        assert_eq!(
            (bytes.len() - consumed) as u64,
            v["trailing_unread"].as_u64().unwrap(),
            "{}: trailing",
            name(&v)
        );
        assert!(
            same_decoded(&decoded, &v["java_decoded"]),
            "{}: decoded {} but Java saw {}",
            name(&v),
            typed_json::render(&decoded, Abbreviate::LikeVectors),
            v["java_decoded"]
        );
        let reencoded = unhex(v["reencoded_hex"].as_str().unwrap());
        let ours = encode(&decoded);
        if ours != reencoded {
            // Only map order may differ.
            let (theirs, _) = decode_all(&reencoded).unwrap();
            assert_eq!(
                normalize(&typed_json::render(&theirs, Abbreviate::Never)),
                normalize(&typed_json::render(&decoded, Abbreviate::Never)),
                "{}: re-encoding",
                name(&v)
            );
        }
    }
}

#[test]
fn decode_error_vectors_fail_with_the_matching_error() {
    for v in of_kind("decode-error") {
        let bytes = unhex(v["hex"].as_str().unwrap());
        let err = decode_all(&bytes).expect_err(name(&v));
        let class = v["error"]["class"].as_str().unwrap();
        let message = v["error"]["message"].as_str().unwrap_or("");
        let fits = match class {
            "java.nio.BufferUnderflowException" | "java.lang.IndexOutOfBoundsException" => {
                matches!(err, DecodeError::UnexpectedEnd { .. } | DecodeError::LengthBeyondInput { .. })
            }
            // A STRING length past the end of the buffer.
            "java.lang.IllegalArgumentException" => matches!(err, DecodeError::LengthBeyondInput { .. }),
            // Java allocates the array before it checks the input; we refuse the length first.
            "java.lang.OutOfMemoryError" => matches!(err, DecodeError::LengthBeyondInput { .. }),
            "java.lang.NegativeArraySizeException" => matches!(err, DecodeError::NegativeLength { .. }),
            "org.krakenapps.codec.UnsupportedTypeException" if message == "deprecated number type" => {
                matches!(err, DecodeError::DeprecatedNumberType { .. })
            }
            "org.krakenapps.codec.UnsupportedTypeException" => match err {
                DecodeError::UnknownType { type_byte, .. } => message == format!("type: {}", type_byte as i8),
                _ => false,
            },
            "org.krakenapps.codec.TypeMismatchException" => {
                err == DecodeError::KeyNotString {
                    position: v["error"]["position"].as_u64().unwrap() as usize,
                    actual: v["error"]["actual_type"].as_u64().unwrap() as u8,
                }
            }
            other => panic!("{}: unexpected Java class {other}", name(&v)),
        };
        assert!(fits, "{}: Java threw {class} ({message}), we said {err:?}", name(&v));
    }
}

#[test]
fn rpc_frames_decode_in_either_jdk_map_order_and_encode_byte_for_byte() {
    for v in of_kind("rpc") {
        let bytes = unhex(v["hex"].as_str().unwrap());
        let (decoded, consumed) = decode_all(&bytes).unwrap_or_else(|e| panic!("{}: {e}", name(&v)));
        assert_eq!(consumed, bytes.len(), "{}", name(&v));
        assert!(same_decoded(&decoded, &v["java_decoded"]), "{}", name(&v));

        let jdk7 = unhex(v["hex_jdk6_7_order"].as_str().unwrap());
        let (decoded7, _) = decode_all(&jdk7).unwrap();
        assert!(same_decoded(&decoded7, &v["java_decoded"]), "{}: JDK 6/7 order", name(&v));

        // Header integers keep their Java kind (Integer).
        let header = decoded.as_array().unwrap()[0].as_map().unwrap();
        for key in ["id", "session", "ret-for"] {
            if let Some(field) = header.get(key) {
                assert!(matches!(field, Value::I32(_)), "{}: {key} is {field:?}", name(&v));
            }
        }

        // Built from the typed value with entries in the vector's order, the frame is identical.
        let value = typed_json::parse(&v["value"]).unwrap();
        assert_eq!(hex::encode(encode(&value)), v["hex"].as_str().unwrap(), "{}", name(&v));
    }
}
