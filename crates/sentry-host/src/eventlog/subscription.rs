//! A live event log channel read through a pull subscription, from a bookmark: the rules are
//! written once here, over the few calls they need ([`SubscriptionApi`]), so the same code runs
//! against Windows (`windows/eventlog.rs`), against the test `wevtapi.dll` under Wine, and
//! against [`super::scripted::ScriptedApi`] in unit tests.
//!
//! A source reads one channel. A structured query (`<QueryList>`) is taken only when every path
//! it names is that channel ([`query_refusal`]): the rules below (ids passed over, a
//! record looked up) hold for one channel's ids, and what Windows does with a bookmark of
//! several channels cannot be checked here; one logger per channel reads them all.
//!
//! The position is the XML of a bookmark (`EvtRenderBookmark`), or `oldest` before the first
//! event of an empty log. After the bookmark, the position also keeps the `TimeCreated` of the
//! event it names (see [`Position`]). A read:
//! - opens the log first (`EvtOpenLog`): where it cannot (Wine's stubs), the source is
//!   unavailable and nothing else is called;
//! - looks up the bookmarked record before it subscribes after it: if that record id now holds
//!   an event created at another time, the log was cleared and has grown past the id since (a
//!   `Strict` subscription would pass over every record up to it, the clearing's 1102 among
//!   them), and reading resumes at the oldest record after a [`Gap`]; a lookup that fails
//!   fails the read (a passing error, the position kept: a cleared log is not passed over),
//!   and only after [`LOOKUP_ATTEMPTS`] failures over [`LOOKUP_RETRY_FOR`] does the resume go
//!   on unchecked, with a warning (a stall for good would lose more); a start position is
//!   looked up the same way, so that it keeps its record's time;
//! - subscribes after the bookmark with `Strict`, or at the oldest record with `Strict` too
//!   (so that Windows tells of records overwritten before they were given, 15011 from
//!   `EvtNext`; at the oldest record, before anything was given, that answer is itself a
//!   [`Gap`]); a bookmark whose
//!   record is gone (`ERROR_NOT_FOUND`) resumes at the oldest record with a [`Gap`] naming the
//!   last record read, never silently "from now". Where `Strict` refuses a bookmark whose
//!   record the lookup has just found in the log (a filtered query on some Windows versions,
//!   forwarded-event logs that answer 15011), the subscription starts after the record's id
//!   without `Strict`, passing over what it gives up to that id, and the record is looked up
//!   again (another event there now: a gap and the oldest record; not known: passed over from
//!   the oldest record, as after a refusal, unless `Strict` is noise and the record was known
//!   there a moment ago: then read on after its id);
//! - drains `EvtNext` in batches of `batch_size` (at most 1024), without waiting (but for a new
//!   subscription's first events, which the service delivers to it on its own time): no items
//!   (259, or 4317 or 1460 with nothing returned: how Windows answers a poll with nothing
//!   waiting) ends the read and keeps the subscription; a batch too large (1734) halves the
//!   batch and resubscribes; a result set gone stale (15011), out of position (15012, the log
//!   cleared or rolled over) or whose record is gone (1168) resubscribes from the bookmark;
//!   two `Strict` subscriptions made in the read answering 15011 or 15012 in a row before
//!   giving anything are noise (forwarded-event logs answer every one so): the rest of the read
//!   goes on without `Strict` (after the bookmarked record's id, as when `Strict` refuses a
//!   record the lookup found, or at the oldest record), and so do the reads of the next
//!   [`STRICT_NOISY_FOR`] before `Strict` is tried again; `Strict` refused at the oldest record (1168, 15011, 15012) subscribes there without
//!   it that once; a subscription without `Strict` is not kept past its read but in the middle
//!   of a pass-over;
//! - a subscription that has given nothing for [`STALL_CHECK_AFTER`] while the log's newest
//!   record says events wait (one broken by a restart of the event log service, say) is
//!   replaced by a new one from the position; the wait doubles after each replacement that
//!   gives nothing either (a filter matching none of the new records);
//! - a subscription after a bookmark that fails with 15011 or 15012 twice (Windows does not
//!   document these for `EvtSubscribe`; Winlogbeat meets them and replays the log) starts at
//!   the oldest record instead and passes over the events up to the bookmarked record, by their
//!   ids in the log (their bookmarks: a forwarded event's `EventRecordID` is its source's), with
//!   a [`Gap`] when an unfiltered query shows records after it gone; if the log's newest record
//!   is older than the bookmark, the log was cleared and began its ids again: every record is
//!   read, after a gap;
//! - renders each event to XML (a render failure is a [`Damage`] item naming the event's
//!   record id, the read goes on), and the bookmark of a batch's last event is the position
//!   after it; after an event that could not be rendered, the position keeps its looked-up
//!   time, or else the time it was read by (an event created later is another one).
//!
//! The subscription stays open between reads while the caller passes back the position it
//! was given; any other position (a batch the caller could not keep) resubscribes from there.
//! Messages are formatted per event unless the event carries its own `RenderingInfo`
//! (forwarded events); providers whose metadata cannot be opened (whatever the error) are not
//! asked again for [`NO_METADATA_RETRY`], nor are a provider's events (by id, qualifiers and
//! version) whose messages the provider's files do not hold ([`codes::MESSAGE_MISSING`]), all
//! in bounded caches; account names are looked up on threads of their own, a read waiting for
//! them within a budget ([`super::accounts`]). A bookmark of another channel is a bad position,
//! never a reason to start over.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use super::accounts::{AccountNames, LookupFn};
use super::cache::BoundedCache;
use super::query::query_refusal;
use super::source::{Batch, Damage, EventSource, Gap, SourceError, SourceEvent, SourceItem};

/// Win32 error codes the rules depend on (their documented values).
pub mod codes {
    pub const ACCESS_DENIED: u32 = 5;
    pub const INSUFFICIENT_BUFFER: u32 = 122;
    pub const NO_MORE_ITEMS: u32 = 259;
    pub const NOT_FOUND: u32 = 1168;
    pub const TIMEOUT: u32 = 1460;
    pub const RPC_INVALID_BOUND: u32 = 1734;
    pub const INVALID_OPERATION: u32 = 4317;
    pub const EVT_INVALID_CHANNEL_PATH: u32 = 15000;
    pub const EVT_INVALID_QUERY: u32 = 15001;
    pub const EVT_PUBLISHER_METADATA_NOT_FOUND: u32 = 15002;
    pub const EVT_CHANNEL_NOT_FOUND: u32 = 15007;
    pub const EVT_MALFORMED_XML_TEXT: u32 = 15008;
    /// An Analytic or Debug channel, which cannot be subscribed to.
    pub const EVT_SUBSCRIPTION_TO_DIRECT_CHANNEL: u32 = 15009;
    /// An operation (a query) over an enabled Analytic or Debug channel.
    pub const EVT_OVER_ENABLED_DIRECT_CHANNEL: u32 = 15022;
    pub const EVT_QUERY_RESULT_STALE: u32 = 15011;
    pub const EVT_QUERY_RESULT_INVALID_POSITION: u32 = 15012;
    /// `ERROR_EVT_FILTER_ALREADYSCOPED` .. `ERROR_EVT_FILTER_UNEXPECTEDTOKEN`: a query the
    /// service cannot parse.
    pub const EVT_FILTER_ERRORS: std::ops::RangeInclusive<u32> = 15014..=15021;
    pub const EVT_FILTER_TOO_COMPLEX: u32 = 15026;
    /// An event's message not in its provider's files: the file itself or its folder missing
    /// (2, 3), a message DLL that cannot be loaded (126), no such message (15027, 15028, for the
    /// locale 15033, or in a classic message table 317), no such event definition (15032), no
    /// MUI file (15100), no resources (1812) or no such resource (1813-1815).
    pub const MESSAGE_MISSING: [u32; 13] =
        [2, 3, 126, 317, 15027, 15028, 15032, 15033, 15100, 1812, 1813, 1814, 1815];
}

/// How long reads go without `Strict` after one found a channel answers every new `Strict`
/// subscription 15011 (then `Strict` is tried again).
pub const STRICT_NOISY_FOR: Duration = Duration::from_secs(600);

