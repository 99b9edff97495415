//! An event log in memory behind [`SubscriptionApi`], for tests of the subscription rules and of
//! the logger above them: events are appended while a source reads, the log can be cleared or
//! roll over, and the next call of any kind can be told to fail with a given Win32 error (1734,
//! 15011, 15012, 4317, 259, `ERROR_NOT_FOUND`...). It behaves as Microsoft documents the real
//! calls: record ids only grow (but after [`ScriptedApi::clear_and_begin_ids_again`]), a
//! `Strict` subscription after a bookmark whose record is gone fails with `ERROR_NOT_FOUND`,
//! a subscription made before the log was cleared gets 15011 (stale) from `EvtNext`, and so
//! does a `Strict` one whose next records were overwritten before it gave them (one without
//! `Strict` passes over them unsaid), asking `EvtNext` for more than the limit fails with 1734.
//! Nothing shipped reads from it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::accounts::LookupFn;
use super::evtx_file::{EvtxFileSource, FileOptions};
use super::source::{EventSource, SourceItem};
use super::subscription::{
    ApiError, FoundEvent, OPEN_METADATA, RENDER_CALL, SubscribeFrom, SubscriptionApi, bookmark_record_id,
    bookmark_xml, codes,
};

/// The record id of each item, for tests: an event's `EventRecordID`, 0 for a gap and
/// `u64::MAX` for damage.
pub fn record_ids(items: &[SourceItem]) -> Vec<u64> {
    items
        .iter()
        .map(|item| match item {
            SourceItem::Event(event) => {
                let start = event.xml.find("<EventRecordID>").map_or(0, |at| at + "<EventRecordID>".len());
                let end = event.xml[start..].find('<').map_or(start, |at| start + at);
                event.xml[start..end].parse().expect("an EventRecordID")
            }
            SourceItem::Gap(_) => 0,
            SourceItem::Damage(_) => u64::MAX,
        })
        .collect()
}

/// The XML of every event of the `.evtx` file `path`, in the order the file source gives them
/// (its declared chunks), for tests that write a file's events into a log (panics on a file that
/// cannot be read).
pub fn file_events(path: &std::path::Path) -> Vec<String> {
    let mut source = EvtxFileSource::new(path, FileOptions::default());
    let mut position = source.start_position().expect("the file opens");
    let mut events = Vec::new();
    loop {
        let batch = source.read(&position, 10_000).expect("the file reads");
        events.extend(batch.items.into_iter().filter_map(|item| match item {
            SourceItem::Event(event) => Some(event.xml),
            _ => None,
        }));
        position = batch.position;
        if !batch.more {
            return events;
        }
    }
}

/// The calls a failure can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    OpenLog,
    Subscribe,
    /// The query for the newest record (`EvtQuery` in reverse).
    Query,
    /// The lookup of a bookmarked record (`EvtQuery` and `EvtSeek`).
    Lookup,
    Next,
    Render,
    Bookmark,
    FormatMessage,
    LookupAccount,
}

/// A provider with no metadata: formatting its messages fails with 15002.
pub const PROVIDER_WITHOUT_METADATA: &str = "Scripted-NoMetadata";

/// A provider whose metadata cannot be opened for another reason: its message file is gone
/// (`ERROR_FILE_NOT_FOUND`).
pub const PROVIDER_WITHOUT_MESSAGE_FILE: &str = "Scripted-MessageFileGone";

/// A provider whose metadata opens but whose message for event id 1 cannot be formatted
/// (`ERROR_EVT_MESSAGE_NOT_FOUND`); its other event ids are formatted.
pub const PROVIDER_WITHOUT_MESSAGE_1: &str = "Scripted-NoMessage1";

/// The SID the scripted log knows an account for: (`NT AUTHORITY`, `SYSTEM`).
pub const KNOWN_SID: &str = "S-1-5-18";

/// A handle on a scripted log; clones share it.
#[derive(Clone)]
pub struct ScriptedApi {
    log: Arc<Mutex<ScriptedLog>>,
}

