//! Admission: the application's word that a connection's peer has proved who it is (for a
//! base, a sentry whose `hello` was accepted). A server with an admission time limit closes a
//! connection that is not admitted in time, and counts it against its source's pending
//! connections until then, so peers that never identify themselves cannot pile up.

use super::handle::RpcConnection;

impl RpcConnection {
    /// Marks the peer as admitted; later calls change nothing.
    pub fn admit(&self) {
        self.inner.admitted.send_if_modified(|admitted| !std::mem::replace(admitted, true));
    }

    /// True once [`RpcConnection::admit`] was called.
    pub fn is_admitted(&self) -> bool {
        *self.inner.admitted.borrow()
    }

    /// Waits until the connection is admitted.
    pub async fn admitted(&self) {
        let mut rx = self.inner.admitted.subscribe();
        // The sender lives as long as the connection's state, which this handle holds.
        let _ = rx.wait_for(|admitted| *admitted).await;
    }
}
