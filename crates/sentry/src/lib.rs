//! The kraken-sentry agent: an endpoint agent that dials out to Kraken bases, answers their
//! commands and ships its loggers' records. This crate grows into the agent; today it holds the
//! command-line interface and its codec tools.

pub mod cli;
pub mod commands;
pub mod service;
