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
//! `user_data` entries (a name repeated after its cut then gets its `_1` suffix). Times: `time_created` is RFC 3339 UTC with 7 fraction digits (the
//! 100 ns of a FILETIME); `generated` and `written` keep the seed's `yyyy-MM-dd HH:mm:ssZ` form,
//! in UTC (`+0000`): the original shifted them by the agent's zone offset (BUG-40).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kraken_codec::{Map, Text, Value};
use roxmltree::{Document, Node};

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
    let document = Document::parse(xml).map_err(|e| MappingError::Xml(e.to_string()))?;
    let event = EventElements::of(document.root_element());
    let system = event.system.ok_or(MappingError::Missing("System"))?;
    let system = SystemElements::of(system);
    let rendering = event.rendering.map(RenderingElements::of).unwrap_or_default();
    let mut text = Truncator { max: options.max_field_bytes, truncated: false };

    // A record can lack its creation time (seen in a damaged log: `<TimeCreated/>`); it is
    // then dated by its write time, and `time_created` is null.
    let created_text = system.time_created.and_then(|t| t.attribute("SystemTime"));
    let created = match created_text {
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
    let record_id: i64 = number(system.event_record_id, "EventRecordID")?.unwrap_or(0);
    let event_id: i64 = number(system.event_id, "EventID")?.ok_or(MappingError::Missing("System/EventID"))?;
    let level: i64 = number(system.level, "Level")?.unwrap_or(0);
    let keywords = system.keywords.map(element_text);
    let provider = system.provider;
    let provider_name = provider
        .and_then(|p| p.attribute("Name").or_else(|| p.attribute("EventSourceName")))
        .unwrap_or_default();
    let user_sid = system.security.and_then(|s| s.attribute("UserID"));
    let execution = system.execution;
    let execution_id =
        |name: &str| execution.and_then(|e| e.attribute(name)).and_then(|v| v.parse::<i64>().ok());
    let message = extras.message.clone().or_else(|| non_empty_text(rendering.message).map(str::to_owned));
    let message = message.map(|m| text.cut(one_line(&m)));
    let written = extras.written.unwrap_or(created);
    let event_data = event.event_data.map_or(Value::Null, |data| event_data(data, &mut text));
    let user_data = event.user_data.map_or(Value::Null, |data| user_data(data, &mut text));

    let mut params: Vec<(Text, Value)> = Vec::with_capacity(34);
    let mut put = |key: &'static str, value: Value| params.push((Text::from(key), value));
    put("logtype", Value::from("system"));
    put("msg", message.map_or(Value::Null, Value::from));
    put("record_number", Value::I32(record_id as u32 as i32));
    put("event_id", Value::I32((event_id & 0xFFFF) as i32));
    put("event_type", Value::from(event_type(level, keywords)));
    put("generated", Value::from(seed_time(created)));
    put("written", Value::from(seed_time(written)));
    put("provider_name", Value::from(text.cut(provider_name.to_owned())));
    put(
        "event_category",
        non_empty_text(rendering.task).map_or(Value::Null, |t| Value::from(text.cut(t.to_owned()))),
    );
    put("user", extras.account.as_ref().map_or(Value::Null, |(_, user)| Value::from(text.cut(user.clone()))));
    put("channel", Value::from(text.cut(system.channel.map(element_text).unwrap_or_default().to_owned())));
    put("record_id", Value::I64(record_id));
    put("level", Value::I32(level as i32));
    put(
        "level_name",
        Value::from(text.cut(
            non_empty_text(rendering.level).map_or_else(|| level_name(level).to_owned(), str::to_owned),
        )),
    );
    put("time_created", if has_created { Value::from(rfc3339_100ns(created)) } else { Value::Null });
    put("computer", Value::from(text.cut(system.computer.map(element_text).unwrap_or_default().to_owned())));
    put("user_sid", Value::from(user_sid.map(|sid| text.cut(sid.to_owned()))));
    put(
        "user_domain",
        extras.account.as_ref().map_or(Value::Null, |(domain, _)| Value::from(text.cut(domain.clone()))),
    );
    put(
        "provider_guid",
        Value::from(provider.and_then(|p| p.attribute("Guid")).map(|guid| text.cut(normalise_guid(guid)))),
    );
    put("task", Value::I32(number(system.task, "Task")?.unwrap_or(0)));
    put("opcode", Value::I32(number(system.opcode, "Opcode")?.unwrap_or(0)));
    put("keywords", Value::from(keywords.map(|k| text.cut(k.to_owned()))));
    put("process_id", Value::from(execution_id("ProcessID")));
    put("thread_id", Value::from(execution_id("ThreadID")));
    put(
        "activity_id",
        Value::from(
            system.correlation.and_then(|c| c.attribute("ActivityID")).map(|id| text.cut(normalise_guid(id))),
        ),
    );
    put("event_data", event_data);
    put("user_data", user_data);
    if options.include_xml {
        put("xml", Value::from(text.cut(xml.to_owned())));
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
    fn cut(&mut self, mut text: String) -> String {
        if text.len() > self.max {
            let mut end = self.max;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            self.truncated = true;
        }
        text
    }
}

/// The children of `Event` the mapping reads, found in one pass (the first of each name, any
/// namespace).
#[derive(Default)]
struct EventElements<'a, 'input> {
    system: Option<Node<'a, 'input>>,
    rendering: Option<Node<'a, 'input>>,
    event_data: Option<Node<'a, 'input>>,
    user_data: Option<Node<'a, 'input>>,
}

impl<'a, 'input> EventElements<'a, 'input> {
    fn of(event: Node<'a, 'input>) -> Self {
        first_children(event, |found: &mut Self, name| match name {
            "System" => Some(&mut found.system),
            "RenderingInfo" => Some(&mut found.rendering),
            "EventData" => Some(&mut found.event_data),
            "UserData" => Some(&mut found.user_data),
            _ => None,
        })
    }
}

/// The first child element of each name `slot` gives a place for, in one pass over `parent`'s
/// children.
fn first_children<'a, 'input, T: Default>(
    parent: Node<'a, 'input>,
    slot: impl for<'f> Fn(&'f mut T, &str) -> Option<&'f mut Option<Node<'a, 'input>>>,
) -> T {
    let mut found = T::default();
    for element in parent.children().filter(Node::is_element) {
        if let Some(place) = slot(&mut found, element.tag_name().name()) {
            place.get_or_insert(element);
        }
    }
    found
}

