//! Settings of an RPC endpoint: who we are, whom we trust on plain TCP, and the limits and
//! timers every connection applies.

use std::collections::HashMap;
use std::time::Duration;

use crate::auth::TrustLevel;
use crate::frame::DEFAULT_MAX_FRAME_LEN;

/// A peer allowed to authenticate with a password on a plain-TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuth {
    /// The password it must prove it knows.
    pub password: String,
    /// The trust it gets once it has.
    pub trust: TrustLevel,
}

/// Settings shared by the connections of one endpoint.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// This side's GUID, sent in `peering-request`.
    pub guid: String,
    /// This side's password, for a peer that challenges it (plain TCP only). `None` hashes the
    /// text "null", as a Java client without a password does.
    pub password: Option<String>,
    /// Known peers: on plain TCP, who may authenticate and with what trust; on TLS, the trust of
    /// a known GUID (others get Low).
    pub peers: HashMap<String, PeerAuth>,
    /// Default time limit of a call (and of waiting for peering before a post).
    pub call_timeout: Duration,
    /// Time limit of the peering exchange.
    pub peering_timeout: Duration,
    /// Largest frame read or written.
    pub max_frame_len: usize,
    /// Most call and post handlers running at once per connection; past that, reading pauses.
    pub max_concurrent_handlers: usize,
    /// Ping the peer after this long without receiving anything (`None`: never).
    pub ping_interval: Option<Duration>,
    /// Close the connection when a ping is not answered within this.
    pub ping_timeout: Duration,
    /// Time limit of a TLS handshake. A server also gives a new client this long to send its
    /// first byte, before the handshake's own limit starts.
    pub handshake_timeout: Duration,
    /// On a server: a connection not admitted by the application
    /// ([`crate::RpcConnection::admit`]) within this long after it was accepted (the handshake
    /// included) is closed.
    /// `None`: connections are admitted once established.
    pub admission_timeout: Option<Duration>,
    /// Most sessions a peer may open on one connection.
    pub max_sessions: usize,
    /// Most live connections a server keeps; past that, new ones are dropped at once.
    pub max_connections: usize,
    /// Most live connections from one source address (IPv6: one /64).
    pub max_connections_per_source: usize,
    /// Most connections a server keeps that are not yet admitted (still handshaking, or
    /// waiting for the application's admission).
    pub max_pending: usize,
    /// Most connections from one source that are not yet admitted.
    pub max_pending_per_source: usize,
}

impl RpcConfig {
    /// Defaults for an endpoint with this GUID: 30 s calls, 5 s peering and handshake (as the
    /// original), 8 MiB frames, 64 concurrent handlers, a ping after 30 s of silence answered
    /// within 10 s, 256 sessions per connection; a server keeps 10,000 connections, 1,000 from one
    /// source, of which at most 1,000 in all and 256 per source are not yet admitted; no
    /// admission time limit.
    pub fn new(guid: impl Into<String>) -> Self {
        RpcConfig {
            guid: guid.into(),
            password: None,
            peers: HashMap::new(),
            call_timeout: Duration::from_secs(30),
            peering_timeout: Duration::from_secs(5),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_concurrent_handlers: 64,
            ping_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            admission_timeout: None,
            max_sessions: 256,
            max_connections: 10_000,
            max_connections_per_source: 1_000,
            max_pending: 1_000,
            max_pending_per_source: 256,
        }
    }
}
