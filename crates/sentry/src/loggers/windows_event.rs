//! `windows-event-logger`: Windows events as records, every event once, from a position kept
//! with the records.
//!
//! The source is the live channel `event_source` (Windows: a pull subscription from a bookmark),
//! or the `.evtx` file `evtx_path` (every platform). Each run:
//! 1. takes the logger's position from the store; on the very first run it asks the source
//!    where to start (`start_at = now`: after the newest record, nothing old replayed; `oldest`;
//!    or after `last_id`) and saves that at once;
//! 2. asks the spool whether the bases can take more ([`crate::spool::SpoolPressure`]): when a
//!    base's spool is past 75 % of its bound (and this logger holds more than its share of it,
//!    or it is past 90 %) or refuses writes, or when bases are configured but none has connected
//!    this logger yet, it reads nothing: the event log is the buffer (a base away for long holds
//!    back no other: see the spool's pressure);
//! 3. reads at most `max_events_per_run` items (fewer when the spool's room is short), maps
//!    them ([`crate::eventlog::ItemMapping`]) and returns them with the position after them; the
//!    runner commits both together, and runs again at once while more wait.
//!
//! A crash at any point resumes after the last event committed; a read that could not be
//! committed is read again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use kraken_codec::{Map, Value, encoded_len};

use sentry_host::eventlog::query::{query_channels, query_refusal};
use sentry_host::eventlog::subscription::bookmark_places;
use sentry_host::eventlog::{
    EventSource, EvtxFileSource, FileOptions, LiveOptions, SourceError, StartAt, live_source,
};

use super::delivery::{Delivery, DeliveryGate};
use super::factory::POSITION_CURSOR;
use super::factory::{
    ConfigOption, FactoryContext, Localized, LoggerFactory, LoggerRun, OptionKind, RunOutput,
};
use crate::eventlog::{ItemMapping, MappingOptions};
use crate::store::{OptionValue, Store};

/// The factory's name, as the seed's.
pub const FACTORY_NAME: &str = "windows-event-logger";

/// Items read per run unless configured.
pub const DEFAULT_MAX_EVENTS_PER_RUN: i64 = 1000;
const MAX_EVENTS_PER_RUN_LIMIT: i64 = 100_000;
const DEFAULT_BATCH_SIZE: i64 = 100;
const DEFAULT_MAX_FIELD_BYTES: i64 = 32 * 1024;
const MAX_FIELD_BYTES_RANGE: std::ops::RangeInclusive<i64> = 256..=1 << 20;

/// What one event is assumed to cost in the spool when a run's room is short; a run whose
/// records come out larger reads again fewer of them (see [`records_within`]).
const ESTIMATED_RECORD_BYTES: u64 = 2048;

/// What a run holds of the spool's room per event it may read (see
/// [`crate::spool::pressure`]): room for events four times the assumed size before a run
/// reads again fewer, without one run holding the whole room from the other event loggers.
const HELD_PER_EVENT_BYTES: u64 = 4 * ESTIMATED_RECORD_BYTES;

/// What a record costs in the spool beside its params (logger name, date, sequence number).
const RECORD_OVERHEAD_BYTES: usize = 128;

const fn option(
    name: &'static str,
    kind: OptionKind,
    required: bool,
    display_names: Localized,
    descriptions: Localized,
    default_values: Localized,
) -> ConfigOption {
    ConfigOption { name, kind, required, display_names, descriptions, default_values }
}

const OPTIONS: &[ConfigOption] = &[
    option(
        "event_source",
        OptionKind::String,
        true,
        &[("en", "Event Source"), ("ko", "이벤트 소스")],
        &[("en", "Event Source"), ("ko", "이벤트 소스")],
        &[],
    ),
    option(
        "query",
        OptionKind::String,
        false,
        &[("en", "Query")],
        &[(
            "en",
            "XPath filter of the events to read (default *: all), or a structured QueryList of this channel only",
        )],
        &[("en", "*")],
    ),
    option(
        "start_at",
        OptionKind::String,
        false,
        &[("en", "Start At")],
        &[("en", "Where the first start reads from: now (after the newest event) or oldest")],
        &[("en", "now")],
    ),
    option(
        "last_id",
        OptionKind::String,
        false,
        &[("en", "Last Record Id")],
        &[("en", "The first start reads after this record id (file: record header id)")],
        &[],
    ),
    option(
        "batch_size",
        OptionKind::Integer,
        false,
        &[("en", "Batch Size")],
        &[("en", "Events per EvtNext call, 1 to 1024")],
        &[("en", "100")],
    ),
    option(
        "max_events_per_run",
        OptionKind::Integer,
        false,
        &[("en", "Events Per Run")],
        &[("en", "The most events one run reads (the next run starts at once while more wait)")],
        &[("en", "1000")],
    ),
    option(
        "render_message",
        OptionKind::String,
        false,
        &[("en", "Render Message")],
        &[("en", "true or false: format each event's message from its provider")],
        &[("en", "true")],
    ),
    option(
        "include_xml",
        OptionKind::String,
        false,
        &[("en", "Include XML")],
        &[("en", "true or false: add the event's XML to its record")],
        &[("en", "false")],
    ),
    option(
        "max_field_bytes",
        OptionKind::Integer,
        false,
        &[("en", "Max Field Bytes")],
        &[("en", "Longer values are cut and the record flagged truncated")],
        &[("en", "32768")],
    ),
    option(
        "evtx_path",
        OptionKind::String,
        false,
        &[("en", "EVTX File")],
        &[("en", "Read this .evtx file instead of the live channel")],
        &[],
    ),
    option(
        "recover",
        OptionKind::String,
        false,
        &[("en", "Recover")],
        &[("en", "true or false: also read the inactive chunks of an .evtx file")],
        &[("en", "false")],
    ),
];

