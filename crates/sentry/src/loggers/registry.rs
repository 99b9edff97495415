//! Every logger of the agent: creation, removal, start and stop, persisted in the state store.
//!
//! The store holds the desired state (which loggers exist, which should run, at what
//! interval); the registry holds the threads. Every change goes to the store first, in one
//! transaction, so a crash never leaves a half-made logger, and a duplicate name is refused
//! before anything changes (BUG-20). At boot every logger marked running starts again. While
//! the agent runs, [`LoggerRegistry::reconcile`] applies changes another process (an operator's
//! `kraken-sentry logger ...`) committed to the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kraken_codec::{Map, Value};

use super::SinkSet;
use super::factory::{self, FactoryContext, LoggerFactory};
use super::runner::{LoggerRunner, LoggerState};
use crate::store::{LoggerRow, StoreError};

/// Why a logger operation was refused; the text is the RPC error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegistryError(pub String);

impl From<StoreError> for RegistryError {
    fn from(error: StoreError) -> Self {
        RegistryError(error.to_string())
    }
}

fn refuse<T>(message: impl Into<String>) -> Result<T, RegistryError> {
    Err(RegistryError(message.into()))
}

struct LoggerEntry {
    row: Mutex<LoggerRow>,
    factory: Arc<dyn LoggerFactory>,
    runner: LoggerRunner,
}

/// The agent's loggers.
pub struct LoggerRegistry {
    factories: Vec<Arc<dyn LoggerFactory>>,
    context: FactoryContext,
    sinks: Arc<SinkSet>,
    min_interval_ms: u32,
    loggers: Mutex<BTreeMap<String, Arc<LoggerEntry>>>,
    seen_version: Mutex<Option<i64>>,
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

