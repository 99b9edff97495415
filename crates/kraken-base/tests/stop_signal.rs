//! `kraken-base serve` stops cleanly on SIGTERM, as on Ctrl-C: the real binary, sent SIGTERM
//! after a sentry stored records through it, with the sentry still connected and admin API
//! connections open (one idle, one halfway through its headers), logs that it is stopping,
//! exits with status 0 within the admin API's grace period, and leaves the records readable in
//! its storage. Unix only (signals).
#![cfg(unix)]

mod common;
mod deploy;
mod ports;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use deploy::{BASE, Deployment};
use kraken_base::config::BaseConfig;
use kraken_base::storage::{RecordFilter, SqliteStorage, Storage};
use kraken_codec::{Map, Value};
use kraken_rpc::ServiceTable;

/// The base's log, line by line, as it writes it.
struct Log {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Log {
    /// Waits up to `limit` for a line containing `text`; returns it.
    fn wait_for(&mut self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no {text:?} in the base's log:\n{}", self.seen.join("\n")),
            }
        }
    }
}

/// Kills the process `pid` (SIGKILL) if the test ends before it exited.
struct KillOnDrop(Option<String>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}

/// Records `msg-0`, `msg-1`... of logger `cpu`, as an `onLogBatch` carries them.
fn batch(count: i64) -> Value {
    let record = |n: i64| {
        let mut record = Map::new();
        record.insert("logger", Value::from("cpu"));
        record.insert("date", Value::Date(1_700_000_000_000 + n));
        record.insert("msg", Value::from(format!("msg-{n}")));
        record.insert("seq", Value::I64(n));
        record.insert("params", Value::Map(Map::new()));
        Value::Map(record)
    };
    Value::Array((0..count).map(record).collect())
}

#[test]
fn sigterm_stops_serve_with_status_0_and_what_it_stored_stays_readable() {
    let guid = "sentry-term";
    let deployment = Deployment::new("sigterm", guid, "");
    let mut child = Command::new(BASE)
        .args(["serve", "--config", &deployment.base_config])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut running = KillOnDrop(Some(pid.clone()));
    let stderr = child.stderr.take().unwrap();
    let (line_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end, so the base never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let (exit_tx, exited) = mpsc::channel::<std::io::Result<ExitStatus>>();
    std::thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });
    let mut log = Log { lines, seen: Vec::new() };
    log.wait_for("base running", Duration::from_secs(60));

    // A sentry stores three records; their acknowledgement means they are committed.
    let pki = deployment.dir.join("pki");
    let address = format!("127.0.0.1:{}", deployment.port).parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let connection = runtime.block_on(async {
        let connection = common::raw_connection(&pki, guid, address, ServiceTable::new()).await;
        let session = connection.create_session("kraken-base").await.unwrap();
        session.call("hello", vec![guid.into()]).await.unwrap();
        let ack = session.call("onLogBatch", vec![guid.into(), batch(3)]).await.unwrap();
        assert_eq!(ack, Value::I32(3));
        connection
    });

    // Admin API clients that never finish: one idle, one stuck in its headers.
    let admin = BaseConfig::load(Path::new(&deployment.base_config)).unwrap().admin.listen;
    let idle = std::net::TcpStream::connect(admin).unwrap();
    let mut halfway = std::net::TcpStream::connect(admin).unwrap();
    halfway.write_all(b"GET /api/sentries HTTP/1.1\r\nHost: x\r\n").unwrap();

    // SIGTERM, with the sentry still connected.
    let signalled = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success(), "kill -TERM {pid} failed");
    let line = log.wait_for("stopping", Duration::from_secs(30));
    assert!(line.contains("SIGTERM"), "{line}");
    let status = exited
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("the base did not exit within 30 s of SIGTERM:\n{}", log.seen.join("\n")));
    running.0 = None;
    assert_eq!(status.unwrap().code(), Some(0), "{}", log.seen.join("\n"));
    assert!(signalled.elapsed() < Duration::from_secs(8), "stopped {:?} after SIGTERM", signalled.elapsed());
    log.wait_for("stopped", Duration::from_secs(5));
    drop((idle, halfway));
    drop(connection);
    drop(runtime);

    // The records are in the storage the base left.
    let config = BaseConfig::load(Path::new(&deployment.base_config)).unwrap();
    let storage = SqliteStorage::open(&config.storage_path()).unwrap();
    let stored = storage.records(&RecordFilter::default()).unwrap();
    let messages: Vec<_> = stored.iter().map(|(_, r)| (r.guid.as_str(), r.msg.as_deref(), r.seq)).collect();
    assert_eq!(
        messages,
        [(guid, Some("msg-0"), Some(0)), (guid, Some("msg-1"), Some(1)), (guid, Some("msg-2"), Some(2))]
    );
    drop(storage);
    let _ = std::fs::remove_dir_all(&deployment.dir);
}
