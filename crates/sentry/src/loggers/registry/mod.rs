//! Every logger of the agent: creation, removal, start and stop, persisted in the state store.
//!
//! The store holds the desired state (which loggers exist, which should run, at what
//! interval); the registry holds the threads. Every change goes to the store first, in one
//! transaction, so a crash never leaves a half-made logger, and a duplicate name is refused
//! before anything changes (BUG-20). At boot every logger marked running starts again. While
//! the agent runs, [`LoggerRegistry::reconcile`] applies changes another process (an operator's
//! `kraken-sentry logger ...`) committed to the store.
//!
//! The registry's control operations live here; what it tells of its loggers (LoggerInfo maps,
//! the announcements for a base) in [`info`], and the sync with the store in [`reconcile`].
//!
//! Control operations (create, remove, start, stop, reconcile) take one lock in turn, so they
//! never interleave; reading (`getLoggers`) does not take it and always answers. Every wait for
//! a logger to stop is bounded ([`MAX_STOP_WAIT`]); a logger still finishing a run when the
//! wait ends is left `stopping` and stops when the run ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kraken_codec::{Map, Value};

mod info;
mod reconcile;

use super::factory::{self, FactoryContext, LoggerFactory};
use super::runner::{LoggerRunner, LoggerState};
use crate::loggers::sink::SinkSet;
use crate::store::{LoggerRow, StoreError};

/// A change to the agent's loggers, told to every connected base (`loggerAdded`,
/// `loggerRemoved`, `loggerStarted`, `loggerStopped`).
#[derive(Debug, Clone, PartialEq)]
pub enum LoggerEvent {
    /// A factory, by its FactoryInfo (only in [`LoggerRegistry::announcements`]: factories are
    /// built in and never come or go while the agent runs).
    FactoryAdded(Value),
    /// A new logger; its LoggerInfo.
    Added(Value),
    Removed(String),
    Started {
        name: String,
        interval_ms: u32,
    },
    Stopped(String),
}

/// Why a logger operation was refused; the text is the RPC error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegistryError(pub String);

impl From<StoreError> for RegistryError {
    fn from(error: StoreError) -> Self {
        RegistryError(error.to_string())
    }
}

/// The longest any stop waits for a run in progress (`stopLogger` with timeout 0 included).
pub const MAX_STOP_WAIT: Duration = Duration::from_secs(30);
/// How long reconciling waits for a logger to stop before moving on.
const RECONCILE_STOP_WAIT: Duration = Duration::from_secs(5);
/// The most loggers one agent keeps.
pub const MAX_LOGGERS: usize = 256;
/// The longest description kept.
const MAX_DESCRIPTION: usize = 1024;

fn refuse<T>(message: impl Into<String>) -> Result<T, RegistryError> {
    Err(RegistryError(message.into()))
}

struct LoggerEntry {
    row: Mutex<LoggerRow>,
    factory: Arc<dyn LoggerFactory>,
    runner: LoggerRunner,
    /// Stopped while a run was in progress: `loggerStopped` is owed once the thread has ended
    /// ([`LoggerRegistry::announce_finished_stops`]).
    stop_owed: AtomicBool,
}

/// The agent's loggers.
pub struct LoggerRegistry {
    factories: Vec<Arc<dyn LoggerFactory>>,
    context: FactoryContext,
    sinks: Arc<SinkSet>,
    min_interval_ms: u32,
    loggers: Mutex<BTreeMap<String, Arc<LoggerEntry>>>,
    seen_version: Mutex<Option<i64>>,
    /// When each stored logger was made (`created_ms`), as the last look saw it: a logger
    /// removed and made again between two looks, even with the same settings, is told apart.
    seen_made: Mutex<HashMap<String, i64>>,
    /// Held by every control operation, so they never interleave.
    control: Mutex<()>,
    events: tokio::sync::broadcast::Sender<LoggerEvent>,
}

impl LoggerRegistry {
    pub fn new(
        factories: Vec<Arc<dyn LoggerFactory>>,
        context: FactoryContext,
        sinks: Arc<SinkSet>,
        min_interval_ms: u32,
    ) -> Self {
        LoggerRegistry {
            factories,
            context,
            sinks,
            min_interval_ms,
            loggers: Mutex::default(),
            seen_version: Mutex::default(),
            seen_made: Mutex::default(),
            control: Mutex::default(),
            events: tokio::sync::broadcast::channel(256).0,
        }
    }

