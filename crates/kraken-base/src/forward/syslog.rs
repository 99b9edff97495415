//! Stored records as RFC 5424 syslog messages, framed by octet counting (RFC 6587 3.4.1):
//! `LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [SD-ID name="value" ...] MSG`.
//!
//! * TIMESTAMP is the record's own date (UTC, milliseconds), `-` if it is outside years
//!   0000-9999; HOSTNAME the sentry's GUID and MSGID the logger's name, both reduced to the
//!   printable ASCII the header allows (and cut at 255 and 32 characters: the element below
//!   carries them in full).
//! * One structured data element holds the record: `kraken.sentry`, `kraken.logger`,
//!   `kraken.logtype` and `kraken.seq`, then each param. Param names are cut to the 32
//!   printable characters an SD-NAME allows (`=`, space, `]` and `"` become `_`; a name that
//!   then repeats gets `_2`, `_3`...); values are strings, numbers and booleans as written,
//!   maps and lists as JSON, with `"`, `\` and `]` escaped by a backslash.
//! * MSG is the record's message, as UTF-8 without a byte order mark.
//! * A message is at most `max_message_bytes`: params that would not fit are left out and
//!   `kraken.truncated="true"` says so; the message text is cut to what is left.
//!
//! Severity comes from a Windows event's `level` (1 critical .. 5 verbose) where the record
//! has one, `warning` for a sentry's spool-drop report, else the output's configured one.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::storage::{StoredRecord, truncated as cut};

/// The logger name of a sentry's spool-drop reports.
const SPOOL_DROP_LOGGER: &str = "sentry-spool";
/// Params that did not fit, after which the rest are left out unread.
const MAX_MISSES: usize = 64;
/// Room kept for `kraken.truncated="true"` when params are left out.
const TRUNCATION_NOTE: &str = " kraken.truncated=\"true\"";

/// How an output writes its messages.
#[derive(Debug, Clone)]
pub struct SyslogFormat {
    /// Facility number (0-23).
    pub facility: u8,
    /// Severity (0-7) of records that carry none.
    pub severity: u8,
    /// APP-NAME (checked printable ASCII, 1-48 characters).
    pub app_name: String,
    /// The structured data element's SD-ID (checked: `name@number` or a registered name).
    pub sd_id: String,
    /// The largest message, framing excluded.
    pub max_message_bytes: usize,
}

impl SyslogFormat {
    /// Appends `record`'s framed message to `out`.
    pub fn frame(&self, record: &StoredRecord, out: &mut Vec<u8>) {
        let message = self.message(record);
        out.extend_from_slice(message.len().to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(message.as_bytes());
    }

    /// `record` as one RFC 5424 message (unframed).
    pub fn message(&self, record: &StoredRecord) -> String {
        let params = Params::read(&record.params);
        let severity = severity_of(record, &params).unwrap_or(self.severity);
        let mut out = String::with_capacity(256 + record.params.len());
        let _ = write!(
            out,
            "<{}>1 {} {} {} - {} [{}",
            u16::from(self.facility) * 8 + u16::from(severity),
            timestamp(record.date_ms),
            header_field(&record.guid, 255),
            self.app_name,
            header_field(&record.logger, 32),
            self.sd_id
        );
        let mut names = NameSet::default();
        let budget = self.max_message_bytes.saturating_sub(TRUNCATION_NOTE.len() + 1);
        let seq = record.seq.map(|seq| seq.to_string());
        let own = [
            ("kraken.sentry", Some(record.guid.as_str())),
            ("kraken.logger", Some(record.logger.as_str())),
            ("kraken.logtype", record.logtype.as_deref()),
            ("kraken.seq", seq.as_deref()),
        ];
        let own = own.into_iter().filter_map(|(name, text)| Some((name, ParamText::Plain(text?))));
        let fields = params.0.iter().map(|(name, raw)| (name.as_str(), ParamText::of(raw)));
        let mut truncated = false;
        let mut param = String::new();
        let mut misses = 0;
        for (name, value) in own.chain(fields) {
            if misses == MAX_MISSES {
                break;
            }
            param.clear();
            param.push_str("=\"");
            value.escape_into(&mut param);
            param.push('"');
            // A space and a name of at most 32 characters go before it.
            let fits = |name_len: usize| out.len() + 1 + name_len + param.len() <= budget;
            if !fits(sd_name(name).len()) {
                truncated = true;
                misses += 1;
                continue;
            }
            let claimed = names.claim(name);
            if !fits(claimed.len()) {
                truncated = true;
                misses += 1;
                continue;
            }
            out.push(' ');
            out.push_str(&claimed);
            out.push_str(&param);
        }
        if truncated {
            out.push_str(TRUNCATION_NOTE);
        }
        out.push(']');
        if let Some(msg) = record.msg.as_deref().filter(|m| !m.is_empty()) {
            let room = self.max_message_bytes.saturating_sub(out.len() + 1);
            if room > 0 {
                out.push(' ');
                out.push_str(cut(msg, room));
            }
        }
        out
    }
}

/// A record's params: its top-level fields in order, each value as its JSON text (a record
/// whose params are not a map has one field, `params`).
struct Params<'a>(Vec<(String, &'a RawValue)>);

