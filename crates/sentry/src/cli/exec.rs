//! `kraken-sentry exec <command>`: run one sentry command on this machine and print its reply,
//! as plain JSON (default) or as a table (`--format table`).
//!
//! Each command runs through the same method table a base uses, so what `exec` prints is what
//! a base receives. `arp-cache` and `routing-table` print IPv4 and IPv6 rows together (the
//! seed's method plus its `...6` companion). `list-files` reads the agent's configuration for
//! its roots, so it answers as the agent would.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use kraken_codec::Value;

use super::render;
use crate::commands::{CommandContext, FileRoots, host_methods};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(subcommand)]
    command: ExecCommand,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json, global = true)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON document, keys in the reply's order.
    Json,
    /// An aligned text table.
    Table,
}

#[derive(Debug, clap::Subcommand)]
enum ExecCommand {
    /// Processes with pid, name, CPU percent (of the whole machine) and working set in bytes.
    ProcessList {
        /// CPU sampling window in milliseconds.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        sample_ms: u64,
    },
    /// ARP (IPv4) and neighbour (IPv6) cache.
    ArpCache,
    /// IPv4 and IPv6 routes.
    RoutingTable,
    /// TCP and UDP sockets (v4 and v6) with owning pid.
    Netstat,
    /// OS, host and agent identity.
    SystemInfo,
    /// Total and free bytes per volume.
    DiskPartitions,
    /// Interfaces with a hardware address: name, MAC, first IPv4 and IPv6 address, MTU.
    NetworkInterfaces,
    /// The allowed roots, or the entries of one directory (the roots are those of the
    /// configuration, `commands.list_files_roots`: none by default).
    ListFiles {
        /// Directory to list; without it, the roots.
        path: Option<String>,
        /// Configuration file (default: the agent's).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs one exec command and prints its reply on stdout.
pub fn run(args: ExecArgs) -> anyhow::Result<()> {
    let mut context = CommandContext::for_this_host();
    let table = host_methods();
    let call = |context: &CommandContext, method: &str, params: Value| {
        table.dispatch(context, method, &params).with_context(|| format!("{method} failed"))
    };
    let (reply, group_column) = match args.command {
        ExecCommand::ProcessList { sample_ms } => {
            context.sampling_window = Duration::from_millis(sample_ms);
            (call(&context, "getProcesses", Value::Null)?, "")
        }
        ExecCommand::ArpCache => (
            both_families(
                &call(&context, "getArpCache", Value::Null)?,
                &call(&context, "getArpCache6", Value::Null)?,
            ),
            "",
        ),
        ExecCommand::RoutingTable => (
            both_families(
                &call(&context, "getRoutingTable", Value::Null)?,
                &call(&context, "getRoutingTable6", Value::Null)?,
            ),
            "",
        ),
        ExecCommand::Netstat => (call(&context, "getNetStat", Value::Null)?, "proto"),
        ExecCommand::SystemInfo => (call(&context, "getSystemInfo", Value::Null)?, ""),
        ExecCommand::DiskPartitions => (call(&context, "getDiskPartitions", Value::Null)?, "root"),
        ExecCommand::NetworkInterfaces => (call(&context, "getNetworkInterfaces", Value::Null)?, ""),
        ExecCommand::ListFiles { path, config } => {
            let (config, _) = Config::load(config.as_deref())?;
            let commands = &config.commands;
            context.file_roots =
                FileRoots::from_settings(commands.list_files, commands.list_files_roots.as_deref());
            let params = path.map_or(Value::Null, |path| Value::Array(vec![Value::from(path)]));
            (call(&context, "listFiles", params)?, "")
        }
    };
    let text = match args.format {
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&render::to_json(&reply))?;
            json.push('\n');
            json
        }
        Format::Table => render::to_table(&reply, group_column),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("writing to stdout")
}

/// The IPv4 list followed by the IPv6 list.
fn both_families(v4: &Value, v6: &Value) -> Value {
    let rows = v4.as_array().unwrap_or_default().iter().chain(v6.as_array().unwrap_or_default());
    Value::Array(rows.cloned().collect())
}