    /// The shortest interval `start` accepts.
    pub fn min_interval_ms(&self) -> u32 {
        self.min_interval_ms
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<LoggerEntry>>> {
        self.loggers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry(&self, name: &str) -> Result<Arc<LoggerEntry>, RegistryError> {
        self.entries().get(name).cloned().ok_or_else(|| RegistryError(format!("logger not found: {name}")))
    }

    /// Loads every stored logger and starts those marked running. Returns how many started.
    pub fn boot(&self) -> Result<usize, RegistryError> {
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
        let entry =
            LoggerEntry { runner: LoggerRunner::new(&row.name), row: Mutex::new(row.clone()), factory };
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
        check_name(name)?;
        let Some(factory) = self.factory(factory_name).cloned() else {
            return refuse(format!("logger factory not found: {factory_name}"));
        };
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
        self.adopt(row);
        Ok(())
    }

    /// `removeLogger`: a stopped logger is deleted with its state.
    pub fn remove(&self, name: &str) -> Result<(), RegistryError> {
        let entry = self.entry(name)?;
        if entry.runner.state() != LoggerState::Stopped {
            return refuse(format!("logger is running: {name}"));
        }
        self.context.store.delete_logger(name)?;
        self.entries().remove(name);
        Ok(())
    }

    /// Checks an interval against the minimum (BUG-21).
    pub fn check_interval(&self, interval_ms: i64) -> Result<u32, RegistryError> {
        match u32::try_from(interval_ms) {
            Ok(ms) if ms >= self.min_interval_ms => Ok(ms),
            _ => refuse(format!("interval must be at least {} ms, got {interval_ms}", self.min_interval_ms)),
        }
    }

    /// `startLogger`: starts the thread and records that it runs.
    pub fn start(&self, name: &str, interval_ms: i64) -> Result<(), RegistryError> {
        let interval = self.check_interval(interval_ms)?;
        let entry = self.entry(name)?;
        entry.row.lock().unwrap_or_else(|p| p.into_inner()).interval_ms = interval;
        self.start_thread(name)?;
        if let Err(error) = self.context.store.set_logger_running(name, true, Some(interval)) {
            let _ = entry.runner.stop(None);
            return Err(error.into());
        }
        entry.row.lock().unwrap_or_else(|p| p.into_inner()).running = true;
        Ok(())
    }

    fn start_thread(&self, name: &str) -> Result<(), RegistryError> {
        let entry = self.entry(name)?;
        let (interval, config) = {
            let row = entry.row.lock().unwrap_or_else(|p| p.into_inner());
            (row.interval_ms.max(self.min_interval_ms), row.config.clone())
        };
        let run = entry.factory.create(&self.context, &config);
        entry
            .runner
            .start(Duration::from_millis(u64::from(interval)), run, self.sinks.clone())
            .map_err(RegistryError)
    }

    /// `stopLogger`: records that it should not run and stops the thread, waiting up to
    /// `timeout_ms` (0 or less: until it ends).
    pub fn stop(&self, name: &str, timeout_ms: i64) -> Result<(), RegistryError> {
        let entry = self.entry(name)?;
        self.context.store.set_logger_running(name, false, None)?;
        entry.row.lock().unwrap_or_else(|p| p.into_inner()).running = false;
        let timeout = u64::try_from(timeout_ms).ok().filter(|&ms| ms > 0).map(Duration::from_millis);
        entry.runner.stop(timeout).map_err(RegistryError)
    }

    /// Stops every thread for an agent shutdown, leaving the stored running flags as they are
    /// so the same loggers start at the next boot.
    pub fn shutdown(&self, timeout: Duration) {
        let entries: Vec<Arc<LoggerEntry>> = self.entries().values().cloned().collect();
        for entry in entries {
            let name = entry.row.lock().unwrap_or_else(|p| p.into_inner()).name.clone();
            if let Err(error) = entry.runner.stop(Some(timeout)) {
                tracing::warn!(logger = %name, %error, "logger still busy at shutdown");
            }
        }
    }

    /// `getLoggers`: LoggerInfo maps (§4.3), plus this agent's run counters.
    pub fn logger_infos(&self) -> Vec<Value> {
        let entries: Vec<Arc<LoggerEntry>> = self.entries().values().cloned().collect();
        entries.iter().map(|entry| logger_info(entry)).collect()
    }

    /// One LoggerInfo.
    pub fn logger_info(&self, name: &str) -> Result<Value, RegistryError> {
        Ok(logger_info(&*self.entry(name)?))
    }

    /// Names of the running loggers.
    pub fn running(&self) -> Vec<String> {
        let entries: Vec<Arc<LoggerEntry>> = self.entries().values().cloned().collect();
        entries
            .iter()
            .filter(|e| e.runner.state() == LoggerState::Running)
            .map(|e| e.row.lock().unwrap_or_else(|p| p.into_inner()).name.clone())
            .collect()
    }

    /// Applies what another process committed to the store since the last look: new loggers
    /// appear, deleted ones stop and go, and each runs or stops as its row says. Cheap when
    /// nothing changed (one `PRAGMA data_version`).
    pub fn reconcile(&self) -> Result<(), RegistryError> {
        let version = self.context.store.data_version()?;
        {
            let mut seen = self.seen_version.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == Some(version) {
                return Ok(());
            }
            *seen = Some(version);
        }
        let rows: HashMap<String, LoggerRow> =
            self.context.store.loggers()?.into_iter().map(|row| (row.name.clone(), row)).collect();
        let known: Vec<(String, Arc<LoggerEntry>)> =
            self.entries().iter().map(|(name, entry)| (name.clone(), entry.clone())).collect();
        for (name, entry) in &known {
            if !rows.contains_key(name) {
                tracing::info!(logger = %name, "logger removed from the store; stopping it");
                let _ = entry.runner.stop(None);
                self.entries().remove(name);
            }
        }
        for (name, row) in rows {
            let entry = self.entries().get(&name).cloned();
            let Some(entry) = entry else {
                tracing::info!(logger = %name, "logger added through the store");
                let running = row.running;
                if self.adopt(row) && running {
                    self.start_thread(&name)?;
                }
                continue;
            };
            let state = entry.runner.state();
            *entry.row.lock().unwrap_or_else(|p| p.into_inner()) = row.clone();
            match (row.running, state) {
                (true, LoggerState::Stopped) => {
                    tracing::info!(logger = %name, interval_ms = row.interval_ms, "starting logger as the store says");
                    self.start_thread(&name)?;
                }
                (false, LoggerState::Running) => {
                    tracing::info!(logger = %name, "stopping logger as the store says");
                    entry.runner.stop(None).map_err(RegistryError)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Logger names: 1 to 64 letters, digits, `-`, `_` or `.`.
fn check_name(name: &str) -> Result<(), RegistryError> {
    let valid = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        refuse(format!("invalid logger name {name:?}: use 1 to 64 of a-z, 0-9, -, _, ."))
    }
}

fn logger_info(entry: &LoggerEntry) -> Value {
    let row = entry.row.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let state = entry.runner.state();
    let stats = entry.runner.stats();
    let interval = entry.runner.interval().map_or(row.interval_ms, |d| d.as_millis() as u32);
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    kraken_codec::map! {
        "logger_namespace" => "local",
        "logger_name" => row.name.as_str(),
        "description" => row.description.as_deref(),
        "factory_name" => row.factory.as_str(),
        "factory_namespace" => "local",
        "is_running" => state == LoggerState::Running,
        "interval" => i32::try_from(interval).unwrap_or(i32::MAX),
        "status" => match state {
            LoggerState::Running => "running",
            LoggerState::Stopping => "stopping",
            LoggerState::Stopped => "stopped",
        },
        "run_count" => count(stats.runs),
        "failed_runs" => count(stats.failed_runs),
        "last_error" => stats.last_error,
        "log_count" => count(stats.log_count),
        "last_run" => stats.last_run,
        "last_log" => stats.last_log,
    }
}
