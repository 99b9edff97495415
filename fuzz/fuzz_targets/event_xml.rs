//! Fuzz target for the event XML readers: the mapping from an event's XML to its record
//! (`map_event`: what `EvtRender` gives the live source, and what the file source renders), and
//! the check of a logger's structured query (`query_refusal`, `query_channels`: a `QueryList`
//! an operator types). Nothing may panic or take longer than a time limit proportional to the
//! input's size; every text of a record, names included, is cut at `max_field_bytes`; and a
//! record takes at most a fixed multiple of its event's size, so that no shape of event makes
//! the record grow faster than the event (with a cut too large to bound it, as an agent may be
//! configured).
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

/// A cut no input of the fuzzer reaches (inputs are at most 1 MiB): only the record's own
/// bounds keep it in proportion to the event.
const UNCUT_FIELD_BYTES: usize = 16 << 20;

/// The most a record may take per byte of its event, as [`record_size`] counts. What the
/// mapping makes from an event: its texts once, element names copied into their attributes'
/// keys (at most the event's size over all of them), the event's XML with `include_xml`, and
/// here three copies of the event as the live source's message and account; and an entry
/// per element or attribute, each of at least 4 bytes of the event.
const RECORD_BYTES_PER_EVENT_BYTE: usize = 16;

/// Allowed for any event, however small: the fixed fields and their names.
const RECORD_BASE_BYTES: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    time_limit::within_limit(data, Duration::from_secs(10), || read_xml(xml));
});

fn read_xml(xml: &str) {
    // What the live source adds (a formatted message, an account) comes from the input too.
    let include_xml = xml.len() % 2 == 0;
    let max_field_bytes = if xml.len() % 3 == 0 { UNCUT_FIELD_BYTES } else { MAX_FIELD_BYTES };
    let options = MappingOptions { max_field_bytes, include_xml };
    let extras = EventExtras {
        message: Some(xml.to_owned()),
        account: Some((xml.to_owned(), xml.to_owned())),
        ..EventExtras::default()
    };
    if let Ok(mapped) = map_event(xml, &extras, &options) {
        let cut = include_xml && xml.len() > max_field_bytes;
        assert!(!cut || mapped.params.get("truncated") == Some(&Value::Bool(true)), "a cut XML not flagged");
        let params = Value::Map(mapped.params);
        let size = record_size(&params);
        let most = RECORD_BASE_BYTES + RECORD_BYTES_PER_EVENT_BYTE * xml.len();
        assert!(size <= most, "a record of {size} bytes from an event of {} (at most {most})", xml.len());
        if max_field_bytes == MAX_FIELD_BYTES {
            assert_cut(&params, "params");
        }
    }
    let channels = query_channels(xml);
    if query_refusal("Security", xml).is_none() {
        assert!(channels.iter().all(|c| c.eq_ignore_ascii_case("Security")), "{channels:?}");
    }
}

/// The bytes `value` takes: its texts' and keys' bytes, and 8 for each value (the size of an
/// encoded scalar, about).
fn record_size(value: &Value) -> usize {
    8 + match value {
        Value::Str(text) => text.as_str().len(),
        Value::Map(map) => map.iter().map(|(key, value)| key.as_str().len() + record_size(value)).sum(),
        Value::Array(items) => items.iter().map(record_size).sum(),
        Value::Blob(bytes) => bytes.len(),
        _ => 0,
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
