//! `kraken-sentry codec decode|encode`: the Kraken codec from the command line, for checking what
//! a peer sent or building a message by hand.
//!
//! `decode <HEX>` prints the typed-JSON form (map entries in wire order); `encode <JSON>` prints
//! lowercase hex. Either argument may be `-` to read standard input.

use std::io::{Read, Write};

use anyhow::{Context, bail};
use clap::Subcommand;
use kraken_codec::typed_json::{self, Abbreviate};
use kraken_codec::{DecodeLimits, decode_prefix, encode};

#[derive(Debug, Subcommand)]
pub enum CodecCommand {
    /// Decode one value from hex and print its typed JSON.
    Decode {
        /// The encoded value as hex (whitespace allowed), or `-` for standard input.
        hex: String,
        /// Print long strings and blobs whole instead of abbreviated (as the vectors show them),
        /// so the output can be encoded again.
        #[arg(long)]
        full: bool,
        /// Print the JSON on one line.
        #[arg(long)]
        compact: bool,
    },
    /// Encode one typed-JSON value and print it as lowercase hex.
    Encode {
        /// The typed JSON, e.g. '{"t":"i32","v":5}', or `-` for standard input.
        json: String,
    },
}

/// Runs one codec subcommand.
pub fn run(cmd: CodecCommand) -> anyhow::Result<()> {
    match cmd {
        CodecCommand::Decode { hex, full, compact } => {
            decode_command(&argument_or_stdin(hex)?, full, compact)
        }
        CodecCommand::Encode { json } => encode_command(&argument_or_stdin(json)?),
    }
}

fn decode_command(hex_text: &str, full: bool, compact: bool) -> anyhow::Result<()> {
    let cleaned: String = hex_text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = hex::decode(&cleaned).context("the input is not hex")?;
    let (value, consumed) = decode_prefix(&bytes, &DecodeLimits::default()).context("cannot decode")?;
    let abbreviate = if full { Abbreviate::Never } else { Abbreviate::LikeVectors };
    let json = typed_json::render(&value, abbreviate);
    let text = if compact { serde_json::to_string(&json) } else { serde_json::to_string_pretty(&json) }?;
    print_line(&text)?;
    if consumed < bytes.len() {
        eprintln!(
            "kraken-sentry: note: the value ends at byte {consumed}; {} trailing bytes were not read",
            bytes.len() - consumed
        );
    }
    Ok(())
}

fn encode_command(json_text: &str) -> anyhow::Result<()> {
    let value = typed_json::parse_str(json_text).context("cannot encode")?;
    print_line(&hex::encode(encode(&value)))
}

fn argument_or_stdin(arg: String) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
    if text.trim().is_empty() {
        bail!("standard input is empty");
    }
    Ok(text)
}

fn print_line(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("cannot write to standard output")?;
    out.flush().context("cannot write to standard output")
}
