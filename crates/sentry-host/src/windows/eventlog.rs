//! The live event log through `wevtapi.dll`: the calls of [`SubscriptionApi`] (the rules above
//! them live in `eventlog/subscription.rs`) and the channel list.
//!
//! Every handle is owned by a value that closes it on drop. Buffers are sized by asking first
//! and grown on `ERROR_INSUFFICIENT_BUFFER`, a bounded number of times; `EvtFormatMessage` gets
//! one WCHAR more than it asks for. Publisher metadata handles are kept per provider in a bounded
//! cache. Under Wine, `EvtOpenLog` fails and the rules call nothing else (several of Wine's
//! `Evt*` stubs abort the process).

use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr::{null, null_mut};
use std::sync::Arc;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_EVT_MAX_INSERTS_REACHED, ERROR_EVT_UNRESOLVED_PARAMETER_INSERT,
    ERROR_EVT_UNRESOLVED_VALUE_INSERT, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER,
    ERROR_NO_MORE_ITEMS, HANDLE, LocalFree, SetLastError,
};
use windows_sys::Win32::Security::Authorization::ConvertStringSidToSidW;
use windows_sys::Win32::Security::{LookupAccountSidW, PSID, SID_NAME_USE};
use windows_sys::Win32::System::Environment::ExpandEnvironmentStringsW;
use windows_sys::Win32::System::EventLog::{
    EVT_HANDLE, EVT_VARIANT, EvtChannelConfigType, EvtChannelLoggingConfigLogFilePath, EvtClose,
    EvtCreateBookmark, EvtFormatMessage, EvtFormatMessageEvent, EvtGetChannelConfigProperty, EvtNext,
    EvtNextChannelPath, EvtOpenChannelConfig, EvtOpenChannelEnum, EvtOpenChannelPath, EvtOpenLog,
    EvtOpenPublisherMetadata, EvtQuery, EvtQueryChannelPath, EvtQueryForwardDirection,
    EvtQueryReverseDirection, EvtRender, EvtRenderBookmark, EvtRenderEventXml, EvtSeek,
    EvtSeekRelativeToBookmark, EvtSubscribe, EvtSubscribeStartAfterBookmark, EvtSubscribeStartAtOldestRecord,
    EvtSubscribeStrict, EvtUpdateBookmark, EvtVarTypeString, EvtVarTypeUInt32,
};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject};

use super::win32::{from_wide, last_error, to_wide};
use crate::eventlog::accounts::LookupFn;
use crate::eventlog::source::SourceError;
use crate::eventlog::subscription::{
    ApiError, FoundEvent, OPEN_METADATA, RENDER_CALL, SubscribeFrom, SubscriptionApi, bookmark_places,
    bookmark_record_id, bookmark_xml,
};

/// What a failed render of a bookmark is called: not an event's render ([`RENDER_CALL`]).
const RENDER_BOOKMARK_CALL: &str = "EvtRender (bookmark)";

/// How many times a call is retried with a bigger buffer.
const MAX_GROWTH: usize = 4;

/// The largest buffer a call may ask for, in WCHARs (32 MiB): an event is at most 64 KiB of
/// binary XML, so a size past this is a fault, not a reason to allocate.
const MAX_BUFFER_UNITS: usize = 16 << 20;

/// `EvtFormatMessage` failures that still leave the message in the buffer, with the inserts
/// it could not resolve left as they were (15029 unresolved value insert, 15030 unresolved
/// parameter insert, 15031 too many inserts).
const PARTIAL_MESSAGE: [u32; 3] =
    [ERROR_EVT_UNRESOLVED_VALUE_INSERT, ERROR_EVT_UNRESOLVED_PARAMETER_INSERT, ERROR_EVT_MAX_INSERTS_REACHED];

/// How long the newest-record query may take.
const QUERY_WAIT_MS: u32 = 10_000;

