//! The agent's durable state: one SQLite database (`state.sqlite3` in the data directory).
//!
//! It holds the loggers (factory, name, description, typed config, interval, running flag) and
//! the process checklist, the logger cursors and the per-base spool (whose queries live in
//! `crate::spool::queries`). SQLite gives
//! atomic transactions and a consistent file after a crash at any instant (WAL journal,
//! `synchronous = FULL`). At open the file's integrity is checked; a corrupt or foreign file is
//! reported with its path and never silently replaced.
//!
//! Several processes may open the store at once: the running agent, and `kraken-sentry logger`
//! or `processcheck` run by an operator. [`Store::data_version`] changes when another connection
//! commits, which is how the agent notices an operator's change.

//!
//! [`database`] opens the file and holds the connection; [`loggers`], [`checklist`] and [`cursors`]
//! hold the queries of their tables (the spool's are in `crate::spool::queries`);
//! [`private_files`] keeps the directory and the files from other accounts.

pub mod checklist;
pub mod cursors;
pub mod database;
pub mod loggers;
pub mod private_files;

pub use checklist::{Policy, ProcessRule};
pub use database::{STORE_FILE, Store, StoreError};
pub use loggers::{LoggerRow, OptionValue};