/// The children of `System` the mapping reads, found in one pass.
#[derive(Default)]
struct SystemElements<'a, 'input> {
    provider: Option<Node<'a, 'input>>,
    event_id: Option<Node<'a, 'input>>,
    level: Option<Node<'a, 'input>>,
    task: Option<Node<'a, 'input>>,
    opcode: Option<Node<'a, 'input>>,
    keywords: Option<Node<'a, 'input>>,
    time_created: Option<Node<'a, 'input>>,
    event_record_id: Option<Node<'a, 'input>>,
    correlation: Option<Node<'a, 'input>>,
    execution: Option<Node<'a, 'input>>,
    channel: Option<Node<'a, 'input>>,
    computer: Option<Node<'a, 'input>>,
    security: Option<Node<'a, 'input>>,
}

impl<'a, 'input> SystemElements<'a, 'input> {
    fn of(system: Node<'a, 'input>) -> Self {
        first_children(system, |found: &mut Self, name| match name {
            "Provider" => Some(&mut found.provider),
            "EventID" => Some(&mut found.event_id),
            "Level" => Some(&mut found.level),
            "Task" => Some(&mut found.task),
            "Opcode" => Some(&mut found.opcode),
            "Keywords" => Some(&mut found.keywords),
            "TimeCreated" => Some(&mut found.time_created),
            "EventRecordID" => Some(&mut found.event_record_id),
            "Correlation" => Some(&mut found.correlation),
            "Execution" => Some(&mut found.execution),
            "Channel" => Some(&mut found.channel),
            "Computer" => Some(&mut found.computer),
            "Security" => Some(&mut found.security),
            _ => None,
        })
    }
}

