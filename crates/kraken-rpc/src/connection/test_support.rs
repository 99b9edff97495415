//! Fixtures for the connection's unit tests: connections started over in-memory pipes with
//! chosen limits, a pair of them peered with each other, and a peer that speaks raw frames
//! (so a test decides exactly what it sends and whether it reads).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kraken_codec::{DecodeLimits, Map, Value};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

use super::handle::{CONTROL_SESSION, Inner, Role, RpcConnection, ServiceTable};
use super::launch;
use super::limits::Limits;
use crate::auth::TrustLevel;
use crate::config::RpcConfig;
use crate::frame::DEFAULT_MAX_FRAME_LEN;
use crate::frame_reader::FrameReader;
use crate::message::{Body, Message};
use crate::peer::PeerInfo;

/// How long a step that should happen may take before the test fails: generous, for a loaded
/// machine.
pub(super) const PATIENCE: Duration = Duration::from_secs(30);

/// What the in-memory pipe between two test connections holds: more than any test sends while
/// the other side does not read, unless the test means it to fill up.
const PIPE_CAPACITY: usize = 1 << 20;

/// Runs `future`, failing the test if it takes longer than [`PATIENCE`].
pub(super) async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future).await.expect("a step of the test took too long")
}

/// Production settings, but no pings: a test's clock may be paused and skip ahead.
fn test_config(guid: &str) -> Arc<RpcConfig> {
    let mut config = RpcConfig::new(guid);
    config.ping_interval = None;
    Arc::new(config)
}

/// Starts a connection over `stream` with `limits`, on a transport that counts as authenticated
/// (peering succeeds without a password).
pub(super) fn start_with_limits(
    stream: DuplexStream,
    role: Role,
    services: ServiceTable,
    limits: Limits,
) -> RpcConnection {
    let guid = if role == Role::Acceptor { "server" } else { "client" };
    let inner = Inner::new(role, test_config(guid), limits, services, PeerInfo::default(), true);
    launch(stream, inner)
}

/// A client and a server connection over one pipe, peered: the server offers `services` and
/// keeps `limits`; the client offers nothing and keeps the production limits.
pub(super) async fn connected_pair(services: ServiceTable, limits: Limits) -> (RpcConnection, RpcConnection) {
    let (client_end, server_end) = tokio::io::duplex(PIPE_CAPACITY);
    let server = start_with_limits(server_end, Role::Acceptor, services, limits);
    let client = start_with_limits(client_end, Role::Initiator, ServiceTable::new(), Limits::default());
    within(client.peered(PATIENCE)).await.expect("the server grants the client a trust level");
    within(server.peered(PATIENCE)).await.expect("the client grants the server a trust level");
    (client, server)
}

/// A peer that writes and reads frames itself, one at a time, and reads only when told to.
pub(super) struct RawPeer {
    frames: FrameReader<ReadHalf<DuplexStream>>,
    out: WriteHalf<DuplexStream>,
    next_id: i32,
}

impl RawPeer {
    /// A peer on this end of a pipe.
    pub(super) fn new(stream: DuplexStream) -> RawPeer {
        let (read_half, out) = tokio::io::split(stream);
        RawPeer { frames: FrameReader::new(read_half, DEFAULT_MAX_FRAME_LEN), out, next_id: 1 }
    }

    /// Writes one message.
    pub(super) async fn send(&mut self, message: Message) {
        let mut frame = Vec::new();
        message.encode_into(&mut frame);
        within(self.out.write_all(&frame)).await.expect("the pipe takes the frame");
    }

    /// Writes a call and returns its id.
    pub(super) async fn call(&mut self, session: i32, method: &str, params: Vec<Value>) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(Message { id, session, body: Body::Call { method: method.to_owned(), params } }).await;
        id
    }

    /// Reads the next message.
    pub(super) async fn receive(&mut self) -> Message {
        let frame = within(self.frames.next_frame()).await.expect("a frame").expect("a well-formed frame");
        Message::parse(frame, &DecodeLimits::default()).and_then(Message::into_decoded).expect("a message")
    }

    /// Peers with the connection at the other end (asks for peering, grants it Low trust when
    /// it asks) and opens a session on its `service`; returns the session id.
    pub(super) async fn peer_and_open_session(&mut self, service: &str) -> i32 {
        let peering = self.call(CONTROL_SESSION, "peering-request", vec![Value::from("raw-peer")]).await;
        let (mut peered, mut granted) = (false, false);
        while !(peered && granted) {
            let message = self.receive().await;
            match message.body {
                Body::Call { method, .. } if method == "peering-request" => {
                    let value = Value::Array(vec![
                        Value::from("success"),
                        Value::from("raw-peer"),
                        Value::I32(TrustLevel::Low.code()),
                    ]);
                    let body = Body::Return { ret_for: message.id, method, value };
                    let id = self.next_id;
                    self.next_id += 1;
                    self.send(Message { id, session: CONTROL_SESSION, body }).await;
                    granted = true;
                }
                Body::Return { ret_for, .. } if ret_for == peering => peered = true,
                other => panic!("unexpected while peering: {other:?}"),
            }
        }
        let params = vec![Value::from(service), Value::Map(Map::new())];
        let request = self.call(CONTROL_SESSION, "session-request", params).await;
        match self.receive().await.body {
            Body::Return { ret_for, value, .. } if ret_for == request => {
                value.as_exact_i32().expect("a session id")
            }
            other => panic!("unexpected answer to session-request: {other:?}"),
        }
    }
}
