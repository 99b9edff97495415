//! The Kraken base: accepts sentries over mutual TLS, binds each connection to the GUID its
//! certificate names, stores the records they send, and lets operators call them.
//!
//! Folders:
//! * `service/`: the `kraken-base` RPC service sentries call, one module per job (`hello`,
//!   `identity`, `log_channel`, `inventory`, `events`, with their shared `state`).
//! * `storage/`: the [`storage::Storage`] trait, its embedded SQLite implementation, ClickHouse
//!   (`clickhouse/`, which several base nodes can share), the record writer and `retention`.
//! * `console/`: the web console on the admin listener (sessions, login, pages, assets).
//! * `forward/`: stored records passed on to a SIEM as RFC 5424 syslog over TCP or TLS, each
//!   output with its own durable cursor.
//! * `admin/`: the admin HTTP API (`api`) behind its token (`token`, `auth`), its server and
//!   limits (`listener`, `frame_fit`), its client (`client`) and calls passed to the node
//!   holding a sentry (`forward`).
//!
//! The protocol's names and the record's wire shape come from the `sentry-protocol` crate.
//!
//! Modules: `server` (the TLS listener and calls into sentries), `access` (which certificate
//! speaks for which sentry, and which may connect), `intake` (how much received record data is
//! held, and each sentry's rate), `sentries` (GUID ↔ connection bindings), `records` (records
//! read from their wire form), `pki` (a CA and certificates for a first deployment), `config` (the TOML file), `private_files` (owner-only files and
//! directories, secrets checked), `serve` (the composition root of `kraken-base serve`),
//! `stop_signals` (Ctrl-C and SIGTERM), `metrics` (the base's own, for Prometheus) and `cli`
//! (the command line).

pub mod access;
pub mod admin;
pub mod cli;
pub mod config;
pub mod console;
pub mod forward;
pub mod intake;
pub mod metrics;
pub mod open_files;
pub mod pki;
pub mod private_files;
pub mod records;
pub mod sentries;
pub mod serve;
pub mod server;
pub mod service;
pub mod stop_signals;
pub mod storage;