    /// The factories, in order.
    pub fn factories(&self) -> &[Arc<dyn LoggerFactory>] {
        &self.factories
    }

    /// A factory by short name.
    pub fn factory(&self, name: &str) -> Option<&Arc<dyn LoggerFactory>> {
        self.factories.iter().find(|f| f.name() == name)
    }

    /// The sender of logger changes, for links that subscribe at each connection.
    pub fn event_sender(&self) -> tokio::sync::broadcast::Sender<LoggerEvent> {
        self.events.clone()
    }

    fn emit(&self, event: LoggerEvent) {
        // No receiver (no base connected) is fine.
        let _ = self.events.send(event);
    }

    /// The shortest interval `start` accepts.
    pub fn min_interval_ms(&self) -> u32 {
        self.min_interval_ms
    }

    fn control(&self) -> MutexGuard<'_, ()> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Arc<LoggerEntry>>> {
        self.loggers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry(&self, name: &str) -> Result<Arc<LoggerEntry>, RegistryError> {
        self.entries().get(name).cloned().ok_or_else(|| RegistryError(format!("logger not found: {name}")))
    }

    /// Loads every stored logger and starts those marked running. Returns how many started.
    pub fn boot(&self) -> Result<usize, RegistryError> {
        let _control = self.control();
        *self.seen_version.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(self.context.store.data_version()?);
        let rows = self.context.store.loggers()?;
        let mut started = 0;
        for row in rows {
            let running = row.running;
            let name = row.name.clone();
            if !self.adopt(row) {
                continue;
            }
            if running {
                match self.start_thread(&name) {
                    Ok(()) => started += 1,
                    Err(error) => tracing::error!(logger = %name, %error, "a saved logger could not start"),
                }
            }
        }
        Ok(started)
    }

    /// Adds an entry for a stored row; false (and logged) if its factory is unknown.
    fn adopt(&self, row: LoggerRow) -> bool {
        let Some(factory) = self.factory(&row.factory).cloned() else {
            tracing::error!(logger = %row.name, factory = %row.factory, "a saved logger has an unknown factory; left alone");
            return false;
        };
        let entry = LoggerEntry {
            runner: LoggerRunner::new(&row.name),
            row: Mutex::new(row.clone()),
            factory,
            stop_owed: AtomicBool::new(false),
        };
        self.entries().insert(row.name, Arc::new(entry));
        true
    }

    /// `createLogger`: validates and stores a new, stopped logger.
    pub fn create(
        &self,
        factory_name: &str,
        name: &str,
        description: Option<&str>,
        props: &Map,
    ) -> Result<(), RegistryError> {
        let _control = self.control();
        let Some(factory) = self.factory(factory_name).cloned() else {
            return refuse(format!("logger factory not found: {factory_name}"));
        };
        check_name(name)?;
        if description.is_some_and(|d| d.len() > MAX_DESCRIPTION) {
            return refuse(format!("description longer than {MAX_DESCRIPTION} bytes"));
        }
        if self.entries().len() >= MAX_LOGGERS {
            return refuse(format!("too many loggers (at most {MAX_LOGGERS})"));
        }
        let config = factory::validate_options(factory.as_ref(), props).map_err(RegistryError)?;
        let row = LoggerRow {
            name: name.to_owned(),
            factory: factory_name.to_owned(),
            description: description.map(str::to_owned),
            config,
            interval_ms: 0,
            running: false,
        };
        self.context.store.insert_logger(&row)?;
        // Made here: the next look must not take it for one made again behind the registry.
        self.forget_made(name);
        self.adopt(row);
        if let Ok(entry) = self.entry(name) {
            self.emit(LoggerEvent::Added(entry.info()));
        }
        Ok(())
    }

    /// `removeLogger`: a stopped logger is deleted with its state.
    pub fn remove(&self, name: &str) -> Result<(), RegistryError> {
        let _control = self.control();
        self.announce_finished_stops();
        let entry = self.entry(name)?;
        if entry.runner.state() != LoggerState::Stopped {
            return refuse(format!("logger is running: {name}"));
        }
        self.context.store.delete_logger(name)?;
        self.forget_made(name);
        self.entries().remove(name);
        self.emit(LoggerEvent::Removed(name.to_owned()));
        Ok(())
    }