pub struct WindowsEventFactory;

/// The options of one logger, checked and with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLoggerConfig {
    pub channel: String,
    pub evtx_path: Option<PathBuf>,
    pub recover: bool,
    pub live: LiveOptions,
    pub max_events_per_run: usize,
    pub mapping: MappingOptions,
}

impl EventLoggerConfig {
    /// Reads a validated config.
    pub fn from_options(config: &BTreeMap<String, OptionValue>) -> Result<Self, String> {
        let text = |key: &str| match config.get(key) {
            Some(OptionValue::Str(text)) => Some(text.trim().to_owned()),
            _ => None,
        };
        let int = |key: &str, default: i64| match config.get(key) {
            Some(OptionValue::Int(n)) => *n,
            _ => default,
        };
        let flag = |key: &str, default: bool| match text(key).as_deref() {
            None | Some("") => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(format!("option {key} must be true or false, got {other:?}")),
        };
        let last_id = match text("last_id").filter(|t| !t.is_empty()) {
            None => None,
            Some(digits) => Some(
                digits
                    .parse::<u64>()
                    .map_err(|_| format!("option last_id must be a record id, got {digits:?}"))?,
            ),
        };
        let start_at = match (last_id, text("start_at").as_deref()) {
            (Some(id), _) => StartAt::AfterRecord(id),
            (None, None | Some("") | Some("now")) => StartAt::Now,
            (None, Some("oldest")) => StartAt::Oldest,
            (None, Some(other)) => {
                return Err(format!("option start_at must be now or oldest, got {other:?}"));
            }
        };
        let batch_size = int("batch_size", DEFAULT_BATCH_SIZE);
        if !(1..=1024).contains(&batch_size) {
            return Err(format!("option batch_size must be 1 to 1024, got {batch_size}"));
        }
        let max_events = int("max_events_per_run", DEFAULT_MAX_EVENTS_PER_RUN);
        if !(1..=MAX_EVENTS_PER_RUN_LIMIT).contains(&max_events) {
            return Err(format!(
                "option max_events_per_run must be 1 to {MAX_EVENTS_PER_RUN_LIMIT}, got {max_events}"
            ));
        }
        let max_field_bytes = int("max_field_bytes", DEFAULT_MAX_FIELD_BYTES);
        if !MAX_FIELD_BYTES_RANGE.contains(&max_field_bytes) {
            return Err(format!(
                "option max_field_bytes must be {} to {}, got {max_field_bytes}",
                MAX_FIELD_BYTES_RANGE.start(),
                MAX_FIELD_BYTES_RANGE.end()
            ));
        }
        let channel = text("event_source").unwrap_or_default();
        let evtx_path = text("evtx_path").filter(|p| !p.is_empty()).map(PathBuf::from);
        let query = text("query").filter(|q| !q.is_empty()).unwrap_or_else(|| "*".into());
        if let Some(why) = query_refusal(&channel, &query).filter(|_| evtx_path.is_none()) {
            return Err(why);
        }
        Ok(EventLoggerConfig {
            channel,
            evtx_path,
            recover: flag("recover", false)?,
            live: LiveOptions {
                query,
                start_at,
                batch_size: batch_size as u32,
                render_message: flag("render_message", true)?,
            },
            max_events_per_run: max_events as usize,
            mapping: MappingOptions {
                max_field_bytes: max_field_bytes as usize,
                include_xml: flag("include_xml", false)?,
            },
        })
    }

