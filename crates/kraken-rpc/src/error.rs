//! Errors: [`RpcError`] is what a local caller gets back; [`RpcFault`] is what a service handler
//! returns, and becomes the `cause` of an `rpc-error` reply.

use std::time::Duration;

/// Why a call, post or connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The peer answered with `rpc-error`; Java may send no cause.
    #[error("remote error: {}", .0.as_deref().unwrap_or("(no cause given)"))]
    Remote(Option<String>),
    /// No answer within the call's time limit.
    #[error("no answer to {method} within {after:?}")]
    Timeout {
        /// The method called.
        method: String,
        /// The limit that passed.
        after: Duration,
    },
    /// The connection is closed (or closed while waiting); the reason says why.
    #[error("connection closed: {0}")]
    Closed(String),
    /// The message to send is larger than the frame limit.
    #[error("message of {length} bytes exceeds the frame limit of {max} bytes")]
    TooLarge {
        /// Encoded size.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// The peer's reply is not what the protocol prescribes.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Connecting, accepting or the TLS handshake failed.
    #[error("{0}")]
    Connect(String),
}

impl RpcError {
    /// The remote cause, if this is an `rpc-error` reply.
    pub fn remote_cause(&self) -> Option<&str> {
        match self {
            RpcError::Remote(cause) => cause.as_deref(),
            _ => None,
        }
    }
}

/// A handler's failure; its message travels to the caller as the `rpc-error` cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.as_deref().unwrap_or("(no cause)"))]
pub struct RpcFault(pub Option<String>);

impl RpcFault {
    /// A failure with this cause.
    pub fn new(cause: impl Into<String>) -> Self {
        RpcFault(Some(cause.into()))
    }

    /// `method not found: <name>`, as Java words it.
    pub fn method_not_found(method: &str) -> Self {
        RpcFault::new(format!("method not found: {method}"))
    }

    /// A wrong argument count or kind, with a message saying what was expected.
    pub fn bad_arguments(method: &str, detail: impl std::fmt::Display) -> Self {
        RpcFault::new(format!("{method}: {detail}"))
    }
}

impl From<String> for RpcFault {
    fn from(cause: String) -> Self {
        RpcFault(Some(cause))
    }
}

impl From<&str> for RpcFault {
    fn from(cause: &str) -> Self {
        RpcFault(Some(cause.to_owned()))
    }
}