/// How long a provider whose metadata could not be opened is not asked again.
pub const NO_METADATA_RETRY: Duration = Duration::from_secs(600);

/// The most event handles one `EvtNext` asks for; larger requests fail on most Windows versions.
pub const MAX_BATCH: u32 = 1024;

/// How long a subscription may give nothing before the log is asked whether records wait past
/// its position (and, if they do, the subscription is replaced).
pub const STALL_CHECK_AFTER: Duration = Duration::from_secs(60);

/// How long the first poll of a new subscription may wait for the service to deliver its
/// first events (it does so on its own time: MS-EVEN6's `EvtRpcRemoteSubscriptionNext` answers
/// with the events "delivered to a subscription", and Microsoft's pull sample waits on the
/// signal event before its first `EvtNext`). A poll at once could find a new subscription with
/// a backlog empty, and a subscription made for each read (forwarded-event logs) would then
/// never read a thing; and two new `Strict` subscriptions in a row must each get their answer
/// for a channel answering them all 15011 to be told ([`STRICT_NOISY_FOR`]).
pub const FIRST_POLL_WAIT: Duration = Duration::from_secs(1);

/// How long those first polls may wait in all in one read (one that resubscribes often): two
/// reads of a run stay within the 5 s a stopping agent waits for its loggers.
pub const FIRST_POLL_WAIT_PER_READ: Duration = Duration::from_secs(2);

/// How many resubscriptions one read may make before it gives up for this run.
const MAX_RESUBSCRIBES: usize = 12;

/// Events one read may pass over (see [`PastBookmark`]) before it hands back what it has: a
/// batch costs one bookmark unless it holds the bookmarked record.
const SKIPPED_PER_READ: usize = 200_000;

/// How long a resume waits, read after read, for the lookup of its bookmarked record to work
/// before it goes on unchecked (and at least [`LOOKUP_ATTEMPTS`] reads: a logger that runs
/// rarely is not let through by its first failure).
pub const LOOKUP_RETRY_FOR: Duration = Duration::from_secs(600);

/// The failed lookups in a row before a resume goes on unchecked.
pub const LOOKUP_ATTEMPTS: u32 = 3;

/// Whole batches in a row after which a batch halved by 1734 doubles again (one batch of
/// large events need not slow the rest of the source's life).
pub const GROW_AFTER: u32 = 64;

/// What a seek to a bookmark found: the record's id in the log, and its XML or why it could
/// not be rendered.
pub type FoundEvent = (u64, Result<String, ApiError>);

/// The call an event's render fails in (`EvtRender`): the record is there but gives no XML.
pub const RENDER_CALL: &str = "EvtRender";

/// A failed call: which one and its Win32 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiError {
    pub call: &'static str,
    pub code: u32,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed with Win32 error {}", self.call, self.code)
    }
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeFrom<'a> {
    /// At the oldest record of the channel (`StartAtOldestRecord | Strict`: told of records
    /// overwritten before they were given).
    Oldest,
    /// At the oldest record, without `Strict` (where every `Strict` subscription is answered
    /// 15011, as forwarded-event logs do).
    OldestLenient,
    /// Strictly after the bookmarked record (`StartAfterBookmark | Strict`).
    AfterBookmark(&'a str),
    /// After the bookmarked record's id, whether or not the log holds it (`StartAfterBookmark`).
    AfterRecordOf(&'a str),
}

/// The pull-subscription calls of the Windows event log API, as plain operations. Handles close
/// when their values drop.
pub trait SubscriptionApi: Send {
    type Subscription: Send;
    type Event;

    /// Opens the channel's log and closes it again (`EvtOpenLog`): the availability check.
    fn open_log(&mut self, channel: &str) -> Result<(), ApiError>;
    /// A pull subscription to `channel` filtered by `query` (an XPath, `*` for all).
    fn subscribe(
        &mut self,
        channel: &str,
        query: &str,
        from: SubscribeFrom<'_>,
    ) -> Result<Self::Subscription, ApiError>;
    /// Up to `max` events of the subscription, without waiting; but the first call on a new
    /// subscription waits up to `first_wait` for the service to deliver its first events.
    fn next(
        &mut self,
        subscription: &mut Self::Subscription,
        max: u32,
        first_wait: Duration,
    ) -> Result<Vec<Self::Event>, ApiError>;
    /// The event's XML.
    fn render(&mut self, event: &Self::Event) -> Result<String, ApiError>;
    /// The XML of the bookmark moved on over `events` (at least one), in turn.
    fn bookmark(&mut self, events: &[Self::Event]) -> Result<String, ApiError>;
    /// The XML of a bookmark at the newest record of `channel`; `None` for an empty log.
    fn newest_bookmark(&mut self, channel: &str, query: &str) -> Result<Option<String>, ApiError>;
    /// The event a seek to the bookmark finds in `channel`'s whole log, whatever the filter:
    /// its id in the log (as bookmarks give them) and its XML, or why it could not be rendered.
    /// That is the bookmarked record when the log holds it; otherwise a neighbour (as `EvtSeek`
    /// documents), or `None`.
    fn bookmarked_event(&mut self, channel: &str, bookmark: &str) -> Result<Option<FoundEvent>, ApiError>;
    /// The event's message from its provider's metadata.
    fn format_message(&mut self, provider: &str, event: &Self::Event) -> Result<String, ApiError>;
    /// Looks up the (domain, account) of a SID given as text, on another thread (see
    /// [`super::accounts`]).
    fn account_lookup(&self) -> LookupFn;
    /// The time now by the clock the log's own events are dated with (`TimeCreated`): the
    /// system clock. (Forwarded events are dated by their machines' clocks.)
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Where a logger with no position yet starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// After the newest record at the first start: nothing old is replayed (BUG-40).
    Now,
    /// At the oldest record still in the log.
    Oldest,
    /// After the record with this id (the seed's `last_id`).
    AfterRecord(u64),
}

/// How a live source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// XPath filter; `*` for every event.
    pub query: String,
    pub start_at: StartAt,
    /// Events per `EvtNext` (clamped to 1..=1024).
    pub batch_size: u32,
    /// Whether messages are formatted from the providers' metadata.
    pub render_message: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions { query: "*".into(), start_at: StartAt::Now, batch_size: 100, render_message: true }
    }
}

/// The position of a source that has read nothing from an empty log.
pub const OLDEST: &str = "oldest";

/// A live channel read through `A`.
pub struct SubscriptionSource<A: SubscriptionApi> {
    api: A,
    channel: String,
    options: LiveOptions,
    /// The current batch size: halved on 1734, doubled again after [`GROW_AFTER`] whole
    /// batches, never above the configured one.
    batch: u32,
    /// Whole batches read in a row at the current size.
    whole_batches: u32,
    open: Option<Open<A::Subscription>>,
    /// Providers whose metadata could not be opened, and when.
    no_metadata: BoundedCache<Instant>,
    /// (Provider, event id) whose message could not be formatted, and when.
    no_message: BoundedCache<Instant>,
    /// Account names by SID.
    accounts: AccountNames,
    /// Since when, and how many times in a row, looking up a bookmarked record has failed.
    lookup_failing_since: Option<Instant>,
    lookup_failures: u32,
    /// Whether the unchecked resumes of this failing streak were logged.
    lookup_unchecked_logged: bool,
    /// [`LOOKUP_RETRY_FOR`]; shorter in tests.
    lookup_retry_for: Duration,
    /// Since when the open subscription has given nothing (by [`SubscriptionApi::now`]), or
    /// since its last check for a stall.
    quiet_since: Option<SystemTime>,
    /// Subscriptions replaced as stalled since the source last gave something: each doubles
    /// the wait before the next check.
    stall_replacements: u32,
    /// Set for the rest of a read once `Strict` subscriptions of the channel were answered
    /// 15011 or 15012 twice in a row with nothing given between (as forwarded-event logs
    /// answer every one): the read goes on without `Strict`. The next read tries it again.
    strict_noisy: bool,
    /// Whether that was logged as a warning yet (once; later ones are debug).
    strict_noisy_told: bool,
    /// Until when reads begin without `Strict`, after one found it noise: a `Strict`
    /// subscription kept through a quiet read would otherwise answer the next events with a
    /// false gap, and each read would pay for finding the noise again.
    strict_noisy_until: Option<SystemTime>,
}