/// The children of `RenderingInfo` the mapping reads, found in one pass.
#[derive(Default)]
struct RenderingElements<'a, 'input> {
    message: Option<Node<'a, 'input>>,
    level: Option<Node<'a, 'input>>,
    task: Option<Node<'a, 'input>>,
}

impl<'a, 'input> RenderingElements<'a, 'input> {
    fn of(rendering: Node<'a, 'input>) -> Self {
        first_children(rendering, |found: &mut Self, name| match name {
            "Message" => Some(&mut found.message),
            "Level" => Some(&mut found.level),
            "Task" => Some(&mut found.task),
            _ => None,
        })
    }
}

/// An element's text (`""` for an empty element), trimmed.
fn element_text<'a>(element: Node<'a, '_>) -> &'a str {
    element.text().unwrap_or_default().trim()
}

/// An element's text when the element is there and its text is not empty.
fn non_empty_text<'a>(element: Option<Node<'a, '_>>) -> Option<&'a str> {
    element.map(element_text).filter(|text| !text.is_empty())
}

/// An element's text as a number; `None` when the element is absent or empty.
fn number<T: std::str::FromStr>(
    element: Option<Node<'_, '_>>,
    name: &'static str,
) -> Result<Option<T>, MappingError> {
    match element.map(element_text) {
        None | Some("") => Ok(None),
        Some(text) => {
            text.parse().map(Some).map_err(|_| MappingError::Bad { field: name, value: text.to_owned() })
        }
    }
}

/// `EventData`: named `Data` by name, unnamed ones as `param1..N` (their position among the
/// `Data` elements, the classic insertion strings %1..%N), a repeated name suffixed `_1`, `_2`;
/// `Binary` as hex text.
fn event_data(data: Node<'_, '_>, text: &mut Truncator) -> Value {
    let mut map = UniqueEntries::default();
    let elements = data.children().filter(Node::is_element);
    for (position, element) in elements.enumerate() {
        let value = element.text().unwrap_or_default().to_owned();
        let key = match (element.tag_name().name(), element.attribute("Name")) {
            ("Data", Some(name)) if !name.is_empty() => name.to_owned(),
            ("Data", _) => format!("param{}", position + 1),
            ("Binary", _) => "binary".to_owned(),
            (other, _) => other.to_owned(),
        };
        map.push(text.cut(key), Value::from(text.cut(value)));
    }
    Value::Map(map.into_map())
}

/// `UserData`: its one element's name as `_element`, then every leaf element below it by name
/// (a repeated name suffixed `_1`, `_2`), with its text.
fn user_data(data: Node<'_, '_>, text: &mut Truncator) -> Value {
    let mut map = UniqueEntries::default();
    let Some(top) = data.children().find(Node::is_element) else { return Value::Map(Map::new()) };
    map.push("_element".to_owned(), Value::from(text.cut(top.tag_name().name().to_owned())));
    for leaf in
        top.descendants().filter(|n| n.is_element() && *n != top && !n.children().any(|c| c.is_element()))
    {
        let value = leaf.text().unwrap_or_default().to_owned();
        map.push(text.cut(leaf.tag_name().name().to_owned()), Value::from(text.cut(value)));
    }
    Value::Map(map.into_map())
}

/// Entries under unique keys: a key already taken gets the first free `key_1`, `key_2`...
/// Each name remembers the next suffix to try, so a name repeated thousands of times in one
/// event (anyone who can write an event can repeat one) costs no scan per repeat. The few
/// entries of most events are checked by a scan; the sets are built only past
/// [`UniqueEntries::SCANNED`] entries or at the first repeated name.
#[derive(Default)]
struct UniqueEntries {
    entries: Vec<(Text, Value)>,
    repeats: Option<Repeats>,
}