/// Failures that say a handle is no longer served: `ERROR_INVALID_HANDLE`, and the RPC
/// errors of a service gone or restarted (`RPC_S_UNKNOWN_IF`, `RPC_S_SERVER_UNAVAILABLE`,
/// `RPC_S_CALL_FAILED`, `RPC_S_CALL_FAILED_DNE`, `EPT_S_NOT_REGISTERED`,
/// `RPC_X_SS_CONTEXT_DAMAGED`).
const HANDLE_GONE: [u32; 7] = [6, 1717, 1722, 1726, 1727, 1753, 1777];

/// Publisher metadata handles kept open.
const PUBLISHERS_KEPT: usize = 256;

/// `EvtChannelTypeAdmin` and `EvtChannelTypeOperational`.
const ADMIN_OR_OPERATIONAL: [u32; 2] = [0, 1];

/// An event log handle, closed on drop.
pub struct EvtHandle(EVT_HANDLE);

impl Drop for EvtHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from an Evt* call and is closed once, here.
        unsafe { EvtClose(self.0) };
    }
}

/// A handle or the calling thread's last error.
fn owned(handle: EVT_HANDLE, call: &'static str) -> Result<EvtHandle, ApiError> {
    if handle == 0 { Err(ApiError { call, code: last_error() }) } else { Ok(EvtHandle(handle)) }
}

fn check(ok: i32, call: &'static str) -> Result<(), ApiError> {
    if ok == 0 { Err(ApiError { call, code: last_error() }) } else { Ok(()) }
}

/// A pull subscription and its signal event (fields drop in order: the subscription first, as it
/// may still signal the event).
pub struct Subscription {
    handle: EvtHandle,
    /// Held for the subscription's life: the API signals it when events arrive.
    signal: Signal,
    /// Polled before: its first poll has waited for its first events.
    polled: bool,
}

/// A kernel event handle, closed on drop.
struct Signal(HANDLE);

// SAFETY: a kernel event handle is usable from any thread.
unsafe impl Send for Signal {}

