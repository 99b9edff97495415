//! The signals that stop `kraken-base serve`: Ctrl-C, and on Unix also SIGTERM (what service
//! managers and `kill` send). Either one takes the same shutdown path.

/// The stop signals, listened for from the moment this is made (a signal that comes before
/// [`StopSignals::recv`] is awaited is not lost).
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening; inside a tokio runtime.
    pub fn listen() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for the first stop signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            // As before: an error listening for Ctrl-C stops the base too.
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
