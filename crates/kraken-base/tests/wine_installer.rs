//! The Windows installer under Wine, in a fresh prefix, against the Linux base: a silent
//! install with `/BASE`... leaves the KrakenSentry service RUNNING, linked to the base, which
//! stores its records; `service stop` stops it within 10 s with its state committed; an
//! upgrade over it keeps the GUID, the state and the loggers; the uninstaller removes the
//! service and the program folder and keeps the data; an install with a bad configuration
//! leaves a service stopped with its exit code and the reason in its log file; `/PURGE`
//! removes the data.
//!
//! It needs the installer (`scripts/build-installer.sh`) and Wine, so it is ignored by a plain
//! `cargo test`; `scripts/test-wine-installer.sh` (part of `scripts/test.sh`) builds the
//! installer, makes a fresh prefix and runs it with `KRAKEN_WINDOWS_INSTALLER`,
//! `KRAKEN_WINE_LOADER` and `WINEPREFIX` set.
#![cfg(unix)]

mod deploy;
mod ports;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use deploy::{BASE, Deployment, Running, ok, run, serve, wait_until, wine_path};

const GUID: &str = "sentry-installed";

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test-wine-installer.sh"))
}

/// The Wine prefix and loader, and the program's and data's folders in the prefix.
struct Wine {
    loader: String,
    prefix: PathBuf,
}

impl Wine {
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.loader);
        command.arg(program).args(args).env("WINEPREFIX", &self.prefix).env("WINEDEBUG", "-all");
        command.stdin(Stdio::null());
        command
    }

    /// Runs a Windows program to its end; Wine's output goes to a file, never a pipe (its
    /// background processes would hold a pipe open).
    fn run(&self, program: &str, args: &[&str]) -> (i32, String) {
        let out = self.prefix.with_extension("out");
        let status = self
            .command(program, args)
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::options().append(true).open(&out).unwrap())
            .status()
            .unwrap();
        (status.code().unwrap_or(-1), fs::read_to_string(&out).unwrap_or_default())
    }

    fn program_dir(&self) -> PathBuf {
        self.prefix.join("drive_c/Program Files/Kraken Sentry")
    }

    fn data_dir(&self) -> PathBuf {
        self.prefix.join("drive_c/ProgramData/KrakenSentry")
    }

    fn sentry(&self, args: &[&str]) -> (i32, String) {
        self.run(r"C:\Program Files\Kraken Sentry\kraken-sentry.exe", args)
    }

    /// `sc query KrakenSentry`.
    fn query(&self) -> String {
        self.run("sc", &["query", "KrakenSentry"]).1
    }

    fn log(&self) -> String {
        fs::read_to_string(self.data_dir().join("logs/kraken-sentry.log")).unwrap_or_default()
    }
}

fn base(config: &str, args: &[&str]) -> Output {
    let mut all = vec![args[0], "--config", config];
    all.extend_from_slice(&args[1..]);
    run(Path::new(BASE), &all)
}

fn connected(config: &str) -> bool {
    String::from_utf8_lossy(&base(config, &["sentries"]).stdout).contains(&format!("{GUID}  connected"))
}

