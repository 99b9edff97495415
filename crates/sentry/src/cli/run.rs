//! `kraken-sentry run`: the agent in the foreground until Ctrl-C.
//!
//! With no base configured, records are printed as JSON lines on standard output (or written
//! to `--output FILE`, rotated by size), so the agent is useful on its own. Diagnostics go to
//! standard error. On Linux it refuses to start while a configured private key is readable by
//! its group or others.

use std::path::PathBuf;

use clap::Args;

use crate::agent::Agent;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (default: /etc/kraken-sentry/sentry.toml, or
    /// %ProgramData%\KrakenSentry\sentry.toml on Windows).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write records as JSON lines to this file (rotated by size) instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let (mut config, source) = Config::load(args.config.as_deref())?;
    tracing::info!(config = %source, data_dir = %config.data_dir.display(), "configuration loaded");
    // On Linux the service is this command under systemd: keys others can read stop it (BUG-47).
    if cfg!(target_os = "linux") {
        crate::service::key_files::check(&config)?;
    }
    if let Some(output) = args.output {
        config.output.path = Some(output);
    }
    Agent::start(config)?.run_until_signalled()
}
