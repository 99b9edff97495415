//! The real `kraken-sentry` binary as an operator runs it: `run` in the background, `logger`
//! and `processcheck` beside it, Ctrl-C (SIGINT) to stop. Unix only (signals).
#![cfg(unix)]

mod common;
#[path = "../../kraken-base/tests/ports/mod.rs"]
mod ports;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// A data directory, a config and a record file for one test.
struct Setup {
    dir: PathBuf,
    config: PathBuf,
    records: PathBuf,
}

impl Setup {
    fn new(name: &str, extra: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!("kraken-e2e-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let records = dir.join("records.jsonl");
        let config = dir.join("sentry.toml");
        let text = format!(
            "data_dir = {:?}\n[output]\npath = {:?}\n{extra}",
            dir.join("data").to_string_lossy(),
            records.to_string_lossy()
        );
        fs::write(&config, text).unwrap();
        Setup { dir, config, records }
    }

    /// `kraken-sentry <args> --config <this config>`, which must succeed; its stdout.
    fn cli(&self, args: &[&str]) -> String {
        let output = self.cli_output(args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    fn cli_output(&self, args: &[&str]) -> std::process::Output {
        let config = self.config.to_string_lossy().into_owned();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", &config]);
        common::run(&all, None)
    }

    fn start_agent(&self) -> Agent {
        let stderr = fs::File::create(self.dir.join("agent.stderr")).unwrap();
        let child = Command::new(common::bin())
            .args(["run", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Agent { child, stderr: self.dir.join("agent.stderr") }
    }

    /// Records written so far, as JSON: the complete lines (the agent may be writing the next).
    fn records(&self) -> Vec<Json> {
        let text = fs::read_to_string(&self.records).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}")))
            .collect()
    }

    fn records_of(&self, logger: &str) -> Vec<Json> {
        self.records().into_iter().filter(|r| r["logger"] == logger).collect()
    }

    /// Waits until `logger` has written at least `count` records in all.
    fn wait_for_records(&self, logger: &str, count: usize) -> Vec<Json> {
        wait_until(Duration::from_secs(20), || {
            let records = self.records_of(logger);
            (records.len() >= count).then_some(records)
        })
        .unwrap_or_else(|| panic!("{logger} did not write {count} records: {:?}", self.records_of(logger)))
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

struct Agent {
    child: Child,
    stderr: PathBuf,
}

impl Agent {
    /// Ctrl-C, then the exit status and what the agent printed on stderr.
    fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let status =
            wait_until(Duration::from_secs(15), || self.child.try_wait().unwrap()).unwrap_or_else(|| {
                let _ = self.child.kill();
                panic!("the agent did not stop on SIGINT: {}", read(&self.stderr))
            });
        (status, read(&self.stderr))
    }

    fn stderr(&self) -> String {
        read(&self.stderr)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn wait_until<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const NO_DEFAULTS: &str = "[loggers]\ncreate_defaults = false\n";

#[test]
fn a_logger_runs_again_after_a_restart_and_follows_the_operator() {
    let setup = Setup::new("lifecycle", NO_DEFAULTS);
    setup.cli(&["logger", "create", "memory-usage", "mem", "--description", "memory every second"]);
    setup.cli(&["logger", "start", "mem", "--interval", "1000"]);

    let agent = setup.start_agent();
    let records = setup.wait_for_records("mem", 2);
    assert_eq!(records[0]["params"]["logtype"], "system");
    assert!(records[0]["params"]["ptotal"].as_i64().unwrap() > 0);
    let (status, stderr) = agent.interrupt();
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(stderr.contains("agent stopped"), "{stderr}");

    // The store still says running: a new agent starts it without being told.
    let before = setup.records_of("mem").len();
    let agent = setup.start_agent();
    setup.wait_for_records("mem", before + 1);
    assert!(setup.cli(&["logger", "list"]).lines().any(|l| l.starts_with("mem ") && l.contains(" true ")));

    // An operator changes its interval while it runs: the agent restarts it at the new one.
    setup.cli(&["logger", "start", "mem", "--interval", "2000"]);
    let restarted = wait_until(Duration::from_secs(10), || {
        agent.stderr().contains("restarting logger at its new interval").then_some(())
    });
    assert!(restarted.is_some(), "{}", agent.stderr());

    // An operator stops it while the agent runs: the agent applies it within a second or two.
    setup.cli(&["logger", "stop", "mem"]);
    std::thread::sleep(Duration::from_millis(2_500));
    let settled = setup.records_of("mem").len();
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(setup.records_of("mem").len(), settled, "records kept coming after `logger stop`");
    assert!(agent.stderr().contains("stopping logger as the store says"), "{}", agent.stderr());

    // And removes it; a running one could not have been removed.
    setup.cli(&["logger", "remove", "mem"]);
    let list = setup.cli(&["logger", "list"]);
    assert!(!list.contains("mem"), "{list}");
    let (status, _) = agent.interrupt();
    assert!(status.success());
}

#[test]
fn operator_mistakes_are_refused_with_clear_messages() {
    let setup = Setup::new("refusals", NO_DEFAULTS);
    setup.cli(&["logger", "create", "cpu-usage", "cpu1"]);
    let cases: [(&[&str], &str); 6] = [
        (&["logger", "create", "cpu-usage", "cpu1"], "logger already exists: local\\cpu1"),
        (&["logger", "create", "no-such-factory", "x"], "logger factory not found: no-such-factory"),
        (&["logger", "create", "cpu-usage", "x", "--option", "colour=red"], "cpu-usage takes no options"),
        (&["logger", "start", "cpu1", "--interval", "10"], "interval must be at least 1000 ms, got 10"),
        (
            &["logger", "start", "cpu1", "--interval", "3000000000"],
            "interval must be at most 2147483647 ms, got 3000000000",
        ),
        (&["processcheck", "set", "sshd", "maybe"], "policy must be allow or deny"),
    ];
    for (args, expected) in cases {
        let output = setup.cli_output(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    setup.cli(&["logger", "start", "cpu1", "--interval", "1000"]);
    let output = setup.cli_output(&["logger", "remove", "cpu1"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("logger is running: cpu1"));
}

#[test]
fn a_failing_run_is_reported_and_the_logger_keeps_running() {
    let setup = Setup::new("failing", NO_DEFAULTS);
    setup.cli(&["processcheck", "set", "no-such-process-kraken", "allow"]);
    setup.cli(&["logger", "create", "process-check", "pc"]);
    setup.cli(&["logger", "start", "pc", "--interval", "1000"]);
    let agent = setup.start_agent();
    setup.wait_for_records("pc", 1);

    // Another process damages the state store: the checklist table is gone, so process-check
    // runs fail until it is back.
    let outsider = rusqlite::Connection::open(setup.dir.join("data").join("state.sqlite3")).unwrap();
    outsider.busy_timeout(Duration::from_secs(10)).unwrap();
    outsider.execute_batch("ALTER TABLE process_checklist RENAME TO checklist_aside").unwrap();
    let reported =
        wait_until(Duration::from_secs(20), || agent.stderr().contains("logger run failed").then_some(()));
    assert!(reported.is_some(), "no failure reported: {}", agent.stderr());
    assert!(agent.stderr().contains("no such table: process_checklist"), "{}", agent.stderr());
    // More runs fail the same way: the agent's log says it once (again only after 10 minutes).
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(agent.stderr().matches("logger run failed").count(), 1, "{}", agent.stderr());
    outsider.execute_batch("ALTER TABLE checklist_aside RENAME TO process_checklist").unwrap();

    let after_failure = setup.records_of("pc").len();
    setup.wait_for_records("pc", after_failure + 2);
    assert!(agent.stderr().contains("logger run succeeded after failed runs"), "{}", agent.stderr());
    let (status, stderr) = agent.interrupt();
    assert!(status.success(), "{stderr}");
}

#[test]
fn the_checklist_reports_a_missing_allowed_process_on_the_first_run() {
    let setup = Setup::new("checklist", NO_DEFAULTS);
    setup.cli(&["processcheck", "set", "No-Such-Process-Kraken", "allow"]);
    setup.cli(&["processcheck", "set", "kraken-sentry", "deny"]);
    let list = setup.cli(&["processcheck", "list"]);
    assert!(
        list.contains("no-such-process-kraken  allow") && list.contains("kraken-sentry           deny"),
        "{list}"
    );
    setup.cli(&["logger", "create", "process-check", "pc"]);
    setup.cli(&["logger", "start", "pc", "--interval", "60000"]);
    let agent = setup.start_agent();
    let first_run = setup.wait_for_records("pc", 2);
    let missing = first_run.iter().find(|r| r["params"]["name"] == "no-such-process-kraken").unwrap();
    assert_eq!(missing["params"]["running"], false);
    assert_eq!(missing["params"]["status"], "warning");
    assert_eq!(missing["msg"], "process check: warning, [no-such-process-kraken] is not running");
    // The agent itself is a running, denied process.
    let itself = first_run.iter().find(|r| r["params"]["name"] == "kraken-sentry").unwrap();
    assert_eq!(
        (itself["params"]["running"].clone(), itself["params"]["status"].clone()),
        (true.into(), "warning".into())
    );
    agent.interrupt();
}

#[test]
fn the_first_start_creates_and_runs_the_default_loggers() {
    let setup = Setup::new("defaults", "[loggers]\ndefault_interval_ms = 1000\n");
    let agent = setup.start_agent();
    for logger in ["cpu", "memory", "network", "disk"] {
        let records = setup.wait_for_records(logger, 1);
        assert!(records[0]["msg"].is_string() && records[0]["date"].is_string(), "{records:?}");
    }
    let (status, _) = agent.interrupt();
    assert!(status.success());
}

#[test]
fn a_bad_config_file_stops_the_agent_before_it_starts() {
    let setup = Setup::new("bad-config", "");
    let cases = [
        ("[loggers]\nmin_interval_ms = 10\n", "key `loggers.min_interval_ms`: must be at least 100, got 10"),
        ("[loggers]\nmin_interval_ms = \"fast\"\n", "min_interval_ms"),
        ("colour = \"red\"\n", "unknown field `colour`"),
        ("guid = \n", "TOML parse error"),
    ];
    for (text, expected) in cases {
        fs::write(&setup.config, text).unwrap();
        let output = setup.cli_output(&["run"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{text:?}: {stderr}");
        assert!(stderr.contains(&setup.config.to_string_lossy().into_owned()), "names the file: {stderr}");
        assert!(stderr.contains(expected), "{text:?}: {stderr}");
        assert!(!setup.dir.join("data").exists(), "nothing was created");
    }
}

#[test]
fn a_corrupt_state_store_is_reported_and_left_alone() {
    let setup = Setup::new("corrupt", NO_DEFAULTS);
    let data = setup.dir.join("data");
    fs::create_dir_all(&data).unwrap();
    let garbage = vec![0x42u8; 16_384];
    fs::write(data.join("state.sqlite3"), &garbage).unwrap();
    let output = setup.cli_output(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("state.sqlite3 is corrupt"), "{stderr}");
    assert_eq!(fs::read(data.join("state.sqlite3")).unwrap(), garbage);
}

#[test]
fn the_agent_stops_when_its_standard_output_is_closed() {
    use std::io::{BufRead, BufReader};
    let setup = Setup::new("stdout", "[loggers]\ndefault_interval_ms = 1000\n");
    // Records to standard output this time (no [output] path).
    let text = format!(
        "data_dir = {:?}\n[loggers]\ndefault_interval_ms = 1000\n",
        setup.dir.join("data").to_string_lossy()
    );
    fs::write(&setup.config, text).unwrap();
    let mut child = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&setup.config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"date\""), "{first}");
    // The reader is gone (`kraken-sentry run | head -1`): the agent must not run on blind.
    let status = wait_until(Duration::from_secs(15), || child.try_wait().unwrap());
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the agent kept running with nobody reading its output");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("standard output was closed"), "{stderr}");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A data directory and a store an older version left open to everyone (0755, 0644) are the
/// agent's alone once it has started, the write-ahead log and its index too, and it says so.
#[test]
fn the_data_directory_and_the_store_are_the_agents_alone_after_a_start() {
    let setup = Setup::new("modes", NO_DEFAULTS);
    let data = setup.dir.join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("state.sqlite3"), b"").unwrap(); // an empty file is an empty store
    set_mode(&data, 0o755);
    set_mode(&data.join("state.sqlite3"), 0o644);
    let agent = setup.start_agent();
    let started =
        wait_until(Duration::from_secs(20), || agent.stderr().contains("agent started").then_some(()));
    assert!(started.is_some(), "{}", agent.stderr());
    let files =
        ["state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"].map(|name| mode(&data.join(name)));
    assert_eq!((mode(&data), files), (0o700, [0o600; 3]));
    let (status, stderr) = agent.interrupt();
    assert!(status.success(), "{stderr}");
    for (what, from) in [("the data directory", "0755"), ("the state store", "0644")] {
        let said = stderr
            .lines()
            .any(|line| line.contains(&format!("{what} was open to other accounts")) && line.contains(from));
        assert!(said, "no warning for {what}: {stderr}");
    }
}

/// A `[[base]]` with its certificate, key and CA (the key with `key_mode`), and a GUID.
fn base_section(dir: &Path, name: &str, key_mode: u32) -> String {
    for file in ["sentry.pem", "sentry.key", "ca.pem"] {
        fs::write(dir.join(file), "-----BEGIN PLACEHOLDER-----\n").unwrap();
    }
    set_mode(&dir.join("sentry.key"), key_mode);
    let path = |file: &str| dir.join(file).to_string_lossy().into_owned();
    format!(
        "guid = \"s1\"\n[links]\nmax_backoff_ms = 60000\n[[base]]\nname = {name:?}\naddress = \"127.0.0.1\"\n\
         port = 9\ncertificate = {:?}\nkey = {:?}\nca = {:?}\n",
        path("sentry.pem"),
        path("sentry.key"),
        path("ca.pem")
    )
}

#[test]
fn a_key_other_accounts_can_read_stops_the_agent_before_it_starts() {
    let setup = Setup::new("exposed-key", "");
    let text =
        format!("data_dir = {:?}\n{}", setup.dir.join("data"), base_section(&setup.dir, "central", 0o644));
    fs::write(&setup.config, text).unwrap();
    let output = setup.cli_output(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let key = setup.dir.join("sentry.key").to_string_lossy().into_owned();
    assert!(stderr.contains("refusing to start with private keys other accounts can read"), "{stderr}");
    assert!(stderr.contains(&format!("{key} has mode 0644")), "{stderr}");
    assert!(stderr.contains(&format!("chmod 600 {key}")), "{stderr}");
    assert!(!setup.dir.join("data").exists(), "nothing was created");
}

/// Spooled records for `base` (what a link would have left waiting), written with the store's
/// own queries.
fn spool_records(data: &Path, base: &str, count: u8) {
    let store = sentry::store::Store::open(data).unwrap();
    let entries: Vec<sentry::spool::SpoolEntry> = (0..count)
        .map(|n| sentry::spool::SpoolEntry {
            base: base.into(),
            logger: "cpu".into(),
            record: vec![n; 10],
            class: sentry::spool::DropClass::Performance,
        })
        .collect();
    store.subscribe(base, "cpu").unwrap();
    store.spool_append(&entries, &[("cpu", i64::from(count))], &[], 1 << 20).unwrap();
}

/// A base renamed or taken out of the configuration keeps its spool: each start names it in a
/// warning with its records; `spool forget` deletes it, and refuses a base still configured.
#[test]
fn the_spool_of_a_removed_base_is_kept_until_it_is_forgotten() {
    let setup = Setup::new("removed-base", NO_DEFAULTS);
    spool_records(&setup.dir.join("data"), "old-name", 3);

    let agent = setup.start_agent();
    let warned = wait_until(Duration::from_secs(20), || {
        agent
            .stderr()
            .lines()
            .find(|line| line.contains("a spool is kept for a base no longer configured"))
            .map(str::to_owned)
    });
    let warning = warned.unwrap_or_else(|| panic!("no warning: {}", agent.stderr()));
    assert!(
        warning.contains("base=old-name")
            && warning.contains("records=3")
            && warning.contains("spool forget \"old-name\""),
        "{warning}"
    );
    let (status, stderr) = agent.interrupt();
    assert!(status.success(), "{stderr}");
    let list = setup.cli(&["spool", "list"]);
    assert!(
        list.lines()
            .any(|line| line.split_whitespace().collect::<Vec<_>>() == ["old-name", "false", "3", "30", "0"]),
        "{list}"
    );

    let forgotten = setup.cli(&["spool", "forget", "old-name"]);
    assert!(forgotten.contains("spool of base \"old-name\" deleted: 3 records (30 bytes)"), "{forgotten}");
    assert!(!setup.cli(&["spool", "list"]).contains("old-name"));
    let again = setup.cli_output(&["spool", "forget", "old-name"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no spool for base \"old-name\""));
    let agent = setup.start_agent();
    let started =
        wait_until(Duration::from_secs(20), || agent.stderr().contains("agent started").then_some(()));
    assert!(started.is_some(), "{}", agent.stderr());
    let (_, stderr) = agent.interrupt();
    assert!(!stderr.contains("a spool is kept"), "forgotten, yet still reported: {stderr}");
}

#[test]
fn spool_forget_refuses_a_configured_base() {
    let setup = Setup::new("forget-configured", "");
    spool_records(&setup.dir.join("data"), "central", 2);
    let text =
        format!("data_dir = {:?}\n{}", setup.dir.join("data"), base_section(&setup.dir, "central", 0o600));
    fs::write(&setup.config, text).unwrap();
    let output = setup.cli_output(&["spool", "forget", "central"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("base \"central\" is configured in") && stderr.contains("its spool is in use"),
        "{stderr}"
    );
    let list = setup.cli(&["spool", "list"]);
    assert!(list.lines().any(|line| line.starts_with("central ") && line.contains(" true ")), "{list}");
}

/// A sample's number (OpenMetrics names a counter's family without `_total`: the parser sees
/// its samples as untyped).
fn number(value: &prometheus_parse::Value) -> f64 {
    match value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("not a number: {other:?}"),
    }
}

/// `GET path` on `address`: (status line, body).
fn http_get(address: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn metrics_are_served_on_the_local_listener_when_configured() {
    let port = ports::free_port();
    let setup = Setup::new("metrics", "");
    // A base whose certificate cannot be read: every attempt fails, and is counted.
    let text = format!(
        "data_dir = {:?}\n{}[output]\npath = {:?}\n[loggers]\ndefault_interval_ms = 1000\n\
         [metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        setup.dir.join("data"),
        base_section(&setup.dir, "away", 0o600),
        setup.records
    );
    fs::write(&setup.config, text).unwrap();
    let agent = setup.start_agent();
    setup.wait_for_records("cpu", 2);
    let address = format!("127.0.0.1:{port}");
    let samples = wait_until(Duration::from_secs(20), || {
        let (status, body) = http_get(&address, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        let samples =
            prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap().samples;
        let failures = samples.iter().find(|s| {
            s.metric == "kraken_sentry_link_failures_total" && s.labels.get("base") == Some("away")
        });
        failures.is_some_and(|s| number(&s.value) >= 1.0).then_some(samples)
    })
    .expect("the unreachable base's failed attempts were never counted");
    let value = |metric: &str, label: (&str, &str)| {
        let sample = samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1))
            .unwrap_or_else(|| panic!("no {metric} {label:?}"));
        number(&sample.value)
    };
    assert!(value("kraken_sentry_records_made_total", ("logger", "cpu")) >= 1.0);
    assert_eq!(value("kraken_sentry_logger_running", ("logger", "cpu")), 1.0);
    assert_eq!(value("kraken_sentry_logger_failures_total", ("logger", "cpu")), 0.0);
    assert_eq!(value("kraken_sentry_link_connected", ("base", "away")), 0.0);
    assert_eq!(value("kraken_sentry_spool_bytes", ("base", "away")), 0.0, "no logger connected by it");
    assert_eq!(value("kraken_sentry_spool_oldest_age_seconds", ("base", "away")), 0.0);
    let (status, _) = http_get(&address, "/other");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, stderr) = agent.interrupt();
    assert!(status.success(), "{stderr}");
}
