//! Runs the real `kraken-sentry codec` binary over every golden vector: hex decodes to the typed
//! JSON Java decoded, that JSON encodes back to the same bytes, and bad input is a one-line error
//! with a non-zero exit.

mod common;

use std::process::Output;

use common::run;

use serde_json::Value as Json;

fn vectors() -> Vec<Json> {
    let doc: Json = serde_json::from_str(include_str!("../../kraken-codec/tests/data/vectors.json")).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Sorts map entries by key so maps compare as sets (Java's HashMap order is not the contract).
fn normalize(json: &Json) -> Json {
    match json {
        Json::Object(obj) => Json::Object(
            obj.iter()
                .map(|(k, v)| {
                    let mut v = normalize(v);
                    if k == "entries" {
                        v.as_array_mut()
                            .unwrap()
                            .sort_by_key(|e| e[0].as_str().unwrap_or_default().to_owned());
                    }
                    (k.clone(), v)
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

#[test]
fn every_vector_decodes_to_java_typed_json_and_encodes_back() {
    let vectors: Vec<Json> = vectors()
        .into_iter()
        .filter(|v| {
            v["hex"].is_string() && ["decode", "encode", "rpc"].contains(&v["kind"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(vectors.len() > 150, "only {} vectors to check", vectors.len());
    // Three to five runs of the binary per vector: in four threads (a process start costs
    // about 0.1 s under Wine).
    let share = vectors.len().div_ceil(4);
    std::thread::scope(|threads| {
        for part in vectors.chunks(share) {
            threads.spawn(move || part.iter().for_each(check_vector));
        }
    });
}

/// One vector through `codec decode` and back through `codec encode`.
fn check_vector(v: &Json) {
    let hex = v["hex"].as_str().unwrap();
    let expected = &v["java_decoded"];
    let name = v["name"].as_str().unwrap();
    let printed: Json = serde_json::from_str(&stdout(&run(&["codec", "decode", hex], None))).unwrap();
    assert_eq!(normalize(&printed), normalize(expected), "{name}: decode");

    // The printed form encodes back to the input, or (for non-canonical inputs) to what
    // Java re-encoded.
    let full = stdout(&run(&["codec", "decode", "--full", "--compact", hex], None));
    let again = stdout(&run(&["codec", "encode", "-"], Some(&full)));
    let want = v["reencoded_hex"].as_str().unwrap_or(hex);
    if again.trim() != want {
        // Java re-encoded through a HashMap: only the map order may differ.
        let ours: Json =
            serde_json::from_str(&stdout(&run(&["codec", "decode", again.trim()], None))).unwrap();
        let theirs: Json = serde_json::from_str(&stdout(&run(&["codec", "decode", want], None))).unwrap();
        assert_eq!(normalize(&ours), normalize(&theirs), "{name}: encode");
    }
}

#[test]
fn encode_reproduces_vectors_given_as_typed_values() {
    for v in vectors() {
        if v["kind"] != "encode" && v["kind"] != "rpc" {
            continue;
        }
        let Some(hex) = v["hex"].as_str() else { continue };
        let out = stdout(&run(&["codec", "encode", &v["value"].to_string()], None));
        assert_eq!(out.trim(), hex, "{}", v["name"]);
    }
}

#[test]
fn refused_values_and_bad_input_fail_with_one_line() {
    let refused = vectors().into_iter().filter(|v| v["kind"] == "encode-error");
    let cases = refused.map(|v| vec!["encode".to_owned(), v["value"].to_string()]).chain([
        vec!["decode".into(), "zz".into()],
        vec!["decode".into(), "0d".into()],
        vec!["decode".into(), "11".into()],
        vec!["encode".into(), "{not json".into()],
        vec!["encode".into(), r#"{"t":"i32","v":"x"}"#.into()],
    ]);
    for case in cases {
        let args: Vec<&str> = std::iter::once("codec").chain(case.iter().map(String::as_str)).collect();
        let out = run(&args, None);
        assert!(!out.status.success(), "{case:?} succeeded");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{case:?}: {err}");
        assert!(err.starts_with("kraken-sentry: error: "), "{case:?}: {err}");
        assert!(out.stdout.is_empty(), "{case:?} printed to stdout");
    }
}

#[test]
fn trailing_bytes_are_reported_but_not_an_error() {
    let out = run(&["codec", "decode", "-"], Some("0a000d02\n"));
    assert!(stdout(&out).contains("\"items\": []"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 trailing bytes"));
}
