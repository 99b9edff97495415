//! A ClickHouse server of the tests' own: Debian's `clickhouse-server` (installed by
//! `scripts/setup-debian.sh`), started unprivileged on free loopback ports with its data under
//! a temp dir, and stopped by pid (also when dropped).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the server.
const SERVER: &str = "/usr/sbin/clickhouse-server";

/// How long a start may take.
const START_LIMIT: Duration = Duration::from_secs(60);

pub struct ClickHouseServer {
    dir: PathBuf,
    http_port: u16,
    process: Option<Child>,
}

impl ClickHouseServer {
    /// Starts a server with its files under `dir` (made afresh).
    pub fn start(dir: &Path) -> ClickHouseServer {
        assert!(
            Path::new(SERVER).exists(),
            "{SERVER} is missing: run scripts/setup-debian.sh (it installs Debian's clickhouse-server)"
        );
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("users.xml"), USERS).unwrap();
        let mut server = ClickHouseServer { dir: dir.to_owned(), http_port: 0, process: None };
        // A port taken by another program between the pick and the bind: two more picks.
        for attempt in 1.. {
            let (http_port, tcp_port) = (free_port(), free_port());
            std::fs::write(dir.join("config.xml"), config(dir, http_port, tcp_port)).unwrap();
            server.http_port = http_port;
            match server.launch() {
                Ok(()) => break,
                Err(log) if attempt < 3 && log.contains("Address already in use") => continue,
                Err(log) => panic!("{SERVER} exited; its log: {log}"),
            }
        }
        server
    }

    /// The HTTP interface's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on the same files and port; returns once it answers.
    pub fn start_again(&mut self) {
        if let Err(log) = self.launch() {
            panic!("{SERVER} exited; its log: {log}");
        }
    }

    /// Starts the server on its configuration; returns once it answers, or the tail of its log
    /// if it exited first.
    fn launch(&mut self) -> Result<(), String> {
        assert!(self.process.is_none(), "already running");
        let log = |name: &str| {
            std::fs::File::options().create(true).append(true).open(self.dir.join(name)).unwrap()
        };
        let process = Command::new(SERVER)
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SERVER}: {e}"));
        self.process = Some(process);
        let started = Instant::now();
        while !self.answers() {
            if let Some(status) = self.process.as_mut().and_then(|p| p.try_wait().unwrap()) {
                self.process = None;
                return Err(format!("({status}) {}", self.log_tail()));
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "ClickHouse did not answer within {START_LIMIT:?}: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Runs `sql` over HTTP; its answer as text (panics on an error reply).
    pub fn query(&self, sql: &str) -> String {
        let (status, body) = http_post(self.http_port, sql);
        assert_eq!(status, 200, "{sql}: {body}");
        body
    }

    fn answers(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_ok()
            && http_post(self.http_port, "SELECT 1").1.trim() == "1"
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            + &std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        text.chars().rev().take(3000).collect::<Vec<_>>().into_iter().rev().collect()
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

use crate::ports::free_port;

/// A POST of `body` to ClickHouse's HTTP interface on `port`: (status, body).
fn http_post(port: u16, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request =
        format!("POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    let status = reply.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn config(dir: &Path, http_port: u16, tcp_port: u16) -> String {
    let dir = dir.display();
    format!(
        "<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog><console>0</console></logger>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
</yandex>
"
    )
}

const USERS: &str = "<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
";
