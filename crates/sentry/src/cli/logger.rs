//! `kraken-sentry logger list|create|start|stop|remove`: logger control from the command line.
//!
//! These commands change the state store directly; a running agent applies the change within
//! a second (it watches the store), and a stopped one at its next start. Validation is the
//! agent's own: the same factories, option schemas, name rules and minimum interval.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kraken_codec::{Map, Value};

use super::render;
use crate::config::Config;
use crate::loggers::{FactoryContext, LoggerRegistry, SinkSet, standard_factories};
use crate::store::{OptionValue, Store};

#[derive(Debug, Args)]
pub struct LoggerArgs {
    /// Configuration file (it says where the state store is).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: LoggerCommand,
}

#[derive(Debug, Subcommand)]
enum LoggerCommand {
    /// The stored loggers and whether they should be running.
    List,
    /// The logger factories and their options.
    Factories,
    /// Create a logger (stopped).
    Create {
        /// Factory name, e.g. cpu-usage.
        factory: String,
        /// Logger name.
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// An option as KEY=VALUE (repeatable).
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Mark a logger running (the agent starts it).
    Start {
        name: String,
        /// Interval in milliseconds (default: loggers.default_interval_ms).
        #[arg(long)]
        interval: Option<i64>,
    },
    /// Mark a logger stopped (the agent stops it).
    Stop { name: String },
    /// Remove a stopped logger.
    Remove { name: String },
}

pub fn run(args: LoggerArgs) -> anyhow::Result<()> {
    let (config, _) = Config::load(args.config.as_deref())?;
    let store = Arc::new(Store::open(&config.data_dir)?);
    let registry = LoggerRegistry::new(
        standard_factories(),
        FactoryContext { host: Arc::new(sentry_host::SystemHost), store: store.clone(), delivery: None },
        Arc::new(SinkSet::default()),
        config.loggers.min_interval_ms,
    );
    match args.command {
        LoggerCommand::List => print!("{}", render::to_table(&logger_rows(&store)?, "")),
        LoggerCommand::Factories => {
            let rows: Vec<Value> = registry
                .factories()
                .iter()
                .map(|f| {
                    let options: Vec<&str> = f.options().iter().map(|o| o.name).collect();
                    kraken_codec::map! {
                        "name" => f.name(),
                        "description" => crate::loggers::factory::localized(f.descriptions(), "en").unwrap_or(""),
                        "options" => options.join(", "),
                    }
                })
                .collect();
            print!("{}", render::to_table(&Value::Array(rows), ""));
        }
        LoggerCommand::Create { factory, name, description, options } => {
            let mut props = Map::new();
            for option in &options {
                let Some((key, value)) = option.split_once('=') else {
                    bail!("--option {option:?}: expected KEY=VALUE");
                };
                props.insert(key.trim(), Value::from(value));
            }
            registry.create(&factory, &name, description.as_deref(), &props)?;
            println!("created logger {name} ({factory}), stopped");
        }
        LoggerCommand::Start { name, interval } => {
            let interval =
                registry.check_interval(interval.unwrap_or(i64::from(config.loggers.default_interval_ms)))?;
            store.set_logger_running(&name, true, Some(interval))?;
            println!("logger {name} marked running every {interval} ms");
        }
        LoggerCommand::Stop { name } => {
            store.set_logger_running(&name, false, None)?;
            println!("logger {name} marked stopped");
        }
        LoggerCommand::Remove { name } => {
            store.delete_logger(&name).with_context(|| format!("cannot remove {name}"))?;
            println!("removed logger {name}");
        }
    }
    Ok(())
}

fn logger_rows(store: &Store) -> anyhow::Result<Value> {
    let rows = store.loggers()?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let config: Vec<String> = row
                .config
                .iter()
                .map(|(k, v)| match v {
                    OptionValue::Int(n) => format!("{k}={n}"),
                    OptionValue::Str(s) => format!("{k}={s}"),
                })
                .collect();
            kraken_codec::map! {
                "name" => row.name,
                "factory" => row.factory,
                "running" => row.running,
                "interval_ms" => i64::from(row.interval_ms),
                "config" => config.join(" "),
                "description" => row.description,
            }
        })
        .collect())
}
