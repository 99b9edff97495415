//! The Windows sentry against the Linux base: `kraken-sentry.exe` (built for
//! x86_64-pc-windows-gnu, run by Wine) links to `kraken-base serve` on loopback over mutual
//! TLS, opens its log channel, answers `getProcesses` and `getRoutingTable` from its Win32
//! backend, and its default loggers' records are stored.
//!
//! A second run puts the test `wevtapi.dll` (`tools/wevtapi-shim`: an event log kept in a
//! directory) beside a copy of the exe: the agent's own `security` logger, made at its first
//! start, reads that log through the real Win32 calls, and every Security event written while
//! it runs, while it is killed and while it is away reaches the base once.
//!
//! Another has that log archived while the agent is stopped (Windows closing a full log as
//! `Archive-Security-<time>.evtx` beside it): the events archived before they were read reach
//! the base once, from the archive file.
//!
//! A last one runs the exe's `eventlog channels` and `eventlog tail` commands over that log.
//!
//! They need the Windows build and Wine, so they are ignored by a plain `cargo test`;
//! `scripts/test-wine-sentry.sh` (part of `scripts/test.sh`) builds the exe and the DLL and runs
//! them with `KRAKEN_WINDOWS_SENTRY_EXE`, `KRAKEN_WINE_LOADER` and `KRAKEN_WEVTAPI_SHIM_DLL` set.
#![cfg(unix)]

mod deploy;
mod ports;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use deploy::{BASE, Deployment, Running, ok, run, serve, wait_until, wine_path};
use serde_json::Value as Json;

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test-wine-sentry.sh"))
}

