//! Physical and virtual (commit or swap) memory, in bytes.

/// Memory totals in bytes.
///
/// "Virtual" is the system commit limit and available commit on Windows
/// (`GlobalMemoryStatusEx` `ullTotalPageFile`/`ullAvailPageFile`) and swap on Linux
/// (`SwapTotal`/`SwapFree`): never the agent's own address space (BUG-37).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStatus {
    pub physical_total: u64,
    /// Physical memory available for use (Linux `MemAvailable`, Windows `ullAvailPhys`).
    pub physical_free: u64,
    pub virtual_total: u64,
    pub virtual_free: u64,
}