/// The log's state.
struct ScriptedLog {
    channel: String,
    /// (record id, XML), oldest first.
    records: VecDeque<(u64, String)>,
    next_id: u64,
    /// Events appended so far: their creation times follow it, so a record id reused after
    /// [`ScriptedApi::clear_and_begin_ids_again`] names an event created later.
    appended: u64,
    available: bool,
    /// Largest `EvtNext` request served; larger ones fail with 1734.
    max_batch: u32,
    /// Counts the clears: a subscription made before the last one gets 15011 from `EvtNext`.
    clears: u64,
    /// Counts the stalls: a subscription made before the last one answers 4317 for good.
    stalls: u64,
    /// Every subscription answers 4317 while set, new ones too.
    stalled: bool,
    /// Every `Strict` subscription answers `EvtNext` with 15011 while set (as forwarded-event
    /// logs were found to).
    strict_noisy: bool,
    /// `Strict` subscriptions kept open pass over overwritten records unsaid too.
    silent_overwrites: bool,
    /// The SID of the events appended next.
    sid: String,
    /// How long each account lookup takes.
    account_delay: std::time::Duration,
    /// How far the clock was moved on by [`ScriptedApi::advance_clock`].
    clock_moved: std::time::Duration,
    failures: VecDeque<(Call, u32)>,
    /// Failures after as many more calls of their kind go through: (call, calls left, code).
    later_failures: Vec<(Call, usize, u32)>,
    /// Records that fail to render, wherever they are rendered (the subscription's events and
    /// the lookup's), with the error: until they leave the log.
    unrenderable: BTreeMap<u64, u32>,
    calls: BTreeMap<Call, usize>,
    /// Where each subscription made started: `oldest`, `after N strict`, `after N`.
    subscriptions: Vec<String>,
}

/// A subscription: the id of the last record it delivered, the clears and stalls it knows of,
/// and whether it is `Strict` (told of records overwritten before it gave them).
pub struct ScriptedSubscription {
    after: u64,
    clears: u64,
    stalls: u64,
    strict: bool,
    /// Told of overwritten records: every later `EvtNext` fails the same way.
    stale: bool,
}

/// An event handle.
pub struct ScriptedEvent {
    id: u64,
    xml: String,
}

impl ScriptedApi {
    /// An empty `channel` whose first record will have id 1.
    pub fn new(channel: &str) -> Self {
        ScriptedApi {
            log: Arc::new(Mutex::new(ScriptedLog {
                channel: channel.to_owned(),
                records: VecDeque::new(),
                next_id: 1,
                appended: 0,
                available: true,
                max_batch: 1024,
                clears: 0,
                stalls: 0,
                stalled: false,
                strict_noisy: false,
                silent_overwrites: false,
                sid: KNOWN_SID.to_owned(),
                account_delay: std::time::Duration::ZERO,
                clock_moved: std::time::Duration::ZERO,
                failures: VecDeque::new(),
                later_failures: Vec::new(),
                unrenderable: BTreeMap::new(),
                calls: BTreeMap::new(),
                subscriptions: Vec::new(),
            })),
        }
    }

    fn log(&self) -> MutexGuard<'_, ScriptedLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event of `provider` with `event_id`; returns its record id.
    pub fn append(&self, provider: &str, event_id: u32, data: &str) -> u64 {
        let mut log = self.log();
        let id = log.next_id;
        log.next_id += 1;
        log.appended += 1;
        // Dated a second after the event before, or by the clock once it was moved on.
        let seconds = log.appended + log.clock_moved.as_secs();
        let xml = event_xml(&log.channel, id, seconds, provider, event_id, data, &log.sid);
        log.records.push_back((id, xml));
        id
    }

    /// Appends an event whose XML is `xml`, as it is (its `EventRecordID` should be the record id
    /// it gets: the next one); returns its record id.
    pub fn append_xml(&self, xml: &str) -> u64 {
        let mut log = self.log();
        let id = log.next_id;
        log.next_id += 1;
        log.appended += 1;
        log.records.push_back((id, xml.to_owned()));
        id
    }

    /// Appends `count` events; returns the first and last record ids.
    pub fn append_many(&self, count: u64, provider: &str, event_id: u32) -> (u64, u64) {
        let first = self.log().next_id;
        for n in 0..count {
            self.append(provider, event_id, &format!("event {n}"));
        }
        (first, first + count.max(1) - 1)
    }

    /// Empties the log (record ids go on growing); open subscriptions are stale.
    pub fn clear(&self) {
        let mut log = self.log();
        log.records.clear();
        log.unrenderable.clear();
        log.clears += 1;
    }

    /// Empties the log and begins its record ids again at 1, as clearing a log on Windows does.
    pub fn clear_and_begin_ids_again(&self) {
        let mut log = self.log();
        log.records.clear();
        log.unrenderable.clear();
        log.next_id = 1;
        log.clears += 1;
    }