#[test]
#[ignore = "needs the Windows kraken-sentry.exe and Wine: scripts/test-wine-sentry.sh runs it"]
fn the_windows_sentry_under_wine_links_to_the_linux_base() {
    let (exe, wine) = (required_env("KRAKEN_WINDOWS_SENTRY_EXE"), required_env("KRAKEN_WINE_LOADER"));
    let deployment =
        Deployment::for_wine("wine", "sentry-wine", "min_interval_ms = 500\ndefault_interval_ms = 500");
    let (dir, config) = (deployment.dir.clone(), deployment.base_config.clone());
    let _base = serve(&config, &dir.join("base.log"));
    // Wine's output goes to files, never to pipes (its background processes keep pipes open).
    let sentry_config = wine_path(&deployment.sentry_config);
    let mut sentry = Running(
        Command::new(&wine)
            .arg(&exe)
            .args(["run", "--config", &sentry_config])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("sentry.out")).unwrap())
            .stderr(fs::File::create(dir.join("sentry.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let sentry_log = || fs::read_to_string(dir.join("sentry.log")).unwrap_or_default();
    let connected = wait_until(Duration::from_secs(90), || {
        if let Some(status) = sentry.0.try_wait().unwrap() {
            panic!("the Windows sentry exited ({status}); its log: {}", sentry_log());
        }
        let output = run(Path::new(BASE), &["sentries", "--config", &config]);
        String::from_utf8_lossy(&output.stdout).contains("sentry-wine  connected").then_some(())
    });
    assert!(connected.is_some(), "the Windows sentry never connected; its log: {}", sentry_log());

    let call = |method: &str| -> Json {
        serde_json::from_str(&ok(run(Path::new(BASE), &["call", "--config", &config, "sentry-wine", method])))
            .unwrap()
    };
    let processes = call("getProcesses");
    let processes = processes.as_array().unwrap();
    let own = processes
        .iter()
        .find(|p| p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("kraken-sentry.exe")))
        .unwrap_or_else(|| panic!("the sentry's own process is missing: {processes:?}"));
    assert!(own["pid"].as_i64().unwrap() > 0 && own["working_set"].as_i64().unwrap() > 0, "{own}");
    let routes = call("getRoutingTable");
    let routes = routes.as_array().unwrap();
    assert!(!routes.is_empty(), "no IPv4 routes");
    for route in routes {
        for key in ["type", "protocol", "destination", "mask", "forward", "metric"] {
            assert!(!route[key].is_null(), "{key} missing in {route}");
        }
    }
    assert!(
        routes.iter().any(|r| r["destination"] == "127.0.0.0" || r["destination"] == "0.0.0.0"),
        "neither loopback nor default route: {routes:?}"
    );

    // The default loggers (connected at hello) ship records, over the log channel.
    for logger in ["cpu", "memory"] {
        let stored = wait_until(Duration::from_secs(60), || {
            let text = ok(run(
                Path::new(BASE),
                &["logs", "--config", &config, "--sentry", "sentry-wine", "--logger", logger],
            ));
            (text.lines().count() >= 2).then_some(text)
        });
        assert!(stored.is_some(), "no {logger} records from the Windows sentry; its log: {}", sentry_log());
    }
    let base_log = fs::read_to_string(dir.join("base.log")).unwrap();
    assert!(base_log.contains("log channel set"), "no log channel: {base_log}");

    // On Windows the first start also made the event loggers. Wine has no event log: each run
    // of `security` fails with "event log unavailable", and the agent keeps running (it still
    // answers, and the logger keeps its schedule).
    let security = wait_until(Duration::from_secs(60), || {
        let loggers: Json = serde_json::from_str(&ok(run(
            Path::new(BASE),
            &["logger", "--config", &config, "sentry-wine", "list"],
        )))
        .unwrap();
        loggers
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["logger_name"] == "security" && l["failed_runs"].as_i64().unwrap_or(0) >= 2)
            .cloned()
    })
    .unwrap_or_else(|| panic!("no failing security logger; sentry log: {}", sentry_log()));
    assert_eq!(security["factory_name"], "windows-event-logger", "{security}");
    let error = security["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("event log unavailable"), "{security}");
    let _ = call("getProcesses");
    drop(sentry);
    let _ = fs::remove_dir_all(&dir);
}

/// The test `wevtapi.dll`'s event log: a folder per channel, a file per event.
struct ShimLog {
    root: PathBuf,
}

impl ShimLog {
    fn new(root: PathBuf, channels: &[&str]) -> ShimLog {
        for channel in channels {
            fs::create_dir_all(root.join(channel)).unwrap();
        }
        ShimLog { root }
    }

    /// Writes Security event `id`, a logon of `user<id>` (through a temporary file, so the shim
    /// never sees half of it), by [`event_sid`]`(id)`.
    fn append_logon(&self, id: u64) {
        let xml = format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
             <Provider Name='Microsoft-Windows-Security-Auditing' Guid='{{54849625-5478-4994-a5ba-3e3b0328c30d}}'/>\
             <EventID>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task>\
             <Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>\
             <TimeCreated SystemTime='2024-05-01T{:02}:{:02}:{:02}.1234567Z'/>\
             <EventRecordID>{id}</EventRecordID><Correlation/>\
             <Execution ProcessID='4' ThreadID='8'/><Channel>Security</Channel>\
             <Computer>wine.example</Computer><Security UserID='{}'/></System>\
             <EventData><Data Name='TargetUserName'>user{id}</Data><Data Name='LogonType'>3</Data></EventData></Event>",
            id / 3600 % 24,
            id / 60 % 60,
            id % 60,
            event_sid(id),
        );
        self.write_event("Security", id, &xml);
    }

    /// Writes event `id` of `channel` with its XML (through a temporary file, so the shim never
    /// sees half of it).
    fn write_event(&self, channel: &str, id: u64, xml: &str) {
        let channel = self.root.join(channel);
        let temporary = channel.join(format!("{id}.tmp"));
        fs::write(&temporary, xml).unwrap();
        fs::rename(&temporary, channel.join(format!("{id}.xml"))).unwrap();
    }

    /// The shim's record of the calls on `channel`.
    fn calls(&self, channel: &str) -> String {
        fs::read_to_string(self.root.join(channel).join("calls.log")).unwrap_or_default()
    }
}

