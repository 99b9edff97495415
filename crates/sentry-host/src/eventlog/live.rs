//! The live event log of this machine: a source reading one channel through the Windows API
//! (and, at a gap, the channel's archive files: [`super::archive_fill`]), and the list of
//! channels. Elsewhere both say the event log is unavailable.

use super::source::{EventSource, SourceError};
use super::subscription::LiveOptions;
#[cfg(windows)]
use super::{
    archive_fill::ArchiveFill,
    subscription::{SubscriptionApi, SubscriptionSource},
};

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
    {
        let query = options.query.clone();
        let api = crate::windows::eventlog::WindowsApi::new();
        let lookup = api.account_lookup();
        let live = SubscriptionSource::new(api, channel, options);
        let channel = channel.to_owned();
        let log_file = Box::new(move || crate::windows::eventlog::channel_log_file(&channel));
        Ok(Box::new(ArchiveFill::new(Box::new(live), &query, log_file).with_account_lookup(lookup)))
    }
    #[cfg(not(windows))]
    {
        let _ = (channel, options);
        Err(SourceError::Unavailable("the Windows event log exists only on Windows".into()))
    }
}
