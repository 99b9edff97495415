//! The base nodes under test: `kraken-base serve` processes (so their memory and CPU are their
//! own), with SQLite in their data dir or one shared ClickHouse; started, killed, started
//! again, stopped cleanly (SIGTERM: their record writers drain), and measured from /proc.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = env!("CARGO_BIN_EXE_kraken-base");

use crate::ports::free_port;

/// One node: its configuration, its process while it runs, and its peak RSS over every run.
pub struct Node {
    pub name: String,
    pub port: u16,
    config: PathBuf,
    log: PathBuf,
    process: Option<Child>,
    pub peak_rss: u64,
    /// The most threads it ran at once (of those seen every half second).
    pub peak_threads: u64,
}

impl Node {
    /// Writes node `index`'s configuration under `dir` (its storage `clickhouse` at that URL,
    /// or SQLite in its data dir) and starts it.
    pub fn start(dir: &Path, pki: &Path, index: usize, clickhouse: Option<&str>) -> anyhow::Result<Node> {
        let name = format!("node-{}", index + 1);
        let (port, admin) = (free_port(), free_port());
        let shown = |p: PathBuf| p.to_string_lossy().into_owned();
        let storage = match clickhouse {
            Some(url) => format!("[storage]\nkind = \"clickhouse\"\nurl = \"{url}\"\nnode = \"{name}\"\n"),
            None => String::new(),
        };
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                // Every simulated sentry dials from 127.0.0.1: the per-source limits are the
                // total's, which stays under what one process may hold open.
                "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\ncertificate = {:?}\nkey = {:?}\nsentry_ca = {:?}\n\
                 [connections]\nmax_total = 18000\nmax_per_source = 18000\nmax_pending = 18000\n\
                 max_pending_per_source = 18000\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n{storage}",
                shown(dir.join(format!("{name}-data"))),
                shown(pki.join("base.pem")),
                shown(pki.join("base.key")),
                shown(pki.join("ca.pem")),
            ),
        )?;
        let mut node = Node {
            log: dir.join(format!("{name}.log")),
            name,
            port,
            config,
            process: None,
            peak_rss: 0,
            peak_threads: 0,
        };
        node.start_again()?;
        Ok(node)
    }

    /// Starts the node's process; returns once it listens.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        // FLEET_NODE_WRAPPER runs each node under a tool (a heap profiler, say): "heaptrack -o
        // DIR/node". The node gets a process group of its own, so signals reach it through one.
        let mut command = match std::env::var("FLEET_NODE_WRAPPER") {
            Ok(wrapper) if !wrapper.trim().is_empty() => {
                let mut words = wrapper.split_whitespace();
                let mut command = Command::new(words.next().unwrap_or_default());
                command.args(words).arg(BASE);
                command
            }
            _ => Command::new(BASE),
        };
        let child = command
            .process_group(0)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not start: see {}",
                self.name,
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Notes the process's peak RSS so far.
    pub fn sample(&mut self) {
        if let Some(pid) = self.pid() {
            self.peak_rss = self.peak_rss.max(memory_of(pid).0);
            self.peak_threads = self.peak_threads.max(threads_of(pid));
        }
    }

    /// Kills the node at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.sample();
        if let Some(mut child) = self.process.take() {
            signal_group(&child, "-KILL");
            let _ = child.wait();
        }
    }

    /// Stops the node as an operator would (SIGTERM: it commits what it received).
    pub fn stop(&mut self) {
        self.sample();
        if let Some(mut child) = self.process.take() {
            signal_group(&child, "-TERM");
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if child.try_wait().ok().flatten().is_none() {
                signal_group(&child, "-KILL");
            }
            let _ = child.wait();
        }
    }

    /// Its SQLite file (for a node without ClickHouse).
    pub fn sqlite_file(&self) -> PathBuf {
        self.config.with_file_name(format!("{}-data", self.name)).join("base.sqlite3")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many threads `pid` runs.
fn threads_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// (peak RSS, current RSS) of `pid`, in bytes.
pub fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU time (user + system) `pid` has used so far.
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name.
    let clock_ticks = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clock_ticks)
}

/// Sends `signal` ("-TERM", "-KILL") to the node's process group: the node and any wrapper.
fn signal_group(child: &Child, signal: &str) {
    let _ =
        Command::new("kill").args([signal, "--", &format!("-{}", child.id())]).stderr(Stdio::null()).status();
}
