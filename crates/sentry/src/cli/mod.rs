//! The `kraken-sentry` command line: argument parsing (clap) and dispatch to one module per
//! subcommand. Errors are printed as one line on stderr and give exit code 1; usage errors are
//! clap's (exit code 2).

mod codec;
mod config_init;
mod eventlog;
mod exec;
mod logger;
mod processcheck;
mod render;
mod run;
mod service;
mod spool;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kraken Sentry: the endpoint agent of the Kraken SIEM.
#[derive(Debug, Parser)]
#[command(name = "kraken-sentry", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert between Kraken codec bytes (hex) and the typed-JSON form.
    #[command(subcommand)]
    Codec(codec::CodecCommand),
    /// Write or check a configuration file.
    Config(config_init::ConfigArgs),
    /// Run the agent in the foreground until Ctrl-C.
    Run(run::RunArgs),
    /// Windows events: read an .evtx file (every platform), list or tail live channels (Windows).
    Eventlog(eventlog::EventlogArgs),
    /// Run one sentry command on this machine and print the reply (JSON or a table).
    Exec(exec::ExecArgs),
    /// List, create, start, stop or remove loggers.
    Logger(logger::LoggerArgs),
    /// List or change the process checklist.
    Processcheck(processcheck::ProcessCheckArgs),
    /// Install, remove, start, stop or query the agent's service (NT service or systemd unit).
    Service(service::ServiceArgs),
    /// List the spools (one per base) or delete the spool of a base no longer configured.
    Spool(spool::SpoolArgs),
}

/// Parses the process arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        // The service logs to its own file: it has no console.
        Command::Service(args) if service::is_service_run(args) => {}
        command => init_diagnostics(matches!(command, Command::Run(_))),
    }
    let outcome = match cli.command {
        Command::Codec(cmd) => codec::run(cmd),
        Command::Config(args) => config_init::run(args),
        Command::Run(args) => run::run(args),
        Command::Eventlog(args) => eventlog::run(args),
        Command::Exec(args) => exec::run(args),
        Command::Logger(args) => logger::run(args),
        Command::Processcheck(args) => processcheck::run(args),
        Command::Service(args) => service::run(args),
        Command::Spool(args) => spool::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kraken-sentry: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Diagnostics on standard error: `info` and above for the agent, warnings for one-shot
/// commands; `RUST_LOG` may name another level (`error`, `warn`, `info`, `debug`, `trace`).
fn init_diagnostics(agent: bool) {
    let default = if agent { tracing::Level::INFO } else { tracing::Level::WARN };
    let level = std::env::var("RUST_LOG").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
