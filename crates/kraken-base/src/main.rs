//! `kraken-base`: the base's command line. Parsing and dispatch live in the library's `cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kraken Base: accepts sentries over mutual TLS and stores their records.
#[derive(Debug, Parser)]
#[command(name = "kraken-base", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Certificates for a first deployment.
    #[command(subcommand)]
    Pki(PkiCommand),
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Make a CA and the base's certificate in DIR (ca.pem, ca.key, base.pem, base.key).
    Init {
        dir: PathBuf,
        /// Extra names (DNS or IP) the base's certificate is valid for.
        #[arg(long = "name")]
        names: Vec<String>,
    },
    /// Make a sentry's key and certificate (GUID.pem, GUID.key) with the CA in DIR.
    Issue { guid: String, dir: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Pki(PkiCommand::Init { dir, names }) => kraken_base::pki::init(&dir, &names).map(|files| {
            println!("CA: {} (key {})", files.ca_cert.display(), files.ca_key.display());
            println!("base: {} (key {})", files.base_cert.display(), files.base_key.display());
        }),
        Command::Pki(PkiCommand::Issue { guid, dir }) => {
            kraken_base::pki::issue(&dir, &guid).map(|(cert, key)| {
                println!("sentry {guid}: {} (key {})", cert.display(), key.display());
            })
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kraken-base: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
