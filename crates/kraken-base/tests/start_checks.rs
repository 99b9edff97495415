//! What the real `kraken-base serve` checks before it starts, and the modes of what it makes:
//! a private key or admin token its group or others may read, a bad token, a zero retention
//! limit and an admin address off loopback each stop it with a non-zero status and the fix;
//! the data directory, the storage and the token are its user's alone, and those an older
//! version left open are tightened. Unix only (file modes).
#![cfg(unix)]

mod deploy;
mod ports;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use deploy::{BASE, Deployment, serve, wait_until};
use kraken_base::config::BaseConfig;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, bits: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits)).unwrap();
}

/// Runs `serve` on `config`, which must stop by itself within 30 s; its output.
fn serve_expecting_exit(config: &str) -> Output {
    let mut child = Command::new(BASE)
        .args(["serve", "--config", config])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_until(Duration::from_secs(30), || child.try_wait().unwrap());
    if exited.is_none() {
        let _ = child.kill();
        panic!("serve kept running");
    }
    child.wait_with_output().unwrap()
}

/// Asserts `serve` refused to start, saying `expected`.
fn assert_refused(config: &str, expected: &[&str]) {
    let output = serve_expecting_exit(config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for text in expected {
        assert!(stderr.contains(text), "no {text:?} in: {stderr}");
    }
    assert!(!stderr.contains("base running"), "{stderr}");
}

#[test]
fn a_key_or_token_others_may_read_stops_serve_with_the_fix() {
    let deployment = Deployment::new("start-secrets", "sentry-s", "");
    let config = BaseConfig::load(Path::new(&deployment.base_config)).unwrap();
    let key = config.key.display().to_string();

    set_mode(&config.key, 0o644);
    assert_refused(
        &deployment.base_config,
        &["refusing to start", &key, "mode 0644", &format!("chmod 600 {key}")],
    );
    set_mode(&config.key, 0o640);
    assert_refused(&deployment.base_config, &["mode 0640", &format!("chmod 600 {key}")]);
    set_mode(&config.key, 0o600);

    // Checked at every start, not only when made.
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let token = config.token_path();
    std::fs::write(&token, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    set_mode(&token, 0o604);
    assert_refused(
        &deployment.base_config,
        &["the admin token", "mode 0604", &format!("chmod 600 {}", token.display())],
    );
    set_mode(&token, 0o600);
    std::fs::write(&token, "").unwrap();
    assert_refused(&deployment.base_config, &["the admin token", "it is empty", "delete the file"]);
    std::fs::write(&token, "secret\n").unwrap();
    assert_refused(&deployment.base_config, &["6 characters, fewer than 32"]);
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

#[test]
fn zero_retention_limits_and_an_admin_address_off_loopback_stop_serve() {
    let deployment = Deployment::new("start-config", "sentry-c", "");
    let original = std::fs::read_to_string(&deployment.base_config).unwrap();
    for (extra, expected) in [
        ("[retention]\nmax_records = 0\n", "key `retention.max_records`: must be at least 1"),
        ("[retention]\nmax_age_days = 0\n", "key `retention.max_age_days`: must be at least 1"),
    ] {
        std::fs::write(&deployment.base_config, format!("{original}{extra}")).unwrap();
        assert_refused(&deployment.base_config, &[expected]);
    }
    let remote = original.replace("listen = \"127.0.0.1:", "listen = \"0.0.0.0:");
    std::fs::write(&deployment.base_config, remote).unwrap();
    assert_refused(&deployment.base_config, &["is not a loopback address", "ssh -L"]);
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

#[test]
fn what_serve_makes_is_its_users_alone_and_what_an_older_version_left_open_is_tightened() {
    let deployment = Deployment::new("start-modes", "sentry-m", "");
    let config = BaseConfig::load(Path::new(&deployment.base_config)).unwrap();
    let log = deployment.dir.join("base.log");
    let running = |log: &Path| {
        wait_until(Duration::from_secs(60), || {
            std::fs::read_to_string(log).unwrap_or_default().contains("base running").then_some(())
        })
        .is_some()
    };
    let storage = config.storage_path();
    let companion = |suffix: &str| Path::new(&format!("{}{suffix}", storage.display())).to_path_buf();
    {
        let _base = serve(&deployment.base_config, &log);
        assert!(running(&log), "{}", std::fs::read_to_string(&log).unwrap_or_default());
        assert_eq!(
            [mode(&config.data_dir), mode(&storage), mode(&companion("-wal")), mode(&config.token_path())],
            [0o700, 0o600, 0o600, 0o600]
        );
    }
    // An older version's modes (SQLite's 0644, a 0755 directory): tightened at the next start,
    // and said so.
    set_mode(&config.data_dir, 0o755);
    set_mode(&storage, 0o644);
    for suffix in ["-wal", "-shm"] {
        if companion(suffix).exists() {
            set_mode(&companion(suffix), 0o644);
        }
    }
    let log = deployment.dir.join("base-again.log");
    let _base = serve(&deployment.base_config, &log);
    assert!(running(&log), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    assert_eq!([mode(&config.data_dir), mode(&storage), mode(&companion("-wal"))], [0o700, 0o600, 0o600]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("access restricted to the base's user"), "{text}");
    assert!(text.contains(&config.data_dir.display().to_string()), "{text}");
    let _ = std::fs::remove_dir_all(&deployment.dir);
}
