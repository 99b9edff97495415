//! Runs the real `kraken-sentry exec` binary for every command, in both output formats, and
//! checks what it prints against facts this test sets up (its own listener, its own pid, a
//! temporary directory). Runs on Linux and, as a Windows exe, under Wine.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::process::Output;

use serde_json::Value as Json;

fn run(args: &[&str]) -> Output {
    common::run(args, None)
}

fn success(args: &[&str]) -> String {
    let output = run(args);
    assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn json(args: &[&str]) -> Json {
    let text = success(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} printed invalid JSON ({e}): {text}"))
}

#[test]
fn netstat_shows_our_listener_as_json_and_as_a_table() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let reply = json(&["exec", "netstat"]);
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["tcp", "tcp6", "udp", "udp6"]);
    let row = reply["tcp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["local_port"] == port && row["state"] == "Listen")
        .unwrap_or_else(|| panic!("listener {port} missing: {reply}"));
    assert_eq!(row["local_ip"], "127.0.0.1");
    // Wine 8's socket tables give pid 0 for every row (measured); Windows and Linux give ours.
    let owner = if sentry_host::running_under_wine() { 0 } else { std::process::id() };
    assert_eq!(row["pid"], owner);

    let table = success(&["exec", "netstat", "--format", "table"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["PROTO", "LOCAL_IP", "LOCAL_PORT", "REMOTE_IP", "REMOTE_PORT", "STATE", "PID"]);
    assert!(
        lines.any(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            cells[..3] == ["tcp", "127.0.0.1", port.to_string().as_str()] && cells[5] == "Listen"
        }),
        "{table}"
    );
}

#[test]
fn process_list_includes_this_test_process() {
    let reply = json(&["exec", "process-list", "--sample-ms", "20"]);
    let me = std::process::id();
    let this = reply.as_array().unwrap().iter().find(|p| p["pid"] == me).expect("own pid in the list");
    assert!(this["working_set"].as_u64().unwrap() > 0);
    assert!(this["cpu_usage"].is_u64());
    let table = success(&["exec", "process-list", "--format", "table", "--sample-ms", "20"]);
    assert!(table.starts_with("PID"), "{table}");
    assert!(table.lines().any(|line| line.split_whitespace().next() == Some(me.to_string().as_str())));
}

#[test]
fn every_other_command_prints_json_and_a_table() {
    for command in ["arp-cache", "routing-table", "system-info", "disk-partitions", "network-interfaces"] {
        let reply = json(&["exec", command]);
        assert!(reply.is_array() || reply.is_object(), "{command}: {reply}");
        let table = success(&["exec", command, "--format", "table"]);
        assert!(!table.is_empty(), "{command} printed no table");
    }
    let info = json(&["exec", "system-info"]);
    let os = info["os.name"].as_str().unwrap();
    if cfg!(windows) {
        assert!(os.starts_with("Windows"), "{os}");
    } else {
        assert!(!os.is_empty());
    }
    let routes = json(&["exec", "routing-table"]);
    assert!(!routes.as_array().unwrap().is_empty(), "no route at all");
}

#[test]
fn list_files_prints_a_directory_and_fails_clearly_on_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("kraken-exec-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.log"), b"0123456789").unwrap();
    let dir_text = dir.to_string_lossy().into_owned();
    let config = dir.join("sentry.toml");
    std::fs::write(&config, format!("[commands]\nlist_files_roots = [{dir_text:?}]\n")).unwrap();
    let config = config.to_string_lossy().into_owned();
    let reply = json(&["exec", "list-files", &dir_text, "--config", &config]);
    let entry = reply.as_array().unwrap().iter().find(|e| e["name"] == "a.log").unwrap();
    assert_eq!(
        (entry["size"].as_u64(), entry["is_dir"].as_bool(), entry["type"].as_str()),
        (Some(10), Some(false), Some("file"))
    );

    // Without a path, the configured roots; as a table too.
    let roots = json(&["exec", "list-files", "--config", &config]);
    assert_eq!(roots.as_array().map(Vec::len), Some(1), "{roots}");
    let table = success(&["exec", "list-files", "--config", &config, "--format", "table"]);
    assert!(table.lines().count() >= 2, "{table}");

    let missing = dir.join("missing").to_string_lossy().into_owned();
    let output = run(&["exec", "list-files", &missing, "--config", &config]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("path not found"), "{stderr}");
    assert!(output.stdout.is_empty());

    // A configuration without roots: not allowed, and the message names the key to set.
    let bare = dir.join("bare.toml");
    std::fs::write(&bare, "").unwrap();
    let output = run(&["exec", "list-files", &dir_text, "--config", &bare.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not allowed") && stderr.contains("list_files_roots"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let output = run(&["exec", "no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
}
