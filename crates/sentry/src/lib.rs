//! The kraken-sentry agent: an endpoint agent that dials out to Kraken bases, answers their
//! commands and ships its loggers' records.
//!
//! `config` (the TOML file), `store` (durable state in SQLite), `loggers` (framework and the
//! performance loggers), `commands` (the method table a base calls), `service` (that table as
//! the `kraken-sentry` RPC service), `base_link` and `log_channel` (the connections to a base),
//! `spool` (records waiting for a base), `agent` (the foreground agent) and `cli` (the
//! `kraken-sentry` command line).

pub mod agent;
pub mod base_link;
pub mod cli;
pub mod commands;
pub mod config;
pub mod log_channel;
pub mod loggers;
pub mod service;
pub mod spool;
pub mod store;
