//! Per-process CPU percent from two snapshots taken a window apart.
//!
//! CPU percent of the whole machine is `Δ(kernel + user time) / (elapsed × processors) × 100`,
//! with `elapsed` from the monotonic clock. A pid is matched across the two snapshots only if
//! its start stamp is the same, so a pid reused in between does not inherit its predecessor's
//! time. Every process of the second snapshot is returned: one that was not in the first, or
//! whose times could not be read, has no percent (`None`) instead of being dropped (BUG-23).

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use crate::{HostFacts, HostResult, ProcessSnapshot};

/// The default sampling window (as the original).
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(100);

/// A process and its CPU use over the sampling window.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessUsage {
    pub process: ProcessSnapshot,
    /// Percent of the whole machine (0 to 100) over the window; `None` if unknown.
    pub cpu_percent: Option<f64>,
}

/// Takes two process snapshots `window` apart and computes each process's CPU percent.
pub fn sample_processes(host: &dyn HostFacts, window: Duration) -> HostResult<Vec<ProcessUsage>> {
    let first = host.processes()?;
    let started = Instant::now();
    thread::sleep(window);
    let second = host.processes()?;
    let elapsed = started.elapsed();
    Ok(cpu_usage(&first, second, elapsed, host.cpu_count()))
}

/// Pure part of [`sample_processes`]: pairs `second` with `first` and computes percents.
pub fn cpu_usage(
    first: &[ProcessSnapshot],
    second: Vec<ProcessSnapshot>,
    elapsed: Duration,
    cpu_count: usize,
) -> Vec<ProcessUsage> {
    let before: HashMap<u32, &ProcessSnapshot> = first.iter().map(|p| (p.pid, p)).collect();
    let capacity = elapsed.as_secs_f64() * cpu_count.max(1) as f64;
    second
        .into_iter()
        .map(|process| {
            let cpu_percent = before.get(&process.pid).and_then(|old| {
                if old.start_stamp != process.start_stamp || capacity <= 0.0 {
                    return None;
                }
                let used = process.cpu_time?.checked_sub(old.cpu_time?)?;
                Some((used.as_secs_f64() / capacity * 100.0).clamp(0.0, 100.0))
            });
            ProcessUsage { process, cpu_percent }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, cpu_ms: Option<u64>, start: u64) -> ProcessSnapshot {
        ProcessSnapshot {
            pid,
            parent_pid: None,
            name: format!("p{pid}"),
            image_path: None,
            working_set: Some(4096),
            cpu_time: cpu_ms.map(Duration::from_millis),
            start_stamp: Some(start),
        }
    }

    #[test]
    fn percent_is_of_the_whole_machine() {
        let first = [process(1, Some(1_000), 7)];
        let second = vec![process(1, Some(1_100), 7)];
        // 100 ms of CPU over 100 ms on 2 processors: half the machine.
        let usage = cpu_usage(&first, second, Duration::from_millis(100), 2);
        assert_eq!(usage[0].cpu_percent, Some(50.0));
    }

    #[test]
    fn new_reused_and_unreadable_processes_are_kept_without_a_percent() {
        let first = [process(1, Some(10), 1), process(2, Some(10), 1), process(3, None, 1)];
        let second = vec![
            process(1, Some(20), 2), // pid reused: different start stamp
            process(2, Some(20), 1),
            process(3, Some(20), 1), // first reading unreadable
            process(4, Some(20), 1), // new
        ];
        let usage = cpu_usage(&first, second, Duration::from_millis(100), 1);
        let percents: Vec<_> = usage.iter().map(|u| (u.process.pid, u.cpu_percent)).collect();
        assert_eq!(percents, vec![(1, None), (2, Some(10.0)), (3, None), (4, None)]);
    }

    #[test]
    fn counters_going_backwards_or_a_zero_window_give_no_percent() {
        let first = [process(1, Some(500), 1)];
        let usage = cpu_usage(&first, vec![process(1, Some(400), 1)], Duration::from_millis(100), 1);
        assert_eq!(usage[0].cpu_percent, None);
        let usage = cpu_usage(&first, vec![process(1, Some(600), 1)], Duration::ZERO, 1);
        assert_eq!(usage[0].cpu_percent, None);
    }
}
