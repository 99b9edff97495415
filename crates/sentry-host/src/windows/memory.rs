//! Physical memory and system commit (`GlobalMemoryStatusEx`), in bytes.
//!
//! "Virtual" is the commit limit and available commit (`ullTotalPageFile`,
//! `ullAvailPageFile`), not the agent's own address space as in the original (BUG-37).

use std::mem::size_of;

use windows_sys::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};

use super::win32::{last_error, win32_error};
use crate::{HostResult, MemoryStatus};

/// Physical memory and commit totals.
pub(crate) fn status() -> HostResult<MemoryStatus> {
    // SAFETY: MEMORYSTATUSEX is plain data; zero is a valid value.
    let mut status: MEMORYSTATUSEX = unsafe { std::mem::zeroed() };
    status.dwLength = size_of::<MEMORYSTATUSEX>() as u32;
    // SAFETY: a writable struct with dwLength set, as the API requires.
    if unsafe { GlobalMemoryStatusEx(&mut status) } == 0 {
        return Err(win32_error("memory", "GlobalMemoryStatusEx", last_error()));
    }
    Ok(MemoryStatus {
        physical_total: status.ullTotalPhys,
        physical_free: status.ullAvailPhys,
        virtual_total: status.ullTotalPageFile,
        virtual_free: status.ullAvailPageFile,
    })
}
