//! `kraken-sentry spool list|forget`: the spools of the state store, one per base.
//!
//! A base taken out of the configuration (or renamed) keeps its spool: the agent names it in a
//! warning at every start, and `spool forget NAME` deletes it. A base the configuration still
//! names is refused: its spool is in use.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use kraken_codec::Value;

use super::render;
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct SpoolArgs {
    /// Configuration file (it says where the state store is, and which bases are configured).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: SpoolCommand,
}

#[derive(Debug, Subcommand)]
enum SpoolCommand {
    /// Each base's spool: records and bytes waiting, records dropped, whether it is configured.
    List,
    /// Delete the spool of a base no longer configured (its records, totals and subscriptions).
    Forget {
        /// The base's name, as it was configured.
        name: String,
    },
}

pub fn run(args: SpoolArgs) -> anyhow::Result<()> {
    let (config, source) = Config::load(args.config.as_deref())?;
    let configured = |name: &str| config.bases.iter().any(|base| base.name == name);
    let store = Store::open(&config.data_dir)?;
    match args.command {
        SpoolCommand::List => {
            let rows: Vec<Value> = store
                .spools()?
                .into_iter()
                .map(|spool| {
                    kraken_codec::map! {
                        "base" => spool.base.as_str(),
                        "configured" => configured(&spool.base),
                        "records" => spool.records as i64,
                        "bytes" => spool.bytes as i64,
                        "dropped" => spool.dropped as i64,
                    }
                })
                .collect();
            if rows.is_empty() {
                println!("no spool");
            } else {
                print!("{}", render::to_table(&Value::Array(rows), ""));
            }
        }
        SpoolCommand::Forget { name } => {
            if configured(&name) {
                bail!(
                    "base {name:?} is configured in {source}: its spool is in use; \
                     take its [[base]] out of the configuration first"
                );
            }
            match store.forget_spool(&name)? {
                Some(spool) => println!(
                    "spool of base {name:?} deleted: {} records ({} bytes) waiting, {} dropped before",
                    spool.records, spool.bytes, spool.dropped
                ),
                None => {
                    let names: Vec<String> = store.spools()?.into_iter().map(|spool| spool.base).collect();
                    bail!(
                        "no spool for base {name:?}; spools: {}",
                        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                    );
                }
            }
        }
    }
    Ok(())
}