    /// Forgets when the last look saw `name` made (see [`reconcile`](Self::reconcile)).
    fn forget_made(&self, name: &str) {
        self.seen_made.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// Checks an interval against the minimum (BUG-21) and the protocol's i32 (LoggerInfo and
    /// `loggerStarted` carry it as one, so a longer interval could not be reported truly).
    pub fn check_interval(&self, interval_ms: i64) -> Result<u32, RegistryError> {
        match u32::try_from(interval_ms) {
            Ok(ms) if ms >= self.min_interval_ms && i32::try_from(ms).is_ok() => Ok(ms),
            Ok(ms) if ms >= self.min_interval_ms => {
                refuse(format!("interval must be at most {} ms, got {interval_ms}", i32::MAX))
            }
            _ => refuse(format!("interval must be at least {} ms, got {interval_ms}", self.min_interval_ms)),
        }
    }

    /// `startLogger`: starts the thread and records that it runs.
    pub fn start(&self, name: &str, interval_ms: i64) -> Result<(), RegistryError> {
        let _control = self.control();
        self.announce_finished_stops();
        let interval = self.check_interval(interval_ms)?;
        let entry = self.entry(name)?;
        let run = {
            let row = entry.row.lock().unwrap_or_else(|p| p.into_inner());
            entry.factory.create(&self.context, name, &row.config)
        };
        entry
            .runner
            .start(Duration::from_millis(u64::from(interval)), run, self.sinks.clone())
            .map_err(RegistryError)?;
        if let Err(error) = self.context.store.set_logger_running(name, true, Some(interval)) {
            entry.runner.stop(MAX_STOP_WAIT);
            return Err(error.into());
        }
        {
            let mut row = entry.row.lock().unwrap_or_else(|p| p.into_inner());
            (row.running, row.interval_ms) = (true, interval);
        }
        self.emit(LoggerEvent::Started { name: name.to_owned(), interval_ms: interval });
        Ok(())
    }

    fn start_thread(&self, name: &str) -> Result<(), RegistryError> {
        let entry = self.entry(name)?;
        let (interval, config) = {
            let row = entry.row.lock().unwrap_or_else(|p| p.into_inner());
            (row.interval_ms.max(self.min_interval_ms), row.config.clone())
        };
        let run = entry.factory.create(&self.context, name, &config);
        entry
            .runner
            .start(Duration::from_millis(u64::from(interval)), run, self.sinks.clone())
            .map_err(RegistryError)
    }

    /// `stopLogger`: records that it should not run and stops the thread, waiting up to
    /// `timeout_ms` for a run in progress (0 or less: up to [`MAX_STOP_WAIT`]). A logger still
    /// finishing its run then is left `stopping` and stops when the run ends; like the
    /// original, that is not an error, but `loggerStopped` waits until then.
    pub fn stop(&self, name: &str, timeout_ms: i64) -> Result<(), RegistryError> {
        let _control = self.control();
        let entry = self.entry(name)?;
        self.context.store.set_logger_running(name, false, None)?;
        entry.row.lock().unwrap_or_else(|p| p.into_inner()).running = false;
        let timeout = u64::try_from(timeout_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map_or(MAX_STOP_WAIT, |ms| Duration::from_millis(ms).min(MAX_STOP_WAIT));
        if !self.stop_announced(name, &entry, timeout) {
            tracing::warn!(logger = %name, timeout_ms = timeout.as_millis(), "logger still finishing a run; it stops when the run ends");
        }
        Ok(())
    }

    /// Stops the thread, waiting up to `timeout` for a run in progress, and announces
    /// `loggerStopped` once the thread has ended: now, or (if the run outlasts the wait) at the
    /// next [`Self::announce_finished_stops`]. A base never hears of a stop while the thread
    /// still runs (BUG-26). True if it has ended.
    fn stop_announced(&self, name: &str, entry: &LoggerEntry, timeout: Duration) -> bool {
        let ended = entry.runner.stop(timeout);
        if ended {
            self.emit(LoggerEvent::Stopped(name.to_owned()));
        } else {
            entry.stop_owed.store(true, Ordering::SeqCst);
        }
        ended
    }

    /// Announces `loggerStopped` for each logger whose stop outlasted its wait and whose thread
    /// has ended since. Runs under the control lock, before anything that could start the
    /// logger again (so the base sees the stop before the next start), and at every
    /// [`Self::reconcile`] (every second in a running agent).
    fn announce_finished_stops(&self) {
        let owed: Vec<(String, Arc<LoggerEntry>)> = self
            .entries()
            .iter()
            .filter(|(_, entry)| entry.stop_owed.load(Ordering::SeqCst))
            .map(|(name, entry)| (name.clone(), entry.clone()))
            .collect();
        for (name, entry) in owed {
            if entry.runner.state() == LoggerState::Stopped && entry.stop_owed.swap(false, Ordering::SeqCst) {
                self.emit(LoggerEvent::Stopped(name));
            }
        }
    }

    /// Stops every thread for an agent shutdown, leaving the stored running flags as they are
    /// so the same loggers start at the next boot. All loggers are asked at once, then waited
    /// for together, up to `timeout` in all.
    pub fn shutdown(&self, timeout: Duration) {
        let entries: Vec<Arc<LoggerEntry>> = self.entries().values().cloned().collect();
        for entry in &entries {
            entry.runner.request_stop();
        }
        let deadline = Instant::now() + timeout;
        for entry in &entries {
            if !entry.runner.wait_stopped(deadline) {
                let name = entry.row.lock().unwrap_or_else(|p| p.into_inner()).name.clone();
                tracing::warn!(logger = %name, "logger still busy at shutdown");
            }
        }
    }

    /// `connectLogger`: the base `base` wants this logger's records from now on (kept in the
    /// store, so records made while the base is away are spooled for it too). Idempotent.
    pub fn connect(&self, base: &str, name: &str) -> Result<Value, RegistryError> {
        let _control = self.control();
        let entry = self.entry(name)?;
        self.context.store.subscribe(base, name)?;
        Ok(entry.info())
    }

    /// `disconnectLogger`: the base no longer wants this logger's records.
    pub fn disconnect(&self, base: &str, name: &str) -> Result<(), RegistryError> {
        let _control = self.control();
        self.entry(name)?;
        self.context.store.unsubscribe(base, name)?;
        Ok(())
    }
}

/// Logger names: 1 to 64 characters, no control characters and no `\\` (it separates the
/// namespace in full names), no leading or trailing space; not the name the spool's drop
/// reports go under (a full spool drops those before security records).
fn check_name(name: &str) -> Result<(), RegistryError> {
    if name == crate::spool::DROP_REPORT_LOGGER {
        return refuse(format!("invalid logger name {name:?}: the spool's drop reports use it"));
    }
    let valid = !name.is_empty()
        && name.chars().count() <= 64
        && name.trim() == name
        && !name.chars().any(|c| c.is_control() || c == '\\');
    if valid {
        Ok(())
    } else {
        refuse(format!(
            "invalid logger name {name:?}: use 1 to 64 characters, without \\ or control characters"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::loggers::LoggerRun;
    use crate::loggers::factory::Localized;
    use crate::store::{OptionValue, Store};

    /// A logger whose every run waits for the test's go-ahead, announcing that it started.
    struct GatedFactory {
        entered: Mutex<mpsc::Sender<()>>,
        release: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    struct GatedRun {
        entered: mpsc::Sender<()>,
        release: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl LoggerRun for GatedRun {
        fn run_once(&mut self) -> Result<crate::loggers::factory::RunOutput, String> {
            let _ = self.entered.send(());
            let _ = self.release.lock().unwrap().recv();
            Ok(Default::default())
        }
    }

    impl LoggerFactory for GatedFactory {
        fn name(&self) -> &'static str {
            "gated"
        }
        fn display_names(&self) -> Localized {
            &[("en", "Gated")]
        }
        fn descriptions(&self) -> Localized {
            &[("en", "Waits for the test")]
        }
        fn create(
            &self,
            _: &FactoryContext,
            _: &str,
            _: &BTreeMap<String, OptionValue>,
        ) -> Box<dyn LoggerRun> {
            Box::new(GatedRun {
                entered: self.entered.lock().unwrap().clone(),
                release: self.release.clone(),
            })
        }
    }

    #[test]
    fn a_stop_is_announced_only_once_the_thread_has_ended_and_before_the_next_start() {
        let dir = std::env::temp_dir().join(format!("kraken-registry-stop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let factory =
            GatedFactory { entered: Mutex::new(entered_tx), release: Arc::new(Mutex::new(release_rx)) };
        let context = FactoryContext {
            host: Arc::new(sentry_host::SystemHost),
            store: Arc::new(Store::open(&dir).unwrap()),
            delivery: None,
        };
        let registry = LoggerRegistry::new(vec![Arc::new(factory)], context, Arc::default(), 100);
        let mut events = registry.event_sender().subscribe();
        registry.create("gated", "g", None, &Map::new()).unwrap();
        registry.start("g", 100).unwrap();
        entered.recv_timeout(Duration::from_secs(10)).expect("the first run starts");
        let drained: Vec<LoggerEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert!(
            matches!(drained.as_slice(), [LoggerEvent::Added(_), LoggerEvent::Started { .. }]),
            "{drained:?}"
        );

        // The run outlasts the stop's wait: the logger is stopping, and nothing is announced.
        registry.stop("g", 50).unwrap();
        assert_eq!(registry.entry("g").unwrap().runner.state(), LoggerState::Stopping);
        registry.reconcile().unwrap();
        assert!(events.try_recv().is_err(), "loggerStopped before the thread ended");

        // The run ends; the next start announces the stop first, then the start.
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(registry.entry("g").unwrap().runner.wait_stopped(deadline));
        registry.start("g", 100).unwrap();
        let drained: Vec<LoggerEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert_eq!(drained[0], LoggerEvent::Stopped("g".into()), "{drained:?}");
        assert!(matches!(drained[1..], [LoggerEvent::Started { .. }]), "{drained:?}");

        // A stop within the wait is announced at once.
        entered.recv_timeout(Duration::from_secs(10)).expect("the restarted logger runs");
        drop(release); // every run from now on returns at once
        registry.stop("g", 5_000).unwrap();
        assert_eq!(events.try_recv().unwrap(), LoggerEvent::Stopped("g".into()));
        assert!(events.try_recv().is_err(), "one announcement per stop");
        drop(registry);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_logger_removed_and_made_again_between_two_looks_is_a_new_logger() {
        let dir = std::env::temp_dir().join(format!("kraken-registry-again-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        let context =
            FactoryContext { host: Arc::new(sentry_host::SystemHost), store: store.clone(), delivery: None };
        let registry =
            LoggerRegistry::new(crate::loggers::standard_factories(), context, Arc::default(), 100);
        let row = |factory: &str| LoggerRow {
            name: "x".into(),
            factory: factory.into(),
            description: None,
            config: BTreeMap::new(),
            interval_ms: 1000,
            running: false,
        };
        // As `kraken-sentry logger create` would, while the agent runs (another process: its own
        // connection to the store).
        let operator = Store::open(&dir).unwrap();
        operator.insert_logger(&row("cpu-usage")).unwrap();
        registry.reconcile().unwrap();
        assert_eq!(registry.entry("x").unwrap().factory.name(), "cpu-usage");
        // `logger remove x` and `logger create x` of another kind; the old logger's last run
        // saves its position after the new one was stored.
        operator.delete_logger("x").unwrap();
        operator.insert_logger(&row("memory-usage")).unwrap();
        operator.save_cursor("x", crate::store::cursors::POSITION_CURSOR, "the old logger's").unwrap();
        registry.reconcile().unwrap();
        assert_eq!(registry.entry("x").unwrap().factory.name(), "memory-usage");
        assert_eq!(store.cursor("x", crate::store::cursors::POSITION_CURSOR).unwrap(), None);
        // Made again with the same settings (to start over): told apart by when it was made.
        std::thread::sleep(Duration::from_millis(5));
        operator.delete_logger("x").unwrap();
        operator.insert_logger(&row("memory-usage")).unwrap();
        operator.save_cursor("x", crate::store::cursors::POSITION_CURSOR, "the old logger's").unwrap();
        registry.reconcile().unwrap();
        assert_eq!(store.cursor("x", crate::store::cursors::POSITION_CURSOR).unwrap(), None);
        // Removed and made again by the registry itself (a base's removeLogger, createLogger):
        // not taken for one made behind its back at the next look.
        registry.remove("x").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        registry.create("memory-usage", "x", None, &Map::new()).unwrap();
        store.save_cursor("x", crate::store::cursors::POSITION_CURSOR, "the new logger's").unwrap();
        operator.set_process_rule("sshd", crate::store::Policy::Allow).unwrap(); // a change: a full look
        registry.reconcile().unwrap();
        assert_eq!(
            store.cursor("x", crate::store::cursors::POSITION_CURSOR).unwrap().as_deref(),
            Some("the new logger's")
        );
        // The new logger's own position, saved by another connection: the next look keeps it.
        operator.save_cursor("x", crate::store::cursors::POSITION_CURSOR, "its own").unwrap();
        registry.reconcile().unwrap();
        assert_eq!(
            store.cursor("x", crate::store::cursors::POSITION_CURSOR).unwrap().as_deref(),
            Some("its own")
        );
        drop((registry, store, operator));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
