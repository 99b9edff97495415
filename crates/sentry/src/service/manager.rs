//! The one trait the platform's service manager is driven through: the Windows SCM
//! (`service::windows`) or systemd (`service::linux`). `kraken-sentry service ...` calls it.

use std::path::PathBuf;

/// The service's name for the manager (`sc query KrakenSentry`).
pub const SERVICE_NAME: &str = "KrakenSentry";
/// The name shown in the Services console.
pub const DISPLAY_NAME: &str = "Kraken Sentry";
/// The description shown in the Services console.
pub const DESCRIPTION: &str =
    "Kraken SIEM endpoint agent: answers its bases' commands and ships this host's logs and events.";

/// What an install needs.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The agent's executable, as the manager will start it.
    pub executable: PathBuf,
    /// The configuration file the service reads (absolute).
    pub config: PathBuf,
    /// Start the service once installed.
    pub start: bool,
    /// Also make the executable's folder the administrators' own (the installer's folder; not
    /// for a copy placed in a folder others share).
    pub protect_program_dir: bool,
}

/// A service manager.
pub trait ServiceManager {
    /// Registers the service (start at boot, recovery on failure); an existing one is updated.
    fn install(&self, options: &InstallOptions) -> anyhow::Result<()>;
    /// Stops the service if it runs, then removes it.
    fn uninstall(&self) -> anyhow::Result<()>;
    fn start(&self) -> anyhow::Result<()>;
    /// Asks the service to stop and waits until it has.
    fn stop(&self) -> anyhow::Result<()>;
    /// The service's state, in the manager's words (`RUNNING`, `active (running)`...).
    fn status(&self) -> anyhow::Result<String>;
}