/// An open subscription and the position it has reached.
struct Open<S> {
    subscription: S,
    position: String,
    /// Set when the subscription started at the oldest record in place of a bookmark.
    past: Option<PastBookmark>,
    /// Not `Strict` ([`SubscribeFrom::AfterRecordOf`], [`SubscribeFrom::OldestLenient`]):
    /// Windows would pass over records overwritten before it gave them without a word, so it is
    /// not kept past its read (the next read subscribes `Strict` again), but in the middle of a
    /// pass-over.
    lenient: bool,
    /// Made in the current read and has given nothing yet: only such a subscription's stale
    /// answer can count as noise (one kept from before, or that gave events, answers for
    /// records lost since).
    fresh: bool,
}

/// A subscription at the oldest record standing in for one after a bookmark Windows would not
/// resume after: the events up to the bookmarked record were read before and are passed over,
/// and the position stays the bookmark until an event after it is read.
#[derive(Debug, Clone, Copy)]
struct PastBookmark {
    /// The bookmarked record id (an id in the log, as bookmarks give them).
    last_read: u64,
}

impl<A: SubscriptionApi> SubscriptionSource<A> {
    pub fn new(api: A, channel: &str, options: LiveOptions) -> Self {
        let batch = options.batch_size.clamp(1, MAX_BATCH);
        let accounts = AccountNames::new(api.account_lookup(), channel);
        SubscriptionSource {
            api,
            channel: channel.to_owned(),
            options,
            batch,
            whole_batches: 0,
            open: None,
            no_metadata: BoundedCache::default(),
            no_message: BoundedCache::default(),
            accounts,
            lookup_failing_since: None,
            lookup_failures: 0,
            lookup_unchecked_logged: false,
            lookup_retry_for: LOOKUP_RETRY_FOR,
            quiet_since: None,
            stall_replacements: 0,
            strict_noisy: false,
            strict_noisy_told: false,
            strict_noisy_until: None,
        }
    }

    /// The API, for tests that look at what was called.
    pub fn api(&mut self) -> &mut A {
        &mut self.api
    }

    /// The events per `EvtNext` now.
    pub fn batch_size(&self) -> u32 {
        self.batch
    }

    /// Counts a batch of `got` events asked as `want`: after [`GROW_AFTER`] whole batches at a
    /// size below the configured one, the size doubles.
    fn note_batch(&mut self, got: usize, want: u32) {
        let configured = self.options.batch_size.clamp(1, MAX_BATCH);
        if self.batch >= configured || want != self.batch || got < want as usize {
            return;
        }
        self.whole_batches += 1;
        if self.whole_batches >= GROW_AFTER {
            (self.batch, self.whole_batches) = ((self.batch * 2).min(configured), 0);
        }
    }

    /// Checks the query reads this channel only, then opens the log: a missing channel or a
    /// denied access is the configuration's fault; any other failure (Wine's stub, the service
    /// stopped) means there is no event log to read.
    fn check_available(&mut self) -> Result<(), SourceError> {
        if let Some(why) = query_refusal(&self.channel, &self.options.query) {
            return Err(SourceError::Config(why));
        }
        self.api.open_log(&self.channel).map_err(|e| match e.code {
            codes::EVT_CHANNEL_NOT_FOUND | codes::ACCESS_DENIED => self.classify(e),
            _ => SourceError::Unavailable(format!("cannot open the {} log: {e}", self.channel)),
        })
    }

    /// Subscribes from `position`, pushing a gap when the bookmark's record is gone; the
    /// position then becomes the oldest record, so that a resubscription later in the same
    /// read (1734, 15011...) neither reports the gap again nor asks for the gone bookmark.
    fn subscribe(
        &mut self,
        position: &mut String,
        items: &mut Vec<SourceItem>,
    ) -> Result<Open<A::Subscription>, SourceError> {
        if position == OLDEST {
            let (subscription, lenient) = self.subscribe_oldest()?;
            return Ok(Open { subscription, position: position.clone(), past: None, lenient, fresh: true });
        }
        if !position.trim_start().starts_with("<BookmarkList") {
            return Err(SourceError::BadPosition(format!(
                "not a bookmark of {}: {position:.80}",
                self.channel
            )));
        }
        if let Some(channel) = self.foreign_bookmark_channel(position) {
            return Err(SourceError::BadPosition(format!(
                "a bookmark of channel {channel:?}, which {} does not read",
                self.channel
            )));
        }
        let found = match self.regrown_since(position, true)? {
            Resume::Regrown(reason) => return self.read_again_from_oldest(reason, position, items),
            Resume::Found => true,
            Resume::Unknown => false,
        };
        let bookmark = Position::parse(position).bookmark;
        let mut unusable = 0;
        // Where Strict subscriptions are answered 15011 all along (this read found), a Strict
        // subscription only checks that the bookmarked record is there (not needed when the
        // lookup found it): reading goes on without Strict.
        let noise =
            ApiError { call: "EvtNext (every Strict subscription)", code: codes::EVT_QUERY_RESULT_STALE };
        let mut present = self.strict_noisy && found;
        let error = loop {
            if present {
                break noise;
            }
            let from = SubscribeFrom::AfterBookmark(bookmark);
            match self.api.subscribe(&self.channel, &self.options.query, from) {
                Ok(subscription) if self.strict_noisy => {
                    drop(subscription);
                    present = true;
                    break noise;
                }
                Ok(subscription) => {
                    let position = position.clone();
                    return Ok(Open { subscription, position, past: None, lenient: false, fresh: true });
                }
                // A result set gone stale may be passing: once more from the bookmark.
                Err(e) if is_unusable_position(e.code) && unusable == 0 => unusable += 1,
                Err(e) => break e,
            }
        };
        let refused = error.code == codes::NOT_FOUND || is_unusable_position(error.code);
        if !refused {
            return Err(self.classify(error));
        }
        // `Strict` refused a record the lookup has just found: Windows may judge the bookmark
        // against the query's results (a filter that does not match the bookmarked record), and
        // forwarded-event logs answer 15011.
        if found || present {
            return match self.after_record_of(position, error, present)? {
                Fallback::Open(open) => Ok(open),
                Fallback::Gone(reason) => self.read_again_from_oldest(reason, position, items),
                // Not near it either: passed over from the oldest record, never read again.
                Fallback::Refused(refusal) => self.past_bookmark_or_oldest(position, refusal, items),
            };
        }
        if error.code == codes::NOT_FOUND {
            let reason = self.gone_reason();
            return self.read_again_from_oldest(reason, position, items);
        }
        self.past_bookmark_or_oldest(position, error, items)
    }

    /// Why reading resumed at the oldest record when the bookmarked one is gone.
    fn gone_reason(&self) -> String {
        format!(
            "the bookmarked record of {} is no longer in the log (cleared or overwritten); reading \
             resumed at the oldest record",
            self.channel
        )
    }

    /// [`Self::past_bookmark`], or where it cannot be, the oldest record after a gap.
    fn past_bookmark_or_oldest(
        &mut self,
        position: &mut String,
        error: ApiError,
        items: &mut Vec<SourceItem>,
    ) -> Result<Open<A::Subscription>, SourceError> {
        match self.past_bookmark(position, error)? {
            Ok(open) => Ok(open),
            Err(why) => {
                let reason = format!(
                    "{} cannot resume after its bookmark ({error}) and {why}; reading resumed at the \
                     oldest record",
                    self.channel
                );
                self.read_again_from_oldest(reason, position, items)
            }
        }
    }

