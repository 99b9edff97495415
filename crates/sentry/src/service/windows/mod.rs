//! The service on Windows: the SCM's registration, the service's entry point and the
//! Application event log source.

pub mod dispatcher;
pub mod event_log;
pub mod scm;
