//! Whole-machine CPU time counters.

use std::time::Duration;

/// Cumulative CPU time of all processors since boot, split three ways.
///
/// `kernel` never includes `idle` (Windows' `GetSystemTimes` counts idle inside kernel time; the
/// Windows back end subtracts it). The sum of the three is the machine's total CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// Time spent idle (Linux: idle + iowait).
    pub idle: Duration,
    /// Time spent in kernel mode, idle excluded (Linux: system + irq + softirq + steal).
    pub kernel: Duration,
    /// Time spent in user mode (Linux: user + nice).
    pub user: Duration,
}

impl CpuTimes {
    /// Sum of the three counters.
    pub fn total(&self) -> Duration {
        self.idle + self.kernel + self.user
    }
}
