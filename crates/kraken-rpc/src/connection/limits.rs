//! The bounds a connection keeps on what it holds for a peer: posts waiting for their turn,
//! frames waiting for the writer, and how long a closing writer may go on. Connections use
//! [`Limits::default`], the production values; unit tests may shrink a bound to reach it quickly.

use std::time::Duration;

/// Encoded bytes of posts waiting in all the sessions' backlogs of a connection before the
/// reader pauses: bounds the memory a peer can make us hold.
const BACKLOG_BUDGET: usize = 64 << 20;
/// Posts waiting per session (behind a running one) before the reader pauses.
const POST_QUEUE: usize = 256;
/// Encoded bytes waiting for the writer past which senders wait for it to catch up.
const OUTBOX_LIMIT: usize = 4 << 20;
/// Past this, even replies (which never wait, so the reader cannot block on its own peer)
/// close the connection: the peer asks and does not read the answers.
const OUTBOX_HARD_LIMIT: usize = 4 * OUTBOX_LIMIT;
/// How long, after a close, the writer may still spend sending what was queued.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The bounds of one connection; see the constants above for what each one bounds.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    /// Encoded bytes of posts waiting in the backlogs of all sessions, before the reader pauses.
    pub(super) backlog_budget: usize,
    /// Posts waiting per session behind a running one, before the reader pauses.
    pub(super) post_queue: usize,
    /// Encoded bytes in the outbox past which senders that may wait do.
    pub(super) outbox_limit: usize,
    /// Encoded bytes in the outbox past which a reply closes the connection.
    pub(super) outbox_hard_limit: usize,
    /// How long, after a close, the writer may still spend sending what was queued.
    pub(super) close_grace: Duration,
}

impl Default for Limits {
    /// The production values: a 64 MiB post backlog budget, 256 posts per session, a 4 MiB
    /// outbox (16 MiB for replies) and a 2 s grace period for the writer after a close.
    fn default() -> Self {
        Limits {
            backlog_budget: BACKLOG_BUDGET,
            post_queue: POST_QUEUE,
            outbox_limit: OUTBOX_LIMIT,
            outbox_hard_limit: OUTBOX_HARD_LIMIT,
            close_grace: CLOSE_GRACE,
        }
    }
}
