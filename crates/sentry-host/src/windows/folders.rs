//! Windows' known folders, asked of the shell (`SHGetKnownFolderPath`) rather than read from
//! environment variables, which a service's environment need not carry.

use std::os::windows::ffi::OsStringExt;
use std::path::PathBuf;

use windows_sys::Win32::System::Com::CoTaskMemFree;
use windows_sys::Win32::UI::Shell::{FOLDERID_ProgramData, SHGetKnownFolderPath};

/// `C:\ProgramData` (or wherever this system keeps it).
pub fn program_data() -> Option<PathBuf> {
    let mut path = std::ptr::null_mut::<u16>();
    // SAFETY: a known folder id; the returned text is freed below, whatever the result.
    let result = unsafe { SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, std::ptr::null_mut(), &mut path) };
    let found = (result >= 0 && !path.is_null()).then(|| {
        // SAFETY: on success the text is NUL-terminated.
        let length = (0..).take_while(|&i| unsafe { *path.add(i) } != 0).count();
        // SAFETY: `length` units were just read.
        PathBuf::from(std::ffi::OsString::from_wide(unsafe { std::slice::from_raw_parts(path, length) }))
    });
    // SAFETY: allocated by SHGetKnownFolderPath (null is allowed).
    unsafe { CoTaskMemFree(path.cast()) };
    found
}
