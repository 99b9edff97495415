//! The mapping on every record of the sample files (`testdata/evtx`), checked record by record
//! against the `evtx` crate's JSON rendering of the same record: a second, separate path
//! through the binary XML (its JSON serializer, not the XML text the mapping parses). Every
//! record must map, and its ids, event id, provider, channel, computer, level, SID, time and
//! event data must be the ones the JSON shows.

use std::time::SystemTime;

use evtx::{EvtxParser, ParserSettings};
use kraken_codec::Value;
use serde_json::Value as Json;

use super::*;

const SAMPLES: &[&str] = &[
    "Application_no_crc32.evtx",
    "Security_short_selected.evtx",
    "new-user-security.evtx",
    "system.evtx",
    "sysmon.evtx",
    "sample_with_a_bad_chunk_magic.evtx",
    "sample-with-zero-data-size-event.evtx",
];

fn sample(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx").join(name)
}

/// Every readable record of a file as (XML, JSON, written time), in file order.
fn records(name: &str) -> Vec<(String, Json, SystemTime)> {
    let settings = ParserSettings::new().indent(false);
    let mut xml = EvtxParser::from_path(sample(name)).unwrap().with_configuration(settings.clone());
    let mut json = EvtxParser::from_path(sample(name)).unwrap().with_configuration(settings);
    let xml: Vec<(String, SystemTime)> =
        xml.records().filter_map(Result::ok).map(|r| (r.data, SystemTime::from(r.timestamp))).collect();
    let json: Vec<Json> = json.records_json_value().filter_map(Result::ok).map(|r| r.data).collect();
    assert_eq!(xml.len(), json.len(), "{name}");
    xml.into_iter().zip(json).map(|((xml, written), json)| (xml, json, written)).collect()
}

/// A JSON element's text: the value itself, or its `#text` beside `#attributes`.
fn text(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Object(map) => map.get("#text").and_then(text),
        other => Some(other.to_string()),
    }
}

fn attribute<'j>(element: &'j Json, name: &str) -> Option<&'j Json> {
    element.get("#attributes").and_then(|a| a.get(name))
}

#[test]
fn every_sample_record_maps_to_the_values_its_json_rendering_shows() {
    let mut checked = 0;
    for name in SAMPLES {
        for (index, (xml, json, written)) in records(name).into_iter().enumerate() {
            let at = format!("{name} record {index}");
            let extras = EventExtras { written: Some(written), ..EventExtras::default() };
            let mapped = map_event(&xml, &extras, &MappingOptions::default())
                .unwrap_or_else(|e| panic!("{at}: {e}\n{xml}"));
            let params = &mapped.params;
            let system = &json["Event"]["System"];
            let record_id: i64 = text(&system["EventRecordID"]).map_or(0, |id| id.parse().unwrap());
            assert_eq!(params["record_id"], Value::I64(record_id), "{at}");
            assert_eq!(params["record_number"], Value::I32(record_id as u32 as i32), "{at}");
            let event_id: i64 = text(&system["EventID"]).unwrap().parse().unwrap();
            assert_eq!(params["event_id"], Value::I32((event_id & 0xFFFF) as i32), "{at}");
            let provider = &system["Provider"];
            let provider_name = attribute(provider, "Name")
                .or_else(|| attribute(provider, "EventSourceName"))
                .and_then(Json::as_str)
                .unwrap_or_default();
            assert_eq!(params["provider_name"], Value::from(provider_name), "{at}");
            if let Some(guid) = attribute(provider, "Guid").and_then(Json::as_str) {
                assert_eq!(params["provider_guid"], Value::from(guid.to_uppercase().as_str()), "{at}");
            }
            assert_eq!(
                params["channel"],
                Value::from(text(&system["Channel"]).unwrap_or_default().as_str()),
                "{at}"
            );
            assert_eq!(
                params["computer"],
                Value::from(text(&system["Computer"]).unwrap_or_default().as_str()),
                "{at}"
            );
            let level: i64 = text(&system["Level"]).map_or(0, |l| l.parse().unwrap());
            assert_eq!(params["level"], Value::I32(level as i32), "{at}");
            let sid = attribute(&system["Security"], "UserID").and_then(Json::as_str);
            assert_eq!(params["user_sid"], sid.map_or(Value::Null, Value::from), "{at}");
            match attribute(&system["TimeCreated"], "SystemTime").and_then(Json::as_str) {
                Some(created) => {
                    // Both seven fraction digits of 100 ns; the JSON writes the same instant.
                    assert_eq!(params["time_created"], Value::from(created), "{at}");
                    let date = parse_system_time(created).unwrap();
                    assert_eq!(mapped.date, date, "{at}: the record's date is TimeCreated");
                }
                None => {
                    assert_eq!(params["time_created"], Value::Null, "{at}");
                    assert_eq!(mapped.date, written, "{at}: without TimeCreated, the write time");
                }
            }
            check_event_data(&at, params, &json["Event"]["EventData"]);
            checked += 1;
        }
    }
    // The files hold 17 + 7 + 4 + 1881 + 358 + 301 + 449 readable records.
    assert_eq!(checked, 3017);
}

/// Named `Data` elements come out under their names with the same text.
fn check_event_data(at: &str, params: &Map, event_data: &Json) {
    let Some(map) = event_data.as_object() else { return };
    let Some(Value::Map(mapped)) = params.get("event_data") else {
        assert!(map.keys().all(|k| k.starts_with('#')), "{at}: event data not mapped: {event_data}");
        return;
    };
    for (key, value) in map {
        if key.starts_with('#') || key == "Data" || key == "Binary" {
            continue; // unnamed items, the binary blob and the attributes
        }
        // An XML parser reads a raw CR LF as LF (XML 1.0, end-of-line handling).
        let expected = text(value).unwrap_or_default().replace("\r\n", "\n");
        let got =
            mapped.get(key.as_str()).and_then(Value::as_str).unwrap_or_else(|| panic!("{at}: no {key}"));
        assert_eq!(got, expected, "{at}: {key}");
    }
}
