//! What the agent's log says of a logger whose runs fail, so that one that fails every run
//! (the event log service stopped, a stored logger whose options no longer hold) does not
//! write the same warning every interval:
//! - the first failure, and any failure whose message differs from the last one logged, is
//!   logged at once;
//! - the same failure again is counted, and logged again only [`REPEAT_EVERY`] after the last
//!   time, with how many runs failed in between;
//! - the first run that succeeds after failures says so, with how many failed.
//!
//! The run statistics (`failed_runs`, `last_error`) still count every failure.

use std::time::{Duration, Instant};

/// How often a logger failing the same way is logged again.
pub const REPEAT_EVERY: Duration = Duration::from_secs(600);

/// What to write to the agent's log after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureNote {
    /// A failure to log: `repeats` runs failed the same way since it was last logged.
    Failed { error: String, repeats: u64 },
    /// A run succeeded after `failed` runs in a row failed.
    Recovered { failed: u64 },
}

/// The failures of one logger's runs, as logged so far.
#[derive(Debug, Default)]
pub struct FailureLog {
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    /// The message logged last.
    error: String,
    logged_at: Instant,
    /// Failures in a row, and those of them not logged since `logged_at`.
    in_a_row: u64,
    unlogged: u64,
}

impl FailureLog {
    /// Notes a run that ended at `now` (`Err` with its message if it failed); what to log, if
    /// anything.
    pub fn note(&mut self, outcome: Result<(), &str>, now: Instant) -> Option<FailureNote> {
        let error = match outcome {
            Ok(()) => {
                let failing = self.failing.take()?;
                return Some(FailureNote::Recovered { failed: failing.in_a_row });
            }
            Err(error) => error,
        };
        match &mut self.failing {
            Some(failing)
                if failing.error == error
                    && now.saturating_duration_since(failing.logged_at) < REPEAT_EVERY =>
            {
                failing.in_a_row += 1;
                failing.unlogged += 1;
                None
            }
            Some(failing) => {
                let repeats = if failing.error == error { failing.unlogged } else { 0 };
                failing.error = error.to_owned();
                failing.logged_at = now;
                failing.in_a_row += 1;
                failing.unlogged = 0;
                Some(FailureNote::Failed { error: error.to_owned(), repeats })
            }
            None => {
                self.failing =
                    Some(Failing { error: error.to_owned(), logged_at: now, in_a_row: 1, unlogged: 0 });
                Some(FailureNote::Failed { error: error.to_owned(), repeats: 0 })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: &str, repeats: u64) -> Option<FailureNote> {
        Some(FailureNote::Failed { error: error.into(), repeats })
    }

    #[test]
    fn the_same_failure_is_logged_once_then_every_ten_minutes_with_its_count() {
        let (mut log, start) = (FailureLog::default(), Instant::now());
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(log.note(Err("unavailable"), at(0)), failed("unavailable", 0));
        for s in 1..=599 {
            assert_eq!(log.note(Err("unavailable"), at(s)), None, "at {s} s");
        }
        assert_eq!(log.note(Err("unavailable"), at(600)), failed("unavailable", 599));
        assert_eq!(log.note(Err("unavailable"), at(601)), None);
        assert_eq!(log.note(Err("unavailable"), at(1200)), failed("unavailable", 1));
    }

    #[test]
    fn another_failure_is_logged_at_once() {
        let (mut log, now) = (FailureLog::default(), Instant::now());
        assert_eq!(log.note(Err("a"), now), failed("a", 0));
        assert_eq!(log.note(Err("a"), now), None);
        assert_eq!(log.note(Err("b"), now), failed("b", 0));
        assert_eq!(log.note(Err("a"), now), failed("a", 0));
    }

    #[test]
    fn a_run_that_succeeds_after_failures_says_how_many_failed() {
        let (mut log, now) = (FailureLog::default(), Instant::now());
        assert_eq!(log.note(Ok(()), now), None, "nothing failed");
        log.note(Err("a"), now);
        log.note(Err("a"), now);
        log.note(Err("b"), now);
        assert_eq!(log.note(Ok(()), now), Some(FailureNote::Recovered { failed: 3 }));
        assert_eq!(log.note(Ok(()), now), None);
        assert_eq!(log.note(Err("a"), now), failed("a", 0), "a new failure after a success is logged");
    }
}
