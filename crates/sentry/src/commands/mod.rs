//! The sentry's commands: what a base can ask with `run(methodName, params)`, and what
//! `kraken-sentry exec` runs locally.
//!
//! One file per group of methods (processes, neighbours, routes, netstat, system, disks,
//! interfaces, files), each exporting a `METHODS` slice for the [`MethodTable`] and pure
//! `*_record` functions that turn host-fact structs into the seed's maps. Host facts come from
//! [`sentry_host::HostFacts`], so every command works the same on Windows and Linux.

pub mod disks;
pub mod files;
pub mod interfaces;
pub mod loggers;
pub mod neighbours;
pub mod netstat;
pub mod processes;
pub mod routes;
pub mod system;
pub mod table;
pub mod text;

use std::sync::Arc;
use std::time::Duration;

use sentry_host::{HostError, HostFacts};

use crate::loggers::LoggerRegistry;

pub use files::FileRoots;
pub use table::{ArgKind, Args, CommandError, Method, MethodTable, Param};

/// What command handlers may use.
pub struct CommandContext {
    /// The host's facts.
    pub host: Arc<dyn HostFacts>,
    /// The window over which `getProcesses` measures CPU use.
    pub sampling_window: Duration,
    /// Where `listFiles` may look.
    pub file_roots: FileRoots,
    /// The agent's loggers, for logger control (absent for `kraken-sentry exec`).
    pub loggers: Option<Arc<LoggerRegistry>>,
}

impl CommandContext {
    /// A context on this machine with the default settings.
    pub fn for_this_host() -> Self {
        CommandContext {
            host: Arc::new(sentry_host::SystemHost),
            sampling_window: sentry_host::sampling::DEFAULT_WINDOW,
            file_roots: FileRoots::default(),
            loggers: None,
        }
    }
}

/// The host-fact commands and their features (`getFeatures` lists them).
pub fn host_methods() -> MethodTable {
    let mut table = MethodTable::new();
    table.register(&["process-list"], processes::METHODS);
    table.register(&["arp-cache"], neighbours::METHODS);
    table.register(&["routing-table"], routes::METHODS);
    table.register(&["netstat"], netstat::METHODS);
    table.register(&["disk-info"], disks::METHODS);
    table.register(&["nic-info"], interfaces::METHODS);
    table.register(&[], system::METHODS);
    table.register(&[], files::METHODS);
    table
}

/// Every sentry method: the host commands and logger control.
pub fn sentry_methods() -> MethodTable {
    let mut table = host_methods();
    table.register(&["logger-control"], loggers::METHODS);
    table
}

/// A host-fact failure as the RPC error message.
fn host_error(error: HostError) -> CommandError {
    CommandError::failed(error)
}