/// The SID of event `id`: SYSTEM for even ids, a domain account (unknown to Wine) for odd ones.
fn event_sid(id: u64) -> String {
    if id.is_multiple_of(2) { SYSTEM_SID.to_owned() } else { format!("S-1-5-21-1-2-3-{}", 1000 + id % 7) }
}

const SYSTEM_SID: &str = "S-1-5-18";

/// The `record_id` of each Security event record the base stored, with how many times it was
/// stored, the number of gap records, and of events named SYSTEM. Each event keeps its SID; a
/// name, looked up on the agent's lookup threads by Wine's `LookupAccountSidW`, is SYSTEM's on
/// SYSTEM's events (or none, where the lookup outlasted a read's budget), never on another's.
fn stored_security_events(config: &str, guid: &str) -> (BTreeMap<i64, usize>, usize, usize) {
    let (mut ids, mut gaps, mut named_system) = (BTreeMap::new(), 0, 0);
    for params in stored_params(config, guid, "security") {
        match params["record_id"].as_i64() {
            Some(id) if params["event_id"] == 4624 => {
                assert_eq!(params["user_sid"], event_sid(id as u64), "{params}");
                if params["user_sid"] == SYSTEM_SID {
                    named_system += usize::from(named_system_or_none(&params));
                } else {
                    let named = (params["user_domain"].as_str(), params["user"].as_str());
                    assert_eq!(named, (None, None), "a domain account Wine does not know: {params}");
                }
                *ids.entry(id).or_default() += 1;
            }
            _ if params["reason"].is_string() => gaps += 1,
            _ => panic!("an unexpected security record: {params}"),
        }
    }
    (ids, gaps, named_system)
}

/// The params of every record of `logger` the base stored (none while it cannot be asked).
fn stored_params(config: &str, guid: &str, logger: &str) -> Vec<Json> {
    let output = run(Path::new(BASE), &["logs", "--config", config, "--sentry", guid, "--logger", logger]);
    let text =
        if output.status.success() { String::from_utf8(output.stdout).unwrap() } else { String::new() };
    text.lines().map(|line| serde_json::from_str::<Json>(line).unwrap()["params"].clone()).collect()
}

/// Whether the record of an event by SYSTEM is named so; it is named SYSTEM or not at all
/// (the lookup outlasted the read's budget on a loaded machine), never otherwise.
fn named_system_or_none(params: &Json) -> bool {
    let named = (params["user_domain"].as_str(), params["user"].as_str());
    assert!(matches!(named, (Some("NT AUTHORITY"), Some("SYSTEM")) | (None, None)), "{params}");
    named.1.is_some()
}

/// A copy of the Windows exe beside the test `wevtapi.dll`, in `dir/bin` (a folder of its own:
/// Wine loads the DLL of the exe's folder).
fn exe_beside_the_shim(dir: &Path) -> PathBuf {
    let (exe, shim) = (required_env("KRAKEN_WINDOWS_SENTRY_EXE"), required_env("KRAKEN_WEVTAPI_SHIM_DLL"));
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(exe, bin.join("kraken-sentry.exe")).unwrap();
    fs::copy(shim, bin.join("wevtapi.dll")).unwrap();
    bin.join("kraken-sentry.exe")
}

/// `exe run` with the deployment's sentry configuration, reading the shim's event log `log`,
/// run by Wine in `dir`; its output and log appended to `sentry.out` and `sentry.log` there.
fn run_over_the_shim(exe: &Path, deployment: &Deployment, log: &ShimLog) -> Running {
    let dir = &deployment.dir;
    let output = |name: &str| fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).unwrap();
    Running(
        Command::new(required_env("KRAKEN_WINE_LOADER"))
            .arg(exe)
            .args(["run", "--config", &wine_path(&deployment.sentry_config)])
            .env("WINEDLLOVERRIDES", "wevtapi=n")
            .env("KRAKEN_WEVTAPI_DIR", wine_path(&log.root))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(output("sentry.out"))
            .stderr(output("sentry.log"))
            .spawn()
            .unwrap(),
    )
}

