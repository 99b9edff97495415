//! The kraken-sentry agent: an endpoint agent that dials out to Kraken bases, answers their
//! commands and ships its loggers' records.
//!
//! The folders follow a record: `loggers` make records, `spool` commits them for the bases,
//! keeps them and sends them, `link` owns the connections to each base (reconnect loop, dial
//! and peering, log channel, logger events), `commands` answers a base's calls (one method
//! table, served as the `kraken-sentry` RPC service). Beside them: `config` (the TOML file),
//! `store` (durable state in SQLite), `eventlog` (Windows events as records), `host_text` (the seed's string forms of host facts),
//! `agent` (the agent in the foreground), `service` (the agent as an NT service or systemd unit), `rotating_file` and `cli` (the `kraken-sentry` command line). The
//! protocol's names and the record's wire shape come from the `sentry-protocol` crate.

pub mod agent;
pub mod cli;
pub mod commands;
pub mod config;
pub mod eventlog;
pub mod host_text;
pub mod link;
pub mod loggers;
pub mod metrics;
pub mod rotating_file;
pub mod service;
pub mod spool;
pub mod store;