    /// The source these options name.
    pub fn source(&self) -> Result<Box<dyn EventSource>, SourceError> {
        match &self.evtx_path {
            Some(path) => {
                let after_header_id = match self.live.start_at {
                    StartAt::AfterRecord(id) => Some(id),
                    _ => None,
                };
                Ok(Box::new(EvtxFileSource::new(
                    path,
                    FileOptions { recover: self.recover, after_header_id },
                )))
            }
            None => live_source(&self.channel, self.live.clone()),
        }
    }
}

impl LoggerFactory for WindowsEventFactory {
    fn name(&self) -> &'static str {
        FACTORY_NAME
    }
    fn display_names(&self) -> Localized {
        &[("en", "Windows Event Logger"), ("ko", "윈도우 이벤트 로거")]
    }
    fn descriptions(&self) -> Localized {
        &[
            ("en", "Windows event log (live channel or .evtx file), every event once"),
            ("ko", "윈도우 이벤트 로그"),
        ]
    }
    fn options(&self) -> &'static [ConfigOption] {
        OPTIONS
    }
    fn check(&self, config: &BTreeMap<String, OptionValue>) -> Result<(), String> {
        EventLoggerConfig::from_options(config).map(drop)
    }
    fn create(
        &self,
        context: &FactoryContext,
        name: &str,
        config: &BTreeMap<String, OptionValue>,
    ) -> Box<dyn LoggerRun> {
        let run = EventLoggerConfig::from_options(config).and_then(|config| {
            let source = config.source().map_err(|e| e.to_string())?;
            Ok(EventLoggerRun::new(context, name, config, source))
        });
        match run {
            Ok(run) => Box::new(run),
            Err(error) => Box::new(Unusable(error + &per_channel_advice(context, name, config))),
        }
    }
}

/// For a logger stored with a query this version refuses (an earlier one took queries over
/// several channels), where its saved position stands per channel the query or the position
/// names, for its error: one logger per channel created from there reads on without loss.
/// Empty for any other logger.
fn per_channel_advice(
    context: &FactoryContext,
    name: &str,
    config: &BTreeMap<String, OptionValue>,
) -> String {
    let text = |key: &str| match config.get(key) {
        Some(OptionValue::Str(text)) => text.as_str(),
        _ => "",
    };
    let (channel, query) = (text("event_source"), text("query"));
    if !text("evtx_path").is_empty() || query_refusal(channel, query).is_none() {
        return String::new();
    }
    let saved = context.store.cursor(name, POSITION_CURSOR).ok().flatten().unwrap_or_default();
    let places = bookmark_places(&saved);
    let mut channels = query_channels(query);
    for (place, _) in &places {
        if !channels.iter().any(|c| c.eq_ignore_ascii_case(place)) {
            channels.push(place.clone());
        }
    }
    if channels.is_empty() {
        return String::new();
    }
    let starts: Vec<String> = channels
        .iter()
        .map(|channel| match places.iter().find(|(place, _)| place.eq_ignore_ascii_case(channel)) {
            Some((_, id)) => format!("{channel} last_id={id}"),
            None => format!("{channel} start_at=oldest"),
        })
        .collect();
    format!(
        " (before removing it, note where its saved position stands: {}; one logger per channel \
         created with these reads on from there: last_id loses and repeats nothing, start_at=oldest \
         is for a channel none of whose events was read yet and may repeat some)",
        starts.join(", ")
    )
}

/// A logger whose source cannot exist here (the live log on Linux): every run says why.
struct Unusable(String);

impl LoggerRun for Unusable {
    fn run_once(&mut self) -> Result<RunOutput, String> {
        Err(self.0.clone())
    }
}

/// One logger's runs.
pub struct EventLoggerRun {
    name: String,
    store: Arc<Store>,
    delivery: Option<Arc<dyn DeliveryGate>>,
    source: Box<dyn EventSource>,
    mapping: ItemMapping,
    max_events: usize,
    /// Why the last run read nothing, to log each change once.
    waiting: Option<String>,
}

impl EventLoggerRun {
    /// The runs of logger `name` reading `source` (the one `config` names, or any other: the
    /// pipeline tests give it a scripted log).
    pub fn new(
        context: &FactoryContext,
        name: &str,
        config: EventLoggerConfig,
        source: Box<dyn EventSource>,
    ) -> Self {
        let mapping =
            ItemMapping { options: config.mapping, channel: config.channel, source: source.describe() };
        EventLoggerRun {
            name: name.to_owned(),
            store: context.store.clone(),
            delivery: context.delivery.clone(),
            source,
            mapping,
            max_events: config.max_events_per_run,
            waiting: None,
        }
    }

