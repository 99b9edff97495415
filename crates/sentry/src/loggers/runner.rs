//! One logger's thread: a small state machine (stopped, running, stopping) with a monotonic
//! schedule and per-run error isolation.
//!
//! * `start(interval)` spawns the thread and returns with the logger already running
//!   (BUG-26); starting a running or still-stopping logger is an error.
//! * The first run happens at once, then every `interval` on the monotonic clock. A run that
//!   overruns its interval makes the schedule skip the missed ticks instead of running back to
//!   back.
//! * A run that fails (an error or a panic) is counted, its message kept and logged (a failure
//!   repeating every run only now and then: [`super::failure_log`]), and the logger keeps its
//!   schedule (BUG-25).
//! * `stop(timeout)` wakes the thread at once (no sleep runs out first) and waits for it to
//!   finish, up to `timeout`. A run in progress is never cut short; if it outlasts the timeout
//!   the logger stays `Stopping` and stops when the run ends. Stopping a stopped logger does
//!   nothing (BUG-24). The wait holds no lock: `state()` and the other loggers stay
//!   responsive while one logger finishes a slow run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use kraken_codec::Text;
use sentry_protocol::LogRecord;

use super::factory::LoggerRun;
use super::failure_log::{FailureLog, FailureNote};
use super::sink::SinkSet;

/// Where a logger is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggerState {
    Stopped,
    Running,
    Stopping,
}

/// What a logger has done since the agent started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    pub runs: u64,
    pub failed_runs: u64,
    pub last_error: Option<String>,
    pub log_count: u64,
    pub last_run: Option<SystemTime>,
    pub last_log: Option<SystemTime>,
}

/// The thread of one logger.
pub struct LoggerRunner {
    name: Text,
    stats: Arc<Mutex<RunStats>>,
    active: Mutex<Option<Active>>,
}

struct Active {
    interval: Duration,
    /// Raised by `stop`, watched by the thread.
    stop: Arc<Flag>,
    /// Raised by the thread when it ends, however it ends.
    finished: Arc<Flag>,
    thread: JoinHandle<()>,
}