#[test]
#[ignore = "needs the Windows kraken-sentry.exe, the test wevtapi.dll and Wine: scripts/test-wine-sentry.sh runs it"]
fn security_events_reach_the_base_once_across_a_hard_kill_of_the_windows_sentry() {
    let guid = "sentry-wine-events";
    let deployment =
        Deployment::for_wine("wine-events", guid, "min_interval_ms = 500\ndefault_interval_ms = 500");
    let (dir, config) = (deployment.dir.clone(), deployment.base_config.clone());
    let exe = exe_beside_the_shim(&dir);
    let log = ShimLog::new(dir.join("eventlog"), &["Security", "System", "Application"]);
    // Written before the agent's first start: its loggers start after the newest event.
    for id in 1..=5 {
        log.append_logon(id);
    }
    let _base = serve(&config, &dir.join("base.log"));
    let start_sentry = || run_over_the_shim(&exe, &deployment, &log);
    let sentry_log = || fs::read_to_string(dir.join("sentry.log")).unwrap_or_default();
    let mut sentry = start_sentry();
    // The security logger subscribed after the newest record (`start_at = now`).
    let subscribed = wait_until(Duration::from_secs(90), || {
        if let Some(status) = sentry.0.try_wait().unwrap() {
            panic!("the Windows sentry exited ({status}); its log: {}", sentry_log());
        }
        log.calls("Security").contains("EvtSubscribe after 5 strict -> 0").then_some(())
    });
    assert!(subscribed.is_some(), "no subscription; calls: {}\nlog: {}", log.calls("Security"), sentry_log());

    // Events written while the agent runs, then a SIGKILL (no shutdown, whatever is in flight)
    // once some have been stored, more while it is away, and the rest after it started again.
    for id in 6..=205 {
        log.append_logon(id);
    }
    let some_stored = wait_until(Duration::from_secs(90), || {
        let (ids, _, _) = stored_security_events(&config, guid);
        (ids.len() >= 20).then_some(ids.len())
    });
    assert!(some_stored.is_some(), "no security events stored; sentry log: {}", sentry_log());
    drop(sentry);
    let calls_before_restart = log.calls("Security").lines().count();
    for id in 206..=405 {
        log.append_logon(id);
    }
    let _sentry = start_sentry();
    for id in 406..=605 {
        log.append_logon(id);
    }
    let all = wait_until(Duration::from_secs(120), || {
        let (ids, gaps, named_system) = stored_security_events(&config, guid);
        (ids.len() >= 600).then_some((ids, gaps, named_system))
    });
    let (ids, gaps, named_system) = all.unwrap_or_else(|| {
        let (ids, _, _) = stored_security_events(&config, guid);
        let missing: Vec<i64> = (6..=605).filter(|id| !ids.contains_key(id)).collect();
        panic!("{} events stored, missing {missing:?}; sentry log: {}", ids.len(), sentry_log())
    });
    assert_eq!(
        ids.keys().copied().collect::<Vec<_>>(),
        (6..=605).collect::<Vec<_>>(),
        "every event after the start"
    );
    let twice: Vec<(&i64, &usize)> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(gaps, 0, "nothing was lost, so no gap");
    assert!(named_system > 0, "no event named SYSTEM: the account lookups did not answer");
    // The restart looked up the record its saved position names (the time was kept with it),
    // found it, and subscribed after it.
    let calls = log.calls("Security");
    let after_restart: Vec<&str> = calls.lines().skip(calls_before_restart).collect();
    let resumed = after_restart.iter().enumerate().find_map(|(at, call)| {
        let id = call.strip_prefix("EvtSeek bookmark ")?.strip_suffix(" + 0 -> 0")?;
        let id: u64 = id.parse().ok().filter(|id| *id > 5)?;
        let subscribe = format!("EvtSubscribe after {id} strict -> 0");
        after_restart[at..].contains(&subscribe.as_str()).then_some(id)
    });
    assert!(resumed.is_some(), "no lookup and resume after a record read: {after_restart:#?}");
    let _ = fs::remove_dir_all(&dir);
}

