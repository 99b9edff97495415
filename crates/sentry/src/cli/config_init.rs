//! `kraken-sentry config init`: writes a configuration file from a few facts (a base's
//! address, the sentry's GUID and its certificate, key and CA), then reads it back as the
//! agent would. The Windows installer writes `sentry.toml` with it, so the TOML is built by a
//! TOML writer (quoting, backslashes in Windows paths) and checked before it is used. With no
//! base, the records go to a local JSON-lines file (a service has no standard output). No
//! directory may be listed by a base unless `--list-files-root` names it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Write a configuration file and check it.
    Init(InitArgs),
    /// Check a configuration file as the agent reads it.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
    /// The base, as HOST:PORT (`[v6-address]:PORT` for IPv6).
    #[arg(long, requires_all = ["guid", "cert", "key", "ca"])]
    base: Option<String>,
    /// The sentry's GUID (its certificate's CN).
    #[arg(long)]
    guid: Option<String>,
    /// The sentry's certificate (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The sentry's private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The CA that signs the base's certificate (PEM).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The state directory (default: `data` beside the file).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Without a base: the JSON-lines file records go to (default: `records.jsonl` beside the file).
    #[arg(long)]
    records: Option<PathBuf>,
    /// A directory a base may list with `listFiles` (repeatable; without it, none may be).
    #[arg(long = "list-files-root", value_name = "DIR")]
    list_files_roots: Vec<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    match args.command {
        ConfigCommand::Init(args) => init(args),
        ConfigCommand::Check { config } => {
            let (_, source) = Config::load(config.as_deref())?;
            println!("{source}: valid");
            Ok(())
        }
    }
}

fn init(args: InitArgs) -> anyhow::Result<()> {
    if args.out.exists() && !args.force {
        anyhow::bail!("{} exists (give --force to replace it)", args.out.display());
    }
    let text = config_text(&args)?;
    // Checked before it is written: a bad file never replaces a good one.
    Config::parse(&text)
        .map_err(|problem| anyhow::anyhow!("the configuration would be invalid: {problem}"))?;
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&args.out, text).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("{} written", args.out.display());
    Ok(())
}

/// The TOML for `args`.
fn config_text(args: &InitArgs) -> anyhow::Result<String> {
    let beside = |name: &str| args.out.parent().unwrap_or(Path::new("")).join(name);
    let path_value = |path: &Path| toml::Value::String(path.to_string_lossy().into_owned());
    let mut root = toml::Table::new();
    let data_dir = args.data_dir.clone().unwrap_or_else(|| beside("data"));
    root.insert("data_dir".into(), path_value(&data_dir));
    match &args.base {
        Some(address) => {
            let (host, port) = split_host_port(address)?;
            let required = |value: &Option<PathBuf>, what: &str| {
                value.clone().with_context(|| format!("--{what} is required with --base"))
            };
            root.insert(
                "guid".into(),
                toml::Value::String(args.guid.clone().context("--guid is required with --base")?),
            );
            let mut base = toml::Table::new();
            base.insert("name".into(), toml::Value::String("base".into()));
            base.insert("address".into(), toml::Value::String(host));
            base.insert("port".into(), toml::Value::Integer(i64::from(port)));
            base.insert("certificate".into(), path_value(&required(&args.cert, "cert")?));
            base.insert("key".into(), path_value(&required(&args.key, "key")?));
            base.insert("ca".into(), path_value(&required(&args.ca, "ca")?));
            root.insert("base".into(), toml::Value::Array(vec![toml::Value::Table(base)]));
        }
        None => {
            let mut output = toml::Table::new();
            output.insert(
                "path".into(),
                path_value(&args.records.clone().unwrap_or_else(|| beside("records.jsonl"))),
            );
            root.insert("output".into(), toml::Value::Table(output));
        }
    }
    if !args.list_files_roots.is_empty() {
        let roots = args.list_files_roots.iter().map(|root| path_value(root)).collect();
        let mut commands = toml::Table::new();
        commands.insert("list_files_roots".into(), toml::Value::Array(roots));
        root.insert("commands".into(), toml::Value::Table(commands));
    }
    let body = toml::to_string(&root).context("cannot write the configuration as TOML")?;
    Ok(format!(
        "# Written by `kraken-sentry config init`; every key is described in the README.\n\
         # listFiles lists nothing until [commands] list_files_roots names the directories a base\n\
         # may list (`--list-files-root DIR`).\n{body}"
    ))
}

