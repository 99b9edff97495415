//! What the service manager does when the agent dies: restart it after 5 s, then 30 s, then
//! every 60 s, forgetting past failures after a day; also when the agent stops on an error
//! without crashing (a non-zero exit code). On Windows these are the SCM's failure actions
//! (`ChangeServiceConfig2W`, `SERVICE_CONFIG_FAILURE_ACTIONS` and `..._FLAG`); Wine accepts
//! them but neither stores nor reads them back, so they are checked on Windows only, with
//! `sc qfailure KrakenSentry`. The systemd unit says the same with `Restart=on-failure`.

use std::time::Duration;

/// The delays before each restart: the first, second, and every later failure.
pub const RESTART_DELAYS: [Duration; 3] =
    [Duration::from_secs(5), Duration::from_secs(30), Duration::from_secs(60)];

/// Failures older than this are forgotten (the next failure is a "first" again).
pub const RESET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The recovery policy in the manager's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The delay before each restart, in order; the last repeats.
    pub restart_delays: Vec<Duration>,
    pub reset_after: Duration,
    /// Also when the agent exits with an error instead of crashing.
    pub on_non_crash_failures: bool,
}

/// The agent's recovery policy.
pub fn recovery() -> Recovery {
    Recovery {
        restart_delays: RESTART_DELAYS.to_vec(),
        reset_after: RESET_AFTER,
        on_non_crash_failures: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_restarts_after_5_30_and_60_seconds_and_forgets_after_a_day() {
        let policy = recovery();
        let seconds: Vec<u64> = policy.restart_delays.iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [5, 30, 60]);
        assert_eq!(policy.reset_after.as_secs(), 86_400);
        assert!(policy.on_non_crash_failures);
    }
}
