//! The one error type of host-fact reads: which fact failed, and the OS's reason.
//!
//! Errors name the fact ("processes", "routes"...) and the call or file that failed, so a
//! message such as `routes: GetIpForwardTable2 failed with Win32 error 87` or
//! `sockets: /proc/net/tcp6: permission denied` is enough to act on without a debugger.

use std::io;

/// A failed read of one host fact.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A file or system call returned an I/O error.
    #[error("{fact}: {what}: {source}")]
    Io {
        fact: &'static str,
        /// The file or call that failed.
        what: String,
        #[source]
        source: io::Error,
    },
    /// A Win32 call returned an error code.
    #[error("{fact}: {call} failed with Win32 error {code}")]
    Win32 { fact: &'static str, call: &'static str, code: u32 },
    /// The OS answered with data this crate cannot read, or failed in a way that has no
    /// error code (a procfs read error carries its path in `detail`).
    #[error("{fact}: {detail}")]
    Malformed { fact: &'static str, detail: String },
    /// The fact does not exist on this platform.
    #[error("{fact}: not available on this platform")]
    Unsupported { fact: &'static str },
}

impl HostError {
    /// An I/O error while reading `what` for `fact`.
    pub fn io(fact: &'static str, what: impl Into<String>, source: io::Error) -> Self {
        HostError::Io { fact, what: what.into(), source }
    }

    /// Malformed data for `fact`.
    pub fn malformed(fact: &'static str, detail: impl Into<String>) -> Self {
        HostError::Malformed { fact, detail: detail.into() }
    }
}

/// Shorthand for results of this crate.
pub type HostResult<T> = Result<T, HostError>;
