//! The service's life as a service manager sees it, apart from any OS: start pending (with a
//! checkpoint and a wait hint) while the configuration is read and the store opened, running
//! once both are done, stop pending from the moment a stop is asked until the loggers have
//! committed, then stopped with an exit code. A start that fails stops at once with a
//! service-specific code saying why ([`ExitReason`]). The Windows dispatcher reports each step
//! to the SCM through [`StatusReporter`]; the unit tests through a fake.

use std::sync::Mutex;
use std::time::Duration;

/// A state the service reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    StartPending,
    Running,
    StopPending,
    Stopped,
}

/// Why the service stopped, as a service-specific exit code (`0`: it was asked to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    Asked = 0,
    /// The configuration file is missing a key, has a bad value or cannot be read.
    BadConfiguration = 1,
    /// The agent cannot start: its state store (data directory) or record output cannot be
    /// opened, or its loggers cannot be loaded.
    StoreUnavailable = 2,
    /// A private key file is readable by other accounts than the service's and the admins'.
    ExposedKey = 3,
    /// The agent stopped on an error while running.
    Failed = 4,
}

/// One status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// Grows with each report of a pending state, so the manager sees progress.
    pub checkpoint: u32,
    /// How long until the next report, in a pending state.
    pub wait_hint: Duration,
    /// Set when stopped.
    pub exit: Option<ExitReason>,
}

/// Where status reports go (the SCM's status handle on Windows).
pub trait StatusReporter: Send {
    fn report(&mut self, status: &Status) -> Result<(), String>;
}

/// How long a start may take before the next report: the store's integrity check on a large
/// spool is the slow part.
pub const START_WAIT_HINT: Duration = Duration::from_secs(30);
/// How long a stop may take: every logger's last run (5 s each, run in parallel) and the
/// record writer.
pub const STOP_WAIT_HINT: Duration = Duration::from_secs(20);

/// The service's state, moved only forward: start pending → running → stop pending → stopped
/// (a failed start goes straight to stopped; a stop asked while starting goes to stop pending).
pub struct Lifecycle<R: StatusReporter> {
    inner: Mutex<(R, Status)>,
}

impl<R: StatusReporter> Lifecycle<R> {
    /// Reports start pending.
    pub fn start(reporter: R) -> Self {
        let status =
            Status { state: State::StartPending, checkpoint: 1, wait_hint: START_WAIT_HINT, exit: None };
        let lifecycle = Lifecycle { inner: Mutex::new((reporter, status.clone())) };
        lifecycle.send();
        lifecycle
    }

    /// The state last reported.
    pub fn state(&self) -> State {
        self.lock().1.state
    }

    /// The configuration is valid and the store open: running (only from start pending).
    pub fn running(&self) -> bool {
        self.move_to(State::Running, None)
    }

    /// A step of a long start is done: start pending again, with the next checkpoint, so the
    /// manager sees progress (only while start pending).
    pub fn progress(&self) -> bool {
        self.move_to(State::StartPending, None)
    }

    /// A stop was asked (or the agent ended): stop pending. Repeated while pending, it only
    /// advances the checkpoint.
    pub fn stopping(&self) -> bool {
        self.move_to(State::StopPending, None)
    }

    /// Stopped, saying why.
    pub fn stopped(&self, exit: ExitReason) -> bool {
        self.move_to(State::Stopped, Some(exit))
    }

    /// Moves to `next` if the rules allow it, and reports it under the same lock: two threads
    /// (the control handler and the service's own) never report out of order, nor twice.
    fn move_to(&self, next: State, exit: Option<ExitReason>) -> bool {
        let mut inner = self.lock();
        let status = &mut inner.1;
        let allowed = matches!(
            (status.state, next),
            (State::StartPending, State::StartPending | State::Running | State::StopPending | State::Stopped)
                | (State::Running, State::StopPending | State::Stopped)
                | (State::StopPending, State::StopPending | State::Stopped)
        );
        if !allowed {
            return false;
        }
        status.checkpoint = match (status.state, next) {
            (State::StartPending, State::StartPending) | (State::StopPending, State::StopPending) => {
                status.checkpoint + 1
            }
            (_, State::StopPending) => 1,
            _ => 0,
        };
        status.state = next;
        status.wait_hint = match next {
            State::StartPending => START_WAIT_HINT,
            State::StopPending => STOP_WAIT_HINT,
            State::Running | State::Stopped => Duration::ZERO,
        };
        status.exit = exit;
        Self::report(&mut inner);
        true
    }

