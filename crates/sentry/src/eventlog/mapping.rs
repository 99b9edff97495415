//! One Windows event, as XML, to the params of a `windows-event-logger` record: a pure function,
//! the same for events rendered live (`EvtRender`, single-quoted, no declaration) and events read
//! from an `.evtx` file (double-quoted, indented, with a declaration).
//!
//! The record's date is the event's `TimeCreated` (not the time it was read). The params keep
//! the seed's keys (`record_number`, `event_id`, `event_type`, `generated`, `written`,
//! `provider_name`, `event_category`, `user`, `msg`, protocol spec §7.6) and add the event's own
//! fields (`channel`, `record_id`, `level`, `level_name`, `time_created`, `computer`,
//! `user_sid`, `user_domain`, `provider_guid`, `task`, `opcode`, `keywords`, `process_id`,
//! `thread_id`, `activity_id`, `event_data`, `user_data`, and `xml` on request).
//!
//! Text values longer than `max_field_bytes` are cut at a character boundary and the record
//! says `truncated: true`: every text taken from the event, and the names of `event_data` and
//! `user_data` entries (a name repeated after its cut then gets its `_1` suffix); it also says
//! so when `user_data` attributes were left out (see `user_data`). Times:
//! `time_created` is RFC 3339 UTC with 7 fraction digits (the 100 ns of a FILETIME);
//! `generated` and `written` keep the seed's `yyyy-MM-dd HH:mm:ssZ` form, in UTC (`+0000`): the
//! original shifted them by the agent's zone offset (BUG-40).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::SystemTime;

use kraken_codec::{Map, Text, Value};

use scan::{DataItem, UserData, UserKey, scan};
use times::{parse_system_time, rfc3339_100ns, seed_time};

/// What the mapping may add to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingOptions {
    /// The longest text value kept, in bytes.
    pub max_field_bytes: usize,
    /// Whether the event's XML goes into the record (`xml`).
    pub include_xml: bool,
}

impl Default for MappingOptions {
    fn default() -> Self {
        MappingOptions { max_field_bytes: 32 * 1024, include_xml: false }
    }
}

/// What a source knows of an event beside its XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventExtras {
    /// When the record was written to its log (an `.evtx` record header's time); `None` live,
    /// where `written` is then the event's creation time.
    pub written: Option<SystemTime>,
    /// The formatted message (`EvtFormatMessage`), when the source could format it.
    pub message: Option<String>,
    /// The account of the event's SID, as (domain, user), when the source could look it up.
    pub account: Option<(String, String)>,
}

/// One mapped event: the record's date and params.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedEvent {
    pub date: SystemTime,
    pub params: Map,
}

