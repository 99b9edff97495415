//! The base's configuration: one TOML file, checked completely before anything starts.
//!
//! ```toml
//! listen = "0.0.0.0:7140"              # where sentries connect (mutual TLS)
//! data_dir = "/var/lib/kraken-base"    # storage (base.sqlite3) and the admin token; 0700
//! certificate = "/etc/kraken-base/pki/base.pem"
//! key = "/etc/kraken-base/pki/base.key"
//! sentry_ca = "/etc/kraken-base/pki/ca.pem"   # the CA that signs sentry certificates
//! allowed_sentries = ["sentry-1"]      # optional: only these GUIDs may connect
//! sentry_crl = "/etc/kraken-base/pki/crl.pem"  # optional: revoked sentry certificates, read
//!                                      # again within a second of any change
//! sentry_guid_from = "common-name"     # or "uri-san": urn:kraken:sentry:GUID
//! connect_all_loggers = false          # connect every logger of every sentry at hello
//! handshake_timeout_ms = 5000          # how long a sentry's TLS handshake may take
//!
//! [connections]                        # all optional; the defaults are shown
//! max_total = 10000                    # live connections (each sentry has two)
//! max_per_source = 1000                # live connections from one address (IPv6: one /64)
//! max_pending = 1000                   # connections that have not said hello yet
//! max_pending_per_source = 256
//! hello_timeout_ms = 10000             # TLS, peering and hello must be done by then
//!
//! [intake]                             # all optional; the defaults are shown
//! max_bytes = 268435456                # received records not yet stored, all sentries
//! max_bytes_per_sentry = 33554432      # the same, one sentry (a batch over it is refused)
//! records_per_second = 10000           # per sentry; acknowledgements wait beyond it (0: off)
//!
//! [admin]
//! listen = "127.0.0.1:7141"            # the HTTP JSON API (token in data_dir/admin.token)
//! tls = false                          # HTTPS with `certificate` and `key`; required off
//!                                      # loopback (plain HTTP listens on loopback only)
//! ca = "/etc/kraken-base/pki/ca.pem"   # what the CLI checks the base's certificate with
//!                                      # (default: `sentry_ca`)
//! url = "https://base-1.example.org:7141"  # how other base nodes sharing the storage reach
//!                                      # this one's admin API (default: from `listen`)
//!
//! [storage]                            # optional; SQLite in data_dir by default
//! kind = "clickhouse"                  # or "sqlite"; the other keys are ClickHouse's:
//! url = "http://127.0.0.1:8123"        # its HTTP interface
//! database = "kraken"
//! user = "default"
//! password_file = "/etc/kraken-base/clickhouse.password"   # optional
//! node = "base-1"                      # this base node's name (default: the host name)
//! insert_interval_ms = 500             # records wait this long to share one insert
//! insert_max_rows = 100000
//! records_table = "records"            # also events_table, sentries_table,
//!                                      # loggers_table, usage_table
//!
//! [retention]                          # applied every minute
//! max_age_days = 30                    # delete records received longer ago (default 30)
//! max_records = 100000000              # keep at most this many, the newest (default: no limit)
//! max_bytes_per_sentry = 10737418240   # one sentry's records (params and messages), its
//!                                      # oldest deleted beyond (default 10 GiB; at least 1 MiB)
//!
//! [[forward]]                          # any number: records passed on as syslog
//! name = "siem"                        # (every key: `forward::settings`)
//! address = "siem.example.org:6514"
//! ca = "/etc/kraken-base/siem-ca.pem"
//! ```
//!
//! Refused at load: `max_age_days` or `max_records` of 0 (they would delete every record each
//! minute), `max_records` with ClickHouse (it deletes whole days), and an admin address off
//! loopback without `tls = true`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::access::GuidSource;
use crate::forward::ForwardConfig;
use crate::intake::IntakeLimits;
use crate::storage::ClickHouseSettings;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub sentry_ca: PathBuf,
    #[serde(default)]
    pub allowed_sentries: Option<Vec<String>>,
    /// Revocation lists (PEM) of sentry certificates, reloaded when the file changes.
    #[serde(default)]
    pub sentry_crl: Option<PathBuf>,
    /// Where a sentry's GUID is read in its certificate.
    #[serde(default)]
    pub sentry_guid_from: GuidSource,
    #[serde(default)]
    pub connect_all_loggers: bool,
    /// How long a connecting sentry's TLS handshake may take (a slow client holds a handshake
    /// slot no longer than this).
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    #[serde(default)]
    pub connections: ConnectionLimits,
    #[serde(default)]
    pub intake: IntakeLimits,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// `[[forward]]`: where stored records are passed on as syslog.
    #[serde(default)]
    pub forward: Vec<ForwardConfig>,
}