    /// Open subscriptions answer `EvtNext` with 4317 for good, whatever the log holds (as one
    /// broken under its reader, by a restart of the event log service say, might).
    pub fn stall_subscriptions(&self) {
        self.log().stalls += 1;
    }

    /// While `stalled`, every subscription answers `EvtNext` with 4317, new ones too (a service
    /// that does not serve subscriptions).
    pub fn set_stalled(&self, stalled: bool) {
        self.log().stalled = stalled;
    }

    /// While `noisy`, every `Strict` subscription answers `EvtNext` with 15011, whatever the log
    /// holds (Winlogbeat met that on forwarded-event logs, and stopped using `Strict` there).
    pub fn set_strict_noisy(&self, noisy: bool) {
        self.log().strict_noisy = noisy;
    }

    /// While `silent`, a `Strict` subscription whose next records were overwritten before it
    /// gave them passes over them unsaid, as one without `Strict` does: Microsoft documents
    /// `Strict` for a missing bookmarked record, not for what a subscription kept open says.
    pub fn set_silent_overwrites(&self, silent: bool) {
        self.log().silent_overwrites = silent;
    }

    /// The events appended from now on are by `sid` (only [`KNOWN_SID`] has an account).
    pub fn set_sid(&self, sid: &str) {
        self.log().sid = sid.to_owned();
    }

    /// Each account lookup takes `delay` (a domain controller that is slow to answer).
    pub fn set_account_delay(&self, delay: std::time::Duration) {
        self.log().account_delay = delay;
    }

    /// Moves the clock (`now`) on by `by`.
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.log().clock_moved += by;
    }

    /// Drops the `count` oldest records, as a full log overwrites them.
    pub fn roll_over(&self, count: usize) {
        let mut log = self.log();
        let count = count.min(log.records.len());
        let gone: Vec<u64> = log.records.drain(..count).map(|(id, _)| id).collect();
        for id in gone {
            log.unrenderable.remove(&id);
        }
    }

    /// The newest record fails to render with `code` wherever it is rendered, until it leaves
    /// the log; returns its id (`None` for an empty log).
    pub fn make_newest_unrenderable(&self, code: u32) -> Option<u64> {
        let mut log = self.log();
        let id = log.records.back()?.0;
        log.unrenderable.insert(id, code);
        Some(id)
    }

    /// The next `call` fails with `code` (failures queue up in order).
    pub fn fail_next(&self, call: Call, code: u32) {
        self.log().failures.push_back((call, code));
    }

    /// The `call` after the next `passing` ones fails with `code`.
    pub fn fail_after(&self, call: Call, passing: usize, code: u32) {
        self.log().later_failures.push((call, passing, code));
    }

    /// Whether `EvtOpenLog` works (false: as under Wine).
    pub fn set_available(&self, available: bool) {
        self.log().available = available;
    }

    /// The largest `EvtNext` request served before 1734.
    pub fn set_max_batch(&self, max: u32) {
        self.log().max_batch = max;
    }

    /// Where each subscription made (or tried) started, in order: `oldest`, `after N strict`
    /// (`Strict`), `after N`.
    pub fn subscriptions(&self) -> Vec<String> {
        self.log().subscriptions.clone()
    }

    /// How many times `call` was made.
    pub fn calls(&self, call: Call) -> usize {
        self.log().calls.get(&call).copied().unwrap_or(0)
    }

    /// Counts the call and returns the failure injected into it, if any.
    fn enter(&self, call: Call, name: &'static str) -> Result<MutexGuard<'_, ScriptedLog>, ApiError> {
        let mut log = self.log();
        *log.calls.entry(call).or_default() += 1;
        if let Some(index) = log.failures.iter().position(|(c, _)| *c == call) {
            let (_, code) = log.failures.remove(index).expect("found above");
            return Err(ApiError { call: name, code });
        }
        if let Some(index) = log.later_failures.iter().position(|(c, left, _)| *c == call && *left == 0) {
            let (_, _, code) = log.later_failures.remove(index);
            return Err(ApiError { call: name, code });
        }
        for (_, left, _) in log.later_failures.iter_mut().filter(|(c, left, _)| *c == call && *left > 0) {
            *left -= 1;
        }
        Ok(log)
    }
}

impl SubscriptionApi for ScriptedApi {
    type Subscription = ScriptedSubscription;
    type Event = ScriptedEvent;

