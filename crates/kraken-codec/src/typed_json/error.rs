//! [`TypedJsonError`]: why a typed-JSON document does not read as a Kraken value. It has a
//! module of its own so that `parse`, which returns it, need not import it from `typed_json`,
//! which imports `parse`.

/// Why a typed-JSON document is not a Kraken value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypedJsonError {
    /// Not JSON at all.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// JSON, but not a typed value: a missing or wrong field, named by its path.
    #[error("{path}: {message}")]
    Invalid {
        /// Where in the document, e.g. `$.entries[2][1]`.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A value the Java encoder refuses (`UnsupportedTypeException` and friends).
    #[error("{path}: cannot encode {what}")]
    Unsupported {
        /// Where in the document.
        path: String,
        /// The refused type, e.g. `java.util.HashSet` or `[C`.
        what: String,
    },
}
