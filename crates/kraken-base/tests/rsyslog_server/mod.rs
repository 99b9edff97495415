//! rsyslog (Debian's `rsyslog` and `rsyslog-gnutls`, installed by `scripts/setup-debian.sh`)
//! started unprivileged on a free loopback port under a temp dir: `imtcp` over TLS with the
//! certificate it is given, `omfile` writing each message's raw text JSON-escaped, one per
//! line. Stopped with SIGTERM (it writes what it has taken first) or, when dropped, killed.
#![allow(dead_code)]

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

pub struct Rsyslog {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Rsyslog {
    /// Starts rsyslogd in `dir` with the CA, certificate and key `ca.pem`, `base.pem` and
    /// `base.key` of `pki` (a `kraken-base pki init` folder).
    pub fn start(dir: &Path, pki: &Path) -> Rsyslog {
        fs::create_dir_all(dir.join("work")).unwrap();
        let mut rsyslog = Rsyslog { dir: dir.to_owned(), port: free_port(), child: None };
        let path = |name: &str| pki.join(name).to_string_lossy().into_owned();
        let config = format!(
            r#"global(workDirectory="{work}" maxMessageSize="128k"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="raw" type="string" string="%rawmsg:::json%\n")
action(type="omfile" file="{out}" template="raw")
"#,
            work = dir.join("work").display(),
            ca = path("ca.pem"),
            cert = path("base.pem"),
            key = path("base.key"),
            port = rsyslog.port,
            out = rsyslog.output().display(),
        );
        fs::write(dir.join("rsyslog.conf"), config).unwrap();
        rsyslog.resume();
        rsyslog
    }

    /// The file messages are written to.
    pub fn output(&self) -> PathBuf {
        self.dir.join("received.log")
    }

    /// Starts rsyslogd (again), and waits until it listens.
    pub fn resume(&mut self) {
        let log =
            fs::OpenOptions::new().create(true).append(true).open(self.dir.join("rsyslogd.log")).unwrap();
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rsyslogd (scripts/setup-debian.sh installs rsyslog and rsyslog-gnutls)");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(15), "rsyslogd never listened: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it with SIGTERM, waiting for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("rsyslogd.log")).unwrap_or_default()
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<String> {
        fs::read_to_string(self.output())
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str::<String>(&format!("\"{line}\"")).expect("a JSON-escaped line"))
            .collect()
    }

    /// How many messages were received so far (lines written).
    pub fn count(&self) -> usize {
        fs::read(self.output()).map_or(0, |bytes| bytes.iter().filter(|b| **b == b'\n').count())
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

use crate::ports::free_port;