    fn note_waiting(&mut self, reason: Option<String>) {
        if reason != self.waiting {
            match &reason {
                Some(reason) => tracing::info!(logger = %self.name, %reason, "not reading events for now"),
                None if self.waiting.is_some() => tracing::info!(logger = %self.name, "reading events again"),
                None => {}
            }
            self.waiting = reason;
        }
    }

    /// The saved position, or the source's start saved now; `None` once the logger was removed
    /// from the store (its cursors went with it, and its thread has not been stopped yet):
    /// reading from the start again would give every event again, run after run.
    fn position(&mut self) -> Result<Option<String>, String> {
        if let Some(position) = self.store.cursor(&self.name, POSITION_CURSOR).map_err(|e| e.to_string())? {
            return Ok(Some(position));
        }
        if self.store.logger(&self.name).map_err(|e| e.to_string())?.is_none() {
            return Ok(None);
        }
        let start = self.source.start_position().map_err(|e| e.to_string())?;
        self.store.save_cursor(&self.name, POSITION_CURSOR, &start).map_err(|e| e.to_string())?;
        Ok(Some(start))
    }
}

impl LoggerRun for EventLoggerRun {
    fn run_once(&mut self) -> Result<RunOutput, String> {
        let Some(position) = self.position()? else {
            self.note_waiting(Some(format!("logger {} was removed; it reads nothing more", self.name)));
            return Ok(RunOutput::default());
        };
        let budget = match &self.delivery {
            None => u64::MAX,
            Some(delivery) => match delivery.check(&self.name, self.wants_bytes())? {
                Delivery::Open { budget_bytes } => budget_bytes,
                Delivery::Hold(reason) | Delivery::Pause(reason) => {
                    self.note_waiting(Some(reason));
                    return Ok(RunOutput::default());
                }
            },
        };
        self.note_waiting(None);
        let output = self.read_within(position, budget);
        if let Some(delivery) = self.delivery.as_ref().filter(|_| budget != u64::MAX) {
            // Only what the run made stays held until it is committed.
            let made = output.as_ref().map_or(0, |output| records_bytes(&output.records));
            delivery.settle(&self.name, made);
        }
        output
    }
}

impl EventLoggerRun {
    /// The spool room a run asks for: its most events at [`HELD_PER_EVENT_BYTES`] each.
    fn wants_bytes(&self) -> u64 {
        (self.max_events as u64).saturating_mul(HELD_PER_EVENT_BYTES)
    }

    /// Reads from `position` as many events as make records of at most `budget` bytes.
    fn read_within(&mut self, position: String, budget: u64) -> Result<RunOutput, String> {
        let affordable = usize::try_from(budget / ESTIMATED_RECORD_BYTES).unwrap_or(usize::MAX);
        let max = self.max_events.min(affordable).max(1);
        let mut batch = self.source.read(&position, max).map_err(|e| e.to_string())?;
        if batch.items.is_empty() && batch.position == position {
            // A source that passed over events it had given before may have more at once.
            if batch.more {
                return Ok(RunOutput { position: Some(position), more: true, ..RunOutput::default() });
            }
            return Ok(RunOutput::default());
        }
        let mut records = self.mapping.records(batch.items);
        let fit = records_within(&records, budget);
        if fit < records.len() {
            // Larger events than assumed: past the budget the spool would push out older
            // security records. The same place read again, for as many events as fit (a
            // source gives the same items from the same position; items map one to one).
            batch = self.source.read(&position, fit).map_err(|e| e.to_string())?;
            records = self.mapping.records(batch.items);
        }
        Ok(RunOutput { records, position: Some(batch.position), more: batch.more })
    }
}

/// How many of `records`, from the first, fit in `budget` bytes of spool (at least one: a
/// run always moves on).
fn records_within(records: &[(Option<std::time::SystemTime>, Map)], budget: u64) -> usize {
    if budget == u64::MAX {
        return records.len();
    }
    let mut used = 0u64;
    for (index, (_, params)) in records.iter().enumerate() {
        used = used.saturating_add(record_bytes(params));
        if used > budget {
            return index.max(1);
        }
    }
    records.len()
}

/// The spool bytes of `records`, as [`records_within`] counts them.
fn records_bytes(records: &[(Option<std::time::SystemTime>, Map)]) -> u64 {
    records.iter().map(|(_, params)| record_bytes(params)).fold(0, u64::saturating_add)
}

/// The spool bytes of one record of `params`, about.
fn record_bytes(params: &Map) -> u64 {
    let message = params.get("msg").and_then(Value::as_str).map_or(0, str::len);
    let bytes: usize = params.iter().map(|(key, value)| key.len() + 5 + encoded_len(value)).sum();
    // The message is sent twice: in the params and as the record's own `msg`.
    (bytes + message + RECORD_OVERHEAD_BYTES) as u64
}

#[cfg(test)]
mod tests;
