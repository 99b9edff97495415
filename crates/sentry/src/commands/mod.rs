//! The sentry's commands: what a base can ask with `run(methodName, params)`, and what
//! `kraken-sentry exec` runs locally.
//!
//! One file per group of methods (processes, neighbours, routes, netstat, system, disks,
//! interfaces, files, loggers, log channel, features), each exporting a `METHODS` slice for the
//! one [`MethodTable`] and pure `*_record` functions that turn host-fact structs into the seed's
//! maps. Host facts come from [`sentry_host::HostFacts`], so every command works the same on
//! Windows and Linux. Handlers get the agent-wide [`CommandContext`] and, for a call over a base
//! link, the [`Caller`]. [`SentryService`] serves the table as the `kraken-sentry` RPC service.

pub mod context;
pub mod disks;
pub mod features;
pub mod files;
pub mod interfaces;
pub mod log_channel;
pub mod loggers;
pub mod neighbours;
pub mod netstat;
pub mod processes;
pub mod routes;
pub mod rpc_service;
pub mod system;
pub mod table;

pub use context::{Caller, CommandContext, FileRoots, LogChannelRequest};
pub use rpc_service::SentryService;
pub use table::{ArgKind, Args, CommandError, Method, MethodTable, Param};

/// The host-fact commands and their features (`getFeatures` lists them).
pub fn host_methods() -> MethodTable {
    let mut table = MethodTable::new();
    table.register(&[], features::METHODS);
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

/// Every sentry method: the host commands, logger control and the log channel.
pub fn sentry_methods() -> MethodTable {
    let mut table = host_methods();
    table.register(&["logger-control"], loggers::METHODS);
    table.register(&[], log_channel::METHODS);
    table
}