/// `host:port` or `[v6]:port`.
fn split_host_port(address: &str) -> anyhow::Result<(String, u16)> {
    let bad = || anyhow::anyhow!("--base must be HOST:PORT (or [IPv6]:PORT), got {address:?}");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.contains(['[', ']']) || (host.contains(':') && !address.starts_with('[')) {
        return Err(bad());
    }
    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &str, base: Option<&str>) -> InitArgs {
        InitArgs {
            out: out.into(),
            base: base.map(str::to_owned),
            guid: Some("sentry-7".into()),
            cert: Some(r"C:\ProgramData\KrakenSentry\sentry-7.pem".into()),
            key: Some(r"C:\ProgramData\KrakenSentry\sentry-7.key".into()),
            ca: Some(r"C:\ProgramData\KrakenSentry\ca.pem".into()),
            data_dir: None,
            records: None,
            list_files_roots: Vec::new(),
            force: false,
        }
    }

    #[test]
    fn a_base_config_reads_back_as_written_and_a_bad_one_is_not_written() {
        let dir = std::env::temp_dir().join(format!("kraken-config-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A name with quotes (and, where a file name may hold them, a backslash and a double
        // quote), as TOML must carry them.
        let name = if cfg!(windows) { "sentry 'x 7.key" } else { r#"sentry 'x\7".key"# };
        let key = dir.join(name);
        for file in [dir.join("sentry.pem"), key.clone(), dir.join("ca.pem")] {
            std::fs::write(file, "pem").unwrap();
        }
        let out = dir.join("sentry.toml");
        let mut init_args = args(out.to_str().unwrap(), Some("base.example.org:7140"));
        (init_args.cert, init_args.key, init_args.ca) =
            (Some(dir.join("sentry.pem")), Some(key.clone()), Some(dir.join("ca.pem")));
        init(init_args).unwrap();
        let (config, _) = Config::load(Some(&out)).unwrap();
        assert_eq!(config.guid.as_deref(), Some("sentry-7"));
        let base = &config.bases[0];
        assert_eq!((base.address.as_str(), base.port, &base.key), ("base.example.org", 7140, &key));
        assert!(config.output.path.is_none(), "records go to the base");

        let again = init(args(out.to_str().unwrap(), None)).unwrap_err();
        assert!(again.to_string().contains("--force"), "{again}");
        let mut missing = args(out.to_str().unwrap(), Some("base.example.org:7140"));
        missing.force = true; // the certificate files named by `args` do not exist
        let error = init(missing).unwrap_err();
        assert!(error.to_string().contains("would be invalid"), "{error}");
        assert_eq!(Config::load(Some(&out)).unwrap().0.bases[0].key, key, "the good file is kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_a_base_records_go_to_a_file_beside_the_configuration() {
        let text = config_text(&args("/etc/k/sentry.toml", None)).unwrap();
        let config = Config::parse(&text).unwrap();
        assert!(config.bases.is_empty() && config.guid.is_none());
        assert_eq!(config.output.path, Some(PathBuf::from("/etc/k/records.jsonl")));
        assert_eq!(config.data_dir, PathBuf::from("/etc/k/data"));
        assert_eq!(config.commands.list_files_roots, None, "listFiles lists nothing by default");
        assert!(text.contains("list_files_roots"), "the header says how to allow it: {text}");
    }

    #[test]
    fn list_files_roots_are_written_when_given() {
        let root = if cfg!(windows) { r"D:\logs\app" } else { "/var/log/app" };
        let mut init_args = args("/etc/k/sentry.toml", None);
        init_args.list_files_roots = vec![PathBuf::from(root)];
        let config = Config::parse(&config_text(&init_args).unwrap()).unwrap();
        assert_eq!(config.commands.list_files_roots, Some(vec![PathBuf::from(root)]));
    }

    #[test]
    fn base_addresses_are_host_and_port() {
        assert_eq!(split_host_port("10.0.0.5:7140").unwrap(), ("10.0.0.5".into(), 7140));
        assert_eq!(split_host_port("[fd00::5]:7140").unwrap(), ("fd00::5".into(), 7140));
        for bad in ["base", "base:", ":7140", "base:0", "base:99999", "fd00::5:7140", "[]:1"] {
            assert!(split_host_port(bad).is_err(), "{bad} was accepted");
        }
    }
}
