//! The `kraken-sentry` command line: argument parsing (clap) and dispatch to one module per
//! subcommand. Errors are printed as one line on stderr and give exit code 1; usage errors are
//! clap's (exit code 2).

mod codec;
mod exec;
mod render;

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
    /// Run one sentry command on this machine and print the reply (JSON or a table).
    Exec(exec::ExecArgs),
}

/// Parses the process arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Codec(cmd) => codec::run(cmd),
        Command::Exec(args) => exec::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kraken-sentry: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
