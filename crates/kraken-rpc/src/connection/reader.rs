//! The reader: cuts the byte stream into frames ([`crate::frame`]) and reads them as messages
//! (checked in full, parameters left encoded), then acts on each: a return or an error goes to
//! the call of ours it answers, session 0 (`rpc-control`) is answered inline, and calls and
//! posts of other sessions go to their service ([`super::dispatch`]). It waits only when a
//! post finds no room in its session's backlog; a malformed frame or the end of the stream
//! closes the connection.

use kraken_codec::Value;
use tokio::io::AsyncRead;
use tracing::{debug, warn};

use super::handle::{CONTROL_SESSION, RpcConnection};
use super::locks::lock;
use crate::error::RpcError;
use crate::frame;
use crate::frame_reader::FrameReader;
use crate::message::{Body, Message};
use crate::params::Params;

impl RpcConnection {
    /// Reads and acts on messages until the stream ends or the connection closes.
    pub(super) async fn read_loop<R: AsyncRead + Unpin + Send + 'static>(self, stream: R) {
        let max_frame_len = self.inner.config.max_frame_len;
        let limits = frame::limits(max_frame_len);
        let mut frames = FrameReader::new(stream, max_frame_len);
        let mut closed = self.inner.closed.subscribe();
        loop {
            let next = tokio::select! {
                biased;
                next = frames.next_frame() => next,
                _ = closed.wait_for(Option::is_some) => return,
            };
            let frame = match next {
                None => return self.close("the peer closed the connection"),
                Some(Err(err)) => {
                    warn!(peer = ?self.inner.peer.address, error = %err, "closing rpc connection");
                    return self.close(err.to_string());
                }
                Some(Ok(frame)) => frame,
            };
            match Message::parse(frame, &limits) {
                Ok(message) => {
                    if let Some((session, post)) = self.dispatch(message) {
                        self.dispatch_post_when_room(session, post).await;
                    }
                }
                Err(err) if err.unknown_kind => debug!(error = %err, "ignoring message"),
                Err(err) => {
                    warn!(peer = ?self.inner.peer.address, error = %err, "closing rpc connection");
                    return self.close(err.to_string());
                }
            }
        }
    }

    /// Acts on one message without waiting; a post that must wait for room in its session's
    /// backlog comes back with its session.
    fn dispatch(&self, message: Message<Params>) -> Option<(i32, (String, Params))> {
        let Message { id, session, body } = message;
        match body {
            Body::Return { ret_for, value, .. } => self.resolve(ret_for, Ok(value)),
            Body::Error { ret_for, cause } => self.resolve(ret_for, Err(RpcError::Remote(cause))),
            Body::Call { method, params } if session == CONTROL_SESSION => {
                let result = params.decode().and_then(|params| self.control(&method, params));
                self.reply(id, session, method, result);
            }
            Body::Post { method, .. } if session == CONTROL_SESSION => {
                debug!(%method, "ignoring a post to rpc-control");
            }
            Body::Call { method, params } => self.dispatch_call(id, session, method, params),
            Body::Post { method, params } => {
                return self.dispatch_post(session, method, params).map(|post| (session, post));
            }
        }
        None
    }

    /// Hands a return or an error to the call of ours it answers.
    fn resolve(&self, ret_for: i32, result: Result<Value, RpcError>) {
        let waiter = lock(&self.inner.pending).calls.remove(&ret_for);
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(result);
            }
            None => debug!(ret_for, "reply to no waiting call (it may have timed out)"),
        }
    }
}