    /// The scripted clock: half a second after the newest event appended (each is dated a
    /// second after the one before), so an event appended later is created after now.
    fn now(&self) -> std::time::SystemTime {
        let log = self.log();
        std::time::UNIX_EPOCH
            + std::time::Duration::from_millis((1_700_000_000 + log.appended) * 1_000 + 500)
            + log.clock_moved
    }

    fn open_log(&mut self, channel: &str) -> Result<(), ApiError> {
        let log = self.enter(Call::OpenLog, "EvtOpenLog")?;
        match (log.available, channel == log.channel) {
            (false, _) => Err(ApiError { call: "EvtOpenLog", code: 0 }),
            (true, false) => Err(ApiError { call: "EvtOpenLog", code: codes::EVT_CHANNEL_NOT_FOUND }),
            (true, true) => Ok(()),
        }
    }

    fn subscribe(
        &mut self,
        _channel: &str,
        _query: &str,
        from: SubscribeFrom<'_>,
    ) -> Result<ScriptedSubscription, ApiError> {
        let origin = match from {
            SubscribeFrom::Oldest => "oldest".to_owned(),
            SubscribeFrom::OldestLenient => "oldest lenient".to_owned(),
            SubscribeFrom::AfterBookmark(xml) => {
                format!("after {} strict", bookmark_record_id(xml).unwrap_or(0))
            }
            SubscribeFrom::AfterRecordOf(xml) => format!("after {}", bookmark_record_id(xml).unwrap_or(0)),
        };
        self.log().subscriptions.push(origin);
        let log = self.enter(Call::Subscribe, "EvtSubscribe")?;
        let subscription = |after: u64, strict: bool| ScriptedSubscription {
            after,
            clears: log.clears,
            stalls: log.stalls,
            strict,
            stale: false,
        };
        match from {
            SubscribeFrom::Oldest | SubscribeFrom::OldestLenient => {
                let after = log.records.front().map_or(log.next_id - 1, |(id, _)| id - 1);
                Ok(subscription(after, from == SubscribeFrom::Oldest))
            }
            SubscribeFrom::AfterBookmark(xml) => {
                let id = bookmark_record_id(xml).ok_or(ApiError { call: "EvtCreateBookmark", code: 87 })?;
                if log.records.iter().any(|(record, _)| *record == id) {
                    Ok(subscription(id, true))
                } else {
                    Err(ApiError { call: "EvtSubscribe", code: codes::NOT_FOUND })
                }
            }
            SubscribeFrom::AfterRecordOf(xml) => {
                let id = bookmark_record_id(xml).ok_or(ApiError { call: "EvtCreateBookmark", code: 87 })?;
                Ok(subscription(id, false))
            }
        }
    }

    fn next(
        &mut self,
        subscription: &mut ScriptedSubscription,
        max: u32,
        _first_wait: std::time::Duration,
    ) -> Result<Vec<ScriptedEvent>, ApiError> {
        let log = self.enter(Call::Next, "EvtNext")?;
        if max > log.max_batch {
            return Err(ApiError { call: "EvtNext", code: codes::RPC_INVALID_BOUND });
        }
        if subscription.clears != log.clears
            || subscription.stale
            || (subscription.strict && log.strict_noisy)
        {
            return Err(ApiError { call: "EvtNext", code: codes::EVT_QUERY_RESULT_STALE });
        }
        if subscription.stalls != log.stalls || log.stalled {
            return Err(ApiError { call: "EvtNext", code: codes::INVALID_OPERATION });
        }
        // The records after the last one given were overwritten (ids only grow between clears):
        // `Strict` says so, for good; without it they are passed over unsaid.
        let first_left = log.records.iter().map(|(id, _)| *id).find(|id| *id > subscription.after);
        if subscription.strict
            && !log.silent_overwrites
            && first_left.unwrap_or(log.next_id) > subscription.after + 1
        {
            subscription.stale = true;
            return Err(ApiError { call: "EvtNext", code: codes::EVT_QUERY_RESULT_STALE });
        }
        let events: Vec<ScriptedEvent> = log
            .records
            .iter()
            .filter(|(id, _)| *id > subscription.after)
            .take(max as usize)
            .map(|(id, xml)| ScriptedEvent { id: *id, xml: xml.clone() })
            .collect();
        match events.last() {
            Some(last) => subscription.after = last.id,
            None => return Err(ApiError { call: "EvtNext", code: codes::NO_MORE_ITEMS }),
        }
        Ok(events)
    }

