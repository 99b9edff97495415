//! One process as seen at one instant.

use std::time::Duration;

/// A process, read once. Every pid the OS lists appears, even when the process cannot be
/// opened (BUG-23): the fields it would take opening it to read are then `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSnapshot {
    pub pid: u32,
    /// Parent pid, when known.
    pub parent_pid: Option<u32>,
    /// Short name: the image file name on Windows (`chrome.exe`), the kernel `comm` on Linux.
    pub name: String,
    /// Full path of the executable, where readable.
    pub image_path: Option<String>,
    /// Resident set / working set size in bytes.
    pub working_set: Option<u64>,
    /// Kernel + user CPU time used since the process started.
    pub cpu_time: Option<Duration>,
    /// An opaque start stamp (Linux start ticks since boot, Windows creation FILETIME): two
    /// snapshots with the same pid are the same process only if these are equal.
    pub start_stamp: Option<u64>,
}
