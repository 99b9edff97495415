//! What a base link is given and what it reports of itself.

use std::sync::Arc;
use std::time::Duration;

use kraken_codec::Value;

use crate::config::BaseEndpoint;
use crate::loggers::LoggerRegistry;
use crate::spool::SpoolAccess;

/// One base to link to.
pub struct LinkSettings {
    pub base: BaseEndpoint,
    pub guid: String,
    pub max_backoff: Duration,
    /// The limit of each step of setting up a connection: TCP and TLS, RPC peering, `hello`,
    /// `setLogChannel` (`[links] setup_timeout_ms`).
    pub setup_timeout: Duration,
    /// Where the records for this base wait; `None` sends none.
    pub spool: Option<SpoolAccess>,
    /// The loggers to tell the base about (`factoryAdded`, `loggerAdded`...); `None` tells none.
    pub loggers: Option<Arc<LoggerRegistry>>,
}

/// What a link reports of itself.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    Connected { base: String, hello: Value },
    Disconnected { base: String, reason: String },
    Failed { base: String, error: String },
}
