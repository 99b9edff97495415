//! Processes from `/proc/<pid>/stat`, with the executable from `/proc/<pid>/exe`.
//!
//! `stat` gives everything the snapshot needs in one read: name (`comm`), parent, CPU ticks,
//! start time (the pid-reuse stamp) and resident pages. A process that exits while the list is
//! read is skipped; one whose `stat` cannot be read (it always can, for any user) would be too.
//! `exe` is readable only for this user's processes (or as root); elsewhere it is `None`.

use std::time::Duration;

use procfs::process::Process;

use crate::{HostError, HostResult, ProcessSnapshot};

pub(crate) fn list() -> HostResult<Vec<ProcessSnapshot>> {
    let ticks = procfs::ticks_per_second().max(1);
    let page_size = procfs::page_size();
    let all =
        procfs::process::all_processes().map_err(|e| HostError::malformed("processes", e.to_string()))?;
    Ok(all.flatten().filter_map(|process| snapshot(&process, ticks, page_size)).collect())
}

/// One process; `None` if it vanished before its `stat` was read.
fn snapshot(process: &Process, ticks_per_second: u64, page_size: u64) -> Option<ProcessSnapshot> {
    let stat = process.stat().ok()?;
    let ticks = stat.utime.saturating_add(stat.stime);
    Some(ProcessSnapshot {
        pid: u32::try_from(stat.pid).ok()?,
        parent_pid: u32::try_from(stat.ppid).ok().filter(|&p| p != 0),
        name: stat.comm,
        image_path: process.exe().ok().map(|path| path.to_string_lossy().into_owned()),
        working_set: Some(stat.rss.saturating_mul(page_size)),
        cpu_time: Some(ticks_to_duration(ticks, ticks_per_second)),
        start_stamp: Some(stat.starttime),
    })
}

/// Clock ticks (`USER_HZ`) to a duration, exactly.
fn ticks_to_duration(ticks: u64, ticks_per_second: u64) -> Duration {
    let whole = ticks / ticks_per_second;
    let rest = ticks % ticks_per_second;
    Duration::from_secs(whole) + Duration::from_nanos(rest * 1_000_000_000 / ticks_per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_exactly() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2_500));
        assert_eq!(ticks_to_duration(1, 3), Duration::from_nanos(333_333_333));
    }
}