    /// A subscription after the id of the record `position` names, which the lookup has just
    /// found in the log, without `Strict`. Where Windows does not see a bookmarked record it
    /// starts "after the event closest to" it, which may come before it: what the subscription
    /// gives up to that id is passed over (and, for an unfiltered query, ids missing after it
    /// make a gap). The record is looked up again once subscribed: if another event holds its id
    /// now, the log was cleared meanwhile; if that lookup cannot tell (it failed, or the record
    /// left the log, when Windows may have started past the oldest records), the subscription is
    /// `refused` all the same and the caller passes over from the oldest record, unless the
    /// record is known `present` (a `Strict` subscription after it was just taken, or the
    /// lookup found it, where `Strict` is noise).
    fn after_record_of(
        &mut self,
        position: &str,
        refused: ApiError,
        present: bool,
    ) -> Result<Fallback<A::Subscription>, SourceError> {
        let parsed = Position::parse(position);
        let Some(last_read) = bookmark_record_id(parsed.bookmark) else {
            return Err(SourceError::BadPosition(format!("a bookmark without a record id: {position:.80}")));
        };
        let from = SubscribeFrom::AfterRecordOf(parsed.bookmark);
        let subscription = match self.api.subscribe(&self.channel, &self.options.query, from) {
            Ok(subscription) => subscription,
            Err(e) if e.code == codes::NOT_FOUND || is_unusable_position(e.code) => {
                return Ok(Fallback::Refused(e));
            }
            Err(e) => return Err(self.classify(e)),
        };
        Ok(match self.regrown_since(position, false)? {
            Resume::Found => {
                let past = Some(PastBookmark { last_read });
                let position = position.to_owned();
                Fallback::Open(Open { subscription, position, past, lenient: true, fresh: true })
            }
            Resume::Regrown(reason) => Fallback::Gone(reason),
            // Known there a moment ago: a second lookup that tells nothing (it may have answered
            // 15011, as busy forwarded-event logs do) is no reason to read the log again.
            Resume::Unknown if present => {
                let past = Some(PastBookmark { last_read });
                let position = position.to_owned();
                Fallback::Open(Open { subscription, position, past, lenient: true, fresh: true })
            }
            Resume::Unknown => Fallback::Refused(refused),
        })
    }

    /// A subscription at the oldest record after a gap (saying `reason`) since the record
    /// `position` names; the position becomes [`OLDEST`].
    fn read_again_from_oldest(
        &mut self,
        reason: String,
        position: &mut String,
        items: &mut Vec<SourceItem>,
    ) -> Result<Open<A::Subscription>, SourceError> {
        let last_record_id = bookmark_record_id(position);
        items.push(SourceItem::Gap(Gap {
            reason,
            last_record_id,
            last_header_id: None,
            archives: Vec::new(),
        }));
        let (subscription, lenient) = self.subscribe_oldest()?;
        OLDEST.clone_into(position);
        Ok(Open { subscription, position: position.clone(), past: None, lenient, fresh: true })
    }

    /// Whether the record `position` names is another event now: the log was cleared (its ids
    /// began again at 1) and has grown past that id since. Known for positions that keep their
    /// event's `TimeCreated` (another time: another event; the same: the record read is there),
    /// or the time the event was read by (a later time: an event created after it was read); a
    /// record no longer there is for `Strict` to tell.
    ///
    /// With `counted`, a failing lookup is a passing error while lookups fail (see
    /// [`Self::checked`]); without, it is `Unknown` and leaves the failure count alone (a second
    /// lookup, after one that worked).
    fn regrown_since(&mut self, position: &str, counted: bool) -> Result<Resume, SourceError> {
        let parsed = Position::parse(position);
        let (bookmark, known) = match parsed {
            Position { bookmark, time_created: Some(read), .. } => (bookmark, Known::Created(read)),
            Position { bookmark, read_by: Some(by), .. } => (bookmark, Known::ReadBy(by)),
            _ => return Ok(Resume::Unknown),
        };
        let result = self.lookup(bookmark);
        // The event read there could not be rendered: a record there that cannot be rendered
        // either is most likely that event (and not a failure to wait out).
        if matches!(known, Known::ReadBy(_)) && renders_nowhere(&result) {
            if counted {
                self.lookup_worked();
            }
            return Ok(Resume::Found);
        }
        let looked_up = match (counted, result) {
            (true, result) => self.checked(bookmark, result)?,
            (false, Ok(looked_up)) => looked_up,
            (false, Err(_)) => return Ok(Resume::Unknown),
        };
        let Some(LookedUp { created: now, forwarded }) = looked_up else { return Ok(Resume::Unknown) };
        let id = bookmark_record_id(bookmark).unwrap_or_default();
        // Compared as instants: Windows 7 writes 9 fraction digits where later versions write 7.
        let (Some(then_ticks), Some(now_ticks)) = (filetime_ticks(known.time()), filetime_ticks(&now)) else {
            return Ok(Resume::Unknown);
        };
        let read = match known {
            Known::Created(_) if now_ticks == then_ticks => return Ok(Resume::Found),
            Known::Created(read) => read,
            // A forwarded event is dated by its own machine's clock, not comparable with ours.
            Known::ReadBy(by) if !forwarded && now_ticks > then_ticks => {
                return Ok(Resume::Regrown(format!(
                    "record {id} of {} is now an event created at {now}, after the one read there \
                     (which could not be rendered) was read by {by}: the log was cleared and has \
                     grown past it since; reading resumed at the oldest record",
                    self.channel
                )));
            }
            // Created by the time the event there was read: that event.
            Known::ReadBy(_) if !forwarded => return Ok(Resume::Found),
            _ => return Ok(Resume::Unknown),
        };
        Ok(Resume::Regrown(format!(
            "record {id} of {} is now an event created at {now}, not the one read last (created at \
             {read}): the log was cleared and has grown past it since; reading resumed at the oldest \
             record",
            self.channel
        )))
    }

    /// The record `bookmark` names, if the log holds it (another id: the bookmarked record is
    /// gone, which `Strict` tells).
    fn lookup(&mut self, bookmark: &str) -> Result<Option<LookedUp>, ApiError> {
        let Some(wanted) = bookmark_record_id(bookmark) else { return Ok(None) };
        let found = match self.api.bookmarked_event(&self.channel, bookmark) {
            Ok(found) => found,
            // The record is not there (how a seek to a gone record fails on Windows is not
            // documented): no evidence either, and `Strict` tells.
            Err(error) if is_not_there(error.code) => return Ok(None),
            Err(error) => return Err(error),
        };
        match found {
            // The bookmarked record: its time, or why it could not be rendered.
            Some((id, xml)) if id == wanted => {
                let xml = xml?;
                let forwarded = xml.contains("<RenderingInfo");
                Ok(time_created(&xml).map(|created| LookedUp { created: created.to_owned(), forwarded }))
            }
            // A neighbour (whether it renders does not matter), or nothing.
            _ => Ok(None),
        }
    }

    /// A lookup's `result`, or a passing error while lookups fail: going on unchecked could
    /// pass over a cleared log's new records (a resume), or leave a start position without the
    /// time its first resume checks. Only after [`LOOKUP_ATTEMPTS`] failures in a row over at
    /// least [`LOOKUP_RETRY_FOR`] does it answer "nothing found" (unchecked, a warning once per
    /// streak), so that a lookup Windows never answers cannot stop the logger for good.
    fn checked(
        &mut self,
        bookmark: &str,
        result: Result<Option<LookedUp>, ApiError>,
    ) -> Result<Option<LookedUp>, SourceError> {
        let error = match result {
            Ok(time) => {
                self.lookup_worked();
                return Ok(time);
            }
            Err(error) => error,
        };
        let since = *self.lookup_failing_since.get_or_insert_with(Instant::now);
        self.lookup_failures = self.lookup_failures.saturating_add(1);
        let record = bookmark_record_id(bookmark).map_or_else(|| "?".to_owned(), |id| id.to_string());
        let minutes = self.lookup_retry_for.as_secs() / 60;
        if since.elapsed() < self.lookup_retry_for || self.lookup_failures < LOOKUP_ATTEMPTS {
            return Err(SourceError::Transient(format!(
                "reading of {} paused: cannot check whether the log was cleared past record {record} \
                 ({error}); trying again each run, and reading on unchecked after {minutes} minutes \
                 and {LOOKUP_ATTEMPTS} attempts",
                self.channel
            )));
        }
        if !self.lookup_unchecked_logged {
            self.lookup_unchecked_logged = true;
            tracing::warn!(
                channel = %self.channel,
                failures = self.lookup_failures,
                "records of {} cannot be looked up ({error}); reading goes on without checking \
                 whether the log was cleared past the record read last",
                self.channel
            );
        }
        Ok(None)
    }

