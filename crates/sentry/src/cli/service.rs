//! `kraken-sentry service install|uninstall|start|stop|status|run`: the agent as an NT service
//! (Windows) or a systemd unit (Linux). `run` is what the Windows SCM starts; in a console the
//! agent runs with `kraken-sentry run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::default_config_path;
use crate::service::manager::{InstallOptions, SERVICE_NAME};
use crate::service::platform_manager;

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Register the service (started at boot, restarted on failure), for this executable.
    Install {
        /// Configuration file the service reads (default: the platform's).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Start the service once installed.
        #[arg(long)]
        start: bool,
        /// Windows: also make this executable's folder writable by SYSTEM and the
        /// Administrators only (what the installer does for its folder).
        #[arg(long)]
        protect_program_dir: bool,
    },
    /// Stop the service and remove its registration (the configuration and state stay).
    Uninstall,
    /// Start the installed service.
    Start,
    /// Stop the service and wait until it has stopped.
    Stop,
    /// Print the service's state.
    Status,
    /// The service's entry point, as the Windows service manager starts it.
    #[command(hide = true)]
    Run {
        /// Configuration file the service reads.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// True for `service run`, which writes its diagnostics to the service's log file.
pub fn is_service_run(args: &ServiceArgs) -> bool {
    matches!(args.command, ServiceCommand::Run { .. })
}

pub fn run(args: ServiceArgs) -> anyhow::Result<()> {
    match args.command {
        ServiceCommand::Run { config } => run_service(config),
        ServiceCommand::Install { config, start, protect_program_dir } => {
            let executable = std::env::current_exe().context("cannot find this executable's path")?;
            let config = match config {
                Some(path) => std::path::absolute(&path)
                    .with_context(|| format!("cannot make {} absolute", path.display()))?,
                None => default_config_path(),
            };
            let options = InstallOptions { executable, config, start, protect_program_dir };
            platform_manager()?.install(&options)?;
            println!(
                "{SERVICE_NAME} installed{}: {} with {}",
                if start { " and started" } else { "" },
                options.executable.display(),
                options.config.display()
            );
            Ok(())
        }
        ServiceCommand::Uninstall => {
            platform_manager()?.uninstall()?;
            println!("{SERVICE_NAME} removed (configuration and state kept)");
            Ok(())
        }
        ServiceCommand::Start => platform_manager()?.start(),
        ServiceCommand::Stop => platform_manager()?.stop(),
        ServiceCommand::Status => {
            println!("{}", platform_manager()?.status()?);
            Ok(())
        }
    }
}

#[cfg(windows)]
fn run_service(config: Option<PathBuf>) -> anyhow::Result<()> {
    crate::service::windows::dispatcher::run(config)
}

#[cfg(not(windows))]
fn run_service(_config: Option<PathBuf>) -> anyhow::Result<()> {
    anyhow::bail!("`service run` is the Windows service's entry point; systemd runs `kraken-sentry run`")
}