/// Why an event could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("event XML is not well formed: {0}")]
    Xml(String),
    #[error("event XML has no {0}")]
    Missing(&'static str),
    #[error("event XML has a bad {field}: {value:?}")]
    Bad { field: &'static str, value: String },
}

/// Maps one event's XML to a record.
pub fn map_event(
    xml: &str,
    extras: &EventExtras,
    options: &MappingOptions,
) -> Result<MappedEvent, MappingError> {
    let event = scan(xml).map_err(MappingError::Xml)?;
    let system = event.system.as_ref().ok_or(MappingError::Missing("System"))?;
    let rendering = &event.rendering;
    let mut text = Truncator { max: options.max_field_bytes, truncated: false };

    // A record can lack its creation time (seen in a damaged log: `<TimeCreated/>`); it is
    // then dated by its write time, and `time_created` is null.
    let created = match system.time_created.as_deref() {
        Some(text) => Some(
            parse_system_time(text)
                .ok_or_else(|| MappingError::Bad { field: "TimeCreated", value: text.to_owned() })?,
        ),
        None => None,
    };
    let (created, has_created) = match (created, extras.written) {
        (Some(created), _) => (created, true),
        (None, Some(written)) => (written, false),
        (None, None) => return Err(MappingError::Missing("System/TimeCreated/@SystemTime")),
    };
    let record_id: i64 = number(&system.event_record_id, "EventRecordID")?.unwrap_or(0);
    let event_id: i64 =
        number(&system.event_id, "EventID")?.ok_or(MappingError::Missing("System/EventID"))?;
    let level: i64 = number(&system.level, "Level")?.unwrap_or(0);
    let keywords = system.keywords.as_deref().map(str::trim);
    let execution_id = |id: &Option<Cow<'_, str>>| id.as_deref().and_then(|v| v.parse::<i64>().ok());
    let message = match &extras.message {
        Some(message) => Some(message.as_str()),
        None => non_empty_text(&rendering.message),
    };
    let message = message.map(|m| text.cut(&one_line(m)));
    let written = extras.written.unwrap_or(created);
    let event_data = event.event_data.map_or(Value::Null, |data| event_data(data, &mut text));
    let user_data = event.user_data.map_or(Value::Null, |data| user_data(data, xml.len(), &mut text));
    let optional = |value: Option<Text>| value.map_or(Value::Null, Value::Str);

    let mut params: Vec<(Text, Value)> = Vec::with_capacity(34);
    let mut put = |key: &'static str, value: Value| params.push((Text::const_new(key), value));
    put("logtype", Value::Str(Text::const_new("system")));
    put("msg", optional(message));
    put("record_number", Value::I32(record_id as u32 as i32));
    put("event_id", Value::I32((event_id & 0xFFFF) as i32));
    put("event_type", Value::Str(Text::const_new(event_type(level, keywords))));
    put("generated", Value::Str(seed_time(created)));
    put("written", Value::Str(seed_time(written)));
    put("provider_name", Value::Str(text.cut(system.provider_name.as_deref().unwrap_or_default())));
    put("event_category", optional(non_empty_text(&rendering.task).map(|t| text.cut(t))));
    put("user", optional(extras.account.as_ref().map(|(_, user)| text.cut(user))));
    put("channel", Value::Str(text.cut(trimmed(&system.channel))));
    put("record_id", Value::I64(record_id));
    put("level", Value::I32(level as i32));
    let level_name = non_empty_text(&rendering.level).unwrap_or_else(|| level_name(level));
    put("level_name", Value::Str(text.cut(level_name)));
    put("time_created", if has_created { Value::Str(rfc3339_100ns(created)) } else { Value::Null });
    put("computer", Value::Str(text.cut(trimmed(&system.computer))));
    put("user_sid", optional(system.user_sid.as_deref().map(|sid| text.cut(sid))));
    put("user_domain", optional(extras.account.as_ref().map(|(domain, _)| text.cut(domain))));
    put(
        "provider_guid",
        optional(system.provider_guid.as_deref().map(|guid| text.cut(&normalise_guid(guid)))),
    );
    put("task", Value::I32(number(&system.task, "Task")?.unwrap_or(0)));
    put("opcode", Value::I32(number(&system.opcode, "Opcode")?.unwrap_or(0)));
    put("keywords", optional(keywords.map(|k| text.cut(k))));
    put("process_id", Value::from(execution_id(&system.process_id)));
    put("thread_id", Value::from(execution_id(&system.thread_id)));
    put("activity_id", optional(system.activity_id.as_deref().map(|id| text.cut(&normalise_guid(id)))));
    put("event_data", event_data);
    put("user_data", user_data);
    if options.include_xml {
        put("xml", Value::Str(text.cut(xml)));
    }
    if text.truncated {
        put("truncated", Value::Bool(true));
    }
    // The keys above are distinct: the map is built once, not searched per key.
    let params = Map::from_entries(params);
    Ok(MappedEvent { date: created, params })
}

/// Cuts text values at the configured bound, remembering that it did.
struct Truncator {
    max: usize,
    truncated: bool,
}

impl Truncator {
    /// `text` as a record's text, cut at a character boundary when longer than the bound.
    fn cut(&mut self, text: &str) -> Text {
        if text.len() <= self.max {
            return Text::from(text);
        }
        self.truncated = true;
        Text::from(&text[..text.floor_char_boundary(self.max)])
    }
}

/// An element's text, trimmed; `""` when the element is absent.
fn trimmed<'t>(text: &'t Option<Cow<'_, str>>) -> &'t str {
    text.as_deref().unwrap_or_default().trim()
}

/// An element's text, trimmed, when the element is there and its text is not empty.
fn non_empty_text<'t>(text: &'t Option<Cow<'_, str>>) -> Option<&'t str> {
    text.as_deref().map(str::trim).filter(|text| !text.is_empty())
}

/// An element's text as a number; `None` when the element is absent or empty.
fn number<T: std::str::FromStr>(
    text: &Option<Cow<'_, str>>,
    name: &'static str,
) -> Result<Option<T>, MappingError> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => {
            text.parse().map(Some).map_err(|_| MappingError::Bad { field: name, value: text.to_owned() })
        }
    }
}

/// `EventData`: named `Data` by name, unnamed ones as `param1..N` (their position among the
/// `Data` elements, the classic insertion strings %1..%N), a repeated name suffixed `_1`, `_2`;
/// `Binary` as hex text.
fn event_data(items: Vec<DataItem<'_>>, text: &mut Truncator) -> Value {
    let mut map = UniqueEntries::with_capacity(items.len());
    // The position among the `Data` elements only: a `Binary` before them does not shift it.
    let mut data_position = 0;
    for item in items {
        data_position += usize::from(item.element == "Data");
        let key = match (item.element, item.name.as_deref()) {
            ("Data", Some(name)) if !name.is_empty() => text.cut(name),
            ("Data", _) => {
                let mut key = Text::const_new("param");
                let _ = write!(key, "{data_position}");
                text.cut(&key)
            }
            ("Binary", _) => text.cut("binary"),
            (other, _) => text.cut(other),
        };
        map.push(key, Value::Str(text.cut(&item.text)));
    }
    Value::Map(map.into_map())
}

