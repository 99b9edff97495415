//! The agent's own metrics for Prometheus, on a local listener that is off by default
//! (`[metrics] listen = "127.0.0.1:9464"`, [`crate::config::MetricsSettings`]): records made, runs and failed runs per logger,
//! each base's spool (bytes, records dropped, age of the oldest record waiting) and link
//! (connected, failures).
//!
//! Modules: `links` (each base's link state, from the links' reports), `exposition` (the text
//! of one scrape) and `http` (the listener: `GET /metrics` only, no other route).

pub mod exposition;
pub mod http;
pub mod links;

pub use exposition::MetricsSource;
pub use links::LinkStates;
