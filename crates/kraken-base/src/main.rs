//! `kraken-base`: the base's command line; everything is in the library's `cli` module.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let level =
        std::env::var("RUST_LOG").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    match kraken_base::cli::run(kraken_base::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kraken-base: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
