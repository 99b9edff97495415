//! What the registry tells of its loggers: the LoggerInfo maps of `getLoggers` (§4.3, with
//! this agent's run counters) and, for a base that just connected, the present state as events.

use std::sync::Arc;

use kraken_codec::Value;
use sentry_protocol::names::logger_info;

use super::{LoggerEntry, LoggerEvent, LoggerRegistry, RegistryError};
use crate::loggers::factory::factory_info;
use crate::loggers::runner::{LoggerState, RunStats};

impl LoggerRegistry {
    /// The present state as events, for a base that just connected: every factory
    /// (`FactoryAdded`), every logger (`Added`) and, for each running one, `Started` with its
    /// interval, so loggers restored at start are announced like any other (BUG-15).
    pub fn announcements(&self) -> Vec<LoggerEvent> {
        let mut events: Vec<LoggerEvent> =
            self.factories.iter().map(|f| LoggerEvent::FactoryAdded(factory_info(&**f))).collect();
        let entries: Vec<Arc<LoggerEntry>> = self.entries().values().cloned().collect();
        for entry in entries {
            let info = entry.info();
            let running = entry.runner.state() == LoggerState::Running;
            let started = running.then(|| {
                let map = info.as_map();
                let text =
                    |key: &str| map.and_then(|m| m.get(key)).and_then(Value::as_str).unwrap_or_default();
                let interval =
                    map.and_then(|m| m.get(logger_info::INTERVAL)).and_then(Value::as_i64).unwrap_or(0);
                LoggerEvent::Started {
                    name: text(logger_info::LOGGER_NAME).to_owned(),
                    interval_ms: interval.max(0) as u32,
                }
            });
            events.push(LoggerEvent::Added(info));
            events.extend(started);
        }
        events
    }

    /// `getLoggers`: LoggerInfo maps (§4.3), plus this agent's run counters.
    pub fn logger_infos(&self) -> Vec<Value> {
        let entries: Vec<Arc<LoggerEntry>> = self.entries().values().cloned().collect();
        entries.iter().map(|entry| entry.info()).collect()
    }

    /// One LoggerInfo.
    pub fn logger_info(&self, name: &str) -> Result<Value, RegistryError> {
        Ok(self.entry(name)?.info())
    }

    /// Every logger's name, factory, whether it runs, and its run counters (for the metrics).
    pub fn run_stats(&self) -> Vec<(String, String, bool, RunStats)> {
        let entries: Vec<Arc<LoggerEntry>> = self.entries().values().cloned().collect();
        entries
            .iter()
            .map(|entry| {
                let row = entry.row.lock().unwrap_or_else(|p| p.into_inner());
                let running = entry.runner.state() == LoggerState::Running;
                (row.name.clone(), row.factory.clone(), running, entry.runner.stats())
            })
            .collect()
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
}

impl LoggerEntry {
    /// This logger's LoggerInfo (§4.3), plus this agent's run counters.
    pub(super) fn info(&self) -> Value {
        let row = self.row.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let state = self.runner.state();
        let stats = self.runner.stats();
        let interval = self.runner.interval().map_or(row.interval_ms, |d| d.as_millis() as u32);
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        kraken_codec::map! {
            "logger_namespace" => "local",
            logger_info::LOGGER_NAME => row.name.as_str(),
            "description" => row.description.as_deref(),
            "factory_name" => row.factory.as_str(),
            "factory_namespace" => "local",
            "is_running" => state == LoggerState::Running,
            logger_info::INTERVAL => i32::try_from(interval).unwrap_or(i32::MAX),
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
}