    fn render(&mut self, event: &ScriptedEvent) -> Result<String, ApiError> {
        let log = self.enter(Call::Render, RENDER_CALL)?;
        if let Some(&code) = log.unrenderable.get(&event.id) {
            return Err(ApiError { call: RENDER_CALL, code });
        }
        Ok(event.xml.clone())
    }

    fn bookmark(&mut self, events: &[ScriptedEvent]) -> Result<String, ApiError> {
        let log = self.enter(Call::Bookmark, "EvtUpdateBookmark")?;
        let last = events.last().ok_or(ApiError { call: "EvtUpdateBookmark", code: 87 })?;
        Ok(bookmark_xml(&log.channel, last.id))
    }

    fn newest_bookmark(&mut self, _channel: &str, _query: &str) -> Result<Option<String>, ApiError> {
        let log = self.enter(Call::Query, "EvtQuery")?;
        Ok(log.records.back().map(|(id, _)| bookmark_xml(&log.channel, *id)))
    }

    fn bookmarked_event(&mut self, _channel: &str, bookmark: &str) -> Result<Option<FoundEvent>, ApiError> {
        let log = self.enter(Call::Lookup, "EvtSeek")?;
        let id = bookmark_record_id(bookmark).ok_or(ApiError { call: "EvtCreateBookmark", code: 87 })?;
        // As a seek that is not strict: the record, else the first after it, else the last.
        let found = log.records.iter().find(|(record, _)| *record >= id).or(log.records.back());
        Ok(found.map(|(record, xml)| {
            let rendered = match log.unrenderable.get(record) {
                Some(&code) => Err(ApiError { call: RENDER_CALL, code }),
                None => Ok(xml.clone()),
            };
            (*record, rendered)
        }))
    }

    fn format_message(&mut self, provider: &str, event: &ScriptedEvent) -> Result<String, ApiError> {
        drop(self.enter(Call::FormatMessage, "EvtFormatMessage")?);
        if provider == PROVIDER_WITHOUT_METADATA {
            return Err(ApiError { call: OPEN_METADATA, code: codes::EVT_PUBLISHER_METADATA_NOT_FOUND });
        }
        if provider == PROVIDER_WITHOUT_MESSAGE_FILE {
            return Err(ApiError { call: OPEN_METADATA, code: 2 });
        }
        if provider == PROVIDER_WITHOUT_MESSAGE_1 && event.xml.contains("<EventID>1</EventID>") {
            return Err(ApiError { call: "EvtFormatMessage", code: 15027 });
        }
        Ok(format!("Scripted message of record {}.", event.id))
    }

    /// Knows [`KNOWN_SID`] only (others fail as 1332 would), after the account delay.
    fn account_lookup(&self) -> LookupFn {
        let api = self.clone();
        Arc::new(move |sid: &str| {
            let delay = api.enter(Call::LookupAccount, "LookupAccountSidW").ok()?.account_delay;
            std::thread::sleep(delay);
            (sid == KNOWN_SID).then(|| ("NT AUTHORITY".into(), "SYSTEM".into()))
        })
    }
}

/// An event as `EvtRender` writes it: no declaration, single quotes, no indentation; the
/// `sequence`th appended to the log, created a second after the one before.
fn event_xml(
    channel: &str,
    record_id: u64,
    seconds: u64,
    provider: &str,
    event_id: u32,
    data: &str,
    sid: &str,
) -> String {
    let seconds = 1_700_000_000 + seconds;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // 2023-11-14 is day 19675 since 1970-01-01; the scripted times stay within that month.
    let day = 14 + (days - 19_675);
    let data = data.replace('&', "&amp;").replace('<', "&lt;");
    format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
         <Provider Name='{provider}' Guid='{{54849625-5478-4994-a5ba-3e3b0328c30d}}'/>\
         <EventID>{event_id}</EventID><Version>0</Version><Level>0</Level><Task>12544</Task>\
         <Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>\
         <TimeCreated SystemTime='2023-11-{day:02}T{:02}:{:02}:{:02}.1234567Z'/>\
         <EventRecordID>{record_id}</EventRecordID><Correlation/>\
         <Execution ProcessID='4' ThreadID='8'/><Channel>{channel}</Channel>\
         <Computer>scripted.example</Computer><Security UserID='{sid}'/></System>\
         <EventData><Data Name='Detail'>{data}</Data></EventData></Event>",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
    )
}