/// `UserData`: its one element's name as `_element`, then every leaf element below it by name
/// with its text, and every attribute as `element.attribute` (a repeated name suffixed `_1`,
/// `_2`), in document order.
///
/// An element's name is written once in an event but copied into the key of each of its
/// attributes: those copies may take as many bytes as the event's XML (`xml_bytes`), no more.
/// Past that, an attribute whose element's name no longer fits is left out and the record says
/// `truncated`, so that a crafted event (a long element name with thousands of attributes)
/// cannot make its record, or the memory mapping it takes, grow as the square of its size.
fn user_data(data: UserData<'_>, xml_bytes: usize, text: &mut Truncator) -> Value {
    let Some(top) = data.top else { return Value::Map(Map::new()) };
    let mut map = UniqueEntries::with_capacity(data.values.len() + 1);
    map.push(Text::const_new("_element"), Value::Str(text.cut(top)));
    let mut copies_left = xml_bytes;
    let mut key = String::new();
    for (name, value) in data.values {
        let name = match name {
            UserKey::Leaf(name) => text.cut(name),
            UserKey::Attribute { element, attribute } => {
                let Some(left) = copies_left.checked_sub(element.len() + 1) else {
                    text.truncated = true;
                    continue;
                };
                copies_left = left;
                key.clear();
                key.push_str(element);
                key.push('.');
                key.push_str(attribute);
                text.cut(&key)
            }
        };
        map.push(name, Value::Str(text.cut(&value)));
    }
    Value::Map(map.into_map())
}

/// Entries under unique keys: a key already taken gets the first free `key_1`, `key_2`...
/// Each name remembers the next suffix to try, so a name repeated thousands of times in one
/// event (anyone who can write an event can repeat one) costs no scan per repeat. The few
/// entries of most events are checked by a scan; the sets are built only past
/// [`UniqueEntries::SCANNED`] entries or at the first repeated name.
struct UniqueEntries {
    entries: Vec<(Text, Value)>,
    repeats: Option<Repeats>,
}

/// The keys taken and the next suffix to try per repeated name.
#[derive(Default)]
struct Repeats {
    taken: HashSet<Text>,
    next_suffix: HashMap<Text, usize>,
}

impl UniqueEntries {
    /// Entries checked by a scan before the sets are built.
    const SCANNED: usize = 16;

    fn with_capacity(capacity: usize) -> Self {
        UniqueEntries { entries: Vec::with_capacity(capacity), repeats: None }
    }

    fn push(&mut self, key: Text, value: Value) {
        let repeats = match &mut self.repeats {
            Some(repeats) => repeats,
            None if self.entries.len() < Self::SCANNED && self.entries.iter().all(|(k, _)| *k != key) => {
                self.entries.push((key, value));
                return;
            }
            None => {
                let taken = self.entries.iter().map(|(k, _)| k.clone()).collect();
                self.repeats.insert(Repeats { taken, next_suffix: HashMap::new() })
            }
        };
        let key = if repeats.taken.contains(&key) {
            let next = repeats.next_suffix.entry(key.clone()).or_insert(1);
            loop {
                let mut candidate = key.clone();
                let _ = write!(candidate, "_{next}");
                *next += 1;
                if !repeats.taken.contains(&candidate) {
                    break candidate;
                }
            }
        } else {
            key
        };
        repeats.taken.insert(key.clone());
        self.entries.push((key, value));
    }

    fn into_map(self) -> Map {
        Map::from_entries(self.entries)
    }
}

/// The seed's event types: audit results from the keywords, else from the level.
fn event_type(level: i64, keywords: Option<&str>) -> &'static str {
    const AUDIT_FAILURE: u64 = 0x0010_0000_0000_0000;
    const AUDIT_SUCCESS: u64 = 0x0020_0000_0000_0000;
    let keywords = keywords
        .and_then(|k| u64::from_str_radix(k.trim_start_matches("0x").trim_start_matches("0X"), 16).ok())
        .unwrap_or(0);
    if keywords & AUDIT_FAILURE != 0 {
        "AuditFailure"
    } else if keywords & AUDIT_SUCCESS != 0 {
        "AuditSuccess"
    } else {
        match level {
            1 | 2 => "Error",
            3 => "Warning",
            _ => "Information",
        }
    }
}

/// The standard level names (winmeta.xml).
fn level_name(level: i64) -> &'static str {
    match level {
        1 => "Critical",
        2 => "Error",
        3 => "Warning",
        5 => "Verbose",
        _ => "Information",
    }
}

/// Message text on one line: line breaks become spaces, the ends are trimmed.
fn one_line(message: &str) -> String {
    message
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// GUIDs in one form: braced, upper case (as `EvtRender` writes them).
fn normalise_guid(guid: &str) -> String {
    let bare = guid.trim().trim_start_matches('{').trim_end_matches('}');
    format!("{{{}}}", bare.to_ascii_uppercase())
}

mod scan;
mod times;

#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;
