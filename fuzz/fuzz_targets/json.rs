//! Fuzz target for the JSON readers: typed JSON (`typed_json::parse_str`, what
//! `kraken-sentry codec encode` reads), plain JSON as values (`plain_json::from_json`, what the
//! base's admin API makes of call parameters) and serde deserialization into `Value` and
//! `BorrowedValue`. Nothing may panic or take longer than a time limit proportional to the
//! input's size (a map of many keys was quadratic on every one of these paths); a typed document
//! that parses must survive render → parse; the owned and borrowed serde readings must agree.
#![no_main]

#[path = "common/time_limit.rs"]
mod time_limit;

use kraken_codec::typed_json::{self, Abbreviate};
use kraken_codec::{BorrowedValue, Value, encode, plain_json};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Seven readings of a JSON text, each allocating per value, take about 2.6 s per MiB under
    // the sanitizers (measured on typed maps of 5,000 to 40,000 entries, linear): well inside 10.
    time_limit::within_limit(data, Duration::from_secs(10), || read_json(text));
});

fn read_json(text: &str) {
    if let Ok(value) = typed_json::parse_str(text) {
        let bytes = encode(&value);
        let rendered = typed_json::render(&value, Abbreviate::Never);
        let again = typed_json::parse(&rendered).expect("rendered typed JSON parses");
        // Compared as bytes: NaN is not equal to itself as a value.
        assert_eq!(encode(&again), bytes);
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        let value = plain_json::from_json(&json);
        assert_eq!(plain_json::to_json(&value).is_object(), json.is_object());
    }
    let owned = serde_json::from_str::<Value>(text);
    let borrowed = serde_json::from_str::<BorrowedValue>(text);
    match (owned, borrowed) {
        (Ok(owned), Ok(borrowed)) => assert_eq!(encode(&borrowed.into_owned()), encode(&owned)),
        (owned, borrowed) => assert_eq!(owned.is_ok(), borrowed.is_ok()),
    }
}