impl<'a> Params<'a> {
    fn read(text: &'a str) -> Params<'a> {
        if let Ok(fields) = serde_json::from_str::<Params<'a>>(text) {
            return fields;
        }
        match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) if raw.get() != "null" => Params(vec![("params".into(), raw)]),
            _ => Params(Vec::new()),
        }
    }

    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(field, _)| field == name).map(|(_, raw)| *raw)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Fields<'a> {
            type Value = Params<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Params<'a>, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<String, &'a RawValue>()? {
                    fields.push(entry);
                }
                Ok(Params(fields))
            }
        }
        deserializer.deserialize_map(Fields(std::marker::PhantomData))
    }
}

/// A param's value as it goes into the message.
enum ParamText<'a> {
    /// Text as it is.
    Plain(&'a str),
    /// A JSON value: strings unescaped, `null` empty, the rest (numbers, booleans, maps and
    /// lists) as their compact JSON text.
    Json(&'a RawValue),
}

impl<'a> ParamText<'a> {
    fn of(raw: &'a RawValue) -> ParamText<'a> {
        ParamText::Json(raw)
    }

    /// The value as PARAM-VALUE text: `"`, `\` and `]` escaped.
    fn escape_into(&self, out: &mut String) {
        let text = match self {
            ParamText::Plain(text) => Cow::Borrowed(*text),
            ParamText::Json(raw) => {
                let json = raw.get();
                match json.as_bytes().first() {
                    Some(b'"') if !json.contains('\\') => Cow::Borrowed(&json[1..json.len() - 1]),
                    Some(b'"') => {
                        serde_json::from_str::<String>(json).map_or(Cow::Borrowed(json), Into::into)
                    }
                    _ if json == "null" => Cow::Borrowed(""),
                    // Maps and lists as compact JSON (stored params are; others are made so,
                    // their numbers and keys as written).
                    Some(b'{' | b'[') => compact_json(json),
                    _ => Cow::Borrowed(json),
                }
            }
        };
        let mut rest: &str = &text;
        while let Some(at) = rest.find(['"', '\\', ']']) {
            out.push_str(&rest[..at]);
            out.push('\\');
            out.push_str(&rest[at..at + 1]);
            rest = &rest[at + 1..];
        }
        out.push_str(rest);
    }
}

/// The record's own severity: a Windows event's level, or a spool-drop report's warning.
fn severity_of(record: &StoredRecord, params: &Params<'_>) -> Option<u8> {
    if record.logger == SPOOL_DROP_LOGGER {
        return Some(4);
    }
    // Windows event levels (as the event log logger maps them): 1 critical, 2 error,
    // 3 warning, 4 information, 5 verbose; 0 (LogAlways) is information.
    params.get("channel")?;
    match params.get("level")?.get().parse::<i64>().ok()? {
        1 => Some(2),
        2 => Some(3),
        3 => Some(4),
        0 | 4 => Some(6),
        5 => Some(7),
        _ => None,
    }
}

/// RFC 3339 in UTC with milliseconds, or `-` for a date a syslog timestamp cannot hold.
fn timestamp(date_ms: i64) -> String {
    let nanos = i128::from(date_ms) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) if (0..=9999).contains(&t.year()) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        _ => "-".into(),
    }
}

