//! What the tests that run the real binaries share: a deployment (PKI, base and sentry
//! configurations) in a fresh directory, and starting, calling and stopping the programs.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BASE: &str = env!("CARGO_BIN_EXE_kraken-base");

/// The sentry binary, built beside the base's by `cargo test --workspace`, or the one
/// `KRAKEN_SENTRY_BIN` names (the static agent to ship: `scripts/test-linux-agent.sh`).
pub fn sentry_bin() -> PathBuf {
    let path = std::env::var_os("KRAKEN_SENTRY_BIN")
        .map_or_else(|| Path::new(BASE).with_file_name("kraken-sentry"), PathBuf::from);
    assert!(path.exists(), "{} missing: run the tests with --workspace", path.display());
    path
}

/// `path` as a Windows program under Wine names it: on the `Z:` drive, which maps `/`.
pub fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.to_string_lossy().replace('/', "\\"))
}

pub use crate::ports::free_port;

pub fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program).args(args).stdin(Stdio::null()).output().unwrap()
}

pub fn ok(output: Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_until<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A PKI, a base configuration and a sentry configuration in a fresh directory.
pub struct Deployment {
    pub dir: PathBuf,
    pub port: u16,
    pub base_config: String,
    pub sentry_config: PathBuf,
    pub records: PathBuf,
}

impl Deployment {
    /// `guid`'s certificate and both configurations; `loggers` goes in the sentry's
    /// `[loggers]` section.
    pub fn new(name: &str, guid: &str, loggers: &str) -> Deployment {
        Deployment::build(name, guid, loggers, |p| p.to_string_lossy().into_owned())
    }

    /// The same for a Windows sentry under Wine: the sentry's paths on Wine's `Z:` drive.
    pub fn for_wine(name: &str, guid: &str, loggers: &str) -> Deployment {
        Deployment::build(name, guid, loggers, |p| wine_path(&p))
    }

    fn build(name: &str, guid: &str, loggers: &str, sentry_path: fn(PathBuf) -> String) -> Deployment {
        let dir = std::env::temp_dir().join(format!("kraken-e2e-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let pki = dir.join("pki");
        let pki_text = pki.to_string_lossy().into_owned();
        ok(run(Path::new(BASE), &["pki", "init", &pki_text]));
        ok(run(Path::new(BASE), &["pki", "issue", guid, &pki_text]));
        let (port, admin) = (free_port(), free_port());
        let path = |p: PathBuf| p.to_string_lossy().into_owned();
        let base_config = dir.join("base.toml");
        fs::write(
            &base_config,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\ncertificate = {:?}\nkey = {:?}\nsentry_ca = {:?}\n\
                 connect_all_loggers = true\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n",
                path(dir.join("base-data")),
                path(pki.join("base.pem")),
                path(pki.join("base.key")),
                path(pki.join("ca.pem")),
            ),
        )
        .unwrap();
        let records = dir.join("records.jsonl");
        let sentry_config = dir.join("sentry.toml");
        fs::write(
            &sentry_config,
            format!(
                "guid = \"{guid}\"\ndata_dir = {:?}\n[loggers]\n{loggers}\n[output]\npath = {:?}\n\
                 [links]\nmax_backoff_ms = 300\n[[base]]\nname = \"local\"\naddress = \"127.0.0.1\"\nport = {port}\n\
                 certificate = {:?}\nkey = {:?}\nca = {:?}\n",
                sentry_path(dir.join("sentry-data")),
                sentry_path(records.clone()),
                sentry_path(pki.join(format!("{guid}.pem"))),
                sentry_path(pki.join(format!("{guid}.key"))),
                sentry_path(pki.join("ca.pem")),
            ),
        )
        .unwrap();
        Deployment { port, base_config: path(base_config), sentry_config, records, dir }
    }
}

/// Starts `kraken-base serve` with `config`, its log in `log`.
pub fn serve(config: &str, log: &Path) -> Running {
    let log = fs::File::create(log).unwrap();
    Running(
        Command::new(BASE)
            .args(["serve", "--config", config])
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Starts `kraken-sentry run` with `config`, its log appended to `log`.
pub fn sentry(config: &Path, log: &Path) -> Running {
    let log = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Running(
        Command::new(sentry_bin())
            .args(["run", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// (seq, date) of every record of `guid`'s `logger` the base stored, in storage order.
pub fn stored(config: &str, guid: &str, logger: &str) -> Vec<(i64, String)> {
    // Empty while the base is not up yet (no admin token, nothing listening).
    let output = run(Path::new(BASE), &["logs", "--config", config, "--sentry", guid, "--logger", logger]);
    let text =
        if output.status.success() { String::from_utf8(output.stdout).unwrap() } else { String::new() };
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| (r["seq"].as_i64().expect("a record without seq"), r["date"].as_str().unwrap().to_owned()))
        .collect()
}

/// The dates of the `logger` records the sentry made (its local `records` file) from the first
/// one the base stored on: what must all arrive. A line cut short by a kill is not a record
/// that was made durable.
pub fn made_since_first_stored(records: &Path, config: &str, guid: &str, logger: &str) -> Vec<String> {
    let first_stored =
        stored(config, guid, logger).into_iter().map(|(_, date)| date).min().expect("records stored");
    fs::read_to_string(records)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["logger"] == logger)
        .map(|r| r["date"].as_str().unwrap().to_owned())
        .filter(|date| *date >= first_stored)
        .collect()
}

/// What the base stored of `guid`'s `logger` once every record dated in `made` is there
/// (within `limit`); otherwise the dates still missing.
pub fn all_stored(
    config: &str,
    guid: &str,
    logger: &str,
    made: &[String],
    limit: Duration,
) -> Result<Vec<(i64, String)>, Vec<String>> {
    let arrived = wait_until(limit, || {
        let records = stored(config, guid, logger);
        let dates: std::collections::BTreeSet<&String> = records.iter().map(|(_, date)| date).collect();
        made.iter().all(|date| dates.contains(date)).then_some(records)
    });
    arrived.ok_or_else(|| {
        let dates: Vec<String> = stored(config, guid, logger).into_iter().map(|(_, d)| d).collect();
        made.iter().filter(|d| !dates.contains(d)).cloned().collect()
    })
}
