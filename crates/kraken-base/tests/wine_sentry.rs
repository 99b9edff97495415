//! The Windows sentry against the Linux base: `kraken-sentry.exe` (built for
//! x86_64-pc-windows-gnu, run by Wine) links to `kraken-base serve` on loopback over mutual
//! TLS, opens its log channel, answers `getProcesses` and `getRoutingTable` from its Win32
//! backend, and its default loggers' records are stored.
//!
//! It needs the Windows build and Wine, so it is ignored by a plain `cargo test`;
//! `scripts/test-wine-sentry.sh` (part of `scripts/test.sh`) builds the exe and runs it with
//! `KRAKEN_WINDOWS_SENTRY_EXE` and `KRAKEN_WINE_LOADER` set.
#![cfg(unix)]

mod deploy;

use std::fs;
use std::path::Path;
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
