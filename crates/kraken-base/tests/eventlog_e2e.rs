//! The Windows event logger end to end with the real binaries, on its file source: a sentry
//! reads an `.evtx` file into a base. The base goes away for 30 s; with a 1 MiB spool, reading
//! fills it to 75 % and pauses (the rest waits in the file), and the sentry is killed (SIGKILL)
//! there, mid-file, and again once records flow. The base must store every event of the file
//! exactly once, and the spool must drop nothing. With two bases, one away for good does not
//! stop the other's events.
//! Unix only (the programs are killed with signals).
#![cfg(unix)]

mod deploy;
mod ports;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use deploy::{BASE, Deployment, free_port, ok, run, sentry, sentry_bin, serve, wait_until};
use serde_json::Value as Json;

const GUID: &str = "sentry-evtx";

/// The `system.evtx` sample with its inactive chunks (`recover`): 1881 events.
const EVENTS: usize = 1881;

/// The record ids of every event record the base stored for `logger`, in storage order.
fn stored(config: &str, guid: &str, logger: &str) -> Vec<i64> {
    let output = run(Path::new(BASE), &["logs", "--config", config, "--sentry", guid, "--logger", logger]);
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
    create_file_logger(&sentry_config);
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
    logger_cli(&sentry_config, &["start", "events", "--interval", "1000"]);
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
        wait_until(Duration::from_secs(60), || (!stored(&config, GUID, "events").is_empty()).then_some(()));
    assert!(flowing.is_some(), "nothing stored after the outage: {}", tail(&sentry_log));
    drop(running);
    running = sentry(&sentry_config, &sentry_log);
    let ids = wait_until(Duration::from_secs(60), || {
        let ids = stored(&config, GUID, "events");
        (ids.len() >= EVENTS).then_some(ids)
    })
    .unwrap_or_else(|| panic!("only {} of {EVENTS} events stored", stored(&config, GUID, "events").len()));
    std::thread::sleep(Duration::from_secs(2)); // anything still in flight would show as a duplicate
    let ids = {
        if stored(&config, GUID, "events").len() > ids.len() { stored(&config, GUID, "events") } else { ids }
    };
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

#[test]
fn a_base_away_for_good_does_not_stop_another_bases_events() {
    // Two bases; the standby goes away before the logger starts and stays away. With a 1 MiB
    // spool its share fills past 75 %; it has acknowledged nothing for 3 s (`away_after_ms`),
    // so it is taken as away and the central base gets every event of the file, once.
    const AWAY_GUID: &str = "sentry-evtx-away";
    let deployment = Deployment::new(
        "evtx-away",
        AWAY_GUID,
        "create_defaults = false\nmin_interval_ms = 1000\n[spool]\nmax_bytes = 1048576\naway_after_ms = 3000",
    );
    let (dir, central, sentry_config) =
        (deployment.dir.clone(), deployment.base_config.clone(), deployment.sentry_config.clone());
    let (port, admin, pki) = (free_port(), free_port(), dir.join("pki"));
    let standby = dir.join("standby.toml").to_string_lossy().into_owned();
    fs::write(
        &standby,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\ncertificate = {:?}\nkey = {:?}\nsentry_ca = {:?}\n\
             connect_all_loggers = true\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n",
            dir.join("standby-data"),
            pki.join("base.pem"),
            pki.join("base.key"),
            pki.join("ca.pem"),
        ),
    )
    .unwrap();
    let mut sentry_text = fs::read_to_string(&sentry_config).unwrap();
    sentry_text.push_str(&format!(
        "[[base]]\nname = \"standby\"\naddress = \"127.0.0.1\"\nport = {port}\ncertificate = {:?}\nkey = {:?}\nca = {:?}\n",
        pki.join(format!("{AWAY_GUID}.pem")),
        pki.join(format!("{AWAY_GUID}.key")),
        pki.join("ca.pem"),
    ));
    fs::write(&sentry_config, sentry_text).unwrap();
    create_file_logger(&sentry_config);
    let (central_log, standby_log, sentry_log) =
        (dir.join("central.log"), dir.join("standby.log"), dir.join("sentry.log"));
    let _central = serve(&central, &central_log);
    let standby_base = serve(&standby, &standby_log);
    let running = sentry(&sentry_config, &sentry_log);
    for config in [&central, &standby] {
        // Each base connects every logger at hello (the logger is still stopped).
        let connected = wait_until(Duration::from_secs(60), || {
            let output = run(Path::new(BASE), &["sentries", "--config", config]);
            String::from_utf8_lossy(&output.stdout).contains(&format!("{AWAY_GUID}  connected")).then_some(())
        });
        assert!(connected.is_some(), "the sentry never connected to {config}: {}", tail(&sentry_log));
    }
    std::thread::sleep(Duration::from_secs(3));
    drop(standby_base);
    logger_cli(&sentry_config, &["start", "events", "--interval", "1000"]);
    let ids = wait_until(Duration::from_secs(120), || {
        let ids = stored(&central, AWAY_GUID, "events");
        (ids.len() >= EVENTS).then_some(ids)
    })
    .unwrap_or_else(|| {
        panic!(
            "only {} of {EVENTS} events reached the central base: {}",
            stored(&central, AWAY_GUID, "events").len(),
            tail(&sentry_log)
        )
    });
    let log = fs::read_to_string(&sentry_log).unwrap_or_default();
    assert!(log.contains("taken as away"), "the standby was never taken as away: {}", tail(&sentry_log));
    std::thread::sleep(Duration::from_secs(2)); // anything still in flight would show as a duplicate
    let ids = {
        if stored(&central, AWAY_GUID, "events").len() > ids.len() {
            stored(&central, AWAY_GUID, "events")
        } else {
            ids
        }
    };
    let unique: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (EVENTS, EVENTS), "every event at the central base, once");
    // The standby returns: its spool kept its bound, so it gets the newest events and a report
    // of what was dropped for it, nothing twice.
    let _standby = serve(&standby, &standby_log);
    let drops = wait_until(Duration::from_secs(60), || {
        let output = run(
            Path::new(BASE),
            &["logs", "--config", &standby, "--sentry", AWAY_GUID, "--logger", "sentry-spool"],
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success() && text.contains("spool-drop")).then_some(text)
    });
    assert!(drops.is_some(), "no drop report reached the standby: {}", tail(&sentry_log));
    let got = wait_until(Duration::from_secs(60), || {
        let ids = stored(&standby, AWAY_GUID, "events");
        (ids.last() == Some(&(EVENTS as i64))).then_some(ids)
    })
    .unwrap_or_else(|| panic!("the newest event never reached the standby: {}", tail(&sentry_log)));
    let unique: std::collections::BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "nothing twice at the standby");
    assert!(got.len() < EVENTS, "a 1 MiB spool cannot have kept every event: {}", got.len());
    eprintln!(
        "central base: {EVENTS} events with the standby away for good; standby on return: the newest {} and a drop report",
        got.len()
    );
    drop(running);
    let _ = fs::remove_dir_all(&dir);
}

/// `kraken-sentry logger ARGS` with the sentry's configuration.
fn logger_cli(sentry_config: &Path, args: &[&str]) -> String {
    let mut all = vec!["logger", "--config", sentry_config.to_str().unwrap()];
    all.extend_from_slice(args);
    ok(run(&sentry_bin(), &all))
}

/// Logger `events`, stopped: `system.evtx` with its inactive chunks, 20 events a run.
fn create_file_logger(sentry_config: &Path) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/evtx/system.evtx");
    let path_option = format!("evtx_path={}", sample.display());
    logger_cli(
        sentry_config,
        &[
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
        ],
    );
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}
