//! The service on Windows: the SCM's registration, the service's entry point, the Application
//! event log source and the DACLs that keep the keys private.

pub mod acl;
pub mod dispatcher;
pub mod event_log;
pub mod scm;
