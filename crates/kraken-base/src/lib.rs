//! The Kraken base: accepts sentries over mutual TLS, binds each connection to the GUID its
//! certificate names, stores the records they send, and lets operators call them.
//!
//! `pki` (a CA and certificates for a first deployment), `storage` (the [`storage::Storage`]
//! trait and its embedded SQLite implementation), `sentries` (GUID ↔ connection bindings),
//! `service` (the `kraken-base` RPC service sentries call) and `server` (the TLS listener).

pub mod admin;
pub mod cli;
pub mod config;
pub mod pki;
pub mod records;
pub mod sentries;
pub mod server;
pub mod service;
pub mod storage;
