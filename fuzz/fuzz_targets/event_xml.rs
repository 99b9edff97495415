//! Fuzz target for the event XML readers: the mapping from an event's XML to its record
//! (`map_event`: what `EvtRender` gives the live source, and what the file source renders), and
//! the check of a logger's structured query (`query_refusal`, `query_channels`: a `QueryList`
//! an operator types). Nothing may panic or take longer than a time limit proportional to the
//! input's size; every text of a record, names included, is cut at `max_field_bytes`.
#![no_main]

#[path = "common/time_limit.rs"]
mod time_limit;

use std::time::Duration;

use kraken_codec::Value;
use libfuzzer_sys::fuzz_target;
use sentry::eventlog::{EventExtras, MappingOptions, map_event};
use sentry_host::eventlog::query::{query_channels, query_refusal};

/// Small, so that inputs reach the cut.
const MAX_FIELD_BYTES: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    time_limit::within_limit(data, Duration::from_secs(10), || read_xml(xml));
});

fn read_xml(xml: &str) {
    // What the live source adds (a formatted message, an account) comes from the input too.
    let include_xml = xml.len() % 2 == 0;
    let options = MappingOptions { max_field_bytes: MAX_FIELD_BYTES, include_xml };
    let extras = EventExtras {
        message: Some(xml.to_owned()),
        account: Some((xml.to_owned(), xml.to_owned())),
        ..EventExtras::default()
    };
    if let Ok(mapped) = map_event(xml, &extras, &options) {
        let cut = include_xml && xml.len() > MAX_FIELD_BYTES;
        assert!(!cut || mapped.params.get("truncated") == Some(&Value::Bool(true)), "a cut XML not flagged");
        assert_cut(&Value::Map(mapped.params), "params");
    }
    let channels = query_channels(xml);
    if query_refusal("Security", xml).is_none() {
        assert!(channels.iter().all(|c| c.eq_ignore_ascii_case("Security")), "{channels:?}");
    }
}

/// Every text in `value` at most [`MAX_FIELD_BYTES`] long, the keys of maps too (but for a
/// suffix).
fn assert_cut(value: &Value, path: &str) {
    match value {
        Value::Str(text) => {
            assert!(text.as_str().len() <= MAX_FIELD_BYTES, "{path}: {} bytes", text.as_str().len())
        }
        Value::Map(map) => {
            for (key, value) in map.iter() {
                // A name repeated after its cut gets a suffix: `_` and a number.
                let most = MAX_FIELD_BYTES + 1 + usize::MAX.to_string().len();
                assert!(key.as_str().len() <= most, "a key of {path}: {} bytes", key.as_str().len());
                assert_cut(value, &format!("{path}.{key}"));
            }
        }
        Value::Array(items) => items.iter().for_each(|item| assert_cut(item, path)),
        _ => {}
    }
}
