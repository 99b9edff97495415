//! The registry kept in step with the state store: what another process (an operator's
//! `kraken-sentry logger ...`) committed is applied while the agent runs.
//!
//! A logger removed and made again under its name between two looks (made at another time, or
//! with another factory, options or description: nothing else changes those) is a new logger: the old one's thread is
//! stopped, whatever position its last run saved is forgotten, and the new one is adopted with
//! its own factory, so it starts as configured (`start_at`, `last_id`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{LoggerEntry, LoggerEvent, LoggerRegistry, RECONCILE_STOP_WAIT, RegistryError};
use crate::loggers::runner::LoggerState;
use crate::store::LoggerRow;

impl LoggerRegistry {
    /// Applies what another process committed to the store since the last look: new loggers
    /// appear, deleted ones stop and go, and each runs (at its stored interval) or stops as its
    /// row says. Cheap when nothing changed (one `PRAGMA data_version`). A change that cannot be
    /// applied yet (a logger still finishing a run) is tried again at the next call.
    pub fn reconcile(&self) -> Result<(), RegistryError> {
        let _control = self.control();
        self.announce_finished_stops();
        let version = self.context.store.data_version()?;
        if *self.seen_version.lock().unwrap_or_else(|p| p.into_inner()) == Some(version) {
            return Ok(());
        }
        let rows: HashMap<String, LoggerRow> =
            self.context.store.loggers()?.into_iter().map(|row| (row.name.clone(), row)).collect();
        let made = self.context.store.logger_made_times()?;
        let mut seen_made = self.seen_made.lock().unwrap_or_else(|p| p.into_inner());
        let mut complete = true;
        let known: Vec<(String, Arc<LoggerEntry>)> =
            self.entries().iter().map(|(name, entry)| (name.clone(), entry.clone())).collect();
        // Replaced loggers whose old thread has not ended yet: left as they are until it has.
        let mut still_ending = HashSet::new();
        for (name, entry) in &known {
            let replaced = match rows.get(name) {
                None => false,
                Some(row)
                    if made_again(&entry.row.lock().unwrap_or_else(|p| p.into_inner()), row)
                        || seen_made.get(name).is_some_and(|seen| made.get(name) != Some(seen)) =>
                {
                    true
                }
                Some(_) => continue,
            };
            if replaced {
                tracing::info!(logger = %name, "logger made again in the store; stopping the old one");
            } else {
                tracing::info!(logger = %name, "logger removed from the store; stopping it");
            }
            let ended = entry.runner.state() == LoggerState::Stopped
                || self.stop_announced(name, entry, RECONCILE_STOP_WAIT);
            if ended {
                if replaced {
                    // Its last run may have saved a position after the removal. First: if this
                    // fails, the entry stays and the next look tries again.
                    self.context.store.forget_position(name)?;
                }
                self.entries().remove(name);
                if entry.stop_owed.swap(false, Ordering::SeqCst) {
                    // The thread ended since the owed stops were announced above.
                    self.emit(LoggerEvent::Stopped(name.clone()));
                }
                self.emit(LoggerEvent::Removed(name.clone()));
            } else {
                complete = false;
                still_ending.insert(name.clone());
            }
        }
        for (name, row) in rows {
            if still_ending.contains(&name) {
                continue;
            }
            let entry = self.entries().get(&name).cloned();
            let Some(entry) = entry else {
                tracing::info!(logger = %name, "logger added through the store");
                let running = row.running;
                if self.adopt(row) {
                    if let Ok(entry) = self.entry(&name) {
                        self.emit(LoggerEvent::Added(entry.info()));
                    }
                    if running {
                        complete &= self.start_logged(&name);
                    }
                }
                continue;
            };
            let state = entry.runner.state();
            let interval_changed = entry.runner.interval().is_some_and(|running| {
                running != Duration::from_millis(u64::from(row.interval_ms.max(self.min_interval_ms)))
            });
            *entry.row.lock().unwrap_or_else(|p| p.into_inner()) = row.clone();
            match (row.running, state) {
                (true, LoggerState::Stopped) => {
                    tracing::info!(logger = %name, interval_ms = row.interval_ms, "starting logger as the store says");
                    complete &= self.start_logged(&name);
                }
                (true, LoggerState::Running) if interval_changed => {
                    tracing::info!(logger = %name, interval_ms = row.interval_ms, "restarting logger at its new interval");
                    complete &= entry.runner.stop(RECONCILE_STOP_WAIT) && self.start_logged(&name);
                }
                (false, LoggerState::Running) => {
                    tracing::info!(logger = %name, "stopping logger as the store says");
                    complete &= self.stop_announced(&name, &entry, RECONCILE_STOP_WAIT);
                }
                (_, LoggerState::Stopping) => complete = false,
                _ => {}
            }
        }
        // A logger whose old thread is still ending keeps the time the old one was made, so the
        // next look still tells the new one apart.
        seen_made.retain(|name, _| made.contains_key(name));
        for (name, time) in made {
            if !still_ending.contains(&name) {
                seen_made.insert(name, time);
            }
        }
        if complete {
            *self.seen_version.lock().unwrap_or_else(|p| p.into_inner()) = Some(version);
        }
        Ok(())
    }

    /// Starts a logger's thread; false (and logged) if it cannot start.
    fn start_logged(&self, name: &str) -> bool {
        match self.start_thread(name) {
            Ok(()) => {
                if let Some(interval) = self.entry(name).ok().and_then(|e| e.runner.interval()) {
                    self.emit(LoggerEvent::Started {
                        name: name.to_owned(),
                        interval_ms: interval.as_millis() as u32,
                    });
                }
                true
            }
            Err(error) => {
                tracing::error!(logger = %name, %error, "logger could not start");
                false
            }
        }
    }
}

/// Whether `stored` is another logger than `current` under the same name: only removing a
/// logger and making it again changes its factory, options or description.
fn made_again(current: &LoggerRow, stored: &LoggerRow) -> bool {
    current.factory != stored.factory
        || current.config != stored.config
        || current.description != stored.description
}
