//! What the agent's log says of a logger whose runs fail, so that one that fails every run
//! (the event log service stopped, a stored logger whose options no longer hold) does not
//! write a warning every interval:
//! - a failure is logged the first time its message is seen, and again only [`REPEAT_EVERY`]
//!   later, with how many runs failed with that message in between (the last [`RECENT`]
//!   messages are remembered, so failures that alternate are limited too);
//! - at most [`MOST_PER_WINDOW`] failures of a logger are logged per [`REPEAT_EVERY`] (messages
//!   that change every run); past that, one line says the rest are only counted;
//! - the first run that succeeds after failures says so, with how many failed in a row.
//!
//! The run statistics (`failed_runs`, `last_error`) still count every failure.

use std::time::{Duration, Instant};

/// How often a logger failing with the same message is logged again, and the window of
/// [`MOST_PER_WINDOW`].
pub const REPEAT_EVERY: Duration = Duration::from_secs(600);

/// The messages remembered per logger.
pub const RECENT: usize = 16;

/// The failures of one logger logged per window.
pub const MOST_PER_WINDOW: u32 = 10;

/// What to write to the agent's log after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureNote {
    /// A failure to log: `repeats` runs failed with this message since it was last logged.
    Failed { error: String, repeats: u64 },
    /// The window's failures were logged: more are only counted until it ends.
    Silenced,
    /// A run succeeded after `failed` runs in a row failed.
    Recovered { failed: u64 },
}

/// The failures of one logger's runs, as logged so far.
#[derive(Debug, Default)]
pub struct FailureLog {
    recent: Vec<Message>,
    in_a_row: u64,
    window_started: Option<Instant>,
    logged_in_window: u32,
    silenced: bool,
}

/// A message seen lately: when it was last logged, and the failures with it since.
#[derive(Debug)]
struct Message {
    error: String,
    logged_at: Option<Instant>,
    unlogged: u64,
}

impl FailureLog {
    /// Notes a run that ended at `now` (`Err` with its message if it failed); what to log, if
    /// anything.
    pub fn note(&mut self, outcome: Result<(), &str>, now: Instant) -> Option<FailureNote> {
        let error = match outcome {
            Ok(()) if self.in_a_row == 0 => return None,
            Ok(()) => {
                let failed = std::mem::take(&mut self.in_a_row);
                self.recent.clear(); // the next failure is news
                return Some(FailureNote::Recovered { failed });
            }
            Err(error) => error,
        };
        self.in_a_row += 1;
        if self.window_started.is_none_or(|started| now.saturating_duration_since(started) >= REPEAT_EVERY) {
            (self.window_started, self.logged_in_window, self.silenced) = (Some(now), 0, false);
        }
        let index = match self.recent.iter().position(|message| message.error == error) {
            Some(index) => index,
            None => {
                if self.recent.len() == RECENT {
                    // The one logged longest ago (or never) makes room.
                    let oldest = (0..RECENT).min_by_key(|&i| self.recent[i].logged_at).unwrap_or(0);
                    self.recent.remove(oldest);
                }
                self.recent.push(Message { error: error.to_owned(), logged_at: None, unlogged: 0 });
                self.recent.len() - 1
            }
        };
        let message = &mut self.recent[index];
        let due = message.logged_at.is_none_or(|at| now.saturating_duration_since(at) >= REPEAT_EVERY);
        if !due || self.logged_in_window >= MOST_PER_WINDOW {
            message.unlogged += 1;
            if due && !self.silenced {
                self.silenced = true;
                return Some(FailureNote::Silenced);
            }
            return None;
        }
        self.logged_in_window += 1;
        message.logged_at = Some(now);
        let repeats = std::mem::take(&mut message.unlogged);
        Some(FailureNote::Failed { error: error.to_owned(), repeats })
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
    fn alternating_failures_are_each_logged_once_per_ten_minutes() {
        let (mut log, start) = (FailureLog::default(), Instant::now());
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(log.note(Err("a"), at(0)), failed("a", 0));
        assert_eq!(log.note(Err("b"), at(1)), failed("b", 0));
        for s in 2..600 {
            assert_eq!(log.note(Err(if s % 2 == 0 { "a" } else { "b" }), at(s)), None, "at {s} s");
        }
        assert_eq!(log.note(Err("a"), at(600)), failed("a", 299));
        assert_eq!(log.note(Err("b"), at(601)), failed("b", 299));
    }

    #[test]
    fn messages_that_change_every_run_are_logged_ten_times_per_window_then_counted() {
        let (mut log, start) = (FailureLog::default(), Instant::now());
        let at = |s: u64| start + Duration::from_secs(s);
        for n in 0..10 {
            assert_eq!(log.note(Err(&format!("failure {n}")), at(n)), failed(&format!("failure {n}"), 0));
        }
        assert_eq!(log.note(Err("failure 10"), at(10)), Some(FailureNote::Silenced));
        for n in 11..100 {
            assert_eq!(log.note(Err(&format!("failure {n}")), at(n)), None);
        }
        // A new window: logged again, a message seen but not logged with its count.
        assert_eq!(log.note(Err("failure 99"), at(600)), failed("failure 99", 1));
        assert_eq!(log.note(Ok(()), at(601)), Some(FailureNote::Recovered { failed: 101 }));
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
