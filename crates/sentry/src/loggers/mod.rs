//! The logger framework and the performance loggers.
//!
//! A logger is a factory's product with a name, a typed config and an interval; while running,
//! its thread ([`runner`]) calls [`LoggerRun::run_once`] on schedule and hands the records to
//! the registered sinks ([`sink`]). The [`registry`] owns every logger of the agent, persists
//! them in the state store, restarts those that were running, and applies an operator's
//! changes made through the store. One file per logger: `cpu_usage`, `memory_usage`,
//! `network_usage`, `disk_usage`, `process_check`, `windows_event`; each keeps its record-building as pure
//! functions over host-fact structs, unit-tested with fixed inputs.

pub mod cpu_usage;
pub mod delivery;
pub mod disk_usage;
pub mod factory;
pub mod failure_log;
pub mod memory_usage;
pub mod network_usage;
pub mod process_check;
pub mod registry;
pub mod runner;
pub mod sink;
pub mod windows_event;

use std::sync::Arc;

pub use factory::{ConfigOption, FactoryContext, LoggerFactory, LoggerRun, OptionKind};
pub use registry::{LoggerEvent, LoggerRegistry, RegistryError};
pub use runner::{LoggerState, RunStats};
pub use sink::{JsonLinesSink, RecordSink, SinkSet};

/// Every factory this agent offers, in the order `getLoggerFactories` lists them.
pub fn standard_factories() -> Vec<Arc<dyn LoggerFactory>> {
    vec![
        Arc::new(cpu_usage::CpuUsageFactory),
        Arc::new(memory_usage::MemoryUsageFactory),
        Arc::new(network_usage::NetworkUsageFactory),
        Arc::new(disk_usage::DiskUsageFactory),
        Arc::new(process_check::ProcessCheckFactory),
        Arc::new(windows_event::WindowsEventFactory),
    ]
}
