//! Two base nodes (`kraken-base serve` twice: one PKI, one admin token, one ClickHouse) and a
//! sentry that lists both (`alternates`). The node the sentry is not on lists it with the node
//! it is on, and reaches it (`call` is passed to that node); when that node is killed, the
//! sentry moves to the other, and every record made is stored once.
#![cfg(unix)]

mod clickhouse_server;
mod deploy;
mod ports;

use std::fs;
use std::path::Path;
use std::time::Duration;

use clickhouse_server::ClickHouseServer;
use deploy::{
    BASE, Deployment, all_stored, free_port, made_since_first_stored, ok, run, sentry, serve, stored,
    wait_until,
};
use serde_json::Value as Json;

const GUID: &str = "sentry-nodes";

/// `kraken-base sentries` on the node of `config`: this sentry's line.
fn listed(config: &str) -> String {
    let output = run(Path::new(BASE), &["sentries", "--config", config]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|l| l.starts_with(GUID))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn any_node_lists_and_calls_a_sentry_and_the_sentry_moves_when_its_node_dies() {
    let deployment = Deployment::new("nodes", GUID, "min_interval_ms = 1000\ndefault_interval_ms = 1000");
    let dir = deployment.dir.clone();
    let clickhouse = ClickHouseServer::start(&dir.join("clickhouse"));
    let storage = |node: &str| {
        format!(
            "[storage]\nkind = \"clickhouse\"\nurl = \"{}\"\nnode = \"{node}\"\ninsert_interval_ms = 200\n",
            clickhouse.url()
        )
    };
    // Node 1 is the deployment's base; node 2 the same with its own ports and data.
    let node1 = deployment.base_config.clone();
    let text = fs::read_to_string(&node1).unwrap();
    fs::write(&node1, format!("{text}{}", storage("node-1"))).unwrap();
    let (port2, admin2) = (free_port(), free_port());
    let mut text2 = String::new();
    for line in text.lines() {
        let line = if line.starts_with("listen = \"127.0.0.1:") && text2.contains("[admin]") {
            format!("listen = \"127.0.0.1:{admin2}\"")
        } else if line.starts_with("listen = ") {
            format!("listen = \"127.0.0.1:{port2}\"")
        } else if line.starts_with("data_dir = ") {
            format!("data_dir = {:?}", dir.join("base-data-2").to_string_lossy())
        } else {
            line.to_owned()
        };
        text2.push_str(&line);
        text2.push('\n');
    }
    let node2 = dir.join("base-2.toml").to_string_lossy().into_owned();
    fs::write(&node2, format!("{text2}{}", storage("node-2"))).unwrap();
    // The sentry's one base has two nodes.
    let mut sentry_text = fs::read_to_string(&deployment.sentry_config).unwrap();
    sentry_text.push_str(&format!("alternates = [\"127.0.0.1:{port2}\"]\n"));
    fs::write(&deployment.sentry_config, sentry_text).unwrap();

    let mut base1 = serve(&node1, &dir.join("base-1.log"));
    // The nodes of one base share their admin token: node 2 gets node 1's before it starts.
    let token = wait_until(Duration::from_secs(20), || fs::read(dir.join("base-data/admin.token")).ok())
        .expect("node 1 made its token");
    fs::create_dir_all(dir.join("base-data-2")).unwrap();
    fs::write(dir.join("base-data-2/admin.token"), token).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.join("base-data-2"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(dir.join("base-data-2/admin.token"), fs::Permissions::from_mode(0o600)).unwrap();
    }
    let _base2 = serve(&node2, &dir.join("base-2.log"));
    let sentry_log = dir.join("sentry.log");
    let _sentry = sentry(&deployment.sentry_config, &sentry_log);
    let log_of = |path: &Path| fs::read_to_string(path).unwrap_or_default();

    // Node 2 lists the sentry on node 1, and reaches it there.
    let on_node1 = wait_until(Duration::from_secs(30), || {
        let line = listed(&node2);
        (line.contains("connected") && line.contains("node node-1")).then_some(line)
    });
    assert!(
        on_node1.is_some(),
        "node 2 never listed the sentry on node 1: {:?}; sentry log: {}",
        listed(&node2),
        log_of(&sentry_log)
    );
    let name: Json =
        serde_json::from_str(&ok(run(Path::new(BASE), &["call", "--config", &node2, GUID, "getHostName"])))
            .unwrap();
    let direct: Json =
        serde_json::from_str(&ok(run(Path::new(BASE), &["call", "--config", &node1, GUID, "getHostName"])))
            .unwrap();
    assert_eq!(name, direct, "the call passed through node 2 got the sentry's own answer");
    assert!(name.as_str().is_some_and(|n| !n.is_empty()), "{name}");
    let missing = run(Path::new(BASE), &["call", "--config", &node2, "no-such-sentry", "getHostName"]);
    assert!(
        !missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("not connected"),
        "{missing:?}"
    );

    let flowing =
        wait_until(Duration::from_secs(30), || (stored(&node2, GUID, "memory").len() >= 3).then_some(()));
    assert!(flowing.is_some(), "no records");

    // Node 1 dies: the sentry moves to node 2.
    let _ = base1.0.kill();
    let _ = base1.0.wait();
    let moved = wait_until(Duration::from_secs(30), || {
        let line = listed(&node2);
        (line.contains("connected") && line.contains("node node-2")).then_some(line)
    });
    assert!(
        moved.is_some(),
        "the sentry never moved to node 2: {:?}; sentry log: {}",
        listed(&node2),
        log_of(&sentry_log)
    );
    ok(run(Path::new(BASE), &["call", "--config", &node2, GUID, "getHostName"]));
    std::thread::sleep(Duration::from_secs(5));
    ok(run(Path::new(BASE), &["logger", "--config", &node2, GUID, "stop", "memory"]));

    let made = made_since_first_stored(&deployment.records, &node2, GUID, "memory");
    assert!(made.len() >= 8, "too few records made across the move: {}", made.len());
    let records =
        all_stored(&node2, GUID, "memory", &made, Duration::from_secs(30)).unwrap_or_else(|missing| {
            panic!("made but never stored: {missing:?}; node 2 log: {}", log_of(&dir.join("base-2.log")))
        });
    let seqs: Vec<i64> = records.iter().map(|(seq, _)| *seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "a gap, a repeat or a reordering: {seqs:?}");
    let counts = clickhouse.query(&format!(
        "SELECT count(), uniqExact(guid, logger, epoch, seq) FROM kraken.records WHERE guid = '{GUID}'"
    ));
    let (rows, distinct) = counts.trim().split_once('\t').unwrap();
    eprintln!(
        "made {} memory records across a node's death; stored {}; {rows} rows, {distinct} distinct",
        made.len(),
        seqs.len()
    );
    assert_eq!(rows, distinct, "no record stored twice, even before a merge");
    let _ = fs::remove_dir_all(&dir);
}
