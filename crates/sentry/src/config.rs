//! The agent's configuration: one TOML file, validated completely before anything starts.
//!
//! Default location: `%ProgramData%\KrakenSentry\sentry.toml` on Windows,
//! `/etc/kraken-sentry/sentry.toml` elsewhere; `--config` overrides it. When the default file
//! does not exist the built-in defaults apply (so `kraken-sentry run` works on a fresh machine);
//! a file named with `--config` must exist. Every error names the file, the key and what is
//! wrong, and the agent does not start with a half-valid configuration.
//!
//! ```toml
//! guid = "4f9a..."                 # the sentry's identity (required once a base is set)
//! data_dir = "/var/lib/kraken-sentry"
//!
//! [loggers]
//! min_interval_ms = 1000           # startLogger refuses shorter intervals (BUG-21)
//! default_interval_ms = 10000      # interval of the default loggers
//! create_defaults = true           # create cpu, memory, network, disk on first start
//!
//! [commands]
//! process_sample_ms = 100          # getProcesses CPU sampling window
//! list_files = true                # listFiles on or off
//! list_files_roots = ["/srv"]      # what listFiles may list; default: none ("not allowed")
//!
//! [output]                         # records written locally, as JSON lines
//! path = "/var/log/kraken-sentry/records.jsonl"   # default: standard output if no [[base]], else none
//! max_bytes = 10485760             # rotate at this size
//! keep = 5                         # rotated files kept
//!
//! [links]
//! max_backoff_ms = 60000           # longest wait between reconnections
//! setup_timeout_ms = 10000         # limit of each step of setting up a connection (TCP and TLS,
//!                                  # peering, hello, setLogChannel)
//!
//! [spool]
//! max_bytes = 1073741824           # records kept per base while it is away (oldest dropped)
//! away_after_ms = 600000           # a base past 75 % of it with nothing acknowledged this long
//!                                  # no longer holds back the other bases' event records
//!
//! [metrics]                        # off unless `listen` is set
//! listen = "127.0.0.1:9464"        # GET /metrics, Prometheus text, no credentials
//!
//! [[base]]
//! name = "central"
//! address = "base.example.org"
//! port = 7140
//! certificate = "/etc/kraken-sentry/sentry.pem"
//! key = "/etc/kraken-sentry/sentry.key"
//! ca = "/etc/kraken-sentry/ca.pem"
//! alternates = ["base-2.example.org", "base-3.example.org:7150"]   # optional: other nodes of
//!                                  # the same base (one storage); one link and one spool,
//!                                  # dialled in turn when the node in use is away
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::commands::files::windows_path_problem;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The sentry's GUID.
    pub guid: Option<String>,
    /// Where the state store (and later the spool) lives.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub loggers: LoggerSettings,
    #[serde(default)]
    pub commands: CommandSettings,
    #[serde(default)]
    pub output: OutputSettings,
    #[serde(default)]
    pub links: ReconnectSettings,
    #[serde(default)]
    pub spool: SpoolSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// The bases to connect to.
    #[serde(default, rename = "base")]
    pub bases: Vec<BaseEndpoint>,
}

/// `[metrics]`: the agent's own metrics (`crate::metrics`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `GET /metrics` is served; absent: no listener. Anyone who can reach it reads the
    /// agent's state without credentials: keep it on loopback unless a scraper must reach it.
    pub listen: Option<std::net::SocketAddr>,
}

/// `[loggers]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggerSettings {
    pub min_interval_ms: u32,
    pub default_interval_ms: u32,
    pub create_defaults: bool,
}

impl Default for LoggerSettings {
    fn default() -> Self {
        LoggerSettings { min_interval_ms: 1_000, default_interval_ms: 10_000, create_defaults: true }
    }
}

/// `[commands]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandSettings {
    pub process_sample_ms: u64,
    pub list_files: bool,
    pub list_files_roots: Option<Vec<PathBuf>>,
}