/// The keys taken and the next suffix to try per repeated name.
#[derive(Default)]
struct Repeats {
    taken: HashSet<String>,
    next_suffix: HashMap<String, usize>,
}

impl UniqueEntries {
    /// Entries checked by a scan before the sets are built.
    const SCANNED: usize = 16;

    fn push(&mut self, key: String, value: Value) {
        let repeats = match &mut self.repeats {
            Some(repeats) => repeats,
            None if self.entries.len() < Self::SCANNED && self.entries.iter().all(|(k, _)| *k != key) => {
                self.entries.push((Text::from(key), value));
                return;
            }
            None => {
                let taken = self.entries.iter().map(|(k, _)| k.to_string()).collect();
                self.repeats.insert(Repeats { taken, next_suffix: HashMap::new() })
            }
        };
        let key = if repeats.taken.contains(&key) {
            let next = repeats.next_suffix.entry(key.clone()).or_insert(1);
            loop {
                let candidate = format!("{key}_{next}");
                *next += 1;
                if !repeats.taken.contains(&candidate) {
                    break candidate;
                }
            }
        } else {
            key
        };
        repeats.taken.insert(key.clone());
        self.entries.push((Text::from(key), value));
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

/// `2016-07-08T18:12:51.6816408Z` (any number of fraction digits, up to 9) as a time.
fn parse_system_time(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let (date, time) = whole.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.splitn(3, ':').map(str::parse::<u64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u32>().ok()? * 10u32.pow(9 - fraction.len() as u32)
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + (hour * 3_600 + minute * 60 + second) as i64;
    let since = Duration::new(seconds.unsigned_abs(), 0);
    let at = if seconds >= 0 { UNIX_EPOCH + since } else { UNIX_EPOCH.checked_sub(since)? };
    Some(at + Duration::from_nanos(u64::from(nanos)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// (date, seconds of the day, nanoseconds) of a time, in UTC.
fn utc_parts(time: SystemTime) -> ((i64, i64, i64), i64, u32) {
    let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let whole = -(d.as_secs() as i64) - i64::from(d.subsec_nanos() > 0);
            (whole, if d.subsec_nanos() > 0 { 1_000_000_000 - d.subsec_nanos() } else { 0 })
        }
    };
    (civil_from_days(seconds.div_euclid(86_400)), seconds.rem_euclid(86_400), nanos)
}

/// `2016-07-08T18:12:51.6816408Z`.
fn rfc3339_100ns(time: SystemTime) -> String {
    utc_text(time, 'T', true, "Z")
}

/// `2016-07-08 18:12:51+0000`: the seed's form, in UTC.
fn seed_time(time: SystemTime) -> String {
    utc_text(time, ' ', false, "+0000")
}

/// A UTC time as `yyyy-MM-dd`, `separator`, `HH:mm:ss`, the 100 ns as 7 fraction digits when
/// `with_100ns`, then `zone`. Written digit by digit: two of these per event, `format!` cost
/// more than the rest of the dates.
fn utc_text(time: SystemTime, separator: char, with_100ns: bool, zone: &str) -> String {
    let ((year, month, day), second_of_day, nanos) = utc_parts(time);
    let (hour, minute, second) = (second_of_day / 3_600, second_of_day / 60 % 60, second_of_day % 60);
    let mut text = String::with_capacity(28);
    match u32::try_from(year) {
        Ok(year) if year <= 9999 => push_digits(&mut text, year, 4),
        _ => text.push_str(&format!("{year:04}")),
    }
    for (before, value) in [('-', month), ('-', day), (separator, hour), (':', minute), (':', second)] {
        text.push(before);
        push_digits(&mut text, value as u32, 2);
    }
    if with_100ns {
        text.push('.');
        push_digits(&mut text, nanos / 100, 7);
    }
    text.push_str(zone);
    text
}

/// `value`'s last `width` decimal digits, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        text.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
    }
}

#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;
