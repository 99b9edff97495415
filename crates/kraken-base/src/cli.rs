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
        #[command(flatten)]
        filter: LogsFilter,
        #[arg(long)]
        follow: bool,
    },
}

/// Which stored records `logs` prints.
#[derive(Debug, Clone, clap::Args)]
struct LogsFilter {
    #[arg(long)]
    sentry: Option<String>,
    #[arg(long)]
    logger: Option<String>,
    /// Records dated at or after this, in Unix milliseconds.
    #[arg(long)]
    since: Option<i64>,
    /// Records dated before this, in Unix milliseconds.
    #[arg(long)]
    until: Option<i64>,
    /// Records whose message or params contain this text (case counts).
    #[arg(long)]
    text: Option<String>,
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
            let reply = AdminClient::new(&config)?.get("/api/sentries", &[])?;
            for sentry in reply["sentries"].as_array().into_iter().flatten() {
                let node = sentry["node"].as_str().map(|node| format!("  node {node}")).unwrap_or_default();
                println!(
                    "{}  {}  {}{node}",
                    sentry["guid"].as_str().unwrap_or("?"),
                    if sentry["connected"] == true { "connected" } else { "disconnected" },
                    sentry["address"].as_str().unwrap_or("-")
                );
            }
            let storage = &reply["storage"];
            if storage["available"] == false {
                // On stderr, so scripts reading the list are not confused, and never missed.
                eprintln!(
                    "storage ({}) unavailable since {}: {}; records wait in the sentries' spools",
                    storage["kind"].as_str().unwrap_or("?"),
                    storage["unavailable_since_ms"]
                        .as_i64()
                        .map_or("?".into(), kraken_codec::java_text::instant_to_string),
                    storage["error"].as_str().unwrap_or("?")
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
        Command::Logs { config, filter, follow } => logs(&AdminClient::new(&config)?, &filter, follow),
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

fn logs(admin: &AdminClient, filter: &LogsFilter, follow: bool) -> anyhow::Result<()> {
    let mut after = 0i64;
    loop {
        let mut query = vec![("after", after.to_string()), ("limit", "1000".to_owned())];
        let optional = [
            ("sentry", filter.sentry.clone()),
            ("logger", filter.logger.clone()),
            ("since", filter.since.map(|ms| ms.to_string())),
            ("until", filter.until.map(|ms| ms.to_string())),
            ("text", filter.text.clone()),
        ];
        query.extend(optional.into_iter().filter_map(|(key, value)| Some((key, value?))));
        let reply = admin.get("/api/logs", &query)?;
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
