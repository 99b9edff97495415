//! Queuing frames for the writer on a connection's behalf: our own calls and posts, which wait
//! for room in the outbox ([`Backpressure::Wait`]), and replies, which never wait
//! ([`Backpressure::Never`]) and close the connection once the peer has left more than the
//! outbox's hard limit of answers unread.

use kraken_codec::Value;
use tracing::debug;

use super::handle::RpcConnection;
use super::outbox::{Backpressure, Queued};
use crate::error::{RpcError, RpcFault};
use crate::message::{Body, Message};

impl RpcConnection {
    /// Encodes a frame (`frame` appends it to a buffer) straight into the outbox, where the
    /// writer picks it up with whatever else is waiting: one buffer and one wake-up per batch,
    /// not per frame. With [`Backpressure::Wait`] it waits while the outbox is full.
    pub(super) async fn send(
        &self,
        frame: impl Fn(&mut Vec<u8>) -> usize,
        backpressure: Backpressure,
    ) -> Result<(), RpcError> {
        loop {
            // Made before looking, so that a drain in between is not missed.
            let drained = self.inner.outbox.drained();
            if self.try_queue(&frame, backpressure)? {
                if backpressure == Backpressure::Wait {
                    // A sender that never has to wait would otherwise keep its thread until the
                    // outbox is full: every so often let the writer (and others) run, so frames
                    // leave in modest batches and the outbox's buffer is reused.
                    tokio::task::consume_budget().await;
                }
                return Ok(());
            }
            // The peer reads slower than we write: wait for the writer to catch up.
            drained.await;
        }
    }

    /// Queues a frame if the outbox has room (or `backpressure` says never to wait); `false`
    /// when it is full. Past the hard limit, a frame that may not wait closes the connection.
    pub(super) fn try_queue(
        &self,
        frame: &impl Fn(&mut Vec<u8>) -> usize,
        backpressure: Backpressure,
    ) -> Result<bool, RpcError> {
        match self.inner.outbox.try_queue(frame, backpressure, self.inner.config.max_frame_len) {
            Queued::Yes => Ok(true),
            Queued::Full => Ok(false),
            Queued::Overflow => {
                self.close("the peer does not read what it asked for (outbox full)");
                Err(RpcError::Closed(self.close_reason()))
            }
            Queued::Closed => Err(RpcError::Closed(self.close_reason())),
            Queued::TooLarge { length, max } => Err(RpcError::TooLarge { length, max }),
        }
    }

    /// Queues the answer to call `id`. Replies never wait for room in the outbox (see
    /// [`Backpressure::Never`]), so this does not wait either.
    pub(super) fn reply(&self, id: i32, session: i32, method: String, result: Result<Value, RpcFault>) {
        let reply_id = self.next_id();
        let body = match result {
            Ok(value) => Body::Return { ret_for: id, method, value },
            Err(fault) => Body::Error { ret_for: id, cause: fault.0 },
        };
        let message = Message { id: reply_id, session, body };
        match self.try_queue(&|out: &mut Vec<u8>| message.encode_into(out), Backpressure::Never) {
            Ok(_) => {}
            Err(RpcError::TooLarge { length, max }) => {
                let cause = format!("the result of {length} bytes exceeds the frame limit of {max} bytes");
                let body = Body::Error { ret_for: id, cause: Some(cause) };
                let message = Message { id: self.next_id(), session, body };
                let _ = self.try_queue(&|out: &mut Vec<u8>| message.encode_into(out), Backpressure::Never);
            }
            Err(err) => debug!(error = %err, "reply not sent"),
        }
    }
}

#[cfg(test)]
mod tests;