#[test]
#[ignore = "needs the Windows installer and Wine: scripts/test-wine-installer.sh runs it"]
fn the_silent_installer_installs_upgrades_and_removes_the_service() {
    let wine = Wine { loader: required_env("KRAKEN_WINE_LOADER"), prefix: required_env("WINEPREFIX").into() };
    let installer = wine_path(Path::new(&required_env("KRAKEN_WINDOWS_INSTALLER")));
    let deployment = Deployment::for_wine("installer", GUID, "");
    let (dir, config) = (deployment.dir.clone(), deployment.base_config.clone());
    let _base = serve(&config, &dir.join("base.log"));
    // Wine runs services only while another Wine process lives: a `cmd` waiting on its input.
    let _keeper = Running(
        wine.command("cmd", &[])
            .stdin(Stdio::piped())
            .stdout(fs::File::create(dir.join("keeper.out")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pki = dir.join("pki");
    let pki_file = |name: &str| wine_path(&pki.join(name));

    // A silent install linked to the base.
    let started = Instant::now();
    let (code, output) = wine.run(
        &installer,
        &[
            "/S",
            &format!("/BASE=127.0.0.1:{}", deployment.port),
            &format!("/GUID={GUID}"),
            &format!("/CERT={}", pki_file(&format!("{GUID}.pem"))),
            &format!("/KEY={}", pki_file(&format!("{GUID}.key"))),
            &format!("/CA={}", pki_file("ca.pem")),
        ],
    );
    let install_time = started.elapsed();
    assert_eq!(code, 0, "the installer failed: {output}");
    assert!(
        wine.program_dir().join("kraken-sentry.exe").exists()
            && wine.program_dir().join("uninstall.exe").exists()
    );
    let written = fs::read_to_string(wine.data_dir().join("sentry.toml")).unwrap();
    assert!(written.contains(GUID) && written.contains("sentry.key"), "{written}");
    let running = wait_until(Duration::from_secs(30), || wine.query().contains("RUNNING").then_some(()));
    assert!(running.is_some(), "not running: {}\nlog: {}", wine.query(), wine.log());
    let linked = wait_until(Duration::from_secs(60), || connected(&config).then_some(()));
    assert!(linked.is_some(), "the service never linked; its log: {}", wine.log());
    let stored = wait_until(Duration::from_secs(60), || {
        let text = ok(base(&config, &["logs", "--sentry", GUID, "--logger", "cpu"]));
        (text.lines().count() >= 1).then_some(())
    });
    assert!(stored.is_some(), "no records from the service; its log: {}", wine.log());
    println!("install: {install_time:.1?} to an installed and started service");

    // `service stop`: STOPPED within 10 s, the loggers stopped cleanly.
    let started = Instant::now();
    let (code, output) = wine.sentry(&["service", "stop"]);
    let stop_time = started.elapsed();
    assert_eq!(code, 0, "service stop failed: {output}");
    assert!(stop_time < Duration::from_secs(10), "stopping took {stop_time:?}");
    assert!(wine.query().contains("STOPPED"), "{}", wine.query());
    assert!(wine.log().contains("agent stopped"), "no clean stop in the log: {}", wine.log());
    println!("stop: {stop_time:.1?}");
    // The state store opens (its integrity check passes) and its spool numbered the records.
    let state =
        sentry::store::Store::open(&wine.data_dir().join("data")).expect("the state store after the stop");
    let loggers: Vec<String> = state.loggers().unwrap().into_iter().map(|l| l.name).collect();
    let sequence = state.spool_sequence("cpu").unwrap();
    drop(state);
    assert!(loggers.contains(&"cpu".to_owned()) && loggers.contains(&"security".to_owned()), "{loggers:?}");
    assert!(sequence >= 1, "the cpu records went through the spool");

    // Bad options change nothing: exit code 2, the running service keeps running.
    let (code, output) = wine.sentry(&["service", "start"]);
    assert_eq!(code, 0, "service start failed: {output}");
    let running = wait_until(Duration::from_secs(30), || wine.query().contains("RUNNING").then_some(()));
    assert!(running.is_some(), "not running again: {}", wine.query());
    let missing = wine_path(&dir.join("missing.pem"));
    let (code, _) =
        wine.run(&installer, &["/S", "/BASE=127.0.0.1:1", "/GUID=x", &format!("/CERT={missing}")]);
    assert_eq!(code, 2, "bad options");
    assert!(wine.query().contains("RUNNING"), "bad options stopped the service: {}", wine.query());

    // An upgrade over the running service (no options): it is stopped, replaced and started;
    // the configuration, state, spool and loggers stay.
    let (code, output) = wine.run(&installer, &["/S"]);
    assert_eq!(code, 0, "the upgrade failed: {output}");
    assert_eq!(
        fs::read_to_string(wine.data_dir().join("sentry.toml")).unwrap(),
        written,
        "the configuration changed"
    );
    let running = wait_until(Duration::from_secs(30), || wine.query().contains("RUNNING").then_some(()));
    assert!(running.is_some(), "not running after the upgrade: {}", wine.query());
    let relinked = wait_until(Duration::from_secs(60), || connected(&config).then_some(()));
    assert!(relinked.is_some(), "the upgraded service never linked as {GUID}; its log: {}", wine.log());
    let (_, list) = wine.sentry(&["logger", "--config", r"C:\ProgramData\KrakenSentry\sentry.toml", "list"]);
    for logger in &loggers {
        assert!(list.contains(logger.as_str()), "logger {logger} lost in the upgrade: {list}");
    }
    let upgraded = wait_until(Duration::from_secs(60), || {
        let state = sentry::store::Store::open(&wine.data_dir().join("data")).ok()?;
        let now = state.spool_sequence("cpu").ok()?;
        (now > sequence).then_some(now)
    });
    assert!(upgraded.is_some(), "the spool's numbering did not go on from {sequence} after the upgrade");

    // The uninstaller: service and program gone, data kept.
    let started = Instant::now();
    let (code, output) = wine.run(r"C:\Program Files\Kraken Sentry\uninstall.exe", &["/S"]);
    assert_eq!(code, 0, "the uninstaller failed: {output}");
    // It runs from a copy in %TEMP% and returns at once: wait for it.
    let removed = wait_until(Duration::from_secs(60), || (!wine.program_dir().exists()).then_some(()));
    assert!(removed.is_some(), "the program folder is still there");
    println!("uninstall: {:.1?}", started.elapsed());
    let gone = wait_until(Duration::from_secs(30), || {
        let query = wine.run("sc", &["query", "KrakenSentry"]);
        (!query.1.contains("SERVICE_NAME")).then_some(())
    });
    assert!(gone.is_some(), "the service is still registered: {}", wine.query());
    assert!(
        wine.data_dir().join("sentry.toml").exists() && wine.data_dir().join("data").exists(),
        "data lost"
    );

    // An install with a bad configuration: the service stops with its exit code and says why.
    let bad = dir.join("bad.toml");
    fs::write(&bad, "data_dir = 5\n").unwrap();
    let (code, output) = wine.run(&installer, &["/S", &format!("/CONFIG={}", wine_path(&bad))]);
    assert_eq!(code, 0, "the service is installed and started even so: {output}");
    let stopped = wait_until(Duration::from_secs(30), || {
        let query = wine.query();
        (query.contains("STOPPED") && query.contains("SERVICE_EXIT_CODE  : 1 ")).then_some(())
    });
    assert!(stopped.is_some(), "no stop with code 1 (bad configuration): {}", wine.query());
    let (_, status) = wine.sentry(&["service", "status"]);
    assert!(status.contains("service-specific exit code 1"), "{status}");
    let log = wine.log();
    assert!(
        log.contains("cannot start (service-specific exit code 1)") && log.contains("expected path"),
        "{log}"
    );

    // A private key others can read (a Unix mode 0644 file, which Wine shows as readable by
    // Everyone): the service refuses it, exit code 3, saying how to fix it.
    let exposed_dir = dir.join("exposed");
    fs::create_dir_all(&exposed_dir).unwrap();
    for name in [format!("{GUID}.pem"), format!("{GUID}.key"), "ca.pem".into()] {
        fs::copy(pki.join(&name), exposed_dir.join(&name)).unwrap();
    }
    let key = exposed_dir.join(format!("{GUID}.key"));
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let exposed = dir.join("exposed.toml");
    let config_text = fs::read_to_string(&deployment.sentry_config).unwrap();
    // The deployment writes its paths as TOML basic strings: backslashes doubled.
    let escaped = |path: &Path| wine_path(path).replace('\\', "\\\\");
    let exposed_text = config_text.replace(&escaped(&pki), &escaped(&exposed_dir));
    assert_ne!(exposed_text, config_text, "the key paths were not replaced");
    fs::write(&exposed, exposed_text).unwrap();
    let (code, output) = wine.run(&installer, &["/S", &format!("/CONFIG={}", wine_path(&exposed))]);
    assert_eq!(code, 0, "{output}");
    let refused = wait_until(Duration::from_secs(30), || {
        wine.query().contains("SERVICE_EXIT_CODE  : 3 ").then_some(())
    });
    assert!(refused.is_some(), "an exposed key was not refused: {}\nlog: {}", wine.query(), wine.log());
    assert!(wine.log().contains("can be read by Everyone"), "{}", wine.log());

    // Uninstall with /PURGE: the data goes too.
    let (code, output) = wine.run(r"C:\Program Files\Kraken Sentry\uninstall.exe", &["/S", "/PURGE"]);
    assert_eq!(code, 0, "{output}");
    let purged = wait_until(Duration::from_secs(60), || (!wine.data_dir().exists()).then_some(()));
    assert!(purged.is_some(), "the data folder is still there after /PURGE");
    let _ = fs::remove_dir_all(&dir);
}
