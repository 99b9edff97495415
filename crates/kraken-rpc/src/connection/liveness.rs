//! Liveness: pings a peer from which nothing moved for a while, and closes the connection when
//! the ping is not answered in time (a half-open peer, whose buffers are full, moves nothing).
//! Any traffic counts as life: a large frame still arriving, or our writes still being taken.

use std::time::Duration;

use kraken_codec::Value;
use tracing::warn;

use super::handle::{CONTROL_SESSION, RpcConnection};
use crate::error::RpcError;

impl RpcConnection {
    /// How long nothing moved: no byte arrived and the transport took none of ours.
    fn idle_for(&self) -> Duration {
        self.inner.last_read.idle_for().min(self.inner.last_write.idle_for())
    }

    /// Pings the peer whenever nothing moved for `interval` (a large frame still arriving, or
    /// our writes still being taken, count as life); no answer within the ping timeout closes
    /// the connection (a half-open peer: once its buffers are full, writes stop moving too).
    pub(super) async fn liveness_loop(self, interval: Duration) {
        let timeout = self.inner.config.ping_timeout;
        let mut closed = self.inner.closed.subscribe();
        let mut probe = 0i32;
        loop {
            let idle_for = self.idle_for();
            let wait = interval.saturating_sub(idle_for).max(Duration::from_millis(10));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = closed.wait_for(Option::is_some) => return,
            }
            if self.idle_for() < interval {
                continue;
            }
            probe = probe.wrapping_add(1);
            match self.call(CONTROL_SESSION, "ping", vec![Value::I32(probe)], timeout).await {
                Ok(_) => {}
                Err(RpcError::Closed(_)) => return,
                Err(err) => {
                    warn!(peer = ?self.inner.peer.address, error = %err, "peer does not answer pings");
                    return self.close(format!("no answer to ping within {timeout:?}"));
                }
            }
        }
    }
}