impl Default for CommandSettings {
    fn default() -> Self {
        CommandSettings { process_sample_ms: 100, list_files: true, list_files_roots: None }
    }
}

/// `[output]`: the local record sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSettings {
    /// A JSON-lines file; when absent, see [`Config::local_output`].
    pub path: Option<PathBuf>,
    pub max_bytes: u64,
    pub keep: u32,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings { path: None, max_bytes: 10 * 1024 * 1024, keep: 5 }
    }
}

/// Where the agent writes records locally ([`Config::local_output`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalOutput<'a> {
    Stdout,
    File(&'a Path),
    None,
}

/// `[links]`: how base links reconnect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconnectSettings {
    /// The longest wait between reconnection attempts (exponential backoff, full jitter).
    pub max_backoff_ms: u64,
    /// The limit of each step of setting up a base connection: TCP and TLS, RPC peering,
    /// `hello`, `setLogChannel`.
    pub setup_timeout_ms: u64,
}

impl Default for ReconnectSettings {
    fn default() -> Self {
        ReconnectSettings { max_backoff_ms: 60_000, setup_timeout_ms: 10_000 }
    }
}

/// `[spool]`: records waiting for bases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolSettings {
    /// The most bytes (encoded records) kept for one base; the oldest go first.
    pub max_bytes: u64,
    /// How long a base whose spool is past 75 % may acknowledge nothing before it is taken as
    /// away (see `crate::spool::pressure`).
    pub away_after_ms: u64,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings { max_bytes: 1 << 30, away_after_ms: 600_000 }
    }
}

/// One `[[base]]`: a base this sentry links to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseEndpoint {
    pub name: String,
    pub address: String,
    #[serde(default = "default_base_port")]
    pub port: u16,
    /// The sentry's certificate chain (PEM).
    pub certificate: PathBuf,
    /// The sentry's private key (PEM).
    pub key: PathBuf,
    /// The CA that signs the base's certificate (PEM).
    pub ca: PathBuf,
    /// Other nodes of the same base, `host` or `host:port` (default: `port`); each node's
    /// certificate must name the host it is dialled by.
    #[serde(default)]
    pub alternates: Vec<String>,
}

/// The most alternate nodes of one base.
pub const MAX_ALTERNATES: usize = 16;

/// One node of a base: the host dialled (and its certificate checked against) and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseNode {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for BaseNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl BaseEndpoint {
    /// Its nodes: `address` first, then the alternates (an unreadable alternate is left out;
    /// the configuration check refuses one).
    pub fn nodes(&self) -> Vec<BaseNode> {
        let first = BaseNode { host: self.address.clone(), port: self.port };
        std::iter::once(first)
            .chain(self.alternates.iter().filter_map(|text| parse_node(text, self.port).ok()))
            .collect()
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with `port` when none is given.
fn parse_node(text: &str, port: u16) -> Result<BaseNode, String> {
    let text = text.trim();
    let (host, given) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an IPv6 address needs its closing `]`")?;
        (host, after.strip_prefix(':'))
    } else if text.matches(':').count() == 1 {
        let (host, port) = text.split_once(':').expect("one colon");
        (host, Some(port))
    } else {
        (text, None)
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match given {
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0).ok_or(format!("bad port {port:?}"))?,
        None => port,
    };
    Ok(BaseNode { host: host.to_owned(), port })
}

fn default_base_port() -> u16 {
    7140
}

/// The default configuration file of this platform.
pub fn default_config_path() -> PathBuf {
    if cfg!(windows) {
        program_data().join("KrakenSentry").join("sentry.toml")
    } else {
        PathBuf::from("/etc/kraken-sentry/sentry.toml")
    }
}

fn default_data_dir() -> PathBuf {
    if cfg!(windows) {
        program_data().join("KrakenSentry").join("data")
    } else {
        PathBuf::from("/var/lib/kraken-sentry")
    }
}

