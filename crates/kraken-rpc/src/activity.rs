//! Notes when bytes last moved on a stream, so liveness checks count any traffic as a sign of
//! life: a large frame still arriving, or our own writes still being taken by a slow but live
//! link (a ping queued behind them would otherwise time out and close a healthy connection).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When bytes last arrived, as milliseconds after a fixed start.
#[derive(Debug)]
pub struct LastActivity {
    started: Instant,
    last_ms: AtomicU64,
}

impl LastActivity {
    /// Starts counting now.
    pub fn new() -> Arc<Self> {
        Arc::new(LastActivity { started: Instant::now(), last_ms: AtomicU64::new(0) })
    }

    /// Notes that bytes arrived now.
    pub fn touch(&self) {
        self.last_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long ago bytes last arrived.
    pub fn idle_for(&self) -> Duration {
        self.started.elapsed().saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A reader that notes every successful read in a [`LastActivity`].
pub struct ActivityReader<R> {
    inner: R,
    activity: Arc<LastActivity>,
}

impl<R> ActivityReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, activity: Arc<LastActivity>) -> Self {
        ActivityReader { inner, activity }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for ActivityReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

/// A writer that notes every write that took bytes in a [`LastActivity`].
pub struct ActivityWriter<W> {
    inner: W,
    activity: Arc<LastActivity>,
}

impl<W> ActivityWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, activity: Arc<LastActivity>) -> Self {
        ActivityWriter { inner, activity }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for ActivityWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