/// A header field: printable ASCII only (others become `_`), at most `max` characters, `-`
/// when empty.
fn header_field(text: &str, max: usize) -> String {
    let field: String = text.chars().take(max).map(|c| if c.is_ascii_graphic() { c } else { '_' }).collect();
    if field.is_empty() { "-".into() } else { field }
}

/// An SD-NAME from a param name: printable ASCII except `=`, space, `]` and `"`, 1-32
/// characters (a name that already is one is taken as it is).
fn sd_name(name: &str) -> Cow<'_, str> {
    let allowed = |c: char| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"');
    if !name.is_empty() && name.len() <= 32 && name.chars().all(allowed) {
        return Cow::Borrowed(name);
    }
    let name: String = name.chars().map(|c| if allowed(c) { c } else { '_' }).take(32).collect();
    Cow::Owned(if name.is_empty() { "_".into() } else { name })
}

/// The SD-NAMEs already given in a message: a name that repeats (once reduced) gets a suffix,
/// the next one not taken; each reduced name remembers where its suffixes are, so a record
/// repeating one name many times costs time in proportion to its names.
#[derive(Default)]
struct NameSet<'a> {
    taken: HashSet<Cow<'a, str>>,
    next_suffix: HashMap<Cow<'a, str>, u64>,
}