/// Where the agent keeps its configuration, state and logs on Windows:
/// `%ProgramData%\KrakenSentry`.
pub fn program_data_dir() -> PathBuf {
    program_data().join("KrakenSentry")
}

/// The shell's ProgramData folder; the environment's, or `C:\ProgramData`, if it cannot say.
fn program_data() -> PathBuf {
    sentry_host::program_data_dir()
        .or_else(|| std::env::var_os("ProgramData").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            guid: None,
            data_dir: default_data_dir(),
            loggers: LoggerSettings::default(),
            commands: CommandSettings::default(),
            output: OutputSettings::default(),
            links: ReconnectSettings::default(),
            spool: SpoolSettings::default(),
            metrics: MetricsSettings::default(),
            bases: Vec::new(),
        }
    }
}

/// Where a configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// The default file does not exist; built-in defaults apply.
    Defaults {
        missing: PathBuf,
    },
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::Defaults { missing } => {
                write!(f, "built-in defaults ({} does not exist)", missing.display())
            }
        }
    }
}

/// A configuration that cannot be used: the file, the key and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ConfigError {
    pub file: String,
    pub problem: String,
}

impl Config {
    /// Loads and validates the configuration from `path`, or from the default file.
    pub fn load(path: Option<&Path>) -> Result<(Config, ConfigSource), ConfigError> {
        let (path, explicit) = match path {
            Some(path) => (path.to_path_buf(), true),
            None => (default_config_path(), false),
        };
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                let config = Config::default();
                config
                    .validate()
                    .map_err(|problem| ConfigError { file: "built-in defaults".into(), problem })?;
                return Ok((config, ConfigSource::Defaults { missing: path }));
            }
            Err(e) => return Err(ConfigError { file, problem: format!("cannot read: {e}") }),
        };
        let config = Config::parse(&text).map_err(|problem| ConfigError { file, problem })?;
        Ok((config, ConfigSource::File(path)))
    }

    /// Where records are written locally: the `[output]` file if one is set (beside the
    /// bases too, as a local copy); else standard output when no base is configured, so the
    /// agent is useful on its own; else nowhere. With bases, records go to them, and standard
    /// output stays free of them: under a service manager it would copy every record into the
    /// system journal.
    pub fn local_output(&self) -> LocalOutput<'_> {
        match (&self.output.path, self.bases.is_empty()) {
            (Some(path), _) => LocalOutput::File(path),
            (None, true) => LocalOutput::Stdout,
            (None, false) => LocalOutput::None,
        }
    }

    /// Parses and validates TOML text; the error says which key is wrong and why.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    fn validate(&self) -> Result<(), String> {
        if let Some(guid) = &self.guid
            && (guid.trim().is_empty()
                || guid.len() > 128
                || guid.chars().any(|c| c.is_control() || c == '\\'))
        {
            return Err(format!(
                "key `guid`: must be 1 to 128 printable characters without `\\`, got {guid:?}"
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err("key `data_dir`: must not be empty".into());
        }
        let loggers = &self.loggers;
        if loggers.min_interval_ms < 100 {
            return Err(format!(
                "key `loggers.min_interval_ms`: must be at least 100, got {}",
                loggers.min_interval_ms
            ));
        }
        if loggers.default_interval_ms < loggers.min_interval_ms {
            return Err(format!(
                "key `loggers.default_interval_ms`: must be at least loggers.min_interval_ms ({}), got {}",
                loggers.min_interval_ms, loggers.default_interval_ms
            ));
        }
        if !(1..=60_000).contains(&self.commands.process_sample_ms) {
            return Err(format!(
                "key `commands.process_sample_ms`: must be 1 to 60000, got {}",
                self.commands.process_sample_ms
            ));
        }
        for root in self.commands.list_files_roots.iter().flatten() {
            let key = "key `commands.list_files_roots`";
            if !root.is_absolute() {
                return Err(format!("{key}: {} is not an absolute path", root.display()));
            }
            // A root on a share would make the sentry dial out whenever a base lists the roots.
            if cfg!(windows)
                && let Some(problem) = windows_path_problem(&root.to_string_lossy())
            {
                return Err(format!("{key}: {}: {problem}; give a local directory", root.display()));
            }
        }
        if self.output.max_bytes < 4096 {
            return Err(format!(
                "key `output.max_bytes`: must be at least 4096, got {}",
                self.output.max_bytes
            ));
        }
        if !(1..=1000).contains(&self.output.keep) {
            return Err(format!("key `output.keep`: must be 1 to 1000, got {}", self.output.keep));
        }
        if self.spool.max_bytes < 1 << 20 {
            return Err(format!(
                "key `spool.max_bytes`: must be at least 1048576, got {}",
                self.spool.max_bytes
            ));
        }
        if !(1_000..=86_400_000).contains(&self.spool.away_after_ms) {
            return Err(format!(
                "key `spool.away_after_ms`: must be 1000 to 86400000, got {}",
                self.spool.away_after_ms
            ));
        }
        if !(100..=3_600_000).contains(&self.links.max_backoff_ms) {
            return Err(format!(
                "key `links.max_backoff_ms`: must be 100 to 3600000, got {}",
                self.links.max_backoff_ms
            ));
        }
        if !(1_000..=600_000).contains(&self.links.setup_timeout_ms) {
            return Err(format!(
                "key `links.setup_timeout_ms`: must be 1000 to 600000, got {}",
                self.links.setup_timeout_ms
            ));
        }
        if !self.bases.is_empty() && self.guid.is_none() {
            return Err("key `guid`: required when a [[base]] is configured".into());
        }
        let mut names = HashSet::new();
        for (i, base) in self.bases.iter().enumerate() {
            let key = |field: &str| format!("key `base[{i}].{field}`");
            if base.name.trim().is_empty() {
                return Err(format!("{}: must not be empty", key("name")));
            }
            if !names.insert(base.name.as_str()) {
                return Err(format!("{}: {:?} is used by two bases", key("name"), base.name));
            }
            if base.address.trim().is_empty() {
                return Err(format!("{}: must not be empty", key("address")));
            }
            if base.port == 0 {
                return Err(format!("{}: must be 1 to 65535, got 0", key("port")));
            }
            if base.alternates.len() > MAX_ALTERNATES {
                return Err(format!("{}: at most {MAX_ALTERNATES} nodes", key("alternates")));
            }
            for (n, alternate) in base.alternates.iter().enumerate() {
                if let Err(problem) = parse_node(alternate, base.port) {
                    return Err(format!("{}: {alternate:?}: {problem}", key(&format!("alternates[{n}]"))));
                }
            }
            for (field, path) in [("certificate", &base.certificate), ("key", &base.key), ("ca", &base.ca)] {
                if let Err(e) = std::fs::metadata(path) {
                    return Err(format!("{}: cannot read {}: {e}", key(field), path.display()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod node_tests {
    use super::*;

    #[test]
    fn alternates_name_hosts_with_or_without_a_port() {
        assert_eq!(parse_node("b2", 7140), Ok(BaseNode { host: "b2".into(), port: 7140 }));
        assert_eq!(parse_node("b2:7150", 7140), Ok(BaseNode { host: "b2".into(), port: 7150 }));
        assert_eq!(parse_node("[::1]:7150", 7140), Ok(BaseNode { host: "::1".into(), port: 7150 }));
        assert_eq!(parse_node("[fe80::1]", 7140), Ok(BaseNode { host: "fe80::1".into(), port: 7140 }));
        for bad in ["", ":7140", "b2:0", "b2:x", "[::1", "b2:99999"] {
            assert!(parse_node(bad, 7140).is_err(), "{bad:?}");
        }
        assert_eq!(BaseNode { host: "::1".into(), port: 1 }.to_string(), "[::1]:1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.loggers.min_interval_ms, 1_000);
        assert_eq!(config.commands.process_sample_ms, 100);
        assert!(config.bases.is_empty() && config.guid.is_none());
    }

    #[test]
    fn a_full_file_parses() {
        let dir = std::env::temp_dir();
        let pem = dir.join("kraken-config-test.pem");
        std::fs::write(&pem, "x").unwrap();
        let text = format!(
            "guid = \"s1\"\ndata_dir = \"/tmp/x\"\n[loggers]\nmin_interval_ms = 500\n[output]\nkeep = 3\n\
             [[base]]\nname = \"b\"\naddress = \"127.0.0.1\"\ncertificate = {p:?}\nkey = {p:?}\nca = {p:?}\n",
            p = pem.to_string_lossy()
        );
        let config = Config::parse(&text).unwrap();
        assert_eq!(
            (config.bases[0].port, config.loggers.min_interval_ms, config.output.keep),
            (7140, 500, 3)
        );
    }

    #[test]
    fn records_go_to_stdout_only_without_bases_and_to_a_set_file_always() {
        let base = "[[base]]\nname = \"b\"\naddress = \"h\"\ncertificate = \"c\"\nkey = \"k\"\nca = \"a\"\n";
        let file = "[output]\npath = \"/var/log/r.jsonl\"\n";
        let output_of = |text: &str| {
            let config: Config = toml::from_str(text).unwrap();
            format!("{:?}", config.local_output())
        };
        assert_eq!(output_of(""), "Stdout");
        assert_eq!(output_of(base), "None");
        assert_eq!(output_of(file), "File(\"/var/log/r.jsonl\")");
        assert_eq!(output_of(&format!("{file}{base}")), "File(\"/var/log/r.jsonl\")");
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let cases = [
            (
                "[loggers]\nmin_interval_ms = 10\n",
                "key `loggers.min_interval_ms`: must be at least 100, got 10",
            ),
            ("[loggers]\ndefault_interval_ms = 10\n", "key `loggers.default_interval_ms`"),
            ("[commands]\nprocess_sample_ms = 0\n", "key `commands.process_sample_ms`"),
            (
                "[spool]\naway_after_ms = 999\n",
                "key `spool.away_after_ms`: must be 1000 to 86400000, got 999",
            ),
            ("guid = \"\"\n", "key `guid`"),
            (
                "[links]\nsetup_timeout_ms = 10\n",
                "key `links.setup_timeout_ms`: must be 1000 to 600000, got 10",
            ),
            (
                "[[base]]\nname=\"b\"\naddress=\"a\"\ncertificate=\"/c\"\nkey=\"/k\"\nca=\"/ca\"\n",
                "key `guid`: required",
            ),
            ("colour = 1\n", "unknown field `colour`"),
            ("[loggers]\nmin_interval_ms = \"fast\"\n", "min_interval_ms"),
            ("guid = \n", "TOML parse error"),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn list_files_roots_must_be_absolute_local_directories() {
        let error = Config::parse("[commands]\nlist_files_roots = [\"srv\"]\n").unwrap_err();
        assert_eq!(error, "key `commands.list_files_roots`: srv is not an absolute path");
        if cfg!(windows) {
            for (root, problem) in
                [(r"\\\\host\\share", "a UNC path"), (r"C:\\srv\\COM1", "reserved device name")]
            {
                let error =
                    Config::parse(&format!("[commands]\nlist_files_roots = [\"{root}\"]\n")).unwrap_err();
                assert!(error.contains(problem) && error.contains("give a local directory"), "{error}");
            }
        }
        let config = Config::parse("").unwrap();
        assert_eq!((config.commands.list_files, config.commands.list_files_roots), (true, None));
    }

    #[test]
    fn a_named_file_must_exist_but_the_default_may_not() {
        let missing = std::env::temp_dir().join("kraken-no-such-config.toml");
        let error = Config::load(Some(&missing)).unwrap_err();
        assert!(error.to_string().starts_with(&missing.display().to_string()), "{error}");
        assert!(error.to_string().contains("cannot read"), "{error}");
    }
}
