//! A source's items as records: events through [`super::mapping`], and the two kinds of record
//! that say what could not be read, so nothing is lost in silence:
//! - `eventlog-gap`: events gone before they were read (a bookmark whose record was cleared or
//!   overwritten, a file replaced): `channel`, `reason`, `last_record_id` (the `EventRecordID`
//!   of the last read before the gap, live), `last_header_id` (its record header id, files: in
//!   exports of selected events it is not the `EventRecordID`), `resumed_at_record_id` and
//!   `resumed_at_header_id` (of the first read after it, when this batch has one, else null),
//!   `archives` (the log's archive files the events after it are read from next, or empty);
//! - `eventlog-error`: an `.evtx` chunk or record that cannot be read, a live event that cannot
//!   be rendered, or an event whose XML cannot be mapped: `source`, `chunk`, `offset`,
//!   `header_id` (files), `record_id` (a live event that cannot be rendered), `error`. An error
//!   can quote the event (a mismatched tag's name), so it is cut at `max_field_bytes` like an
//!   event's texts, with `truncated: true`.
//!
//! Both are dated when they are made; events carry their own `TimeCreated`.

use std::time::SystemTime;

use kraken_codec::{Map, Value};
use sentry_host::eventlog::{Damage, Gap, SourceItem};
use sentry_protocol::record::params;

use super::mapping::{EventExtras, MappingOptions, map_event};

/// The logtype of a gap record.
pub const GAP_LOGTYPE: &str = "eventlog-gap";
/// The logtype of a record saying what could not be read.
pub const ERROR_LOGTYPE: &str = "eventlog-error";

/// How a source's items become records.
#[derive(Debug, Clone)]
pub struct ItemMapping {
    pub options: MappingOptions,
    /// The channel named in the configuration: used when an event names none.
    pub channel: String,
    /// What is read (`Security`, `file C:\x.evtx`), for error records.
    pub source: String,
}

impl ItemMapping {
    /// The records of a batch's items, in order: (date, params); a `None` date is "now".
    pub fn records(&self, items: Vec<SourceItem>) -> Vec<(Option<SystemTime>, Map)> {
        let mut records: Vec<(Option<SystemTime>, Map)> = Vec::with_capacity(items.len());
        // The record header id of each event record (files), for the gaps before them.
        let mut header_ids: Vec<Option<u64>> = Vec::with_capacity(items.len());
        let mut gaps = Vec::new();
        for item in items {
            header_ids.resize(records.len(), None);
            match item {
                SourceItem::Event(event) => {
                    header_ids.push(event.header_id);
                    let extras = EventExtras {
                        written: event.written,
                        message: event.message,
                        account: event.account,
                    };
                    match map_event(&event.xml, &extras, &self.options) {
                        Ok(mut mapped) => {
                            if mapped.params.get("channel").and_then(Value::as_str).is_none_or(str::is_empty)
                            {
                                mapped.params.insert("channel", Value::from(self.channel.as_str()));
                            }
                            records.push((Some(mapped.date), mapped.params));
                        }
                        Err(error) => {
                            records.push((None, self.error_record(&event_damage(event.header_id, error))))
                        }
                    }
                }
                SourceItem::Gap(gap) => {
                    gaps.push(records.len());
                    records.push((None, self.gap_record(&gap)));
                }
                SourceItem::Damage(damage) => records.push((None, self.error_record(&damage))),
            }
        }
        header_ids.resize(records.len(), None);
        // Each gap learns where reading resumed: the first event after it in this batch.
        for index in gaps {
            let Some(resumed) = (index + 1..records.len())
                .find(|at| records[*at].1.get("logtype").and_then(Value::as_str) == Some("system"))
            else {
                continue;
            };
            if let Some(record_id) = records[resumed].1.get("record_id").cloned() {
                records[index].1.insert("resumed_at_record_id", record_id);
            }
            if let Some(header_id) = header_ids[resumed] {
                records[index].1.insert("resumed_at_header_id", optional_id(Some(header_id)));
            }
        }
        records
    }

    fn gap_record(&self, gap: &Gap) -> Map {
        params(
            GAP_LOGTYPE,
            gap.reason.clone(),
            [
                ("channel", Value::from(self.channel.as_str())),
                ("source", Value::from(self.source.as_str())),
                ("reason", Value::from(gap.reason.as_str())),
                ("last_record_id", optional_id(gap.last_record_id)),
                ("last_header_id", optional_id(gap.last_header_id)),
                ("resumed_at_record_id", Value::Null),
                ("resumed_at_header_id", Value::Null),
                (
                    "archives",
                    Value::Array(gap.archives.iter().map(|path| Value::from(path.as_str())).collect()),
                ),
            ],
        )
    }