/// `[storage]`: where records are kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StorageConfig {
    /// `base.sqlite3` in `data_dir`.
    Sqlite {},
    /// A ClickHouse server, shared by any number of base nodes.
    Clickhouse(Box<ClickHouseSettings>),
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig::Sqlite {}
    }
}

/// `[retention]`: how long records are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Records received longer ago than this many days are deleted (at least 1).
    pub max_age_days: u32,
    /// At most this many records are kept, the newest (at least 1); no limit by default.
    pub max_records: Option<u64>,
    /// Bytes (params and messages) one sentry's records may take; its oldest go beyond.
    pub max_bytes_per_sentry: u64,
}

/// `[connections]`: how many connections the sentry listener keeps, and how long a new one
/// has to identify itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    pub max_total: usize,
    pub max_per_source: usize,
    pub max_pending: usize,
    pub max_pending_per_source: usize,
    pub hello_timeout_ms: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_total: 10_000,
            max_per_source: 1_000,
            max_pending: 1_000,
            max_pending_per_source: 256,
            hello_timeout_ms: 10_000,
        }
    }
}

impl ConnectionLimits {
    /// The first value out of range, as `(key, message)`.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let counts = [
            ("max_total", self.max_total),
            ("max_per_source", self.max_per_source),
            ("max_pending", self.max_pending),
            ("max_pending_per_source", self.max_pending_per_source),
        ];
        for (key, value) in counts {
            if !(1..=1_000_000).contains(&value) {
                return Err((key, format!("must be 1 to 1000000, got {value}")));
            }
        }
        if !(1_000..=600_000).contains(&self.hello_timeout_ms) {
            return Err((
                "hello_timeout_ms",
                format!("must be 1000 to 600000, got {}", self.hello_timeout_ms),
            ));
        }
        Ok(())
    }
}

/// What one sentry's records may take when `max_bytes_per_sentry` is not set: 10 GiB.
pub const DEFAULT_MAX_BYTES_PER_SENTRY: u64 = 10 << 30;

/// How many days records are kept when `max_age_days` is not set.
pub const DEFAULT_MAX_AGE_DAYS: u32 = 30;

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_age_days: DEFAULT_MAX_AGE_DAYS,
            max_records: None,
            max_bytes_per_sentry: DEFAULT_MAX_BYTES_PER_SENTRY,
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Serve HTTPS with the base's certificate and key (required off loopback).
    pub tls: bool,
    /// The CA the command line checks the base's certificate with (default: `sentry_ca`, which
    /// `pki init` made to sign the base's certificate too).
    pub ca: Option<PathBuf>,
    /// How the other nodes sharing the storage reach this admin API, to pass it calls for the
    /// sentries connected here (default: `http(s)://` and the listen address).
    pub url: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:7141".parse().expect("a valid address"),
            tls: false,
            ca: None,
            url: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    "0.0.0.0:7140".parse().expect("a valid address")
}

fn default_handshake_timeout_ms() -> u64 {
    5_000
}