    /// Ends a streak of failing lookups.
    fn lookup_worked(&mut self) {
        (self.lookup_failing_since, self.lookup_failures, self.lookup_unchecked_logged) = (None, 0, false);
    }

    /// A position after `bookmark`, keeping the `TimeCreated` of `last` (the event it names).
    /// An event that could not be rendered has its time looked up (another path to the same
    /// record, which may render it); where that fails too, the position keeps the time it was
    /// read by instead: a later record the log gives the same id after a clear was created
    /// after that (see [`Self::regrown_since`]).
    fn position_after(&mut self, bookmark: String, last: Option<&SourceItem>) -> String {
        let created = match last {
            Some(SourceItem::Event(event)) => time_created(&event.xml).map(str::to_owned),
            Some(SourceItem::Damage(_)) => {
                // Taken before the lookup: a record created while a slow lookup runs is not
                // taken for one created before the read.
                let read_by = self.api.now();
                match self.lookup(&bookmark) {
                    // Not a record created after the read: that one is another (the log
                    // cleared and regrown since).
                    Ok(Some(LookedUp { created, .. })) if !created_after(&created, read_by) => Some(created),
                    _ => return Position::read_by(bookmark, read_by),
                }
            }
            _ => None,
        };
        Position::with_time(bookmark, created.as_deref())
    }

    /// A start position at `bookmark`, with the time of its record when the log holds it, so
    /// that a restart can tell that record from a later one; a record that cannot be rendered
    /// is a start position with the time it was read by, as after such an event.
    fn with_its_time(&mut self, bookmark: String) -> Result<String, SourceError> {
        let read_by = self.api.now();
        let result = self.lookup(&bookmark);
        if renders_nowhere(&result) {
            self.lookup_worked();
            return Ok(Position::read_by(bookmark, read_by));
        }
        let created = self.checked(&bookmark, result)?.map(|looked_up| looked_up.created);
        Ok(Position::with_time(bookmark, created.as_deref()))
    }

    /// Whether the open subscription, which gave nothing this read (`quiet`) or something, looks
    /// broken: it has given nothing for [`STALL_CHECK_AFTER`] (doubled after each replacement
    /// that gave nothing either, up to 64 times) while the log's newest record says events
    /// wait. The newest record is taken whatever the query (asking with a filter can scan the
    /// whole log): for an unfiltered query any other record than the one read last is evidence
    /// (a newer one, or a log cleared with its ids begun again); for a filtered one only a newer
    /// one, which may not match, hence the doubling.
    fn stalled(&mut self, position: &str, quiet: bool) -> bool {
        let now = self.api.now();
        if !quiet {
            (self.quiet_since, self.stall_replacements) = (None, 0);
            return false;
        }
        let since = *self.quiet_since.get_or_insert(now);
        let wait = STALL_CHECK_AFTER * 2u32.pow(self.stall_replacements.min(6));
        match now.duration_since(since) {
            Ok(quiet_for) if quiet_for >= wait => {}
            Ok(_) => return false,
            // The clock was set back: counted again from now.
            Err(_) => {
                self.quiet_since = Some(now);
                return false;
            }
        }
        self.quiet_since = Some(now);
        let read_to = if position == OLDEST { Some(0) } else { bookmark_record_id(position) };
        let newest = match self.api.newest_bookmark(&self.channel, "*") {
            Ok(newest) => newest.as_deref().and_then(bookmark_record_id),
            Err(error) => {
                tracing::debug!(channel = %self.channel, "cannot check for a stalled subscription: {error}");
                None
            }
        };
        let (Some(newest), Some(read_to)) = (newest, read_to) else { return false };
        let unfiltered = matches!(self.options.query.trim(), "*" | "");
        if newest == read_to || (!unfiltered && newest < read_to) {
            return false;
        }
        tracing::warn!(
            channel = %self.channel,
            newest,
            read_to,
            "the subscription to {} has given nothing for {} s while the log's newest record is {newest} \
             and the last one read {read_to}: subscribing again from there",
            self.channel,
            wait.as_secs()
        );
        self.quiet_since = None;
        self.stall_replacements = self.stall_replacements.saturating_add(1);
        true
    }

    /// Says, once as a warning, that the channel's `Strict` subscriptions are answered `error`
    /// all along, so that reads go on without `Strict`.
    fn tell_strict_noisy(&mut self, error: &ApiError) {
        if self.strict_noisy_told {
            tracing::debug!(
                "{}: {error} again for a new Strict subscription: read without Strict",
                self.channel
            );
            return;
        }
        self.strict_noisy_told = true;
        tracing::warn!(
            "{}: {error} for every new Strict subscription (as forwarded-event logs answer): reads go on \
             without Strict for {} minutes at a time: for a filtered query, records overwritten during \
             such a read are not reported, and those lost between reads only when a read finds its \
             bookmarked record gone (an unfiltered one tells them by the record ids it is given)",
            self.channel,
            STRICT_NOISY_FOR.as_secs() / 60
        );
    }

    /// A subscription at the oldest record of the channel, and whether it is without `Strict`:
    /// for the rest of a read that found `Strict` noise, or where Windows refuses `Strict`
    /// there (1168, as for a bookmark it does not have; 15011 or 15012, as forwarded-event logs
    /// were found to answer `EvtSubscribe`).
    fn subscribe_oldest(&mut self) -> Result<(A::Subscription, bool), SourceError> {
        let lenient = |api: &mut A, channel: &str, query: &str| {
            api.subscribe(channel, query, SubscribeFrom::OldestLenient)
                .map(|subscription| (subscription, true))
        };
        let result = if self.strict_noisy {
            lenient(&mut self.api, &self.channel, &self.options.query)
        } else {
            match self.api.subscribe(&self.channel, &self.options.query, SubscribeFrom::Oldest) {
                Ok(subscription) => Ok((subscription, false)),
                Err(e) if e.code == codes::NOT_FOUND || is_unusable_position(e.code) => {
                    tracing::debug!(
                        "{}: {e} for Strict at the oldest record: without it this once",
                        self.channel
                    );
                    lenient(&mut self.api, &self.channel, &self.options.query)
                }
                Err(e) => Err(e),
            }
        };
        result.map_err(|e| self.classify(e))
    }

