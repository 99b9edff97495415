//! The outbox: encoded frames on their way to the writer. Senders encode straight into one
//! shared buffer, and the writer ([`super::writer`]) takes all that is there in one go, so a
//! burst of frames costs one buffer and one wake-up, not one per frame.
//!
//! It bounds what may wait. Past the soft limit a sender that may wait ([`Backpressure::Wait`])
//! is told the outbox is full and waits for the writer to drain it; one that may not
//! ([`Backpressure::Never`]: replies) still queues, up to the hard limit, past which the
//! connection is to be closed (the peer asks and does not read the answers).

use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::locks::lock;

/// Whether a send may wait for the writer when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backpressure {
    /// Calls and posts of our own: wait (within their time limit).
    Wait,
    /// Replies and control answers, sent from the reader: never wait, or two peers that both
    /// stop reading while their outboxes are full would wait on each other for ever.
    Never,
}

/// What [`Outbox::try_queue`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Queued {
    /// The frame is in the outbox and the writer was woken.
    Yes,
    /// Not queued: the outbox is past its soft limit and the sender may wait for room.
    Full,
    /// Not queued: the outbox is past its hard limit and the sender may not wait; the
    /// connection must close.
    Overflow,
    /// Not queued: the connection is closing.
    Closed,
    /// Not queued: the frame is larger than the frame limit (nothing of it was left behind).
    TooLarge {
        /// Its encoded length.
        length: usize,
        /// The frame limit.
        max: usize,
    },
}

/// Encoded frames on their way to the writer.
pub(super) struct Outbox {
    pending: Mutex<OutboxBytes>,
    /// Wakes the writer: bytes were added, or the connection closed.
    ready: Notify,
    /// Wakes senders waiting for room.
    drained: Notify,
    /// Bytes past which [`Backpressure::Wait`] senders wait.
    limit: usize,
    /// Bytes past which [`Backpressure::Never`] senders overflow.
    hard_limit: usize,
}

#[derive(Default)]
struct OutboxBytes {
    bytes: Vec<u8>,
    closed: bool,
}

impl Outbox {
    /// An empty outbox with these soft and hard limits, in bytes.
    pub(super) fn new(limit: usize, hard_limit: usize) -> Self {
        Outbox {
            pending: Mutex::new(OutboxBytes::default()),
            ready: Notify::new(),
            drained: Notify::new(),
            limit,
            hard_limit,
        }
    }

    /// Appends a frame (`frame` encodes it onto the buffer and returns its length) if the outbox
    /// takes it, and wakes the writer.
    pub(super) fn try_queue(
        &self,
        frame: &impl Fn(&mut Vec<u8>) -> usize,
        backpressure: Backpressure,
        max_frame_len: usize,
    ) -> Queued {
        let mut pending = lock(&self.pending);
        if pending.closed {
            return Queued::Closed;
        }
        let queued = pending.bytes.len();
        if backpressure == Backpressure::Never && queued >= self.hard_limit {
            return Queued::Overflow;
        }
        if queued >= self.limit && backpressure == Backpressure::Wait {
            return Queued::Full;
        }
        let length = frame(&mut pending.bytes);
        if length > max_frame_len {
            pending.bytes.truncate(queued);
            return Queued::TooLarge { length, max: max_frame_len };
        }
        drop(pending);
        self.ready.notify_one();
        Queued::Yes
    }

    /// Refuses frames from now on; the writer sends what is queued, then ends.
    pub(super) fn close(&self) {
        lock(&self.pending).closed = true;
        self.ready.notify_one();
        self.drained.notify_waiters();
    }

    /// A wait for the writer to take what is queued. Made before trying to queue, so that a
    /// drain in between is not missed.
    pub(super) fn drained(&self) -> Notified<'_> {
        self.drained.notified()
    }

    /// The writer's side: swaps all that is queued into `batch` (which must be empty) and says
    /// whether the outbox is closed.
    pub(super) fn take_batch(&self, batch: &mut Vec<u8>) -> bool {
        let mut pending = lock(&self.pending);
        std::mem::swap(batch, &mut pending.bytes);
        pending.closed
    }

    /// The writer's side: waits until something was queued or the outbox closed. (A wake-up
    /// with nobody waiting is kept, so nothing queued in between is missed.)
    pub(super) async fn ready(&self) {
        self.ready.notified().await
    }

    /// The writer's side: it took a batch, so senders waiting for room may try again.
    pub(super) fn notify_drained(&self) {
        self.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use kraken_codec::Value;

    use super::*;
    use crate::message::{MessageKind, encode_request_into};

    fn post(out: &mut Vec<u8>) -> usize {
        encode_request_into(out, 1, 2, MessageKind::Post, "onLog", &[Value::from("x".repeat(100))])
    }

    fn frame_len() -> usize {
        post(&mut Vec::new())
    }

    #[test]
    fn senders_that_may_wait_are_held_at_the_soft_limit_replies_only_at_the_hard_limit() {
        let outbox = Outbox::new(2 * frame_len(), 4 * frame_len());
        assert_eq!(outbox.try_queue(&post, Backpressure::Wait, usize::MAX), Queued::Yes);
        assert_eq!(outbox.try_queue(&post, Backpressure::Wait, usize::MAX), Queued::Yes);
        assert_eq!(outbox.try_queue(&post, Backpressure::Wait, usize::MAX), Queued::Full);
        assert_eq!(outbox.try_queue(&post, Backpressure::Never, usize::MAX), Queued::Yes);
        assert_eq!(outbox.try_queue(&post, Backpressure::Never, usize::MAX), Queued::Yes);
        assert_eq!(outbox.try_queue(&post, Backpressure::Never, usize::MAX), Queued::Overflow);
        let mut batch = Vec::new();
        assert!(!outbox.take_batch(&mut batch));
        assert_eq!(batch.len(), 4 * frame_len(), "the refused frames left nothing behind");
        batch.clear();
        assert_eq!(
            outbox.try_queue(&post, Backpressure::Wait, usize::MAX),
            Queued::Yes,
            "drained: room again"
        );
    }

    #[test]
    fn a_frame_over_the_frame_limit_is_taken_back_whole() {
        let outbox = Outbox::new(usize::MAX, usize::MAX);
        assert_eq!(outbox.try_queue(&post, Backpressure::Wait, frame_len()), Queued::Yes);
        let big = |out: &mut Vec<u8>| {
            encode_request_into(out, 2, 2, MessageKind::Post, "onLog", &[Value::from("x".repeat(200))])
        };
        let refused = outbox.try_queue(&big, Backpressure::Wait, frame_len());
        assert!(matches!(refused, Queued::TooLarge { length, max } if length > max && max == frame_len()));
        let mut batch = Vec::new();
        outbox.take_batch(&mut batch);
        let mut expected = Vec::new();
        post(&mut expected);
        assert_eq!(batch, expected, "only the frame that fits is queued");
    }

    #[test]
    fn a_closed_outbox_takes_nothing_and_tells_the_writer() {
        let outbox = Outbox::new(usize::MAX, usize::MAX);
        assert_eq!(outbox.try_queue(&post, Backpressure::Wait, usize::MAX), Queued::Yes);
        outbox.close();
        assert_eq!(outbox.try_queue(&post, Backpressure::Never, usize::MAX), Queued::Closed);
        let mut batch = Vec::new();
        assert!(outbox.take_batch(&mut batch), "the writer learns of the close");
        assert_eq!(batch.len(), frame_len(), "with what was queued before it");
    }
}
