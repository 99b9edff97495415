//! Whole-machine CPU times from the `cpu` line of `/proc/stat`, and the processor count.

use std::time::Duration;

use procfs::{CpuTime, CurrentSI, KernelStats};

use crate::{CpuTimes, HostError, HostResult};

pub(crate) fn times() -> HostResult<CpuTimes> {
    let stats = KernelStats::current().map_err(|e| HostError::malformed("cpu times", e.to_string()))?;
    Ok(from_ticks(&stats.total, procfs::ticks_per_second().max(1)))
}

/// Logical processors online: the `cpuN` lines of `/proc/stat` (at least 1).
pub(crate) fn count() -> usize {
    KernelStats::current().map(|stats| stats.cpu_time.len()).unwrap_or(1).max(1)
}

/// Folds the kernel's ten counters into idle, kernel and user. Guest time is already inside
/// user time, so it is not added again.
fn from_ticks(cpu: &CpuTime, ticks_per_second: u64) -> CpuTimes {
    let ticks = |n: u64| Duration::from_nanos(n.saturating_mul(1_000_000_000 / ticks_per_second));
    let optional = |n: Option<u64>| n.unwrap_or(0);
    CpuTimes {
        idle: ticks(cpu.idle.saturating_add(optional(cpu.iowait))),
        kernel: ticks(
            cpu.system
                .saturating_add(optional(cpu.irq))
                .saturating_add(optional(cpu.softirq))
                .saturating_add(optional(cpu.steal)),
        ),
        user: ticks(cpu.user.saturating_add(cpu.nice)),
    }
}