impl Drop for Signal {
    fn drop(&mut self) {
        // SAFETY: created by CreateEventW, closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// The Windows event log API.
#[derive(Default)]
pub struct WindowsApi {
    /// The bookmark updated with each batch's events: made from the position a subscription
    /// starts after.
    bookmark: Option<EvtHandle>,
    publishers: HashMap<String, EvtHandle>,
    /// Set once Windows refused `Strict` at the oldest record: such subscriptions go without it.
    oldest_without_strict: bool,
}

/// A bookmark made from its XML (`EvtRenderBookmark`'s).
fn bookmark_from(xml: &str) -> Result<EvtHandle, ApiError> {
    let xml = to_wide(xml);
    // SAFETY: `xml` is NUL-terminated.
    owned(unsafe { EvtCreateBookmark(xml.as_ptr()) }, "EvtCreateBookmark")
}

impl WindowsApi {
    pub fn new() -> Self {
        WindowsApi::default()
    }

    fn publisher(&mut self, provider: &str) -> Result<EVT_HANDLE, ApiError> {
        if let Some(handle) = self.publishers.get(provider) {
            return Ok(handle.0);
        }
        if self.publishers.len() >= PUBLISHERS_KEPT {
            self.publishers.clear();
        }
        let name = to_wide(provider);
        // SAFETY: `name` is NUL-terminated and outlives the call.
        let handle =
            owned(unsafe { EvtOpenPublisherMetadata(0, name.as_ptr(), null(), 0, 0) }, OPEN_METADATA)?;
        let raw = handle.0;
        self.publishers.insert(provider.to_owned(), handle);
        Ok(raw)
    }
}

/// Renders `fragment` (an event or a bookmark) as XML; a failure names `call`.
fn render_xml(fragment: EVT_HANDLE, flags: u32, call: &'static str) -> Result<String, ApiError> {
    let mut buffer: Vec<u16> = vec![0; 4096];
    for _ in 0..MAX_GROWTH {
        let (mut used, mut count) = (0u32, 0u32);
        let bytes = u32::try_from(buffer.len() * 2).unwrap_or(u32::MAX);
        // SAFETY: the buffer holds `bytes` writable bytes; `used` and `count` are valid.
        let ok = unsafe {
            EvtRender(0, fragment, flags, bytes, buffer.as_mut_ptr().cast::<c_void>(), &mut used, &mut count)
        };
        if ok != 0 {
            let units = (used as usize / 2).min(buffer.len());
            return Ok(from_wide(&buffer[..units]));
        }
        let code = last_error();
        if code != ERROR_INSUFFICIENT_BUFFER {
            return Err(ApiError { call, code });
        }
        buffer = vec![0; grown((used as usize).div_ceil(2) + 1, call)?];
    }
    Err(ApiError { call, code: ERROR_INSUFFICIENT_BUFFER })
}

/// A query over the whole of `channel`'s log in `direction`.
fn query_channel(channel: &str, query: &str, direction: u32) -> Result<EvtHandle, ApiError> {
    let (channel, query) = (to_wide(channel), to_wide(query));
    // SAFETY: strings are NUL-terminated.
    owned(
        unsafe { EvtQuery(0, channel.as_ptr(), query.as_ptr(), EvtQueryChannelPath | direction) },
        "EvtQuery",
    )
}

/// The next event of a query's results; `None` at their end.
fn next_result(results: &EvtHandle) -> Result<Option<EvtHandle>, ApiError> {
    let (mut handle, mut returned) = (0 as EVT_HANDLE, 0u32);
    // A query's results may take a moment: wait for them (a 0 ms wait can end in ERROR_TIMEOUT,
    // which must not be taken for an empty log and make "now" replay it all).
    // SAFETY: room for one handle.
    let ok = unsafe { EvtNext(results.0, 1, &mut handle, QUERY_WAIT_MS, 0, &mut returned) };
    let code = if ok == 0 { last_error() } else { 0 };
    // A handle given is ours to close, whatever the call says.
    if returned > 0 && handle != 0 {
        return Ok(Some(EvtHandle(handle)));
    }
    match ok {
        0 if code != ERROR_NO_MORE_ITEMS => Err(ApiError { call: "EvtNext", code }),
        _ => Ok(None),
    }
}

/// The XML of a new bookmark at `event`.
fn bookmark_of(event: &EvtHandle) -> Result<String, ApiError> {
    // SAFETY: a NULL XML makes an empty bookmark.
    let bookmark = owned(unsafe { EvtCreateBookmark(null()) }, "EvtCreateBookmark")?;
    // SAFETY: both handles are open.
    check(unsafe { EvtUpdateBookmark(bookmark.0, event.0) }, "EvtUpdateBookmark")?;
    render_xml(bookmark.0, EvtRenderBookmark, RENDER_BOOKMARK_CALL)
}

/// A buffer size a call asked for, refused past [`MAX_BUFFER_UNITS`].
fn grown(units: usize, call: &'static str) -> Result<usize, ApiError> {
    if units > MAX_BUFFER_UNITS {
        return Err(ApiError { call, code: ERROR_INSUFFICIENT_BUFFER });
    }
    Ok(units)
}

/// The text a `(size, buffer, used)` call writes, grown on `ERROR_INSUFFICIENT_BUFFER` with one
/// extra WCHAR; a failure with a code in `text_kept` still gives the buffer's text.
fn wide_text(
    call: &'static str,
    text_kept: &[u32],
    mut fill: impl FnMut(u32, *mut u16, &mut u32) -> i32,
) -> Result<String, ApiError> {
    let mut buffer: Vec<u16> = vec![0; 512];
    for _ in 0..MAX_GROWTH {
        let mut used = 0u32;
        let size = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        if fill(size, buffer.as_mut_ptr(), &mut used) != 0 {
            return Ok(from_wide(&buffer));
        }
        let code = last_error();
        // A kept failure with a buffer too small for the text asks for a bigger one, as 122 does.
        let kept = text_kept.contains(&code);
        if kept && used <= size {
            return Ok(from_wide(&buffer));
        }
        if !kept && code != ERROR_INSUFFICIENT_BUFFER {
            return Err(ApiError { call, code });
        }
        buffer = vec![0; grown(used as usize + 1, call)?];
    }
    Err(ApiError { call, code: ERROR_INSUFFICIENT_BUFFER })
}

impl SubscriptionApi for WindowsApi {
    type Subscription = Subscription;
    type Event = EvtHandle;

    fn open_log(&mut self, channel: &str) -> Result<(), ApiError> {
        let path = to_wide(channel);
        // Wine's stub returns NULL without setting an error code: cleared first, so that no
        // earlier call's code (5, 15007) is taken for this one's.
        // SAFETY: no arguments.
        unsafe { SetLastError(0) };
        // SAFETY: `path` is NUL-terminated.
        owned(unsafe { EvtOpenLog(0, path.as_ptr(), EvtOpenChannelPath) }, "EvtOpenLog").map(drop)
    }

    fn subscribe(
        &mut self,
        channel: &str,
        query: &str,
        from: SubscribeFrom<'_>,
    ) -> Result<Subscription, ApiError> {
        // `Strict` also has Windows say when records were overwritten before the subscription
        // gave them (15011 from `EvtNext`), rather than pass over them: so at the oldest record
        // too, where it is no bookmark check (unless this Windows refused it there).
        let oldest_strict = if self.oldest_without_strict { 0 } else { EvtSubscribeStrict };
        let (bookmark, flags) = match from {
            SubscribeFrom::Oldest => (None, EvtSubscribeStartAtOldestRecord | oldest_strict),
            SubscribeFrom::OldestLenient => (None, EvtSubscribeStartAtOldestRecord),
            SubscribeFrom::AfterBookmark(xml) => {
                (Some(bookmark_from(xml)?), EvtSubscribeStartAfterBookmark | EvtSubscribeStrict)
            }
            SubscribeFrom::AfterRecordOf(xml) => (Some(bookmark_from(xml)?), EvtSubscribeStartAfterBookmark),
        };
        // The next bookmark goes on from this position (a new one for the oldest record).
        self.bookmark = match from {
            SubscribeFrom::Oldest | SubscribeFrom::OldestLenient => None,
            SubscribeFrom::AfterBookmark(xml) | SubscribeFrom::AfterRecordOf(xml) => {
                Some(bookmark_from(xml)?)
            }
        };
        // SAFETY: no security attributes, no name: a manual-reset event, initially not set (the
        // first poll waits for the service to set it).
        let signal = unsafe { CreateEventW(null(), 1, 0, null()) };
        if signal.is_null() {
            return Err(ApiError { call: "CreateEventW", code: last_error() });
        }
        let signal = Signal(signal);
        let (channel_name, query) = (channel, to_wide(query));
        let channel = to_wide(channel_name);
        let bookmark_handle = bookmark.as_ref().map_or(0, |b| b.0);
        let subscribe = |flags| {
            // SAFETY: strings are NUL-terminated; a pull subscription (signal event, no callback).
            let handle = unsafe {
                EvtSubscribe(
                    0,
                    signal.0,
                    channel.as_ptr(),
                    query.as_ptr(),
                    bookmark_handle,
                    null(),
                    None,
                    flags,
                )
            };
            owned(handle, "EvtSubscribe")
        };
        let handle = match subscribe(flags) {
            // The documentation ties `Strict`'s failure to a bookmark: a Windows that refuses it
            // as a parameter at the oldest record (87) gets subscriptions there without it from
            // then on. (Other refusals there, 1168, 15011 or 15012, are the rules' to handle: they
            // subscribe without it that once, and know the subscription is without it.)
            Err(refused)
                if refused.code == ERROR_INVALID_PARAMETER
                    && oldest_strict != 0
                    && matches!(from, SubscribeFrom::Oldest) =>
            {
                let handle = subscribe(EvtSubscribeStartAtOldestRecord)?;
                self.oldest_without_strict = true;
                tracing::warn!(
                    "{channel_name}: {refused} for Strict at the oldest record: subscriptions there go \
                     without it, so records overwritten there before they are read are not reported \
                     as a gap"
                );
                handle
            }
            result => result?,
        };
        Ok(Subscription { handle, signal, polled: false })
    }

    fn next(
        &mut self,
        subscription: &mut Subscription,
        max: u32,
        first_wait: std::time::Duration,
    ) -> Result<Vec<EvtHandle>, ApiError> {
        if !subscription.polled {
            subscription.polled = true;
            // Set by the service once it has events for the subscription (never reset: only
            // this first poll waits). A wait that fails or runs out is no error: the poll says.
            let wait_ms = u32::try_from(first_wait.as_millis()).unwrap_or(u32::MAX);
            // SAFETY: the event is open for the subscription's life.
            unsafe { WaitForSingleObject(subscription.signal.0, wait_ms) };
        }
        let mut handles: Vec<EVT_HANDLE> = vec![0; max.max(1) as usize];
        let mut returned = 0u32;
        // SAFETY: `handles` has room for `max` handles; no wait.
        let ok = unsafe { EvtNext(subscription.handle.0, max, handles.as_mut_ptr(), 0, 0, &mut returned) };
        let code = if ok == 0 { last_error() } else { 0 };
        let events: Vec<EvtHandle> =
            handles.into_iter().take(returned.min(max) as usize).filter(|h| *h != 0).map(EvtHandle).collect();
        // Events handed out are past the subscription's cursor whatever the call says: a
        // failure that still returns some (not documented either way) gives them, or they are lost.
        // A lasting failure comes back at the next call.
        if !events.is_empty() {
            return Ok(events);
        }
        Err(ApiError { call: "EvtNext", code: if ok == 0 { code } else { ERROR_NO_MORE_ITEMS } })
    }

    fn render(&mut self, event: &EvtHandle) -> Result<String, ApiError> {
        render_xml(event.0, EvtRenderEventXml, RENDER_CALL)
    }

    fn bookmark(&mut self, events: &[EvtHandle]) -> Result<String, ApiError> {
        if self.bookmark.is_none() {
            // SAFETY: a NULL XML makes an empty bookmark.
            self.bookmark = Some(owned(unsafe { EvtCreateBookmark(null()) }, "EvtCreateBookmark")?);
        }
        let bookmark = self.bookmark.as_ref().expect("set above").0;
        // Each event in turn, as the documentation updates a bookmark.
        for event in events {
            // SAFETY: both handles are open.
            check(unsafe { EvtUpdateBookmark(bookmark, event.0) }, "EvtUpdateBookmark")?;
        }
        render_xml(bookmark, EvtRenderBookmark, RENDER_BOOKMARK_CALL)
    }

    fn newest_bookmark(&mut self, channel: &str, query: &str) -> Result<Option<String>, ApiError> {
        let results = query_channel(channel, query, EvtQueryReverseDirection)?;
        let Some(newest) = next_result(&results)? else { return Ok(None) };
        let bookmark = bookmark_of(&newest)?;
        // An event of a query in reverse makes a bookmark that says `Direction='backward'`; the
        // subscription after it is to read forward, so it is written anew from its place, as
        // a `last_id` start writes one.
        Ok(Some(match bookmark_places(&bookmark).as_slice() {
            [(channel, id)] => bookmark_xml(channel, *id),
            _ => bookmark,
        }))
    }

    fn bookmarked_event(&mut self, channel: &str, bookmark: &str) -> Result<Option<FoundEvent>, ApiError> {
        let results = query_channel(channel, "*", EvtQueryForwardDirection)?;
        let mark = bookmark_from(bookmark)?;
        // Offset 0 from the bookmark: the bookmarked record, or a neighbour where it is gone
        // (not `Strict`, whose failure code is not documented: a failure here is a real one).
        // SAFETY: both handles are open; the timeout is reserved and 0.
        check(unsafe { EvtSeek(results.0, 0, mark.0, 0, EvtSeekRelativeToBookmark) }, "EvtSeek")?;
        let Some(event) = next_result(&results)? else { return Ok(None) };
        let bookmark = bookmark_of(&event)?;
        let id = bookmark_record_id(&bookmark).ok_or(ApiError { call: "EvtRenderBookmark", code: 13 })?;
        Ok(Some((id, render_xml(event.0, EvtRenderEventXml, RENDER_CALL))))
    }

    fn format_message(&mut self, provider: &str, event: &EvtHandle) -> Result<String, ApiError> {
        let publisher = self.publisher(provider)?;
        let result = wide_text("EvtFormatMessage", &PARTIAL_MESSAGE, |size, buffer, used| {
            // SAFETY: `buffer` holds `size` WCHARs; no inserts are passed.
            unsafe {
                EvtFormatMessage(publisher, event.0, 0, 0, null(), EvtFormatMessageEvent, size, buffer, used)
            }
        });
        // The handle gone with the service that made it (the event log service restarted): the
        // next event opens the metadata again. Not for an event's own failure (its data not
        // matching the template, say), which any event could cause at each of its events.
        if let Err(error) = &result
            && HANDLE_GONE.contains(&error.code)
        {
            self.publishers.remove(provider);
        }
        result
    }

    fn account_lookup(&self) -> LookupFn {
        Arc::new(|sid: &str| lookup_account(sid).ok())
    }
}

/// (domain, account) of a SID given as text; callable from any thread.
fn lookup_account(sid: &str) -> Result<(String, String), ApiError> {
    let text = to_wide(sid);
    let mut psid: PSID = null_mut();
    // SAFETY: `text` is NUL-terminated; `psid` receives memory freed with LocalFree below.
    check(unsafe { ConvertStringSidToSidW(text.as_ptr(), &mut psid) }, "ConvertStringSidToSidW")?;
    let result = lookup(psid);
    // SAFETY: allocated by ConvertStringSidToSidW.
    unsafe { LocalFree(psid) };
    result
}

/// (domain, account) of a binary SID.
fn lookup(psid: PSID) -> Result<(String, String), ApiError> {
    let mut name: Vec<u16> = vec![0; 256];
    let mut domain: Vec<u16> = vec![0; 256];
    for _ in 0..MAX_GROWTH {
        let (mut name_len, mut domain_len) = (name.len() as u32, domain.len() as u32);
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: both buffers hold the lengths passed.
        let ok = unsafe {
            LookupAccountSidW(
                null(),
                psid,
                name.as_mut_ptr(),
                &mut name_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut kind,
            )
        };
        if ok != 0 {
            return Ok((from_wide(&domain), from_wide(&name)));
        }
        let code = last_error();
        if code != ERROR_INSUFFICIENT_BUFFER {
            return Err(ApiError { call: "LookupAccountSidW", code });
        }
        name = vec![0; grown(name_len as usize + 1, "LookupAccountSidW")?];
        domain = vec![0; grown(domain_len as usize + 1, "LookupAccountSidW")?];
    }
    Err(ApiError { call: "LookupAccountSidW", code: ERROR_INSUFFICIENT_BUFFER })
}

/// The Admin and Operational channels of this machine, sorted.
pub(crate) fn channels() -> Result<Vec<String>, SourceError> {
    let mut api = WindowsApi::new();
    api.open_log("Application")
        .map_err(|e| SourceError::Unavailable(format!("cannot open the Application log: {e}")))?;
    // SAFETY: the local session, no flags.
    let list = owned(unsafe { EvtOpenChannelEnum(0, 0) }, "EvtOpenChannelEnum")
        .map_err(|e| SourceError::Transient(e.to_string()))?;
    let mut channels = Vec::new();
    loop {
        let path = wide_text("EvtNextChannelPath", &[], |size, buffer, used| {
            // SAFETY: `buffer` holds `size` WCHARs.
            unsafe { EvtNextChannelPath(list.0, size, buffer, used) }
        });
        match path {
            Ok(path) => {
                if channel_type(&path).is_some_and(|kind| ADMIN_OR_OPERATIONAL.contains(&kind)) {
                    channels.push(path);
                }
            }
            Err(e) if e.code == ERROR_NO_MORE_ITEMS => break,
            Err(e) => return Err(SourceError::Transient(e.to_string())),
        }
    }
    channels.sort_by_key(|c| c.to_lowercase());
    Ok(channels)
}

/// The file `channel` keeps its events in (`EvtChannelLoggingConfigLogFilePath`, environment
/// variables such as `%SystemRoot%` expanded); `None` when it cannot be learnt.
pub(crate) fn channel_log_file(channel: &str) -> Option<std::path::PathBuf> {
    let wide = to_wide(channel);
    // SAFETY: `wide` is NUL-terminated.
    let config = owned(unsafe { EvtOpenChannelConfig(0, wide.as_ptr(), 0) }, "EvtOpenChannelConfig").ok()?;
    let property = |buffer: &mut [EVT_VARIANT], used: &mut u32| {
        let size = u32::try_from(std::mem::size_of_val(buffer)).unwrap_or(u32::MAX);
        let pointer = if buffer.is_empty() { null_mut() } else { buffer.as_mut_ptr() };
        // SAFETY: the buffer is `size` bytes of EVT_VARIANTs (null when empty, with size 0).
        unsafe {
            EvtGetChannelConfigProperty(config.0, EvtChannelLoggingConfigLogFilePath, 0, size, pointer, used)
        }
    };
    let mut used = 0u32;
    if property(&mut [], &mut used) != 0 || last_error() != ERROR_INSUFFICIENT_BUFFER {
        return None;
    }
    // The variant and the text it points to, in a buffer aligned for EVT_VARIANT.
    let units = (used as usize).div_ceil(std::mem::size_of::<EVT_VARIANT>()).max(1);
    if units * std::mem::size_of::<EVT_VARIANT>() > MAX_BUFFER_UNITS * 2 {
        return None;
    }
    // SAFETY: EVT_VARIANT is plain data; all zeroes is a valid value.
    let mut buffer: Vec<EVT_VARIANT> = vec![unsafe { std::mem::zeroed() }; units];
    if property(&mut buffer, &mut used) == 0 || buffer[0].Type != EvtVarTypeString as u32 {
        return None;
    }
    // SAFETY: the variant holds a string, as its type says.
    let text = unsafe { buffer[0].Anonymous.StringVal };
    // The text lies in the buffer, after the variant: read no further than the buffer's end.
    let start = buffer.as_ptr() as usize;
    let end = start + std::mem::size_of_val(buffer.as_slice());
    let at = text as usize;
    if text.is_null() || at < start || at >= end || (at - start) % 2 != 0 {
        return None;
    }
    // SAFETY: `at..end` lies in the buffer, and is read as the UTF-16 units it holds.
    let raw = unsafe { std::slice::from_raw_parts(text, (end - at) / 2) };
    let raw: Vec<u16> = raw.iter().copied().take_while(|&unit| unit != 0).chain([0]).collect();
    // SAFETY: `raw` is NUL-terminated; a null buffer of size 0 asks for the size.
    let needed = unsafe { ExpandEnvironmentStringsW(raw.as_ptr(), null_mut(), 0) };
    if needed == 0 || needed as usize > MAX_BUFFER_UNITS {
        return None;
    }
    let mut expanded = vec![0u16; needed as usize];
    // SAFETY: `expanded` holds `needed` WCHARs.
    let written = unsafe { ExpandEnvironmentStringsW(raw.as_ptr(), expanded.as_mut_ptr(), needed) };
    (written != 0 && written <= needed).then(|| std::path::PathBuf::from(from_wide(&expanded)))
}

/// The `EvtChannelConfigType` of a channel.
fn channel_type(path: &str) -> Option<u32> {
    let wide = to_wide(path);
    // SAFETY: `wide` is NUL-terminated.
    let config = owned(unsafe { EvtOpenChannelConfig(0, wide.as_ptr(), 0) }, "EvtOpenChannelConfig").ok()?;
    // An EVT_VARIANT holding a UInt32 fits in one EVT_VARIANT.
    // SAFETY: EVT_VARIANT is plain data; all zeroes is a valid value.
    let mut value: EVT_VARIANT = unsafe { std::mem::zeroed() };
    let mut used = 0u32;
    // SAFETY: the buffer is one EVT_VARIANT of the size passed.
    let ok = unsafe {
        EvtGetChannelConfigProperty(
            config.0,
            EvtChannelConfigType,
            0,
            std::mem::size_of::<EVT_VARIANT>() as u32,
            &mut value,
            &mut used,
        )
    };
    // Read only as the type it says it holds (EvtVarTypeNull would read as 0, Admin).
    // SAFETY: the variant holds a UInt32, as its type says.
    (ok != 0 && value.Type == EvtVarTypeUInt32 as u32).then(|| unsafe { value.Anonymous.UInt32Val })
}