    /// In place of a subscription after `bookmark` that fails with `error` (15011, 15012): one
    /// at the oldest record that passes over the records up to the bookmarked one, if the log
    /// still holds a record as new as it; otherwise why not (the log was read again from its
    /// oldest record after a gap: what was read before comes again, nothing is lost).
    fn past_bookmark(
        &mut self,
        bookmark: &str,
        error: ApiError,
    ) -> Result<Result<Open<A::Subscription>, &'static str>, SourceError> {
        let Some(last_read) = bookmark_record_id(bookmark) else {
            return Err(SourceError::BadPosition(format!("a bookmark without a record id: {bookmark:.80}")));
        };
        // The newest record whatever the filter: only the log's ids say whether it began again.
        let newest = match self.api.newest_bookmark(&self.channel, "*").map_err(|e| self.classify(e))? {
            None => return Ok(Err("the log is empty (cleared since)")),
            Some(newest) => bookmark_record_id(&newest).ok_or_else(|| self.classify(error))?,
        };
        if newest < last_read {
            return Ok(Err("holds no record as new as it (cleared since)"));
        }
        let (subscription, lenient) = self.subscribe_oldest()?;
        let past = Some(PastBookmark { last_read });
        Ok(Ok(Open { subscription, position: bookmark.to_owned(), past, lenient, fresh: true }))
    }

    /// A channel the bookmark names that is not this source's.
    fn foreign_bookmark_channel<'p>(&self, bookmark: &'p str) -> Option<&'p str> {
        attribute_values(bookmark, "<Bookmark ", "Channel")
            .into_iter()
            .find(|channel| !unescape(channel).eq_ignore_ascii_case(&self.channel))
    }

    fn classify(&self, error: ApiError) -> SourceError {
        let channel = &self.channel;
        match error.code {
            codes::EVT_CHANNEL_NOT_FOUND => SourceError::Config(format!("no event log channel {channel:?}")),
            codes::EVT_INVALID_QUERY | codes::EVT_MALFORMED_XML_TEXT | codes::EVT_FILTER_TOO_COMPLEX => {
                SourceError::Config(format!("invalid query {:?} for {channel}: {error}", self.options.query))
            }
            code if codes::EVT_FILTER_ERRORS.contains(&code) => {
                SourceError::Config(format!("invalid query {:?} for {channel}: {error}", self.options.query))
            }
            codes::EVT_SUBSCRIPTION_TO_DIRECT_CHANNEL | codes::EVT_OVER_ENABLED_DIRECT_CHANNEL => {
                SourceError::Config(format!(
                    "{channel:?} is an Analytic or Debug channel, which Windows does not let a subscription read"
                ))
            }
            codes::EVT_INVALID_CHANNEL_PATH => {
                SourceError::Config(format!("{channel:?} is not a valid channel path: {error}"))
            }
            codes::ACCESS_DENIED => SourceError::Config(format!(
                "access to the {channel} log denied (the Security log needs LocalSystem or Event Log Readers)"
            )),
            _ => SourceError::Transient(format!("reading the {channel} log: {error}")),
        }
    }

    /// The source event of one handle, or the damage if it cannot be rendered: it names the
    /// event's record id when the event's bookmark gives it, so that it can be looked at.
    fn item(&mut self, event: &A::Event) -> SourceItem {
        let xml = match self.api.render(event) {
            Ok(xml) => xml,
            Err(error) => {
                let record_id = self.log_id(event).ok();
                let which = record_id.map_or_else(|| "an event".to_owned(), |id| format!("record {id}"));
                return SourceItem::Damage(Damage {
                    chunk: None,
                    offset: None,
                    header_id: None,
                    record_id,
                    error: format!("{which} of {} cannot be rendered: {error}", self.channel),
                });
            }
        };
        let message = if self.options.render_message && !xml.contains("<RenderingInfo") {
            self.message(event, &xml)
        } else {
            None
        };
        let account = match attribute_of(&xml, "<Security", "UserID") {
            Some(sid) => {
                let now = self.api.now();
                self.accounts.name(sid, now)
            }
            None => None,
        };
        SourceItem::Event(SourceEvent { xml, written: None, message, account, header_id: None })
    }

    /// How many of `events`, from the first, are at or before the record `past` names, by
    /// their ids in the log, and the id of the first after it. A batch whose last event is at
    /// or before it costs one bookmark.
    fn passed_over(&mut self, events: &[A::Event], past: PastBookmark) -> Result<(usize, u64), SourceError> {
        let last_id = self.log_id(events.last().expect("not empty"))?;
        if last_id <= past.last_read {
            return Ok((events.len(), last_id));
        }
        for (index, event) in events.iter().enumerate() {
            let id = self.log_id(event)?;
            if id > past.last_read {
                return Ok((index, id));
            }
        }
        Ok((events.len(), last_id))
    }

    /// The record id of `event` in the log read (a forwarded event's own `EventRecordID` is
    /// its source's).
    fn log_id(&mut self, event: &A::Event) -> Result<u64, SourceError> {
        let bookmark = self.api.bookmark(std::slice::from_ref(event)).map_err(|e| self.classify(e))?;
        bookmark_record_id(&bookmark)
            .ok_or_else(|| SourceError::Transient(format!("a bookmark without a record id: {bookmark:.80}")))
    }

    /// The records an unfiltered query passed over unsaid in `taken`, read on after the record
    /// `after`: a gap before each event whose id in the log is past the one before it plus one,
    /// and the index of that event in `taken`. Windows documents `Strict` as failing a
    /// subscription whose bookmarked record is gone, but not what a subscription kept open says
    /// when records it has not given yet are overwritten (as while the logger is held back),
    /// nor does a subscription without `Strict` say it: an unfiltered query reads every id in
    /// turn, so the ids themselves tell. Only where the batch's last id (its bookmark, made
    /// anyway) is past `after` plus the batch's length does this look at each event's.
    fn unsaid_gaps(
        &mut self,
        after: u64,
        taken: &[A::Event],
        bookmark: &str,
    ) -> Result<Vec<(usize, Gap)>, SourceError> {
        let every_record = matches!(self.options.query.trim(), "*" | "");
        let Some(last) = bookmark_record_id(bookmark) else { return Ok(Vec::new()) };
        if !every_record || last <= after.saturating_add(taken.len() as u64) {
            return Ok(Vec::new());
        }
        let mut gaps = Vec::new();
        let mut previous = after;
        for (index, event) in taken.iter().enumerate() {
            // Each event's own bookmark, in turn: the API's bookmark ends at the batch's last
            // event, as it did.
            let id = self.log_id(event)?;
            if id > previous.saturating_add(1) {
                gaps.push((
                    index,
                    Gap {
                        reason: format!(
                            "records {} to {} of {} were not given by Windows: overwritten, cleared \
                             or archived before they were read",
                            previous + 1,
                            id - 1,
                            self.channel
                        ),
                        last_record_id: Some(previous),
                        last_header_id: None,
                        archives: Vec::new(),
                    },
                ));
            }
            previous = id;
        }
        Ok(gaps)
    }

    /// A gap before the first event after a passed-over bookmark, where an unfiltered query
    /// (which reads every id in turn) shows records between them gone.
    fn gap_after(&self, past: PastBookmark, first_after: u64, items: &mut Vec<SourceItem>) {
        let every_record = matches!(self.options.query.trim(), "*" | "");
        if every_record && first_after > past.last_read + 1 {
            items.push(SourceItem::Gap(Gap {
                reason: format!(
                    "records {} to {} of {} are no longer in the log",
                    past.last_read + 1,
                    first_after - 1,
                    self.channel
                ),
                last_record_id: Some(past.last_read),
                last_header_id: None,
                archives: Vec::new(),
            }));
        }
    }

    fn message(&mut self, event: &A::Event, xml: &str) -> Option<String> {
        let provider = attribute_of(xml, "<Provider", "Name")?;
        let recent = |since: &Instant| since.elapsed() < NO_METADATA_RETRY;
        if self.no_metadata.get(provider).is_some_and(recent) {
            return None;
        }
        // The event's id with its qualifiers, and its version: what the message depends on. A
        // provider's name has no line break, so the key is unambiguous. Built only when an
        // event's message was found missing before, or is now.
        let event_key = || {
            let id = element(xml, "<EventID", "</EventID>").unwrap_or_default();
            format!("{provider}\n{id}\n{}", element(xml, "<Version", "</Version>").unwrap_or_default())
        };
        if !self.no_message.is_empty() && self.no_message.get(&event_key()).is_some_and(recent) {
            return None;
        }
        match self.api.format_message(provider, event) {
            // An empty text is no message: the event's own `RenderingInfo`, if any, is kept.
            Ok(message) => Some(message).filter(|m| !m.is_empty()),
            // No metadata (15002), its message file gone (2), the service away (1722)...:
            // opening it again for each of the provider's events would cost as much each time.
            Err(e) if e.code == codes::EVT_PUBLISHER_METADATA_NOT_FOUND || e.call == OPEN_METADATA => {
                self.no_metadata.insert(provider, Instant::now());
                None
            }
            // The metadata opened but the provider's files do not hold this event's message:
            // the same for each of its events with this id, qualifiers and version.
            Err(e) if codes::MESSAGE_MISSING.contains(&e.code) => {
                self.no_message.insert(&event_key(), Instant::now());
                None
            }
            Err(_) => None,
        }
    }
}

impl<A: SubscriptionApi> EventSource for SubscriptionSource<A> {
    fn start_position(&mut self) -> Result<String, SourceError> {
        Ok(match self.options.start_at {
            StartAt::Oldest => OLDEST.to_owned(),
            StartAt::AfterRecord(id) => {
                self.check_available()?;
                self.with_its_time(bookmark_xml(&self.channel, id))?
            }
            StartAt::Now => {
                self.check_available()?;
                // A filter matching nothing recent can make the search for its newest event
                // outlast the wait (1460) on a large log: after the newest record, then, whatever
                // it is (`Strict` may refuse it later; the lookup of its time lets it through).
                let newest = match self.api.newest_bookmark(&self.channel, &self.options.query) {
                    Err(e) if e.code == codes::TIMEOUT => self.api.newest_bookmark(&self.channel, "*"),
                    newest => newest,
                };
                match newest {
                    Ok(Some(bookmark)) => self.with_its_time(bookmark)?,
                    Ok(None) => OLDEST.to_owned(),
                    Err(e) => return Err(self.classify(e)),
                }
            }
        })
    }

