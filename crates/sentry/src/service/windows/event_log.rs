//! The service's messages in the Application event log, where an administrator looks first:
//! `service install` registers the source `KrakenSentry`
//! (`HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\KrakenSentry`), and a service
//! that cannot start reports why there before it stops. The executable carries no message
//! table yet, so Event Viewer prefixes the text with "The description for Event ID ... cannot
//! be found"; the text itself is complete.

use std::path::Path;

use windows_sys::Win32::Foundation::ERROR_SUCCESS;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    RegisterEventSourceW, ReportEventW,
};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, KEY_SET_VALUE, REG_DWORD, REG_EXPAND_SZ, REG_OPTION_NON_VOLATILE, RegCloseKey,
    RegCreateKeyExW, RegDeleteTreeW, RegSetValueExW,
};

use crate::service::manager::SERVICE_NAME;

/// The source's key under HKLM.
const SOURCE_KEY: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\KrakenSentry";

/// The event id of a start failure.
pub const START_FAILED: u32 = 1;
/// The event id of a stop on an error while running.
pub const STOPPED_ON_ERROR: u32 = 2;

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Registers the event source (an existing one is updated).
pub fn register_source(executable: &Path) -> std::io::Result<()> {
    let key_name = wide(SOURCE_KEY);
    let mut key: HKEY = std::ptr::null_mut();
    // SAFETY: the name is NUL-terminated; `key` receives a handle closed below.
    let status = unsafe {
        RegCreateKeyExW(
            HKEY_LOCAL_MACHINE,
            key_name.as_ptr(),
            0,
            std::ptr::null(),
            REG_OPTION_NON_VOLATILE,
            KEY_SET_VALUE,
            std::ptr::null(),
            &mut key,
            std::ptr::null_mut(),
        )
    };
    if status != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(status as i32));
    }
    let file = wide(&executable.to_string_lossy());
    let types: u32 = u32::from(EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE);
    let set = |name: &str, kind, bytes: &[u8]| {
        let name = wide(name);
        // SAFETY: `key` is open; the data pointer and length describe `bytes`.
        unsafe { RegSetValueExW(key, name.as_ptr(), 0, kind, bytes.as_ptr(), bytes.len() as u32) }
    };
    let file_bytes: Vec<u8> = file.iter().flat_map(|unit| unit.to_le_bytes()).collect();
    let mut status = set("EventMessageFile", REG_EXPAND_SZ, &file_bytes);
    if status == ERROR_SUCCESS {
        status = set("TypesSupported", REG_DWORD, &types.to_le_bytes());
    }
    // SAFETY: `key` was opened above.
    unsafe { RegCloseKey(key) };
    if status != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(status as i32));
    }
    Ok(())
}

/// Removes the event source's registration (nothing if it is not there).
pub fn unregister_source() {
    let key_name = wide(SOURCE_KEY);
    // SAFETY: the name is NUL-terminated.
    unsafe { RegDeleteTreeW(HKEY_LOCAL_MACHINE, key_name.as_ptr()) };
}

/// Writes an error event with `message` to the Application log; false if it could not.
pub fn report_error(event_id: u32, message: &str) -> bool {
    let source = wide(SERVICE_NAME);
    // SAFETY: the source name is NUL-terminated; the handle is released below.
    let handle = unsafe { RegisterEventSourceW(std::ptr::null(), source.as_ptr()) };
    if handle.is_null() {
        return false;
    }
    let text = wide(message);
    let strings = [text.as_ptr()];
    // SAFETY: one NUL-terminated string, no binary data.
    let reported = unsafe {
        ReportEventW(
            handle,
            EVENTLOG_ERROR_TYPE,
            0,
            event_id,
            std::ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            std::ptr::null(),
        )
    };
    // SAFETY: `handle` came from RegisterEventSourceW.
    unsafe { DeregisterEventSource(handle) };
    reported != 0
}
