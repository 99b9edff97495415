//! What command handlers may use: the agent-wide [`CommandContext`] (host facts, settings,
//! loggers) and, for a call that came over a base link, the [`Caller`] (which base, and that
//! connection's log channel requests).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sentry_host::HostFacts;
use tokio::sync::mpsc;

use crate::loggers::LoggerRegistry;

/// What every command handler may use.
pub struct CommandContext {
    /// The host's facts.
    pub host: Arc<dyn HostFacts>,
    /// The window over which `getProcesses` measures CPU use.
    pub sampling_window: Duration,
    /// Where `listFiles` may look.
    pub file_roots: FileRoots,
    /// The agent's loggers, for logger control (absent for `kraken-sentry exec`).
    pub loggers: Option<Arc<LoggerRegistry>>,
}

impl CommandContext {
    /// A context on this machine with the default settings.
    pub fn for_this_host() -> Self {
        CommandContext {
            host: Arc::new(sentry_host::SystemHost),
            sampling_window: sentry_host::sampling::DEFAULT_WINDOW,
            file_roots: FileRoots::default(),
            loggers: None,
        }
    }
}

/// Where `listFiles` may look.
#[derive(Debug, Clone, Default)]
pub enum FileRoots {
    /// No root is configured: `listFiles` answers "not allowed" (the default).
    #[default]
    NotConfigured,
    /// Exactly these directories (and what lies below them).
    Only(Vec<PathBuf>),
    /// `listFiles` is switched off.
    Disabled,
}

impl FileRoots {
    /// From `commands.list_files` and `commands.list_files_roots`.
    pub fn from_settings(list_files: bool, roots: Option<&[PathBuf]>) -> FileRoots {
        match (list_files, roots) {
            (false, _) => FileRoots::Disabled,
            (true, Some(roots)) if !roots.is_empty() => FileRoots::Only(roots.to_vec()),
            (true, _) => FileRoots::NotConfigured,
        }
    }
}

/// The base on the other end of one command connection, handed to the handlers of the calls
/// that came over it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The base's configured name.
    pub base: String,
    /// Where this connection's log channel requests go (its link serves them).
    pub log_channel: mpsc::Sender<LogChannelRequest>,
}

/// What a base asked of its log channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogChannelRequest {
    /// `connectLogChannel(nonce)`: open a new log channel presenting `nonce`.
    Connect(String),
    /// `disconnectLogChannel()`: close the log channel, keep the command connection.
    Disconnect,
}
