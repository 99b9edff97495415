//! Processes: a Toolhelp32 snapshot for every pid, then each process opened for its details.
//!
//! `CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS)` + `Process32FirstW/NextW` list every pid with
//! its parent and image file name, without opening anything, so no process is left out (BUG-23).
//! Each one is then opened with the least right that works (`PROCESS_QUERY_LIMITED_INFORMATION`,
//! plus `PROCESS_VM_READ` for the memory counters when granted) for `GetProcessTimes`,
//! `K32GetProcessMemoryInfo` and `QueryFullProcessImageNameW`. A process that cannot be opened
//! (protected or other users' processes) keeps its snapshot name and `None` for the rest. The
//! Idle (0) and System (4) pseudo-processes are never opened: they always have `None` values,
//! whatever the caller's rights. No privilege is enabled here (BUG-42).

use std::mem::size_of;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, ERROR_NO_MORE_FILES, FILETIME, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcess, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_VM_READ,
    QueryFullProcessImageNameW,
};

use super::win32::{duration_from_100ns, filetime_u64, from_wide, last_error, win32_error};
use crate::{HostResult, ProcessSnapshot};

const FACT: &str = "processes";

/// Every process in a Toolhelp32 snapshot, with what opening it could read.
pub(crate) fn list() -> HostResult<Vec<ProcessSnapshot>> {
    let entries = snapshot()?;
    Ok(entries.into_iter().map(|(pid, parent_pid, name)| read_process(pid, parent_pid, name)).collect())
}

/// (pid, parent pid, exe file name) of every process in a Toolhelp32 snapshot.
fn snapshot() -> HostResult<Vec<(u32, u32, String)>> {
    // SAFETY: plain call; the returned handle is closed by `Handle`'s drop.
    let raw = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if raw == INVALID_HANDLE_VALUE {
        return Err(win32_error(FACT, "CreateToolhelp32Snapshot", last_error()));
    }
    let snap = Handle(raw);
    let mut entries = Vec::new();
    // SAFETY: PROCESSENTRY32W is plain data; zero is a valid value.
    let mut entry: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    entry.dwSize = size_of::<PROCESSENTRY32W>() as u32;
    // SAFETY: `snap` is a live snapshot handle and `entry` a writable entry with dwSize set.
    let mut ok = unsafe { Process32FirstW(snap.0, &mut entry) } != 0;
    while ok {
        entries.push((entry.th32ProcessID, entry.th32ParentProcessID, from_wide(&entry.szExeFile)));
        // SAFETY: as above.
        ok = unsafe { Process32NextW(snap.0, &mut entry) } != 0;
    }
    match last_error() {
        ERROR_NO_MORE_FILES => Ok(entries),
        code => Err(win32_error(FACT, "Process32NextW", code)),
    }
}

/// Opens `pid` and reads its times, working set and image path, as far as allowed.
fn read_process(pid: u32, parent_pid: u32, name: String) -> ProcessSnapshot {
    let mut snapshot = ProcessSnapshot {
        pid,
        // The Idle process is its own parent in the snapshot: it has none.
        parent_pid: (pid != IDLE_PID).then_some(parent_pid),
        name,
        image_path: None,
        working_set: None,
        cpu_time: None,
        start_stamp: None,
    };
    let Some(process) = open(pid) else {
        return snapshot;
    };
    if let Some((creation, cpu)) = times(&process) {
        snapshot.start_stamp = Some(creation);
        snapshot.cpu_time = Some(duration_from_100ns(cpu));
    }
    snapshot.working_set = working_set(&process);
    snapshot.image_path = image_path(&process);
    snapshot
}

/// An open process handle, closed on drop.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by this module and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// The pids of the Idle and System pseudo-processes.
const IDLE_PID: u32 = 0;
const SYSTEM_PID: u32 = 4;

/// `pid` opened for limited queries (and memory reads when allowed); `None` if denied or gone.
fn open(pid: u32) -> Option<Handle> {
    if pid == IDLE_PID || pid == SYSTEM_PID {
        return None;
    }
    for access in [PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, PROCESS_QUERY_LIMITED_INFORMATION] {
        // SAFETY: plain call; a non-null result is a handle owned by the returned `Handle`.
        let raw = unsafe { OpenProcess(access, 0, pid) };
        if !raw.is_null() {
            return Some(Handle(raw));
        }
    }
    None
}

/// (creation FILETIME, kernel + user time in 100 ns units).
fn times(process: &Handle) -> Option<(u64, u64)> {
    let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
    let (mut creation, mut exit, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: a live handle with query rights and four writable FILETIMEs.
    let ok = unsafe { GetProcessTimes(process.0, &mut creation, &mut exit, &mut kernel, &mut user) } != 0;
    ok.then(|| (filetime_u64(&creation), filetime_u64(&kernel).saturating_add(filetime_u64(&user))))
}

/// Working set in bytes, if the memory counters can be read.
fn working_set(process: &Handle) -> Option<u64> {
    // SAFETY: PROCESS_MEMORY_COUNTERS is plain data; zero is a valid value.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    counters.cb = size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    // SAFETY: a live handle and a writable struct of the size passed.
    let ok = unsafe { K32GetProcessMemoryInfo(process.0, &mut counters, counters.cb) } != 0;
    ok.then_some(counters.WorkingSetSize as u64)
}

/// The full Win32 path of the executable, growing the buffer for long paths.
fn image_path(process: &Handle) -> Option<String> {
    let mut capacity = 260u32;
    for _ in 0..4 {
        let mut buf = vec![0u16; capacity as usize];
        let mut len = capacity;
        // SAFETY: `buf` holds `len` writable UTF-16 units; on success `len` is the length
        // written, without the NUL.
        let ok =
            unsafe { QueryFullProcessImageNameW(process.0, PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len) };
        if ok != 0 {
            return Some(from_wide(&buf[..(len as usize).min(buf.len())]));
        }
        if last_error() != ERROR_INSUFFICIENT_BUFFER {
            return None;
        }
        capacity = capacity.saturating_mul(4).min(32_768);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_processes_keep_their_snapshot_name_only() {
        let idle = read_process(IDLE_PID, IDLE_PID, "[System Process]".into());
        assert_eq!(idle.parent_pid, None);
        let system = read_process(SYSTEM_PID, IDLE_PID, "System".into());
        assert_eq!((system.name.as_str(), system.parent_pid), ("System", Some(0)));
        for p in [idle, system] {
            assert_eq!((p.image_path, p.working_set, p.cpu_time, p.start_stamp), (None, None, None, None));
        }
    }

    #[test]
    fn a_gone_pid_is_kept_with_none_values() {
        // No process has a pid this large (Windows even ignores the low two bits of a pid).
        let p = read_process(0xFFFF_FFF1, 1, "gone.exe".into());
        assert_eq!((p.name.as_str(), p.cpu_time, p.working_set), ("gone.exe", None, None));
    }
}
