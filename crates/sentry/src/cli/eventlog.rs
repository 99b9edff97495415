//! `kraken-sentry eventlog read|channels|tail`: Windows events from the command line, as the
//! `windows-event-logger` records them.
//!
//! `read FILE.evtx` works on every platform: one JSON line per record, the same
//! `{date, logger, msg, params}` lines `run` writes (logger `eventlog`), or a table. Damaged
//! chunks and records are `eventlog-error` records in the output, and the read goes on.
//! `channels` and `tail CHANNEL` read the live event log (Windows only).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand, ValueEnum};
use kraken_codec::{Map, Value};
use sentry_host::eventlog::{
    EventSource, EvtxFileSource, FileOptions, LiveOptions, SourceError, StartAt, channels, live_source,
};
use sentry_protocol::LogRecord;

use super::render;
use crate::eventlog::{ItemMapping, MappingOptions};
use crate::loggers::sink::json_line;

/// Items read per batch from a channel (the output streams; memory stays bounded), and rows
/// per table.
const BATCH: usize = 1000;

/// Items read per batch from a file: each read of a file looks at every chunk header first
/// (up to 65,536 of them), so a large file is read in fewer, larger batches. A batch still ends
/// once its events hold 16 MiB of XML: memory stays bounded by that XML and the records mapped
/// from it (some tens of MB), whatever the file's size.
const FILE_BATCH: usize = 10_000;

/// How long `tail` waits after a failure that may pass (the event log service restarting).
const TAIL_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct EventlogArgs {
    #[command(subcommand)]
    command: EventlogCommand,
}

#[derive(Debug, Subcommand)]
enum EventlogCommand {
    /// Print the events of an .evtx file (every platform).
    Read {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Also read the inactive chunks past those the file header declares.
        #[arg(long)]
        recover: bool,
        /// Add each event's XML to its record.
        #[arg(long)]
        include_xml: bool,
    },
    /// List the event log channels with Admin or Operational events (Windows).
    Channels,
    /// Print the new events of a channel as they arrive, until Ctrl-C (Windows).
    Tail {
        channel: String,
        /// XPath filter, or a structured QueryList of this channel (default: every event).
        #[arg(long, default_value = "*")]
        query: String,
        /// Start at the oldest event instead of after the newest.
        #[arg(long)]
        oldest: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Table,
}

pub fn run(args: EventlogArgs) -> anyhow::Result<()> {
    match args.command {
        EventlogCommand::Read { file, format, recover, include_xml } => {
            let mut source = EvtxFileSource::new(&file, FileOptions { recover, after_header_id: None });
            let mapping = ItemMapping {
                options: MappingOptions { include_xml, ..MappingOptions::default() },
                channel: String::new(),
                source: source.describe(),
            };
            match format {
                Format::Json => print_json(&mut source, &mapping, FILE_BATCH, false),
                Format::Table => print_table(&mut source, &mapping),
            }
        }
        EventlogCommand::Channels => {
            for channel in channels()? {
                println!("{channel}");
            }
            Ok(())
        }
        EventlogCommand::Tail { channel, query, oldest } => {
            let start_at = if oldest { StartAt::Oldest } else { StartAt::Now };
            let mut source =
                live_source(&channel, LiveOptions { query, start_at, ..LiveOptions::default() })?;
            let mapping =
                ItemMapping { options: MappingOptions::default(), channel: channel.clone(), source: channel };
            print_json(source.as_mut(), &mapping, BATCH, true)
        }
    }
}

/// The records of `source` as JSON lines, to its end (or forever when `follow`: once it has been
/// read, also through failures that may pass, the event log service stopped among them, from
/// the same position).
fn print_json(
    source: &mut dyn EventSource,
    mapping: &ItemMapping,
    batch_size: usize,
    follow: bool,
) -> anyhow::Result<()> {
    let mut position = source.start_position()?;
    // Written out once per batch (a line each would cost a write each).
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut read_once = false;
    loop {
        let batch = match source.read(&position, batch_size) {
            Ok(batch) => batch,
            Err(error @ (SourceError::Transient(_) | SourceError::Unavailable(_))) if follow && read_once => {
                let note = format!("kraken-sentry: {error}; trying again in {} s", TAIL_RETRY.as_secs());
                let _ = writeln!(io::stderr(), "{note}");
                std::thread::sleep(TAIL_RETRY);
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        read_once = true;
        for (date, params) in mapping.records(batch.items) {
            let line = json_line(&record(date, params));
            if let Err(error) = writeln!(out, "{line}") {
                return closed_is_fine(error);
            }
        }
        if let Err(error) = out.flush() {
            return closed_is_fine(error);
        }
        position = batch.position;
        if !batch.more {
            if !follow {
                return Ok(());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The records of `source` as tables of at most [`BATCH`] rows each, so that a file of any size
/// is printed in bounded memory.
fn print_table(source: &mut dyn EventSource, mapping: &ItemMapping) -> anyhow::Result<()> {
    const COLUMNS: [&str; 7] =
        ["time_created", "record_id", "event_id", "level_name", "provider_name", "channel", "msg"];
    let mut position = source.start_position()?;
    let mut rows = Vec::new();
    loop {
        let batch = source.read(&position, FILE_BATCH)?;
        for (_, params) in mapping.records(batch.items) {
            let mut row = Map::with_capacity(COLUMNS.len());
            for column in COLUMNS {
                row.insert(column, params.get(column).cloned().unwrap_or(Value::Null));
            }
            rows.push(Value::Map(row));
            if rows.len() >= BATCH
                && let Err(error) = print_rows(&mut rows)
            {
                return closed_is_fine(error);
            }
        }
        position = batch.position;
        if !batch.more {
            break;
        }
    }
    match print_rows(&mut rows) {
        Ok(()) => Ok(()),
        Err(error) => closed_is_fine(error),
    }
}

/// Prints `rows` (if any) as one table and empties them.
fn print_rows(rows: &mut Vec<Value>) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let table = render::to_table(&Value::Array(std::mem::take(rows)), "");
    io::stdout().lock().write_all(table.as_bytes())
}

fn record(date: Option<SystemTime>, params: Map) -> LogRecord {
    LogRecord { date: date.unwrap_or_else(SystemTime::now), logger: "eventlog".into(), params }
}

/// A reader that closed the pipe (`| head`) ends the output, not in an error.
fn closed_is_fine(error: io::Error) -> anyhow::Result<()> {
    if error.kind() == io::ErrorKind::BrokenPipe { Ok(()) } else { Err(error.into()) }
}