impl BaseConfig {
    /// Reads and checks `path`; errors name the file and the key.
    pub fn load(path: &Path) -> anyhow::Result<BaseConfig> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{shown}: cannot read: {e}"))?;
        let config: BaseConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{shown}: {}", e.to_string().trim_end()))?;
        for (key, file) in
            [("certificate", &config.certificate), ("key", &config.key), ("sentry_ca", &config.sentry_ca)]
        {
            if let Err(e) = std::fs::metadata(file) {
                anyhow::bail!("{shown}: key `{key}`: cannot read {}: {e}", file.display());
            }
        }
        if !(1_000..=600_000).contains(&config.handshake_timeout_ms) {
            anyhow::bail!(
                "{shown}: key `handshake_timeout_ms`: must be 1000 to 600000, got {}",
                config.handshake_timeout_ms
            );
        }
        if let Err((key, message)) = config.connections.check() {
            anyhow::bail!("{shown}: key `connections.{key}`: {message}");
        }
        if let Err((key, message)) = config.intake.check() {
            anyhow::bail!("{shown}: key `intake.{key}`: {message}");
        }
        if let Some(crl) = &config.sentry_crl
            && let Err(e) = std::fs::metadata(crl)
        {
            anyhow::bail!(
                "{shown}: key `sentry_crl`: cannot read {}: {e} (`kraken-base pki crl DIR` writes one)",
                crl.display()
            );
        }
        if config.admin.listen == config.listen {
            anyhow::bail!("{shown}: key `admin.listen`: must differ from `listen`");
        }
        if !config.admin.listen.ip().is_loopback() && !config.admin.tls {
            anyhow::bail!(
                "{shown}: key `admin.listen`: {} is not a loopback address, and the admin API would be \
                 plain HTTP there: set `tls = true` in [admin] (HTTPS with the base's certificate), or \
                 listen on 127.0.0.1 and use an SSH tunnel (ssh -L 7141:127.0.0.1:7141 THIS-HOST)",
                config.admin.listen
            );
        }
        if let Some(url) = &config.admin.url {
            let scheme = if config.admin.tls { "https://" } else { "http://" };
            if !url.starts_with(scheme) || url.len() == scheme.len() {
                anyhow::bail!(
                    "{shown}: key `admin.url`: must start with {scheme} (as `tls` says), got {url:?}"
                );
            }
        }
        if let Some(ca) = &config.admin.ca
            && let Err(e) = std::fs::metadata(ca)
        {
            anyhow::bail!("{shown}: key `admin.ca`: cannot read {}: {e}", ca.display());
        }
        if config.retention.max_age_days == 0 {
            anyhow::bail!(
                "{shown}: key `retention.max_age_days`: must be at least 1 (0 would delete every record \
                 each minute; leave it out for the default, {DEFAULT_MAX_AGE_DAYS})"
            );
        }
        if config.retention.max_bytes_per_sentry < 1 << 20 {
            anyhow::bail!(
                "{shown}: key `retention.max_bytes_per_sentry`: must be at least 1048576 (1 MiB), got {}",
                config.retention.max_bytes_per_sentry
            );
        }
        if let StorageConfig::Clickhouse(settings) = &config.storage {
            if let Err((key, message)) = settings.check() {
                anyhow::bail!("{shown}: key `storage.{key}`: {message}");
            }
            if let Err(e) = settings.password() {
                anyhow::bail!("{shown}: key `storage.password_file`: cannot read {e}");
            }
            if config.retention.max_records.is_some() {
                anyhow::bail!(
                    "{shown}: key `retention.max_records`: not available with ClickHouse storage, which \
                     deletes whole days: use `max_age_days`"
                );
            }
        }
        let mut names = std::collections::HashSet::new();
        for output in &config.forward {
            if let Err(message) = output.check() {
                anyhow::bail!("{shown}: {message}");
            }
            if !names.insert(output.name.as_str()) {
                anyhow::bail!("{shown}: [[forward]] {:?}: two outputs share this name", output.name);
            }
        }
        if config.retention.max_records == Some(0) {
            anyhow::bail!(
                "{shown}: key `retention.max_records`: must be at least 1 (0 would delete every record \
                 each minute; leave it out for no count limit)"
            );
        }
        Ok(config)
    }

    /// The storage file.
    pub fn storage_path(&self) -> PathBuf {
        self.data_dir.join("base.sqlite3")
    }

    /// The admin token file.
    pub fn token_path(&self) -> PathBuf {
        self.data_dir.join("admin.token")
    }

    /// The metrics token file (good for `GET /metrics` only).
    pub fn metrics_token_path(&self) -> PathBuf {
        self.data_dir.join("metrics.token")
    }

    /// The CA the admin API's certificate is checked with.
    pub fn admin_ca(&self) -> &Path {
        self.admin.ca.as_deref().unwrap_or(&self.sentry_ca)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads a configuration made of the required keys (pointing at a file that exists) and
    /// `extra`.
    fn load_with(name: &str, extra: &str) -> anyhow::Result<BaseConfig> {
        let dir = std::env::temp_dir().join(format!("kraken-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("base.toml");
        let existing = path.display().to_string();
        std::fs::write(
            &path,
            format!(
                "data_dir = {:?}\ncertificate = {existing:?}\nkey = {existing:?}\nsentry_ca = {existing:?}\n{extra}",
                dir.join("data").display().to_string()
            ),
        )
        .unwrap();
        let loaded = BaseConfig::load(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        loaded
    }

    #[test]
    fn retention_is_30_days_by_default() {
        let config = load_with("default", "").unwrap();
        assert_eq!((config.retention.max_age_days, config.retention.max_records), (30, None));
        let config = load_with("set", "[retention]\nmax_records = 5\n").unwrap();
        assert_eq!((config.retention.max_age_days, config.retention.max_records), (30, Some(5)));
    }

    #[test]
    fn zero_retention_limits_are_refused() {
        let error = load_with("records0", "[retention]\nmax_records = 0\n").unwrap_err().to_string();
        assert!(error.contains("key `retention.max_records`: must be at least 1"), "{error}");
        let error = load_with("age0", "[retention]\nmax_age_days = 0\n").unwrap_err().to_string();
        assert!(error.contains("key `retention.max_age_days`: must be at least 1"), "{error}");
    }

    #[test]
    fn storage_is_sqlite_unless_clickhouse_is_named() {
        assert_eq!(load_with("storage-default", "").unwrap().storage, StorageConfig::Sqlite {});
        let config = load_with(
            "storage-ch",
            "[storage]\nkind = \"clickhouse\"\nurl = \"http://ch:8123\"\nnode = \"base-2\"\n",
        )
        .unwrap();
        let StorageConfig::Clickhouse(settings) = config.storage else { panic!("{:?}", config.storage) };
        assert_eq!((settings.url.as_str(), settings.node.as_deref()), ("http://ch:8123", Some("base-2")));
        assert_eq!(settings.records_table, "records");
        for (extra, expected) in [
            ("[storage]\nkind = \"clickhouse\"\nrecords_table = \"r; DROP\"\n", "storage.records_table"),
            ("[storage]\nkind = \"clickhouse\"\nurl = \"ftp://x\"\n", "storage.url"),
            ("[storage]\nkind = \"clickhouse\"\nurll = \"http://x\"\n", "unknown field `urll`"),
            ("[storage]\nkind = \"sqlite\"\nurl = \"http://x\"\n", "unknown field `url`"),
            ("[storage]\nkind = \"postgres\"\n", "unknown variant `postgres`"),
            (
                "[storage]\nkind = \"clickhouse\"\n[retention]\nmax_records = 5\n",
                "not available with ClickHouse",
            ),
        ] {
            let error = load_with("storage-bad", extra).unwrap_err().to_string();
            assert!(error.contains(expected), "{extra}: {error}");
        }
    }

    #[test]
    fn the_admin_api_listens_off_loopback_only_with_tls() {
        for address in ["0.0.0.0:7141", "[::]:7141", "192.0.2.1:7141"] {
            let error =
                load_with("admin", &format!("[admin]\nlisten = {address:?}\n")).unwrap_err().to_string();
            assert!(
                error.contains("is not a loopback address") && error.contains("tls = true"),
                "{address}: {error}"
            );
            load_with("admin-tls", &format!("[admin]\nlisten = {address:?}\ntls = true\n")).unwrap();
        }
        for address in ["127.0.0.1:7141", "[::1]:7141", "127.0.0.2:7141"] {
            load_with("admin-ok", &format!("[admin]\nlisten = {address:?}\n")).unwrap();
        }
    }
}
