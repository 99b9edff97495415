//! The real binaries end to end: `kraken-base pki`, `kraken-base serve`, `kraken-sentry run`
//! linked to it over mutual TLS, and the base's CLI (`sentries`, `call`, `logger`, `logs`).
//! Unix only (the sentry is stopped with SIGINT).
#![cfg(unix)]

mod deploy;
mod ports;

use std::fs;
use std::path::Path;
use std::time::Duration;

use deploy::{
    BASE, Deployment, all_stored, made_since_first_stored, ok, run, sentry, serve, stored, wait_until,
};
use serde_json::Value as Json;

#[test]
fn a_sentry_links_to_a_base_and_the_base_sees_its_records_and_sockets() {
    let deployment = Deployment::new("base", "sentry-e2e", "default_interval_ms = 1000");
    let (dir, port, config, sentry_config) = (
        deployment.dir.clone(),
        deployment.port,
        deployment.base_config.clone(),
        deployment.sentry_config.clone(),
    );
    let _base = serve(&config, &dir.join("base.log"));
    let _sentry = sentry(&sentry_config, &dir.join("sentry.log"));

    let connected = wait_until(Duration::from_secs(20), || {
        let output = run(Path::new(BASE), &["sentries", "--config", &config]);
        String::from_utf8_lossy(&output.stdout).contains("sentry-e2e  connected").then_some(())
    });
    assert!(
        connected.is_some(),
        "the sentry never connected; sentry log: {}",
        fs::read_to_string(dir.join("sentry.log")).unwrap_or_default()
    );

    // The base runs the sentry's commands.
    let netstat: Json = serde_json::from_str(&ok(run(
        Path::new(BASE),
        &["call", "--config", &config, "sentry-e2e", "getNetStat"],
    )))
    .unwrap();
    assert!(
        netstat["tcp"].as_array().unwrap().iter().any(|row| row["local_port"] == port),
        "the base's own listener: {netstat}"
    );
    let loggers: Json = serde_json::from_str(&ok(run(
        Path::new(BASE),
        &["logger", "--config", &config, "sentry-e2e", "list"],
    )))
    .unwrap();
    assert_eq!(loggers.as_array().unwrap().len(), 4, "{loggers}");

    // The default loggers were connected at hello: their records are stored with the seed's fields.
    let records = wait_until(Duration::from_secs(30), || {
        let text = ok(run(
            Path::new(BASE),
            &["logs", "--config", &config, "--sentry", "sentry-e2e", "--logger", "memory"],
        ));
        let records: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (records.len() >= 2).then_some(records)
    })
    .expect("no memory records reached the base");
    let params = &records[0]["params"];
    assert_eq!(params["logtype"], "system");
    assert!(params["ptotal"].as_i64().unwrap() > 0 && params["pfree"].is_i64() && params["vtotal"].is_i64());

    // An operator creates, connects and starts a logger from the base's CLI.
    let logger = |args: &[&str]| {
        let mut all = vec!["logger", "--config", &config, "sentry-e2e"];
        all.extend_from_slice(args);
        ok(run(Path::new(BASE), &all))
    };
    logger(&["create", "disk-usage", "disks"]);
    logger(&["connect", "disks"]);
    logger(&["start", "disks", "1000"]);
    let disks = wait_until(Duration::from_secs(30), || {
        let text = ok(run(
            Path::new(BASE),
            &["logs", "--config", &config, "--sentry", "sentry-e2e", "--logger", "disks"],
        ));
        let records: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (!records.is_empty()).then_some(records)
    })
    .expect("no records from the logger started from the base");
    assert!(disks.iter().any(|r| r["params"]["logtype"] == "total"), "{disks:?}");
    // Records came on the log channel the base asked for.
    let base_log = fs::read_to_string(dir.join("base.log")).unwrap();
    assert!(base_log.contains("log channel set"), "{base_log}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn nothing_is_lost_when_the_base_goes_away_or_the_sentry_is_killed() {
    let deployment =
        Deployment::new("loss", "sentry-loss", "min_interval_ms = 1000\ndefault_interval_ms = 1000");
    let (dir, config, sentry_config, records_file) = (
        deployment.dir.clone(),
        deployment.base_config.clone(),
        deployment.sentry_config.clone(),
        deployment.records.clone(),
    );
    let (base_log, sentry_log) = (dir.join("base.log"), dir.join("sentry.log"));
    let base = serve(&config, &base_log);
    let first_sentry = sentry(&sentry_config, &sentry_log);
    let flowing = wait_until(Duration::from_secs(30), || {
        (stored(&config, "sentry-loss", "memory").len() >= 3).then_some(())
    });
    assert!(
        flowing.is_some(),
        "no records; sentry log: {}",
        fs::read_to_string(&sentry_log).unwrap_or_default()
    );

    // The base dies without warning and stays away for 30 s; the sentry keeps logging at 1 s.
    drop(base);
    std::thread::sleep(Duration::from_secs(30));
    let _base = serve(&config, &base_log);
    // Then the sentry is killed (SIGKILL) mid-stream and started again.
    std::thread::sleep(Duration::from_secs(3));
    drop(first_sentry);
    let _sentry = sentry(&sentry_config, &sentry_log);
    std::thread::sleep(Duration::from_secs(3));
    // Stop the memory logger from the base (once the sentry is back), and wait for the spool to
    // drain.
    let stopped = wait_until(Duration::from_secs(30), || {
        run(Path::new(BASE), &["logger", "--config", &config, "sentry-loss", "stop", "memory"])
            .status
            .success()
            .then_some(())
    });
    assert!(
        stopped.is_some(),
        "the restarted sentry never came back: {}",
        fs::read_to_string(&sentry_log).unwrap_or_default()
    );
    // Records made before the base first connected the logger were never meant for it; from
    // the first one it stored on, every record made must arrive.
    let made = made_since_first_stored(&records_file, &config, "sentry-loss", "memory");
    assert!(made.len() >= 35, "too few records made across the outage and the kill: {}", made.len());
    let records = all_stored(&config, "sentry-loss", "memory", &made, Duration::from_secs(30))
        .unwrap_or_else(|missing| panic!("records were made but never stored: {missing:?}"));

    // Their sequence numbers: no gap, in order, and no repeats: what the killed sentry had in
    // flight is resent, and the base skips what it already stored (same epoch, same seq).
    let seqs: Vec<i64> = records.iter().map(|(seq, _)| *seq).collect();
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert!(unique.windows(2).all(|w| w[1] == w[0] + 1), "a gap in the sequence: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "out of order or repeated: {seqs:?}");
    let duplicates = seqs.len() - unique.len();
    eprintln!(
        "made {} records across a 30 s outage and a SIGKILL; stored {} (seq {}..={}, {duplicates} duplicates)",
        made.len(),
        seqs.len(),
        unique[0],
        unique[unique.len() - 1]
    );
    let _ = fs::remove_dir_all(&dir);
}
