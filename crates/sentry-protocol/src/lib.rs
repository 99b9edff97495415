//! The vocabulary the sentry and the base share, defined once: the RPC service and method names
//! ([`names`]) and the log record's wire shape ([`record`] writes it, [`raw_record`] reads it
//! from the wire without building values).
//!
//! Both `sentry` and `kraken-base` speak through these items, so a name or a field can only
//! change in one place. The behaviour behind each name is in the project's protocol spec
//! (`sentry-protocol/SPEC.md` of the shared specs); this crate knows nothing of transport.

pub mod names;
pub mod raw_record;
pub mod record;

pub use raw_record::RawLogRecord;
pub use record::LogRecord;