/// A one-way boolean with a condition variable to wait for it.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Flag {
    fn raise(&self) {
        *self.set.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.changed.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the flag is raised or `deadline` passes; true if it is raised.
    fn wait_until(&self, deadline: Instant) -> bool {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *set {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            set = self.changed.wait_timeout(set, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// Raises its flag when dropped: when the thread ends, normally or not.
struct RaiseOnDrop(Arc<Flag>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.raise();
    }
}

impl LoggerRunner {
    pub fn new(name: &str) -> Self {
        LoggerRunner { name: name.into(), stats: Arc::default(), active: Mutex::new(None) }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state (a thread that has ended is collected here).
    pub fn state(&self) -> LoggerState {
        let mut active = self.active();
        Self::collect_finished(&mut active);
        match &*active {
            None => LoggerState::Stopped,
            Some(a) if a.stop.is_set() => LoggerState::Stopping,
            Some(_) => LoggerState::Running,
        }
    }

    /// The interval while running.
    pub fn interval(&self) -> Option<Duration> {
        self.active().as_ref().map(|a| a.interval)
    }

    pub fn stats(&self) -> RunStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn collect_finished(active: &mut Option<Active>) {
        if active.as_ref().is_some_and(|a| a.finished.is_set()) {
            let finished = active.take().expect("checked above");
            let _ = finished.thread.join();
        }
    }

    /// Starts the thread; the logger is `Running` when this returns.
    pub fn start(
        &self,
        interval: Duration,
        run: Box<dyn LoggerRun>,
        sinks: Arc<SinkSet>,
    ) -> Result<(), String> {
        let mut active = self.active();
        Self::collect_finished(&mut active);
        if let Some(a) = &*active {
            return Err(if a.stop.is_set() {
                format!("logger is still stopping: {}", self.name)
            } else {
                // The original's message, word for word.
                "logger is already running".to_owned()
            });
        }
        let stop = Arc::new(Flag::default());
        let finished = Arc::new(Flag::default());
        let body = RunLoop {
            name: self.name.clone(),
            interval,
            run,
            sinks,
            stats: self.stats.clone(),
            stop: stop.clone(),
            failures: FailureLog::default(),
        };
        let on_exit = RaiseOnDrop(finished.clone());
        let thread = thread::Builder::new()
            .name(format!("logger {}", self.name))
            .stack_size(512 * 1024)
            .spawn(move || {
                let _on_exit = on_exit;
                body.run();
            })
            .map_err(|e| format!("cannot start logger {}: {e}", self.name))?;
        *active = Some(Active { interval, stop, finished, thread });
        Ok(())
    }

    /// Asks the thread to stop, without waiting.
    pub fn request_stop(&self) {
        if let Some(a) = &*self.active() {
            a.stop.raise();
        }
    }

    /// Waits until the thread has ended or `deadline` passes; true if it has ended (or there
    /// was none). No lock is held while waiting.
    pub fn wait_stopped(&self, deadline: Instant) -> bool {
        let finished = match &*self.active() {
            None => return true,
            Some(a) => a.finished.clone(),
        };
        if !finished.wait_until(deadline) {
            return false;
        }
        Self::collect_finished(&mut self.active());
        true
    }

    /// Stops the thread, waiting up to `timeout` for a run in progress to end. True if it
    /// ended; false if it is still finishing a run (it stops right after).
    pub fn stop(&self, timeout: Duration) -> bool {
        self.request_stop();
        self.wait_stopped(Instant::now() + timeout)
    }
}

/// The body of a logger thread.
struct RunLoop {
    name: Text,
    interval: Duration,
    run: Box<dyn LoggerRun>,
    sinks: Arc<SinkSet>,
    stats: Arc<Mutex<RunStats>>,
    stop: Arc<Flag>,
    /// What the agent's log said of failing runs (the same failure not every run).
    failures: FailureLog,
}

impl RunLoop {
    fn run(mut self) {
        let mut next = Instant::now();
        while !self.stop.wait_until(next) {
            let started = Instant::now();
            if self.run_once() {
                next = Instant::now(); // more waits in the source: go on at once
                continue;
            }
            next += self.interval;
            let now = Instant::now();
            if next <= now {
                // Overran: skip the missed ticks, keep the phase.
                let behind = now - next;
                let skipped = behind.as_nanos() / self.interval.as_nanos().max(1) + 1;
                next += self.interval * u32::try_from(skipped).unwrap_or(u32::MAX);
                tracing::debug!(logger = %self.name, run_ms = started.elapsed().as_millis(), "run overran its interval");
            }
        }
    }

    /// One run; true when its source has more waiting and this run's records were committed.
    fn run_once(&mut self) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.run.run_once()));
        let now = SystemTime::now();
        let result = match outcome {
            Ok(result) => result,
            Err(panic) => Err(format!("run panicked: {}", panic_message(panic.as_ref()))),
        };
        let more = result.as_ref().is_ok_and(|output| output.more);
        let (records, position, error): (Vec<LogRecord>, Option<String>, Option<String>) = match result {
            // The params move into their records: nothing is copied on the way to the sinks.
            Ok(output) => (
                output
                    .records
                    .into_iter()
                    .map(|(date, params)| LogRecord {
                        date: date.unwrap_or(now),
                        logger: self.name.clone(),
                        params,
                    })
                    .collect(),
                output.position,
                None,
            ),
            Err(error) => (Vec::new(), None, Some(error)),
        };
        {
            let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.runs += 1;
            stats.last_run = Some(now);
            if let Some(error) = &error {
                stats.failed_runs += 1;
                stats.last_error = Some(error.clone());
            }
            if !records.is_empty() {
                stats.log_count += records.len() as u64;
                stats.last_log = Some(now);
            }
        }
        // A panic while committing ends this run, not the logger's thread (as a failed write
        // does: a positioned run's records are read again unless the position was committed).
        let commit = catch_unwind(AssertUnwindSafe(|| match &position {
            Some(position) => {
                let committed = self.sinks.write_positioned(&records, &self.name, position);
                committed && more
            }
            None => {
                if !records.is_empty() {
                    self.sinks.write(&records);
                }
                false
            }
        }));
        let (go_on, error) = match commit {
            Ok(go_on) => (go_on, error),
            Err(panic) => {
                let failed = format!("writing the run's records panicked: {}", panic_message(panic.as_ref()));
                let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                if error.is_none() {
                    stats.failed_runs += 1;
                }
                stats.last_error = Some(failed.clone());
                (false, Some(failed))
            }
        };
        // Told once per run, run and commit together (a failure repeating every run is logged
        // only now and then).
        self.tell(error.as_deref());
        go_on
    }

    /// Logs how runs go: a failure (the same one repeating only now and then), a recovery.
    fn tell(&mut self, error: Option<&str>) {
        match self.failures.note(error.map_or(Ok(()), Err), Instant::now()) {
            Some(FailureNote::Failed { error, repeats: 0 }) => {
                tracing::warn!(logger = %self.name, %error, "logger run failed; the logger keeps running")
            }
            Some(FailureNote::Failed { error, repeats }) => tracing::warn!(
                logger = %self.name, %error, repeats,
                "logger runs still failing; the logger keeps running"
            ),
            Some(FailureNote::Silenced) => tracing::warn!(
                logger = %self.name,
                "logger runs failing with more messages than are logged; more are only counted for 10 minutes"
            ),
            Some(FailureNote::Recovered { failed }) => {
                tracing::info!(logger = %self.name, failed, "logger run succeeded after failed runs")
            }
            None => {}
        }
    }
}

/// What a panic said, where it said it as text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loggers::factory::RunOutput;
    use crate::loggers::sink::RecordSink;
    use sentry_protocol::record::params;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Unit-test stand-in for a sink: keeps what it gets.
    #[derive(Default)]
    struct Collect(Mutex<Vec<LogRecord>>);

    impl RecordSink for Collect {
        fn write(&self, records: &[LogRecord]) -> std::io::Result<()> {
            self.0.lock().unwrap().extend_from_slice(records);
            Ok(())
        }
    }

    /// Unit-test stand-in for a logger: fails on odd runs, panics on run 3.
    struct Flaky(Arc<AtomicUsize>);

    impl LoggerRun for Flaky {
        fn run_once(&mut self) -> Result<RunOutput, String> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            match n {
                3 => panic!("boom"),
                n if n % 2 == 1 => Err(format!("failure {n}")),
                n => Ok(vec![params("test", format!("run {n}"), [])].into()),
            }
        }
    }

    fn sinks() -> (Arc<SinkSet>, Arc<Collect>) {
        let collect = Arc::new(Collect::default());
        let set = SinkSet::default();
        set.add(collect.clone());
        (Arc::new(set), collect)
    }

    #[test]
    fn failing_and_panicking_runs_do_not_stop_the_logger() {
        let runs = Arc::new(AtomicUsize::new(0));
        let runner = LoggerRunner::new("flaky");
        let (sinks, collected) = sinks();
        runner.start(Duration::from_millis(20), Box::new(Flaky(runs.clone())), sinks).unwrap();
        assert_eq!(runner.state(), LoggerState::Running, "running as soon as start returns");
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 6 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(runner.state(), LoggerState::Running);
        assert!(runner.stop(Duration::from_secs(5)));
        assert_eq!(runner.state(), LoggerState::Stopped);
        let stats = runner.stats();
        assert!(stats.runs >= 6 && stats.failed_runs >= 3, "{stats:?}");
        let messages: Vec<String> =
            collected.0.lock().unwrap().iter().map(|r| r.msg().unwrap().to_owned()).collect();
        assert_eq!(&messages[..3], ["run 0", "run 2", "run 4"]);
    }

    /// Unit-test stand-in for a sink: panics at its first write, keeps the rest.
    #[derive(Default)]
    struct PanicsOnce(Mutex<Vec<LogRecord>>, AtomicUsize);

    impl RecordSink for PanicsOnce {
        fn write(&self, records: &[LogRecord]) -> std::io::Result<()> {
            if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("sink broke");
            }
            self.0.lock().unwrap().extend_from_slice(records);
            Ok(())
        }
    }

    #[test]
    fn a_panic_writing_a_runs_records_does_not_stop_the_logger() {
        let runs = Arc::new(AtomicUsize::new(0));
        let runner = LoggerRunner::new("flaky");
        let sink = Arc::new(PanicsOnce::default());
        let set = SinkSet::default();
        set.add(sink.clone());
        runner.start(Duration::from_millis(20), Box::new(Flaky(runs.clone())), Arc::new(set)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 5 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(runs.load(Ordering::SeqCst) >= 5, "the thread went on after the write panicked");
        assert!(runner.stop(Duration::from_secs(5)));
        let messages: Vec<String> =
            sink.0.lock().unwrap().iter().map(|r| r.msg().unwrap().to_owned()).collect();
        assert_eq!(&messages[..2], ["run 2", "run 4"], "run 0's write panicked");
        let stats = runner.stats();
        // Every odd run fails (run 3 panics), and run 0 failed to write: counted as failed too.
        assert_eq!(stats.failed_runs, stats.runs / 2 + 1, "{stats:?}");
    }

    #[test]
    fn double_start_is_refused_stop_is_prompt_and_stopping_twice_is_harmless() {
        let runner = LoggerRunner::new("slow");
        let (sinks, _) = sinks();
        let runs = Arc::new(AtomicUsize::new(0));
        runner.start(Duration::from_secs(3600), Box::new(Flaky(runs.clone())), sinks.clone()).unwrap();
        let again = runner.start(Duration::from_secs(1), Box::new(Flaky(runs.clone())), sinks.clone());
        assert_eq!(again.unwrap_err(), "logger is already running");
        let asked = Instant::now();
        assert!(runner.stop(Duration::from_secs(5)));
        assert!(asked.elapsed() < Duration::from_secs(2), "stop waited for the hour-long interval");
        assert!(runner.stop(Duration::from_secs(5)), "stopping a stopped logger is a no-op");
        runner.start(Duration::from_secs(3600), Box::new(Flaky(runs)), sinks).unwrap();
        assert_eq!(runner.state(), LoggerState::Running, "a stopped logger starts again (BUG-24)");
        assert!(runner.stop(Duration::from_secs(5)));
    }

    /// Unit-test stand-in: a run that takes a while.
    struct Slow;

    impl LoggerRun for Slow {
        fn run_once(&mut self) -> Result<RunOutput, String> {
            thread::sleep(Duration::from_millis(300));
            Ok(RunOutput::default())
        }
    }

    #[test]
    fn a_run_outlasting_the_stop_timeout_leaves_the_logger_stopping() {
        let runner = LoggerRunner::new("busy");
        let (sinks, _) = sinks();
        runner.start(Duration::from_secs(1), Box::new(Slow), sinks.clone()).unwrap();
        thread::sleep(Duration::from_millis(50));
        assert!(!runner.stop(Duration::from_millis(10)), "the run is still in progress");
        assert_eq!(runner.state(), LoggerState::Stopping, "state() answers while the run finishes");
        let refused = runner.start(Duration::from_secs(1), Box::new(Slow), sinks).unwrap_err();
        assert_eq!(refused, "logger is still stopping: busy");
        assert!(runner.stop(Duration::from_secs(5)));
        assert_eq!(runner.state(), LoggerState::Stopped);
    }
}