    fn send(&self) {
        Self::report(&mut self.lock());
    }

    fn report(inner: &mut (R, Status)) {
        let (reporter, status) = inner;
        if let Err(error) = reporter.report(status) {
            tracing::error!(%error, state = ?status.state, "cannot report the service status");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (R, Status)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Records every report.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Status>>>);

    impl StatusReporter for Recorder {
        fn report(&mut self, status: &Status) -> Result<(), String> {
            self.0.lock().unwrap().push(status.clone());
            Ok(())
        }
    }

    impl Recorder {
        fn states(&self) -> Vec<(State, u32, Option<ExitReason>)> {
            self.0.lock().unwrap().iter().map(|s| (s.state, s.checkpoint, s.exit)).collect()
        }
    }

    #[test]
    fn a_clean_life_goes_start_pending_running_stop_pending_stopped() {
        let recorder = Recorder::default();
        let life = Lifecycle::start(recorder.clone());
        assert!(life.running());
        assert!(life.stopping());
        assert!(life.stopping(), "a second stop request while stopping advances the checkpoint");
        assert!(life.stopped(ExitReason::Asked));
        assert_eq!(
            recorder.states(),
            [
                (State::StartPending, 1, None),
                (State::Running, 0, None),
                (State::StopPending, 1, None),
                (State::StopPending, 2, None),
                (State::Stopped, 0, Some(ExitReason::Asked)),
            ]
        );
        let hints: Vec<Duration> = recorder.0.lock().unwrap().iter().map(|s| s.wait_hint).collect();
        assert_eq!(hints[0], START_WAIT_HINT);
        assert_eq!(hints[2], STOP_WAIT_HINT);
        assert_eq!((hints[1], hints[4]), (Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn a_long_start_reports_progress_and_a_stopped_service_reports_nothing_more() {
        let recorder = Recorder::default();
        let life = Lifecycle::start(recorder.clone());
        assert!(life.progress());
        assert!(life.progress());
        assert!(life.running());
        assert!(!life.progress(), "progress is for a start in progress");
        assert!(life.stopped(ExitReason::Failed));
        assert!(!life.stopped(ExitReason::Asked), "stopped is reported once");
        assert_eq!(
            recorder.states(),
            [
                (State::StartPending, 1, None),
                (State::StartPending, 2, None),
                (State::StartPending, 3, None),
                (State::Running, 0, None),
                (State::Stopped, 0, Some(ExitReason::Failed)),
            ]
        );
    }

    #[test]
    fn a_failed_start_stops_with_its_reason_and_nothing_moves_back() {
        let recorder = Recorder::default();
        let life = Lifecycle::start(recorder.clone());
        assert!(life.stopped(ExitReason::BadConfiguration));
        assert!(!life.running(), "stopped is final");
        assert!(!life.stopping());
        assert_eq!(life.state(), State::Stopped);
        assert_eq!(
            recorder.states(),
            [(State::StartPending, 1, None), (State::Stopped, 0, Some(ExitReason::BadConfiguration))]
        );
    }

    #[test]
    fn a_stop_asked_while_starting_never_reports_running() {
        let recorder = Recorder::default();
        let life = Lifecycle::start(recorder.clone());
        assert!(life.stopping());
        assert!(!life.running(), "running after a stop request would be a step back");
        assert!(life.stopped(ExitReason::Asked));
        let states: Vec<State> = recorder.states().into_iter().map(|s| s.0).collect();
        assert_eq!(states, [State::StartPending, State::StopPending, State::Stopped]);
    }
}
