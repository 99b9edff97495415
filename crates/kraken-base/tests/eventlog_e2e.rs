//! The Windows event logger end to end with the real binaries, on its file source: a sentry
//! reads an `.evtx` file into a base. The base goes away for 30 s; with a 1 MiB spool, reading
//! fills it to 75 % and pauses (the rest waits in the file), and the sentry is killed (SIGKILL)
//! there, mid-file, and again once records flow. The base must store every event of the file
//! exactly once, and the spool must drop nothing.
//! Unix only (the programs are killed with signals).
#![cfg(unix)]

mod deploy;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use deploy::{BASE, Deployment, ok, run, sentry, sentry_bin, serve, wait_until};
use serde_json::Value as Json;

const GUID: &str = "sentry-evtx";

/// The `system.evtx` sample with its inactive chunks (`recover`): 1881 events.
const EVENTS: usize = 1881;

/// The record ids of every event record the base stored for `logger`, in storage order.
fn stored(config: &str, logger: &str) -> Vec<i64> {
    let output = run(Path::new(BASE), &["logs", "--config", config, "--sentry", GUID, "--logger", logger]);
    if !output.status.success() {
        return Vec::new(); // the base is not up
    }
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .filter(|r| r["params"]["logtype"] == "system")
        .map(|r| r["params"]["record_id"].as_i64().expect("an event without record_id"))
        .collect()
}

#[test]
fn every_event_of_a_file_is_stored_once_across_kills_and_a_base_outage() {
    // A spool of 1 MiB: the file's events (about 3 MB as records) cannot all wait in it, so
    // during the outage reading must pause at 75 % rather than drop anything.
    let deployment = Deployment::new(
        "evtx",
        GUID,
        "create_defaults = false\nmin_interval_ms = 1000\n[spool]\nmax_bytes = 1048576",
    );
    let (dir, config, sentry_config) =
        (deployment.dir.clone(), deployment.base_config.clone(), deployment.sentry_config.clone());
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx");
    let sentry_cli = |args: &[&str]| {
        let mut all = vec!["logger", "--config", sentry_config.to_str().unwrap()];
        all.extend_from_slice(args);
        ok(run(&sentry_bin(), &all))
    };
    let path_option = format!("evtx_path={}", sample.display());
    sentry_cli(&[
        "create",
        "windows-event-logger",
        "events",
        "--option",
        "event_source=System",
        "--option",
        &path_option,
        "--option",
        "recover=true",
        "--option",
        "max_events_per_run=20",
    ]);
    let (base_log, sentry_log) = (dir.join("base.log"), dir.join("sentry.log"));
    let base = serve(&config, &base_log);
    let first = sentry(&sentry_config, &sentry_log);
    // The base connects every logger at hello (the logger is still stopped).
    let connected = wait_until(Duration::from_secs(60), || {
        let output = run(Path::new(BASE), &["sentries", "--config", &config]);
        String::from_utf8_lossy(&output.stdout).contains(&format!("{GUID}  connected")).then_some(())
    });
    assert!(connected.is_some(), "the sentry never connected: {}", tail(&sentry_log));
    std::thread::sleep(Duration::from_secs(3));

    // The base goes away; the logger starts and reads into the spool until it is 75 % full,
    // then pauses: the rest of the file waits in the file.
    drop(base);
    let outage = Instant::now();
    sentry_cli(&["start", "events", "--interval", "1000"]);
    let paused = wait_until(Duration::from_secs(60), || {
        fs::read_to_string(&sentry_log)
            .unwrap_or_default()
            .contains("reading waits until it drains")
            .then_some(())
    });
    assert!(paused.is_some(), "reading never paused: {}", tail(&sentry_log));
    // Killed mid-file (SIGKILL), with records spooled and not sent, and started again.
    drop(first);
    let mut running = sentry(&sentry_config, &sentry_log);
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed()));
    let _base = serve(&config, &base_log);
    // Once records flow again, killed once more while they do.
    let flowing =
        wait_until(Duration::from_secs(60), || (!stored(&config, "events").is_empty()).then_some(()));
    assert!(flowing.is_some(), "nothing stored after the outage: {}", tail(&sentry_log));
    drop(running);
    running = sentry(&sentry_config, &sentry_log);
    let ids = wait_until(Duration::from_secs(60), || {
        let ids = stored(&config, "events");
        (ids.len() >= EVENTS).then_some(ids)
    })
    .unwrap_or_else(|| panic!("only {} of {EVENTS} events stored", stored(&config, "events").len()));
    std::thread::sleep(Duration::from_secs(2)); // anything still in flight would show as a duplicate
    let ids = { if stored(&config, "events").len() > ids.len() { stored(&config, "events") } else { ids } };
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for id in &ids {
        *counts.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(counts.len(), EVENTS, "every event of the file, once");
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), (1..=EVENTS as i64).collect::<Vec<_>>());
    let drops = ok(run(
        Path::new(BASE),
        &["logs", "--config", &config, "--sentry", GUID, "--logger", "sentry-spool"],
    ));
    assert!(drops.trim().is_empty(), "the spool dropped records: {drops}");
    eprintln!(
        "{EVENTS} events stored once across two kills (one mid-file while paused) and a 30 s base outage"
    );
    drop(running);
    let _ = fs::remove_dir_all(&dir);
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}
