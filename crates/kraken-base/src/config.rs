//! The base's configuration: one TOML file, checked completely before anything starts.
//!
//! ```toml
//! listen = "0.0.0.0:7140"              # where sentries connect (mutual TLS)
//! data_dir = "/var/lib/kraken-base"    # storage (base.sqlite3) and the admin token
//! certificate = "/etc/kraken-base/pki/base.pem"
//! key = "/etc/kraken-base/pki/base.key"
//! sentry_ca = "/etc/kraken-base/pki/ca.pem"   # the CA that signs sentry certificates
//! allowed_sentries = ["sentry-1"]      # optional: only these GUIDs may connect
//! connect_all_loggers = false          # connect every logger of every sentry at hello
//! handshake_timeout_ms = 5000          # how long a sentry's TLS handshake may take
//!
//! [admin]
//! listen = "127.0.0.1:7141"            # the HTTP JSON API (token in data_dir/admin.token)
//!
//! [retention]                          # checked every minute; both optional
//! max_age_days = 30                    # delete records received longer ago
//! max_records = 100000000              # keep at most this many (the newest)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    #[serde(default)]
    pub connect_all_loggers: bool,
    /// How long a connecting sentry's TLS handshake may take (a slow client holds a handshake
    /// slot no longer than this).
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// `[retention]`: how long records are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub max_age_days: Option<u32>,
    pub max_records: Option<u64>,
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { listen: "127.0.0.1:7141".parse().expect("a valid address") }
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
        if config.admin.listen == config.listen {
            anyhow::bail!("{shown}: key `admin.listen`: must differ from `listen`");
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
}
