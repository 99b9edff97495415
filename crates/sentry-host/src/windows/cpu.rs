//! Whole-machine CPU times (`GetSystemTimes`) and the logical processor count.
//!
//! `GetSystemTimes` counts idle time inside kernel time; it is subtracted here so that the
//! three counters of [`CpuTimes`] add up to the total. The processor count covers every
//! processor group (`GetActiveProcessorCount(ALL_PROCESSOR_GROUPS)`), not only the caller's
//! group as `GetSystemInfo` does.

use std::mem::MaybeUninit;

use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::{ALL_PROCESSOR_GROUPS, GetActiveProcessorCount, GetSystemTimes};

use super::win32::{duration_from_100ns, filetime_u64, last_error, win32_error};
use crate::{CpuTimes, HostResult};

/// Cumulative idle, kernel (idle excluded) and user time of all processors.
pub(crate) fn times() -> HostResult<CpuTimes> {
    let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
    let (mut idle, mut kernel, mut user) = (zero, zero, zero);
    // SAFETY: three writable FILETIMEs.
    if unsafe { GetSystemTimes(&mut idle, &mut kernel, &mut user) } == 0 {
        return Err(win32_error("cpu", "GetSystemTimes", last_error()));
    }
    Ok(from_raw(filetime_u64(&idle), filetime_u64(&kernel), filetime_u64(&user)))
}

/// CpuTimes from GetSystemTimes' raw 100 ns counts, where kernel includes idle.
fn from_raw(idle: u64, kernel_with_idle: u64, user: u64) -> CpuTimes {
    CpuTimes {
        idle: duration_from_100ns(idle),
        kernel: duration_from_100ns(kernel_with_idle.saturating_sub(idle)),
        user: duration_from_100ns(user),
    }
}

/// Logical processors in all groups; at least 1.
pub(crate) fn count() -> usize {
    // SAFETY: plain call; 0 means failure.
    let active = unsafe { GetActiveProcessorCount(ALL_PROCESSOR_GROUPS) };
    if active > 0 {
        return active as usize;
    }
    let mut info = MaybeUninit::<SYSTEM_INFO>::zeroed();
    // SAFETY: GetSystemInfo fills the whole struct and cannot fail.
    let info = unsafe {
        GetSystemInfo(info.as_mut_ptr());
        info.assume_init()
    };
    (info.dwNumberOfProcessors as usize).max(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn idle_is_taken_out_of_kernel() {
        let t = from_raw(30_000_000, 50_000_000, 10_000_000);
        assert_eq!(t.idle, Duration::from_secs(3));
        assert_eq!(t.kernel, Duration::from_secs(2));
        assert_eq!(t.user, Duration::from_secs(1));
        assert_eq!(t.total(), Duration::from_secs(6));
    }

    #[test]
    fn kernel_below_idle_saturates() {
        assert_eq!(from_raw(10, 5, 0).kernel, Duration::ZERO);
    }

    #[test]
    fn count_is_positive() {
        assert!(count() >= 1);
    }
}
