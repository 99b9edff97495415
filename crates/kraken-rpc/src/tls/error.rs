//! [`TlsError`]: what goes wrong setting TLS up, in a module of its own so that the parts of
//! `tls` share it without importing one another.

/// A TLS set-up error, with a message naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(pub String);
