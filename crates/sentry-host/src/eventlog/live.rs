//! The live event log of this machine: a source reading one channel through the Windows API,
//! and the list of channels. Elsewhere both say the event log is unavailable.

use super::source::{EventSource, SourceError};
use super::subscription::LiveOptions;
#[cfg(windows)]
use super::subscription::SubscriptionSource;

/// The live event log channels of this machine that hold Admin or Operational events, sorted.
pub fn channels() -> Result<Vec<String>, SourceError> {
    #[cfg(windows)]
    return crate::windows::eventlog::channels();
    #[cfg(not(windows))]
    return Err(SourceError::Unavailable("the Windows event log exists only on Windows".into()));
}

/// A live source reading `channel` through the Windows API.
pub fn live_source(channel: &str, options: LiveOptions) -> Result<Box<dyn EventSource>, SourceError> {
    #[cfg(windows)]
    return Ok(Box::new(SubscriptionSource::new(
        crate::windows::eventlog::WindowsApi::new(),
        channel,
        options,
    )));
    #[cfg(not(windows))]
    {
        let _ = (channel, options);
        Err(SourceError::Unavailable("the Windows event log exists only on Windows".into()))
    }
}
