//! Kraken RPC: the protocol Kraken sentries and bases speak, compatible byte for byte with the
//! Java `kraken-rpc`, over plain TCP or mutual TLS.
//!
//! * [`frame`] cuts a byte stream into frames (one codec ARRAY each) with a size limit;
//! * [`message`] reads and writes the four message kinds (call, post, return, error); received
//!   parameters stay encoded ([`Params`]) until a service reads them;
//! * [`connection`] runs a connection: symmetric peering on session 0 (`rpc-control`), sessions
//!   opened by `session-request`, concurrent calls with time limits, ordered posts, pings;
//! * [`endpoint`] dials ([`Connector`]) and listens ([`RpcServer`]), counting connections by
//!   source ([`source_limits`]);
//! * [`tls`] builds the rustls configurations (ring provider, TLS 1.2/1.3, client certificates
//!   required, optional server pinning); [`peer`] reads the peer's certificate identity.
//!
//! The wire itself is specified in `kraken-wire/SPEC.md` of the project's shared specs.

pub mod activity;
pub mod auth;
pub mod config;
pub mod connection;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod frame_reader;
pub mod message;
pub mod params;
pub mod peer;
pub mod service;
pub mod source_limits;
pub mod tls;

pub use auth::{TrustLevel, password_hash};
pub use config::{PeerAuth, RpcConfig};
pub use connection::{PendingReply, Role, RpcConnection, RpcSession};
pub use endpoint::{Connector, RpcServer};
pub use error::{RpcError, RpcFault};
pub use params::Params;
pub use peer::{CertificateIdentity, PeerInfo};
pub use service::{CallContext, RpcService, ServiceTable, service_fn};