/// The XML of `testdata/evtx/system.evtx`'s events, by record id (1 to 326, created on
/// 2017-07-12 from 17:16:28), as the agent's `.evtx` reader renders them.
fn sample_events() -> (PathBuf, Vec<String>) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx");
    let events = sentry_host_facts::eventlog::scripted::file_events(&sample);
    assert_eq!(events.len(), 326);
    (sample, events)
}

/// How many times the base stored each event record of `logger` (by `record_id`), and its gap
/// records.
fn stored_events_and_gaps(config: &str, guid: &str, logger: &str) -> (BTreeMap<i64, usize>, Vec<Json>) {
    let (mut ids, mut gaps) = (BTreeMap::new(), Vec::new());
    for params in stored_params(config, guid, logger) {
        match params["logtype"].as_str() {
            Some("system") => *ids.entry(params["record_id"].as_i64().unwrap()).or_default() += 1,
            Some("eventlog-gap") => gaps.push(params),
            _ => panic!("an unexpected record: {params}"),
        }
    }
    (ids, gaps)
}

#[test]
#[ignore = "needs the Windows kraken-sentry.exe, the test wevtapi.dll and Wine: scripts/test-wine-sentry.sh runs it"]
fn security_events_archived_while_the_windows_sentry_was_stopped_reach_the_base_once() {
    let guid = "sentry-wine-archive";
    let deployment =
        Deployment::for_wine("wine-archive", guid, "min_interval_ms = 500\ndefault_interval_ms = 500");
    let (dir, config) = (deployment.dir.clone(), deployment.base_config.clone());
    let exe = exe_beside_the_shim(&dir);
    let log = ShimLog::new(dir.join("eventlog"), &["Security", "System", "Application"]);
    // The Security log holds the sample file's events, written as they come: 1 to 5 before the
    // agent's first start (its `security` logger starts after the newest), 6 to 100 while it runs.
    let (sample, events) = sample_events();
    let write = |ids: std::ops::RangeInclusive<u64>| {
        ids.for_each(|id| log.write_event("Security", id, &events[id as usize - 1]));
    };
    write(1..=5);
    let _base = serve(&config, &dir.join("base.log"));
    let sentry_log = || fs::read_to_string(dir.join("sentry.log")).unwrap_or_default();
    let sentry = run_over_the_shim(&exe, &deployment, &log);
    let subscribed = wait_until(Duration::from_secs(90), || {
        log.calls("Security").contains("EvtSubscribe after 5 strict -> 0").then_some(())
    });
    assert!(subscribed.is_some(), "no subscription; calls: {}\nlog: {}", log.calls("Security"), sentry_log());
    write(6..=100);
    let stored = wait_until(Duration::from_secs(90), || {
        let (ids, _) = stored_events_and_gaps(&config, guid, "security");
        (ids.len() >= 95).then_some(())
    });
    assert!(stored.is_some(), "events 6 to 100 not stored; sentry log: {}", sentry_log());

    // Killed; meanwhile the other 226 events were written, the full log was closed as an archive
    // beside the log file (the sample file is that archive) and a new log begun.
    drop(sentry);
    write(101..=326);
    let archive = log.root.join("Security").join("Archive-Security-2017-07-12-17-21-00-000.evtx");
    fs::copy(&sample, &archive).unwrap();
    for id in 1..=326 {
        fs::remove_file(log.root.join("Security").join(format!("{id}.xml"))).unwrap();
    }
    for id in 327..=331 {
        log.append_logon(id);
    }
    let _sentry = run_over_the_shim(&exe, &deployment, &log);
    let all = wait_until(Duration::from_secs(120), || {
        let (ids, gaps) = stored_events_and_gaps(&config, guid, "security");
        (ids.len() >= 326).then_some((ids, gaps))
    });
    let (ids, gaps) = all.unwrap_or_else(|| {
        let (ids, _) = stored_events_and_gaps(&config, guid, "security");
        let missing: Vec<i64> = (6..=331).filter(|id| !ids.contains_key(id)).collect();
        panic!("{} events stored, missing {missing:?}; sentry log: {}", ids.len(), sentry_log())
    });
    std::thread::sleep(Duration::from_secs(2)); // nothing more comes
    let (ids_now, _) = stored_events_and_gaps(&config, guid, "security");
    assert_eq!(ids_now, ids);
    assert_eq!(
        ids.keys().copied().collect::<Vec<_>>(),
        (6..=331).collect::<Vec<_>>(),
        "every event after the start"
    );
    let twice: Vec<(&i64, &usize)> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["last_record_id"], 100, "{}", gaps[0]);
    assert_eq!(gaps[0]["resumed_at_record_id"], 327, "{}", gaps[0]);
    let named = gaps[0]["archives"][0].as_str().unwrap_or_default();
    assert!(named.ends_with("\\Security\\Archive-Security-2017-07-12-17-21-00-000.evtx"), "{}", gaps[0]);
    // The archived events by SYSTEM are named as live ones are (Wine's `LookupAccountSidW`).
    let archived_by_system: Vec<Json> = stored_params(&config, guid, "security")
        .into_iter()
        .filter(|params| params["record_id"].as_i64().is_some_and(|id| (101..=326).contains(&id)))
        .filter(|params| params["user_sid"] == SYSTEM_SID)
        .collect();
    assert!(!archived_by_system.is_empty(), "the sample has events by SYSTEM");
    let named = archived_by_system.iter().filter(|params| named_system_or_none(params)).count();
    assert!(named > 0, "none named");
    let _ = fs::remove_dir_all(&dir);
}

