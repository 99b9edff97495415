//! The base's administration over HTTP: the API a running base serves ([`api`]) and the client
//! the command line calls it with ([`client`]).

pub mod api;
pub mod client;

pub use api::{AdminState, load_or_create_token, router};
pub use client::AdminClient;
