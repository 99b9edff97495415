//! The RPC frames and password hashes of the golden vectors (made by running the original Java
//! code): every frame reads as the message Java built, the frame we write for that message
//! decodes to the same header and body (maps compared as sets), and our hash matches Java's.

use kraken_codec::{Value, decode, encode};
use kraken_rpc::frame::{FrameCheck, check};
use kraken_rpc::message::{Body, Message};
use kraken_rpc::password_hash;
use serde_json::Value as Json;

fn vectors(kind: &str) -> Vec<Json> {
    let doc: Json = serde_json::from_str(include_str!("../../kraken-codec/tests/data/vectors.json")).unwrap();
    let all: Vec<Json> =
        doc["vectors"].as_array().unwrap().iter().filter(|v| v["kind"] == kind).cloned().collect();
    assert!(!all.is_empty());
    all
}

/// The frame with `params: NULL` written as an empty array (how we write "no parameters"; Java
/// accepts both), so the two compare equal.
fn with_null_params_as_empty(frame: Value) -> Value {
    let Value::Array(mut parts) = frame else { return frame };
    if let Some(Value::Map(body)) = parts.get_mut(1)
        && body.get("params") == Some(&Value::Null)
    {
        body.insert("params", Value::Array(vec![]));
    }
    Value::Array(parts)
}

#[test]
fn every_rpc_vector_reads_and_rewrites_identically() {
    for v in vectors("rpc") {
        let name = v["name"].as_str().unwrap();
        for key in ["hex", "hex_jdk6_7_order"] {
            let bytes = hex::decode(v[key].as_str().unwrap()).unwrap();
            assert_eq!(check(&bytes, 1 << 20), Ok(FrameCheck::Complete(bytes.len())), "{name}");
            assert_eq!(check(&bytes[..bytes.len() - 1], 1 << 20), Ok(FrameCheck::Incomplete), "{name}");

            let frame = decode(&bytes).unwrap();
            let message = Message::from_value(frame.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ours = encode(&message.clone().into_value());
            let reread = decode(&ours).unwrap();
            assert_eq!(reread, with_null_params_as_empty(frame), "{name} ({key})");
            assert_eq!(Message::from_value(reread).unwrap(), message, "{name}");
        }
    }
}

#[test]
fn rpc_vectors_have_the_expected_shapes() {
    let find = |name: &str| {
        let v = vectors("rpc").into_iter().find(|v| v["name"] == name).unwrap();
        Message::from_value(decode(&hex::decode(v["hex"].as_str().unwrap()).unwrap()).unwrap()).unwrap()
    };
    let peering = find("rpc_call_peering_request");
    assert_eq!((peering.id, peering.session), (1, 0));
    assert!(
        matches!(&peering.body, Body::Call { method, params } if method == "peering-request" && params.len() == 1)
    );
    assert!(matches!(find("rpc_error_null_cause").body, Body::Error { ret_for: 7, cause: None }));
    assert!(
        matches!(find("rpc_error_cause").body, Body::Error { cause: Some(ref c), .. } if c == "logger not found: cpu")
    );
    assert_eq!(find("rpc_call_big_id").id, i32::MAX);
    assert!(
        matches!(find("rpc_post_run_connect_log_channel").body, Body::Post { ref method, .. } if method == "run")
    );
}

#[test]
fn password_hashes_match_java() {
    for v in vectors("auth-hash") {
        let password = v["value"]["password"].as_str();
        let nonce = v["value"]["nonce"].as_str().unwrap();
        let expected = v["java_result"].as_str();
        assert_eq!(password_hash(password, nonce).as_deref(), expected, "{}", v["name"]);
    }
}