/// `kraken-sentry.exe eventlog ...` with the test `wevtapi.dll` beside a copy of it, run by Wine
/// in `dir`: its output and errors go to `<name>.out` and `<name>.err` (files, never pipes).
fn eventlog_command(dir: &Path, log: &ShimLog, name: &str, args: &[&str]) -> Running {
    let copied = dir.join("bin").join("kraken-sentry.exe");
    let exe = if copied.exists() { copied } else { exe_beside_the_shim(dir) };
    Running(
        Command::new(required_env("KRAKEN_WINE_LOADER"))
            .arg(exe)
            .arg("eventlog")
            .args(args)
            .env("WINEDLLOVERRIDES", "wevtapi=n")
            .env("KRAKEN_WEVTAPI_DIR", wine_path(&log.root))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join(format!("{name}.out"))).unwrap())
            .stderr(fs::File::create(dir.join(format!("{name}.err"))).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// The `record_id` of each JSON line `tail` printed, in order.
fn tailed_ids(dir: &Path, name: &str) -> Vec<i64> {
    let text = fs::read_to_string(dir.join(format!("{name}.out"))).unwrap_or_default();
    // The last line may still be half written.
    let whole = text.rsplit_once('\n').map_or("", |(whole, _)| whole);
    whole
        .lines()
        .map(|line| {
            let record: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            assert_eq!(record["params"]["event_id"], 4624, "{record}");
            let id = record["params"]["record_id"].as_i64().unwrap();
            assert_eq!(record["params"]["event_data"]["TargetUserName"], format!("user{id}"), "{record}");
            id
        })
        .collect()
}

#[test]
#[ignore = "needs the Windows kraken-sentry.exe, the test wevtapi.dll and Wine: scripts/test-wine-sentry.sh runs it"]
fn the_eventlog_commands_of_the_windows_sentry_read_the_live_log() {
    let dir = std::env::temp_dir().join(format!("kraken-e2e-wine-eventlog-cli-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let log = ShimLog::new(
        dir.join("eventlog"),
        &["Security", "System", "Application", "Setup", "Tracing", "Debugging"],
    );
    // EvtChannelConfigType: Operational 1, Analytic 2, Debug 3 (Admin 0 without the file).
    for (channel, kind) in [("Setup", 1), ("Tracing", 2), ("Debugging", 3)] {
        fs::write(log.root.join(channel).join("channel-type.txt"), kind.to_string()).unwrap();
    }
    let finished = |running: &mut Running, name: &str| {
        let status = wait_until(Duration::from_secs(90), || running.0.try_wait().unwrap());
        let read = |ext: &str| fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap_or_default();
        (
            status.unwrap_or_else(|| panic!("{name} did not end; errors: {}", read("err"))),
            read("out"),
            read("err"),
        )
    };

    // `channels`: the Admin and Operational ones, sorted.
    let mut channels = eventlog_command(&dir, &log, "channels", &["channels"]);
    let (status, out, err) = finished(&mut channels, "channels");
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["Application", "Security", "Setup", "System"], "{err}");

    // `tail` of a channel that does not exist: a clear error, no output.
    let mut missing = eventlog_command(&dir, &log, "missing", &["tail", "Nowhere"]);
    let (status, out, err) = finished(&mut missing, "missing");
    assert!(!status.success() && out.is_empty(), "{status}: {out}");
    assert!(err.contains("no event log channel \"Nowhere\""), "{err}");

    // `tail`: after the newest event at its start, each new one once, in order, also across a
    // failure that may pass (the event log service away: `EvtNext` fails with 1722).
    for id in 1..=3 {
        log.append_logon(id);
    }
    let _tail = eventlog_command(&dir, &log, "tail", &["tail", "Security"]);
    let subscribed = wait_until(Duration::from_secs(90), || {
        log.calls("Security").contains("EvtSubscribe after 3 strict -> 0").then_some(())
    });
    assert!(subscribed.is_some(), "no subscription; calls: {}", log.calls("Security"));
    for id in 4..=5 {
        log.append_logon(id);
    }
    let printed = wait_until(Duration::from_secs(60), || (tailed_ids(&dir, "tail").len() >= 2).then_some(()));
    assert!(
        printed.is_some(),
        "tail printed {:?}; calls: {}",
        tailed_ids(&dir, "tail"),
        log.calls("Security")
    );
    fs::write(log.root.join("Security").join("control.txt"), "next 1722\n").unwrap();
    for id in 6..=8 {
        log.append_logon(id);
    }
    let all = wait_until(Duration::from_secs(60), || (tailed_ids(&dir, "tail").len() >= 5).then_some(()));
    let errors = fs::read_to_string(dir.join("tail.err")).unwrap_or_default();
    assert!(all.is_some(), "tail printed {:?}; errors: {errors}", tailed_ids(&dir, "tail"));
    assert!(errors.contains("1722") && errors.contains("trying again in 5 s"), "{errors}");
    std::thread::sleep(Duration::from_secs(2)); // nothing more comes
    assert_eq!(tailed_ids(&dir, "tail"), (4..=8).collect::<Vec<_>>());

    // `tail --oldest`: from the oldest event.
    let _oldest = eventlog_command(&dir, &log, "oldest", &["tail", "Security", "--oldest"]);
    let all = wait_until(Duration::from_secs(90), || (tailed_ids(&dir, "oldest").len() >= 8).then_some(()));
    assert!(all.is_some(), "tail --oldest printed {:?}", tailed_ids(&dir, "oldest"));
    std::thread::sleep(Duration::from_secs(2)); // nothing more comes
    assert_eq!(tailed_ids(&dir, "oldest"), (1..=8).collect::<Vec<_>>());
    drop(_tail);
    drop(_oldest);
    let _ = fs::remove_dir_all(&dir);
}