    fn error_record(&self, damage: &Damage) -> Map {
        let error = &damage.error[..damage.error.floor_char_boundary(self.options.max_field_bytes)];
        let message = format!("{}: {error}", self.source);
        let mut record = params(
            ERROR_LOGTYPE,
            message,
            [
                ("channel", Value::from(self.channel.as_str())),
                ("source", Value::from(self.source.as_str())),
                ("chunk", optional_id(damage.chunk)),
                ("offset", optional_id(damage.offset)),
                ("header_id", optional_id(damage.header_id)),
                ("record_id", optional_id(damage.record_id)),
                ("error", Value::from(error)),
            ],
        );
        if error.len() < damage.error.len() {
            record.insert("truncated", Value::Bool(true));
        }
        record
    }
}

/// An event whose XML could not be mapped, as damage.
fn event_damage(header_id: Option<u64>, error: super::MappingError) -> Damage {
    let error = format!("event cannot be mapped: {error}");
    Damage { chunk: None, offset: None, header_id, record_id: None, error }
}

fn optional_id(id: Option<u64>) -> Value {
    id.map_or(Value::Null, |id| Value::I64(i64::try_from(id).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_host::eventlog::SourceEvent;

    fn event(xml: &str) -> SourceItem {
        SourceItem::Event(SourceEvent {
            xml: xml.into(),
            written: None,
            message: None,
            account: None,
            header_id: Some(9),
        })
    }

    #[test]
    fn gaps_learn_where_reading_resumed_and_unreadable_events_become_error_records() {
        let mapping = ItemMapping {
            options: MappingOptions::default(),
            channel: "Security".into(),
            source: "Security".into(),
        };
        let xml = "<Event><System><EventID>4624</EventID><TimeCreated SystemTime='2024-01-02T03:04:05.1234567Z'/>\
                   <EventRecordID>77</EventRecordID><Channel></Channel></System></Event>";
        let records = mapping.records(vec![
            SourceItem::Gap(Gap {
                reason: "bookmark gone".into(),
                last_record_id: Some(12),
                last_header_id: None,
                archives: vec!["C:\\Logs\\Archive-Security-2026-12-06-10-00-00-000.evtx".into()],
            }),
            event("<Event>"),
            event(xml),
        ]);
        assert_eq!(records.len(), 3);
        let gap = &records[0].1;
        assert_eq!(gap["logtype"], Value::from(GAP_LOGTYPE));
        assert_eq!(
            (gap["last_record_id"].clone(), gap["resumed_at_record_id"].clone()),
            (Value::I64(12), Value::I64(77))
        );
        assert_eq!(
            (gap["last_header_id"].clone(), gap["resumed_at_header_id"].clone()),
            (Value::Null, Value::I64(9)),
            "the event after it came with its header id (a file's)"
        );
        assert_eq!(
            gap["archives"],
            Value::Array(vec![Value::from("C:\\Logs\\Archive-Security-2026-12-06-10-00-00-000.evtx")])
        );
        let error = &records[1].1;
        assert_eq!(error["logtype"], Value::from(ERROR_LOGTYPE));
        assert_eq!(error["header_id"], Value::I64(9));
        assert!(error["error"].as_str().unwrap().starts_with("event cannot be mapped"));
        assert_eq!(
            records[2].1["channel"],
            Value::from("Security"),
            "an event naming no channel gets the configured one"
        );
        assert!(records[2].0.is_some(), "an event keeps its own date");
    }

    #[test]
    fn an_error_quoting_a_long_name_is_cut_at_max_field_bytes() {
        let options = MappingOptions { max_field_bytes: 100, ..MappingOptions::default() };
        let mapping = ItemMapping { options, channel: "Security".into(), source: "Security".into() };
        // The reader's message names both tags of a mismatched pair.
        let name = "é".repeat(5000);
        let records = mapping.records(vec![event(&format!("<Event><{name}></x></Event>"))]);
        let error = &records[0].1;
        assert_eq!(error["logtype"], Value::from(ERROR_LOGTYPE));
        let text = error["error"].as_str().unwrap();
        assert!(text.starts_with("event cannot be mapped"), "{text}");
        assert!((99..=100).contains(&text.len()), "cut at a character boundary: {} bytes", text.len());
        assert_eq!(error["msg"].as_str().unwrap(), format!("Security: {text}"));
        assert_eq!(error["truncated"], Value::Bool(true));

        let short = mapping.records(vec![event("<Event>")]);
        assert_eq!(short[0].1.get("truncated"), None, "an error within the bound is whole");
    }
}