impl<'a> NameSet<'a> {
    fn claim(&mut self, name: &'a str) -> Cow<'a, str> {
        let base = sd_name(name);
        if self.taken.insert(base.clone()) {
            return base;
        }
        let next = self.next_suffix.entry(base.clone()).or_insert(2);
        loop {
            let suffix = format!("_{next}");
            *next += 1;
            let keep = 32 - suffix.len();
            let candidate: Cow<'a, str> = format!("{}{suffix}", &base[..base.len().min(keep)]).into();
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
        }
    }
}

/// Valid JSON text without the whitespace outside its strings.
fn compact_json(json: &str) -> Cow<'_, str> {
    if !json.bytes().any(|b| b.is_ascii_whitespace()) {
        return Cow::Borrowed(json);
    }
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(json.len()), false, false);
    for c in json.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> SyslogFormat {
        SyslogFormat {
            facility: 16,
            severity: 6,
            app_name: "kraken-sentry".into(),
            sd_id: "kraken@32473".into(),
            max_message_bytes: 65_536,
        }
    }

    fn record(params: &str, msg: Option<&str>) -> StoredRecord {
        StoredRecord {
            guid: "host-1".into(),
            logger: "cpu".into(),
            date_ms: 1_700_000_000_123,
            logtype: Some("cpu-usage".into()),
            msg: msg.map(Into::into),
            params: params.into(),
            seq: Some(7),
            epoch: None,
        }
    }

    #[test]
    fn a_record_is_one_framed_message_with_its_fields_in_one_element() {
        let mut out = Vec::new();
        format().frame(&record(r#"{"usage": 12, "name": "x"}"#, Some("cpu at 12%")), &mut out);
        let text = String::from_utf8(out).unwrap();
        let (length, message) = text.split_once(' ').unwrap();
        assert_eq!(length.parse::<usize>().unwrap(), message.len());
        assert_eq!(
            message,
            "<134>1 2023-11-14T22:13:20.123Z host-1 kraken-sentry - cpu [kraken@32473 \
             kraken.sentry=\"host-1\" kraken.logger=\"cpu\" kraken.logtype=\"cpu-usage\" \
             kraken.seq=\"7\" usage=\"12\" name=\"x\"] cpu at 12%"
        );
    }

    #[test]
    fn quotes_backslashes_and_brackets_are_escaped_and_names_made_valid() {
        let params = r#"{"a b=c]\"d": "say \"hi\" \\ ]", "nested": {"k": [1, "]"]}, "e": null}"#;
        let message = format().message(&record(params, None));
        assert!(message.contains(r#" a_b_c__d="say \"hi\" \\ \]""#), "{message}");
        assert!(message.contains(r#" nested="{\"k\":[1,\"\]\"\]}""#), "{message}");
        assert!(message.contains(r#" e="""#), "{message}");
        assert!(message.ends_with(']'), "no message text: {message}");
    }

    #[test]
    fn names_are_cut_to_32_and_a_repeat_gets_a_suffix() {
        let long = "x".repeat(40);
        let params = format!(r#"{{"{long}": 1, "{long}y": 2, "kraken.sentry": 3}}"#);
        let message = format().message(&record(&params, None));
        let x32 = "x".repeat(32);
        let x30 = "x".repeat(30);
        assert!(message.contains(&format!(" {x32}=\"1\"")), "{message}");
        assert!(message.contains(&format!(" {x30}_2=\"2\"")), "{message}");
        assert!(message.contains(" kraken.sentry_2=\"3\""), "{message}");
    }

    #[test]
    fn header_fields_are_printable_ascii_and_bounded() {
        let mut r = record("{}", None);
        r.guid = "h ö\n".repeat(100);
        r.logger = String::new();
        r.date_ms = i64::MAX;
        let message = format().message(&r);
        let header: Vec<&str> = message.splitn(7, ' ').collect();
        assert_eq!(header[1], "-", "a date past year 9999 is the nil value");
        assert_eq!(header[2].len(), 255);
        assert!(header[2].bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(header[5], "-");
    }

    #[test]
    fn a_message_over_the_limit_leaves_params_out_and_says_so() {
        let mut f = format();
        f.max_message_bytes = 300;
        let params = format!(r#"{{"small": 1, "big": "{}", "after": 2}}"#, "b".repeat(500));
        let message = f.message(&record(&params, Some(&"é".repeat(500))));
        assert!(message.len() <= 300, "{}", message.len());
        assert!(message.contains(" small=\"1\"") && message.contains(" after=\"2\""), "{message}");
        assert!(!message.contains("bbbb") && message.contains("kraken.truncated=\"true\"]"));
        assert!(message.ends_with('é'), "the text is cut at a character boundary");
    }

    #[test]
    fn a_name_repeated_many_times_is_framed_in_linear_time() {
        // One name 100,000 times (a map may repeat a key), in messages of up to 1 MiB: about
        // 80,000 of them fit, each needing a suffix.
        let mut params = String::from("{");
        for _ in 0..100_000 {
            params.push_str("\"a\": 1,");
        }
        params.push_str("\"last\": 2}");
        let mut f = format();
        f.max_message_bytes = 1 << 20;
        let started = std::time::Instant::now();
        let message = f.message(&record(&params, None));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(message.len() <= 1 << 20 && message.contains("kraken.truncated=\"true\""));
        assert!(message.contains(" a=\"1\" a_2=\"1\" a_3=\"1\""), "suffixes in order");
    }

    #[test]
    fn nested_values_keep_their_numbers_and_keys_as_written() {
        let params = r#"{"big": { "n" : 123456789012345678901234567890, "s": "a b" , "n": 2 }}"#;
        let message = format().message(&record(params, None));
        assert!(
            message.contains(r#" big="{\"n\":123456789012345678901234567890,\"s\":\"a b\",\"n\":2}""#),
            "{message}"
        );
    }

    #[test]
    fn event_levels_and_spool_drops_set_the_severity() {
        let f = format();
        let event = record(r#"{"channel": "Security", "level": 2}"#, None);
        assert!(f.message(&event).starts_with("<131>1 "), "error: local0.err = 131");
        let mut drop = record(r#"{"dropped": 3}"#, None);
        drop.logger = "sentry-spool".into();
        assert!(f.message(&drop).starts_with("<132>1 "));
        assert!(f.message(&record(r#"{"level": 1}"#, None)).starts_with("<134>1 "), "no channel");
    }
}
