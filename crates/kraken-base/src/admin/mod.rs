//! The base's administration over HTTP: the API a running base serves ([`api`]) behind its
//! token ([`token`], checked by [`auth`]), the server with its connection limits ([`listener`]),
//! the check that a call fits in what a sentry reads ([`frame_fit`]), and the client the command
//! line calls it with ([`client`]), which also passes calls on to other base nodes
//! ([`forward`]).

pub mod api;
pub mod auth;
pub mod client;
pub mod forward;
pub mod frame_fit;
pub mod listener;
pub mod token;

pub use api::{AdminState, router};
pub use client::AdminClient;
pub use listener::{AdminLimits, AdminServer};
pub use token::AdminToken;
