//! The `kraken-base` command line: `serve` runs the base ([`crate::serve`]); `pki` makes
//! certificates; the other verbs (`sentries`, `call`, `logger`, `logs`) talk to a running base
//! through its admin API ([`AdminClient`]), found from the same configuration file (address and
//! token).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sentry_protocol::names::sentry_method;
use serde_json::{Value as Json, json};

use crate::admin::AdminClient;
use crate::config::BaseConfig;

/// Kraken Base: accepts sentries over mutual TLS and stores their records.
#[derive(Debug, Parser)]
#[command(name = "kraken-base", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the base in the foreground until Ctrl-C (or SIGTERM).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Certificates for a first deployment.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// The sentries this base has seen.
    Sentries {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a sentry method: `kraken-base call GUID getNetStat`; arguments are JSON values.
    Call {
        #[arg(long)]
        config: PathBuf,
        guid: String,
        method: String,
        args: Vec<String>,
    },
    /// A sentry's loggers: list, create FACTORY NAME, start NAME MS, stop NAME, connect NAME,
    /// disconnect NAME.
    Logger {
        #[arg(long)]
        config: PathBuf,
        guid: String,
        action: String,
        args: Vec<String>,
    },
    /// Stored records, oldest first; `--follow` keeps printing new ones.
    Logs {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        sentry: Option<String>,
        #[arg(long)]
        logger: Option<String>,
        #[arg(long)]
        follow: bool,
    },
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
    Issue {
        guid: String,
        dir: PathBuf,
        /// How long the certificate lasts.
        #[arg(long, default_value_t = crate::pki::SENTRY_VALIDITY_DAYS)]
        days: u32,
    },
    /// Replace a sentry's key and certificate with new ones (the old pair is kept as
    /// GUID.pem.previous and GUID.key.previous, valid until it expires or is revoked).
    Renew {
        guid: String,
        dir: PathBuf,
        #[arg(long, default_value_t = crate::pki::SENTRY_VALIDITY_DAYS)]
        days: u32,
    },
    /// Revoke every certificate issued for GUID and rewrite DIR/crl.pem; a base whose
    /// `sentry_crl` is that file refuses them within a second and closes their connections.
    Revoke { guid: String, dir: PathBuf },
    /// Rewrite DIR/crl.pem from DIR/revoked.tsv (for a PKI made before revocation existed).
    Crl { dir: PathBuf },
}

/// Runs the command line; the error is printed by `main`.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => crate::serve::serve(&BaseConfig::load(&config)?),
        Command::Pki(PkiCommand::Init { dir, names }) => {
            let files = crate::pki::init(&dir, &names)?;
            println!("CA: {} (key {})", files.ca_cert.display(), files.ca_key.display());
            println!("base: {} (key {})", files.base_cert.display(), files.base_key.display());
            Ok(())
        }
        Command::Pki(PkiCommand::Issue { guid, dir, days }) => {
            let (cert, key) = crate::pki::issue(&dir, &guid, days)?;
            println!("sentry {guid}: {} (key {}), valid {days} days", cert.display(), key.display());
            Ok(())
        }
        Command::Pki(PkiCommand::Renew { guid, dir, days }) => {
            let (cert, key) = crate::pki::renew(&dir, &guid, days)?;
            println!("sentry {guid}: new {} (key {}), valid {days} days", cert.display(), key.display());
            println!("the previous certificate stays valid until it expires or `pki revoke` revokes it");
            Ok(())
        }
        Command::Pki(PkiCommand::Revoke { guid, dir }) => {
            let revoked = crate::pki::revocation::revoke(&dir, &guid)?;
            let crl = crate::pki::PkiFiles::in_dir(&dir).crl;
            println!(
                "sentry {guid}: {} certificate(s) revoked now; {} rewritten",
                revoked.len(),
                crl.display()
            );
            for serial in revoked {
                println!("  serial {serial}");
            }
            Ok(())
        }
        Command::Pki(PkiCommand::Crl { dir }) => {
            let count = crate::pki::revocation::write_crl(&dir)?;
            println!(
                "{} written: {count} revoked certificate(s)",
                crate::pki::PkiFiles::in_dir(&dir).crl.display()
            );
            Ok(())
        }
        Command::Sentries { config } => {
            let reply = AdminClient::new(&config)?.get("/api/sentries")?;
            for sentry in reply["sentries"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  {}",
                    sentry["guid"].as_str().unwrap_or("?"),
                    if sentry["connected"] == true { "connected" } else { "disconnected" },
                    sentry["address"].as_str().unwrap_or("-")
                );
            }
            Ok(())
        }
        Command::Call { config, guid, method, args } => {
            let params = args.iter().map(|a| parse_arg(a)).collect::<anyhow::Result<Vec<Json>>>()?;
            let reply = AdminClient::new(&config)?.call(&guid, &method, params)?;
            println!("{}", serde_json::to_string_pretty(&reply)?);
            Ok(())
        }
        Command::Logger { config, guid, action, args } => {
            logger(&AdminClient::new(&config)?, &guid, &action, &args)
        }
        Command::Logs { config, sentry, logger, follow } => {
            logs(&AdminClient::new(&config)?, sentry, logger, follow)
        }
    }
}

/// A JSON value, or a bare word as a string (`getNetStat`, `cpu`).
fn parse_arg(text: &str) -> anyhow::Result<Json> {
    Ok(serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned())))
}

fn logger(admin: &AdminClient, guid: &str, action: &str, args: &[String]) -> anyhow::Result<()> {
    let arg = |i: usize, what: &str| {
        args.get(i).cloned().with_context(|| format!("logger {action}: {what} missing"))
    };
    let reply = match action {
        "list" => admin.call(guid, sentry_method::GET_LOGGERS, vec![])?,
        "create" => admin.call(
            guid,
            sentry_method::CREATE_LOGGER,
            vec![json!(arg(0, "FACTORY")?), json!(arg(1, "NAME")?), Json::Null, json!({})],
        )?,
        "start" => {
            let interval: i64 = arg(1, "INTERVAL_MS")?.parse().context("INTERVAL_MS must be a number")?;
            admin.call(guid, sentry_method::START_LOGGER, vec![json!(arg(0, "NAME")?), json!(interval)])?
        }
        "stop" => admin.call(guid, sentry_method::STOP_LOGGER, vec![json!(arg(0, "NAME")?), json!(5000)])?,
        "connect" => admin.call(guid, sentry_method::CONNECT_LOGGER, vec![json!(arg(0, "NAME")?)])?,
        "disconnect" => admin.call(guid, sentry_method::DISCONNECT_LOGGER, vec![json!(arg(0, "NAME")?)])?,
        other => bail!("unknown logger action {other:?} (list, create, start, stop, connect, disconnect)"),
    };
    println!("{}", serde_json::to_string_pretty(&reply)?);
    Ok(())
}

fn logs(
    admin: &AdminClient,
    sentry: Option<String>,
    logger: Option<String>,
    follow: bool,
) -> anyhow::Result<()> {
    let mut after = 0i64;
    loop {
        let mut query = format!("/api/logs?after={after}&limit=1000");
        if let Some(sentry) = &sentry {
            query.push_str(&format!("&sentry={sentry}"));
        }
        if let Some(logger) = &logger {
            query.push_str(&format!("&logger={logger}"));
        }
        let reply = admin.get(&query)?;
        let records = reply["records"].as_array().cloned().unwrap_or_default();
        for record in &records {
            after = after.max(record["id"].as_i64().unwrap_or(after));
            println!("{record}");
        }
        if records.len() < 1000 && !follow {
            return Ok(());
        }
        if records.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
