//! The links to the bases: for each configured base, one task that dials out over mutual TLS,
//! says `hello`, serves the base's calls, forwards logger events, opens the log channel the base
//! asks for and drives the spool's sender, and dials again when the connection goes.
//!
//! * [`settings`]: what a link is given ([`LinkSettings`]) and what it reports ([`LinkEvent`]).
//! * [`reconnect`]: the link's loop: connect, run the connection's tasks, back off, again.
//! * [`dial`]: TLS, peering and `hello` for one command connection; the second dial of the log
//!   channel.
//! * [`log_channel`]: the log channel a base asks for, tied to its command connection.
//! * [`logger_events`]: the original's `loggerAdded`/`loggerStarted`... posts.
//!
//! The records themselves are sent by the spool (`crate::spool::sender`), on the session the
//! link hands it.

pub mod dial;
pub mod log_channel;
pub mod logger_events;
pub mod reconnect;
pub mod settings;

pub use reconnect::run_link;
pub use settings::{LinkEvent, LinkSettings};
