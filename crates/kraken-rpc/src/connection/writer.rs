//! The writer: sends what the outbox holds, in order, one batch at a time. Each turn it takes
//! all the bytes waiting — every frame queued since it last looked, e.g. while its previous
//! write was in progress — and hands them to the transport in one `write_all` and one `flush`.
//! After a close it sends what was queued, then ends the stream; a peer that stopped reading
//! gets a grace period for that, no more.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::handle::RpcConnection;
use super::outbox::Outbox;

/// The most buffer capacity the writer keeps between batches (the outbox gets it back at the
/// next swap); a larger batch's buffer is let go once written.
const KEPT_CAPACITY: usize = 4 * 1024;

impl RpcConnection {
    /// The writer task: sends batches until the connection closes (a failed write closes it),
    /// then ends the stream.
    pub(super) async fn write_loop<W: AsyncWrite + Unpin + Send + 'static>(self, mut stream: W) {
        let grace = self.inner.limits.close_grace;
        let closed = self.inner.closed.subscribe();
        if let Err(err) = write_batches(&self.inner.outbox, &mut stream, closed, grace).await {
            self.close(format!("write failed: {err}"));
        }
        end_stream(&mut stream, grace).await;
    }
}

/// Sends what `outbox` holds, a batch per write, until it is closed and empty. Once `closed`
/// says the connection closed, a write still in progress after `grace` is abandoned (an error).
pub(super) async fn write_batches<W: AsyncWrite + Unpin>(
    outbox: &Outbox,
    stream: &mut W,
    mut closed: watch::Receiver<Option<String>>,
    grace: Duration,
) -> io::Result<()> {
    let mut batch = Vec::new();
    loop {
        let closing = outbox.take_batch(&mut batch);
        if batch.is_empty() {
            if closing {
                return Ok(());
            }
            outbox.ready().await;
            continue;
        }
        outbox.notify_drained();
        let written = async {
            stream.write_all(&batch).await?;
            stream.flush().await
        };
        // A peer that stopped reading must not keep this task (and the connection) alive
        // after the close: give it a grace period, then drop the stream.
        let abandoned = async {
            let _ = closed.wait_for(Option::is_some).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = written => result?,
            _ = abandoned => return Err(io::Error::other("the peer stopped reading")),
        }
        batch.clear();
        if batch.capacity() > KEPT_CAPACITY {
            // A quiet connection keeps no large buffer (a base holds thousands of them).
            batch = Vec::new();
        }
    }
}

/// Ends the stream (TLS close_notify, TCP FIN), without waiting longer than `grace` on a dead
/// peer.
async fn end_stream<W: AsyncWrite + Unpin>(stream: &mut W, grace: Duration) {
    let _ = tokio::time::timeout(grace, stream.shutdown()).await;
}

#[cfg(test)]
mod tests;
