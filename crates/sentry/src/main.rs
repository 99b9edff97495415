//! `kraken-sentry`: the endpoint agent's command-line entry point. Parsing and dispatch live in
//! [`sentry::cli`]; this file only maps the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    sentry::cli::main()
}