    fn read(&mut self, from: &str, max: usize) -> Result<Batch, SourceError> {
        let max = max.max(1);
        self.accounts.begin_read();
        let now = self.api.now();
        // Within the time left, and never longer than that time (a clock set back).
        self.strict_noisy = self.strict_noisy_until.is_some_and(|until| {
            until.duration_since(now).is_ok_and(|left| !left.is_zero() && left <= STRICT_NOISY_FOR)
        });
        let mut items = Vec::new();
        let mut open = match self.open.take() {
            Some(open) if open.position == from => open,
            _ => {
                self.check_available()?;
                self.quiet_since = None;
                self.subscribe(&mut from.to_owned(), &mut items)?
            }
        };
        let mut resubscribes = 0;
        let mut passed_over = 0;
        let mut first_wait = FIRST_POLL_WAIT_PER_READ;
        let mut more = false;
        // Stale answers (15011, 15012) in a row with nothing given between, and where the gap
        // the first of them made at the oldest record is.
        let (mut stale_in_a_row, mut oldest_gap) = (0, None);
        loop {
            if items.len() >= max || passed_over >= SKIPPED_PER_READ {
                more = true;
                break;
            }
            // While passing over, whole batches: they cost a bookmark each, not a render.
            let want = match open.past {
                Some(_) => self.batch,
                None => self.batch.min(u32::try_from(max - items.len()).unwrap_or(u32::MAX)),
            };
            let polled_at = Instant::now();
            let result = self.api.next(&mut open.subscription, want, first_wait.min(FIRST_POLL_WAIT));
            if open.fresh {
                // A poll of a subscription that has given nothing yet: its first may have waited.
                first_wait = first_wait.saturating_sub(polled_at.elapsed());
            }
            let error = match result {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    (stale_in_a_row, oldest_gap, open.fresh) = (0, None, false);
                    self.note_batch(events.len(), want);
                    // The last record given before this batch, where it follows on from one.
                    let given_before =
                        if open.past.is_none() { bookmark_record_id(&open.position) } else { None };
                    let (skip, first_after) = match open.past {
                        Some(past) => self.passed_over(&events, past)?,
                        None => (0, 0),
                    };
                    passed_over += skip;
                    // Until an event after the bookmark is read, the bookmark stays the position.
                    if skip == events.len() {
                        continue;
                    }
                    if let Some(past) = open.past.take() {
                        self.gap_after(past, first_after, &mut items);
                    }
                    // A batch taken whole while passing over can hold more than the read may give:
                    // the rest is read again, after the last one given, by a new subscription.
                    let end = events.len().min(skip + max.saturating_sub(items.len()).max(1));
                    let taken = &events[skip..end];
                    let bookmark = match self.api.bookmark(taken) {
                        Ok(bookmark) => bookmark,
                        // Without a bookmark these events have no position: read them again.
                        Err(e) => return Err(self.classify(e)),
                    };
                    let unsaid = match given_before {
                        Some(after) => self.unsaid_gaps(after, taken, &bookmark)?,
                        None => Vec::new(),
                    };
                    let mut unsaid = unsaid.into_iter().peekable();
                    for (index, event) in taken.iter().enumerate() {
                        if let Some(gap) = unsaid.next_if(|(at, _)| *at == index) {
                            items.push(SourceItem::Gap(gap.1));
                        }
                        let item = self.item(event);
                        items.push(item);
                    }
                    let bookmark = self.position_after(bookmark, items.last());
                    if end < events.len() {
                        return Ok(Batch { items, position: bookmark, more: true });
                    }
                    open.position = bookmark;
                    continue;
                }
                Err(error) => error,
            };
            match error.code {
                // Nothing now: Windows answers a poll of a pull subscription with nothing waiting
                // with 4317 (or 1460, the wait of 0 ms over) as often as with 259.
                codes::NO_MORE_ITEMS | codes::INVALID_OPERATION | codes::TIMEOUT => break,
                codes::RPC_INVALID_BOUND
                | codes::EVT_QUERY_RESULT_STALE
                | codes::EVT_QUERY_RESULT_INVALID_POSITION
                | codes::NOT_FOUND
                    if resubscribes < MAX_RESUBSCRIBES =>
                {
                    resubscribes += 1;
                    if error.code == codes::RPC_INVALID_BOUND {
                        (self.batch, self.whole_batches) = ((self.batch / 2).max(1), 0);
                    }
                    let Open { subscription, position, lenient, fresh, .. } = open;
                    drop(subscription);
                    let stale = is_unusable_position(error.code);
                    // Only a Strict subscription made in this read counts towards noise: one
                    // kept from before answers for records lost since, a real notice.
                    if stale && fresh && !lenient {
                        stale_in_a_row += 1;
                    } else {
                        (stale_in_a_row, oldest_gap) = (0, None);
                    }
                    if stale_in_a_row >= 2 && !self.strict_noisy {
                        // A new Strict subscription answered so again before giving anything:
                        // noise on this channel (forwarded-event logs answer every one so), not a
                        // record lost. The gap the first answer made said nothing, then.
                        self.strict_noisy = true;
                        self.strict_noisy_until = Some(self.api.now() + STRICT_NOISY_FOR);
                        if oldest_gap.take().is_some_and(|at: usize| at + 1 == items.len()) {
                            items.pop();
                        }
                        self.tell_strict_noisy(&error);
                    } else if stale && position == OLDEST && !matches!(items.last(), Some(SourceItem::Gap(_)))
                    {
                        // A subscription at the oldest record that gave nothing yet has no
                        // bookmark to check: its records went (overwritten, cleared) before they
                        // were read, which only this answer tells (kept should the
                        // resubscription fail).
                        let reason = format!(
                            "records of {} were overwritten or cleared before they were read ({error}); \
                             reading resumed at the oldest record",
                            self.channel
                        );
                        items.push(SourceItem::Gap(Gap {
                            reason,
                            last_record_id: None,
                            last_header_id: None,
                            archives: Vec::new(),
                        }));
                        // Taken back should the next new subscription answer so too (noise).
                        oldest_gap = (stale_in_a_row == 1).then(|| items.len() - 1);
                    }
                    let (kept, mut from) = (items.len(), position.clone());
                    open = match self.subscribe(&mut from, &mut items) {
                        // A gap made by the resubscription (its bookmarked record gone): a loss
                        // found, so the answers before it are no evidence of noise.
                        Ok(next) if items.len() > kept => {
                            (stale_in_a_row, oldest_gap) = (0, None);
                            next
                        }
                        Ok(next) => next,
                        Err(error) => {
                            // What was read stays read: given, with the position after it.
                            items.truncate(kept);
                            if items.is_empty() {
                                return Err(error);
                            }
                            return Ok(Batch { items, position, more: true });
                        }
                    };
                }
                _ if items.is_empty() => return Err(self.classify(error)),
                // Keep what was read; the next read resubscribes from its end.
                _ => {
                    return Ok(Batch { items, position: open.position, more: true });
                }
            }
        }
        let position = open.position.clone();
        // Passing over events up to a bookmark is not giving nothing.
        if self.stalled(&position, items.is_empty() && passed_over == 0) {
            // Read again at once, by a new subscription.
            return Ok(Batch { items, position, more: true });
        }
        // A lenient subscription is kept only in the middle of a pass-over cut short by the
        // read's bounds (the next read, at once, goes on passing over rather than beginning
        // again); waiting for a record after the bookmark, it could pass over records
        // overwritten meanwhile unsaid.
        if !open.lenient || (open.past.is_some() && more) {
            open.fresh = false;
            self.open = Some(open);
        }
        Ok(Batch { items, position, more })
    }

    fn describe(&self) -> String {
        self.channel.clone()
    }
}

/// Whether a lookup failing with `code` says only that the record is not in the log.
fn is_not_there(code: u32) -> bool {
    matches!(
        code,
        codes::NOT_FOUND
            | codes::NO_MORE_ITEMS
            | codes::EVT_QUERY_RESULT_STALE
            | codes::EVT_QUERY_RESULT_INVALID_POSITION
    )
}

