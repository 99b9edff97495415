//! The `kraken-base` command line: `serve` runs the base; `pki` makes certificates; the other
//! verbs (`sentries`, `call`, `logger`, `logs`) talk to a running base through its admin API,
//! found from the same configuration file (address and token).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use kraken_rpc::tls::{TlsIdentity, TrustedCas};
use serde_json::{Value as Json, json};

use crate::admin::{AdminState, load_or_create_token, router};
use crate::config::BaseConfig;
use crate::server::{Base, BaseSettings};
use crate::storage::{SqliteStorage, Storage};

/// Kraken Base: accepts sentries over mutual TLS and stores their records.
#[derive(Debug, Parser)]
#[command(name = "kraken-base", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the base in the foreground until Ctrl-C.
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
    Issue { guid: String, dir: PathBuf },
}

/// Runs the command line; the error is printed by `main`.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => serve(&BaseConfig::load(&config)?),
        Command::Pki(PkiCommand::Init { dir, names }) => {
            let files = crate::pki::init(&dir, &names)?;
            println!("CA: {} (key {})", files.ca_cert.display(), files.ca_key.display());
            println!("base: {} (key {})", files.base_cert.display(), files.base_key.display());
            Ok(())
        }
        Command::Pki(PkiCommand::Issue { guid, dir }) => {
            let (cert, key) = crate::pki::issue(&dir, &guid)?;
            println!("sentry {guid}: {} (key {})", cert.display(), key.display());
            Ok(())
        }
        Command::Sentries { config } => {
            let reply = Admin::new(&config)?.get("/api/sentries")?;
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
            let reply = Admin::new(&config)?.call(&guid, &method, params)?;
            println!("{}", serde_json::to_string_pretty(&reply)?);
            Ok(())
        }
        Command::Logger { config, guid, action, args } => {
            logger(&Admin::new(&config)?, &guid, &action, &args)
        }
        Command::Logs { config, sentry, logger, follow } => {
            logs(&Admin::new(&config)?, sentry, logger, follow)
        }
    }
}

/// A JSON value, or a bare word as a string (`getNetStat`, `cpu`).
fn parse_arg(text: &str) -> anyhow::Result<Json> {
    Ok(serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned())))
}

fn logger(admin: &Admin, guid: &str, action: &str, args: &[String]) -> anyhow::Result<()> {
    let arg = |i: usize, what: &str| {
        args.get(i).cloned().with_context(|| format!("logger {action}: {what} missing"))
    };
    let reply = match action {
        "list" => admin.call(guid, "getLoggers", vec![])?,
        "create" => admin.call(
            guid,
            "createLogger",
            vec![json!(arg(0, "FACTORY")?), json!(arg(1, "NAME")?), Json::Null, json!({})],
        )?,
        "start" => {
            let interval: i64 = arg(1, "INTERVAL_MS")?.parse().context("INTERVAL_MS must be a number")?;
            admin.call(guid, "startLogger", vec![json!(arg(0, "NAME")?), json!(interval)])?
        }
        "stop" => admin.call(guid, "stopLogger", vec![json!(arg(0, "NAME")?), json!(5000)])?,
        "connect" => admin.call(guid, "connectLogger", vec![json!(arg(0, "NAME")?)])?,
        "disconnect" => admin.call(guid, "disconnectLogger", vec![json!(arg(0, "NAME")?)])?,
        other => bail!("unknown logger action {other:?} (list, create, start, stop, connect, disconnect)"),
    };
    println!("{}", serde_json::to_string_pretty(&reply)?);
    Ok(())
}

fn logs(admin: &Admin, sentry: Option<String>, logger: Option<String>, follow: bool) -> anyhow::Result<()> {
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

/// A client of a running base's admin API.
struct Admin {
    base_url: String,
    token: String,
}

impl Admin {
    fn new(config: &Path) -> anyhow::Result<Admin> {
        let config = BaseConfig::load(config)?;
        let token = std::fs::read_to_string(config.token_path()).with_context(|| {
            format!("cannot read the admin token {} (is the base running?)", config.token_path().display())
        })?;
        Ok(Admin { base_url: format!("http://{}", config.admin.listen), token: token.trim().to_owned() })
    }

    fn get(&self, path: &str) -> anyhow::Result<Json> {
        let response = ureq::get(&format!("{}{path}", self.base_url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .with_context(|| format!("cannot reach the base at {}", self.base_url))?;
        Self::body(response)
    }

    fn call(&self, guid: &str, method: &str, params: Vec<Json>) -> anyhow::Result<Json> {
        let response = ureq::post(&format!("{}/api/sentries/{guid}/call", self.base_url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(json!({ "method": method, "params": params }))
            .with_context(|| format!("cannot reach the base at {}", self.base_url))?;
        Ok(Self::body(response)?["result"].clone())
    }

    fn body(mut response: ureq::http::Response<ureq::Body>) -> anyhow::Result<Json> {
        let status = response.status();
        let body: Json = response.body_mut().read_json().context("the base's reply is not JSON")?;
        if !status.is_success() {
            bail!("{}", body["error"].as_str().unwrap_or("request failed"));
        }
        Ok(body)
    }
}

/// Runs the base until Ctrl-C or SIGTERM.
fn serve(config: &BaseConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&config.storage_path())?);
        let token = load_or_create_token(&config.token_path())?;
        let base = Arc::new(
            Base::start(BaseSettings {
                listen: config.listen,
                identity: TlsIdentity::from_pem_files(&config.certificate, &config.key)?,
                sentry_ca: TrustedCas::from_pem_file(&config.sentry_ca)?,
                rpc_guid: "kraken-base".into(),
                allowed: config.allowed_sentries.clone().map(|list| list.into_iter().collect::<HashSet<_>>()),
                storage,
                connect_all_loggers: config.connect_all_loggers,
            })
            .await?,
        );
        let listener = tokio::net::TcpListener::bind(config.admin.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the admin API", config.admin.listen))?;
        tracing::info!(admin = %config.admin.listen, sentries = %base.local_addr(), "base running");
        let app = router(Arc::new(AdminState { base: base.clone(), token }));
        let retention = config.retention.clone();
        let retention_storage = base.storage.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let cutoff = retention.max_age_days.map(|days| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    now.as_millis() as i64 - i64::from(days) * 86_400_000
                });
                if cutoff.is_none() && retention.max_records.is_none() {
                    continue;
                }
                let storage = retention_storage.clone();
                let max = retention.max_records;
                match tokio::task::spawn_blocking(move || storage.enforce_retention(cutoff, max)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(deleted)) => tracing::info!(deleted, "retention: old records deleted"),
                    Ok(Err(error)) => tracing::warn!(%error, "retention failed"),
                    Err(error) => tracing::warn!(%error, "retention task failed"),
                }
            }
        });
        tokio::select! {
            served = axum::serve(listener, app) => served.context("the admin API stopped")?,
            _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
        }
        base.shutdown();
        Ok(())
    })
}
