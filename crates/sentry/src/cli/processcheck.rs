//! `kraken-sentry processcheck list|set|remove`: the process checklist from the command line.
//!
//! The checklist lives in the state store; `process-check` loggers read it at every run, so a
//! change counts from the next run of a running agent.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use kraken_codec::Value;

use super::render;
use crate::config::Config;
use crate::store::{Policy, Store};

#[derive(Debug, Args)]
pub struct ProcessCheckArgs {
    /// Configuration file (it says where the state store is).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: ProcessCheckCommand,
}

#[derive(Debug, Subcommand)]
enum ProcessCheckCommand {
    /// The checklist.
    List,
    /// Add or change a process: `allow` (should run) or `deny` (should not run).
    Set { name: String, policy: String },
    /// Remove a process from the checklist.
    Remove { name: String },
}

pub fn run(args: ProcessCheckArgs) -> anyhow::Result<()> {
    let (config, _) = Config::load(args.config.as_deref())?;
    let store = Store::open(&config.data_dir)?;
    match args.command {
        ProcessCheckCommand::List => {
            let rows: Vec<Value> = store
                .process_rules()?
                .into_iter()
                .map(|rule| kraken_codec::map! { "name" => rule.name, "policy" => rule.policy.as_str() })
                .collect();
            print!("{}", render::to_table(&Value::Array(rows), ""));
        }
        ProcessCheckCommand::Set { name, policy } => {
            let Some(policy) = Policy::parse(&policy) else {
                bail!("policy must be allow or deny, got {policy:?}");
            };
            store.set_process_rule(&name, policy)?;
            println!("{} {}", name.to_lowercase(), policy.as_str());
        }
        ProcessCheckCommand::Remove { name } => {
            store.remove_process_rule(&name)?;
            println!("removed {}", name.to_lowercase());
        }
    }
    Ok(())
}