/// What stands in for a `Strict` subscription refused for a record the lookup found.
enum Fallback<S> {
    /// A subscription after the record's id.
    Open(Open<S>),
    /// Another event holds the record's id now (why): read again from the oldest record.
    Gone(String),
    /// Refused as well (1168, 15011, 15012).
    Refused(ApiError),
}

/// What the lookup before a resume found of the record a position names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resume {
    /// Another event holds its id now: the log was cleared and has grown past it (why).
    Regrown(String),
    /// The record read there is in the log: the same id and `TimeCreated`.
    Found,
    /// Not known: the position keeps no time, the record is gone or could not be looked up
    /// (a lookup answering 15011 or 15012 cannot be told from one that finds it gone).
    Unknown,
}

/// What a lookup of a bookmarked record found: its `TimeCreated`, and whether it was forwarded
/// from another machine (its time is then by that machine's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LookedUp {
    created: String,
    forwarded: bool,
}

/// A live position taken apart: the bookmark's XML (what the API is given) and, after it, the
/// `TimeCreated` of the event the bookmark names, kept so that a record id the log reuses after
/// it was cleared is told from the record read (written `<!-- kraken: TimeCreated='...' -->`);
/// for an event that could not be rendered, the time it was read by (`ReadBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position<'p> {
    pub bookmark: &'p str,
    pub time_created: Option<&'p str>,
    pub read_by: Option<&'p str>,
}

/// What a position knows of the time of the event it names.
#[derive(Debug, Clone, Copy)]
enum Known<'p> {
    Created(&'p str),
    ReadBy(&'p str),
}

impl<'p> Known<'p> {
    fn time(self) -> &'p str {
        match self {
            Known::Created(time) | Known::ReadBy(time) => time,
        }
    }
}

/// What ends a bookmark's XML, and what starts the note after it.
const BOOKMARK_END: &str = "</BookmarkList>";
const NOTE_START: &str = "<!-- kraken:";

impl<'p> Position<'p> {
    /// The position text of `bookmark`, with `time_created` after it when known.
    fn with_time(bookmark: String, time_created: Option<&str>) -> String {
        match time_created {
            Some(created) => {
                Position { bookmark: &bookmark, time_created: Some(created), read_by: None }.to_string()
            }
            None => bookmark,
        }
    }

    /// The position text of `bookmark`, with the time `at` which its event was read.
    fn read_by(bookmark: String, at: SystemTime) -> String {
        let Ok(at) = evtx::Timestamp::try_from(at) else { return bookmark };
        Position { bookmark: &bookmark, time_created: None, read_by: Some(&at.to_string()) }.to_string()
    }

    pub fn parse(position: &'p str) -> Self {
        let Some(end) = position.find(BOOKMARK_END).map(|at| at + BOOKMARK_END.len()) else {
            return Position { bookmark: position, time_created: None, read_by: None };
        };
        let (bookmark, note) = position.split_at(end);
        Position {
            bookmark,
            time_created: attribute_of(note, NOTE_START, "TimeCreated"),
            read_by: attribute_of(note, NOTE_START, "ReadBy"),
        }
    }
}

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.bookmark)?;
        match (self.time_created, self.read_by) {
            (Some(created), _) => write!(f, "\r\n{NOTE_START} TimeCreated='{created}' -->"),
            (None, Some(by)) => write!(f, "\r\n{NOTE_START} ReadBy='{by}' -->"),
            (None, None) => Ok(()),
        }
    }
}

/// Whether a lookup failed because the record it found cannot be rendered.
fn renders_nowhere(result: &Result<Option<LookedUp>, ApiError>) -> bool {
    matches!(result, Err(error) if error.call == RENDER_CALL)
}

/// Whether the event time `created` is after `time` (`false` if it does not parse).
fn created_after(created: &str, time: SystemTime) -> bool {
    let Ok(time) = evtx::Timestamp::try_from(time) else { return false };
    filetime_ticks(created).is_some_and(|ticks| ticks > time.as_nanosecond().div_euclid(100))
}

/// A `SystemTime` as FILETIME ticks (100 ns since 1970 here): `None` if it does not parse.
fn filetime_ticks(system_time: &str) -> Option<i128> {
    let instant: evtx::Timestamp = system_time.parse().ok()?;
    Some(instant.as_nanosecond().div_euclid(100))
}

/// The `TimeCreated` an event's XML gives (`SystemTime`, as rendered).
fn time_created(xml: &str) -> Option<&str> {
    attribute_of(xml, "<TimeCreated", "SystemTime").filter(|time| !time.is_empty())
}

/// A bookmark of `channel` at record `id`, in the form `EvtRenderBookmark` writes.
pub fn bookmark_xml(channel: &str, id: u64) -> String {
    let channel = channel.replace('&', "&amp;").replace('\'', "&apos;").replace('<', "&lt;");
    format!(
        "<BookmarkList>\r\n  <Bookmark Channel='{channel}' RecordId='{id}' IsCurrent='true'/>\r\n</BookmarkList>"
    )
}

/// Whether a subscription failing with `code` cannot resume where its bookmark says, though the
/// bookmarked record may be there: the result set went stale (15011) or out of position
/// (15012, the log cleared or rolled over meanwhile).
fn is_unusable_position(code: u32) -> bool {
    matches!(code, codes::EVT_QUERY_RESULT_STALE | codes::EVT_QUERY_RESULT_INVALID_POSITION)
}

/// Each (channel, record id) a bookmark's XML names: several for a bookmark of several channels.
pub fn bookmark_places(bookmark: &str) -> Vec<(String, u64)> {
    let mut places = Vec::new();
    let mut rest = bookmark;
    while let Some(at) = rest.find("<Bookmark ") {
        let entry = &rest[at..];
        let channel = attribute_of(entry, "<Bookmark ", "Channel");
        let id = attribute_of(entry, "<Bookmark ", "RecordId").and_then(|id| id.parse().ok());
        if let (Some(channel), Some(id)) = (channel, id) {
            places.push((unescape(channel).into_owned(), id));
        }
        rest = &entry["<Bookmark ".len()..];
    }
    places
}

/// The record id a bookmark's XML names.
pub fn bookmark_record_id(bookmark: &str) -> Option<u64> {
    attribute_of(bookmark, "<Bookmark ", "RecordId")?.parse().ok()
}

/// The call [`SubscriptionApi::format_message`] names when the provider's metadata cannot be
/// opened.
pub const OPEN_METADATA: &str = "EvtOpenPublisherMetadata";

/// An attribute value with XML's predefined entities replaced.
fn unescape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains('&') {
        return value.into();
    }
    let replaced = value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    replaced.into()
}

/// The value of `attribute` in the first element starting with `element_start`, in either quote
/// style (enough for the plain names, SIDs and numbers it is used for).
pub fn attribute_of<'x>(xml: &'x str, element_start: &str, attribute: &str) -> Option<&'x str> {
    let start = xml.find(element_start)?;
    let tag = &xml[start..];
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let mut rest = tag;
    while let Some(at) = rest.find(attribute) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + attribute.len()..].trim_start();
        rest = &rest[at + attribute.len()..];
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else { continue };
        let value = value.trim_start();
        let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let value = &value[1..];
        return value.find(quote).map(|end| &value[..end]);
    }
    None
}

/// The first element starting with `element_start`, whole: up to `end_tag`, or to the end of
/// its start tag when it has none (an empty element).
fn element<'x>(xml: &'x str, element_start: &str, end_tag: &str) -> Option<&'x str> {
    let open = &xml[xml.find(element_start)?..];
    let start_tag_end = open.find('>')? + 1;
    let end = match open[..start_tag_end].ends_with("/>") {
        true => start_tag_end,
        false => open.find(end_tag).map_or(start_tag_end, |at| at + end_tag.len()),
    };
    Some(&open[..end])
}

/// The values of `attribute` in every element starting with `element_start`.
fn attribute_values<'x>(xml: &'x str, element_start: &str, attribute: &str) -> Vec<&'x str> {
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(element_start) {
        if let Some(value) = attribute_of(&rest[at..], element_start, attribute) {
            values.push(value);
        }
        rest = &rest[at + element_start.len()..];
    }
    values
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
