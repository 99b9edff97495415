//! `cpu-usage`: idle, kernel and user percent of the whole machine over each interval.
//!
//! Each run reads the cumulative CPU times and compares them with the previous run's, so a
//! record covers the whole interval, not a 100 ms sample inside it (BUG-36). The first run after
//! a start only takes the baseline. Percents are computed in floating point and rounded to the
//! seed's integers by largest remainder, so that idle + kernel + user = 100 exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use kraken_codec::{Map, Value};
use sentry_host::{CpuTimes, HostFacts};

use super::factory::{FactoryContext, Localized, LoggerFactory};
use super::factory::{LoggerRun, RunOutput};
use crate::store::OptionValue;
use sentry_protocol::record::params;

pub struct CpuUsageFactory;

impl LoggerFactory for CpuUsageFactory {
    fn performance(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "cpu-usage"
    }
    fn display_names(&self) -> Localized {
        &[("en", "CPU Usage Logger"), ("ko", "CPU 사용량 로거")]
    }
    fn descriptions(&self) -> Localized {
        &[("en", "Check CPU Usage"), ("ko", "CPU 사용량 점검")]
    }
    fn create(
        &self,
        context: &FactoryContext,
        _: &str,
        _: &BTreeMap<String, OptionValue>,
    ) -> Box<dyn LoggerRun> {
        Box::new(CpuUsage { host: context.host.clone(), previous: None })
    }
}

struct CpuUsage {
    host: Arc<dyn HostFacts>,
    previous: Option<CpuTimes>,
}

impl LoggerRun for CpuUsage {
    fn run_once(&mut self) -> Result<RunOutput, String> {
        let now = self.host.cpu_times().map_err(|e| e.to_string())?;
        let previous = self.previous.replace(now);
        Ok(previous.and_then(|before| cpu_record(&before, &now)).into_iter().collect::<Vec<_>>().into())
    }
}

/// The record for the time between two readings; `None` if no time passed (or the counters
/// went backwards).
pub fn cpu_record(before: &CpuTimes, after: &CpuTimes) -> Option<Map> {
    let delta = |a: std::time::Duration, b: std::time::Duration| a.checked_sub(b).map(|d| d.as_secs_f64());
    let idle = delta(after.idle, before.idle)?;
    let kernel = delta(after.kernel, before.kernel)?;
    let user = delta(after.user, before.user)?;
    let total = idle + kernel + user;
    if total <= 0.0 {
        return None;
    }
    let [idle_pct, kernel_pct, user_pct] = whole_percents([idle / total, kernel / total, user / total]);
    let usage = kernel_pct + user_pct;
    Some(params(
        "system",
        format!("cpu usage: {usage}%"),
        [("idle", Value::I32(idle_pct)), ("kernel", Value::I32(kernel_pct)), ("user", Value::I32(user_pct))],
    ))
}

/// Shares (summing to 1) as whole percents summing to 100: floors, then the points left over go
/// to the largest remainders.
fn whole_percents(shares: [f64; 3]) -> [i32; 3] {
    let exact = shares.map(|share| share * 100.0);
    let mut whole = exact.map(|p| p.floor() as i32);
    let mut order = [0, 1, 2];
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let missing = 100 - whole.iter().sum::<i32>();
    for &i in order.iter().take(missing.clamp(0, 3) as usize) {
        whole[i] += 1;
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn times(idle: u64, kernel: u64, user: u64) -> CpuTimes {
        CpuTimes {
            idle: Duration::from_millis(idle),
            kernel: Duration::from_millis(kernel),
            user: Duration::from_millis(user),
        }
    }

    #[test]
    fn the_record_covers_the_interval_and_adds_up_to_100() {
        let record = cpu_record(&times(1_000, 500, 500), &times(8_000, 1_500, 3_000)).unwrap();
        // Δ: idle 7000, kernel 1000, user 2500 of 10500.
        assert_eq!(record["idle"], Value::I32(67));
        assert_eq!(record["kernel"], Value::I32(9));
        assert_eq!(record["user"], Value::I32(24));
        assert_eq!(record["msg"], Value::from("cpu usage: 33%"));
        assert_eq!(record["logtype"], Value::from("system"));
        let keys: Vec<&str> = record.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["logtype", "msg", "idle", "kernel", "user"]);
    }

    #[test]
    fn rounding_never_exceeds_100() {
        let record = cpu_record(&times(0, 0, 0), &times(0, 505, 495)).unwrap();
        let sum = [&record["idle"], &record["kernel"], &record["user"]]
            .iter()
            .map(|v| v.as_i64().unwrap())
            .sum::<i64>();
        assert_eq!(sum, 100);
        assert_eq!(record["idle"], Value::I32(0));
    }

    #[test]
    fn no_elapsed_time_or_a_counter_reset_gives_no_record() {
        assert!(cpu_record(&times(5, 5, 5), &times(5, 5, 5)).is_none());
        assert!(cpu_record(&times(5, 5, 5), &times(1, 9, 9)).is_none());
    }
}
