//! Forwarding to a real syslog receiver: rsyslog (Debian's `rsyslog` and `rsyslog-gnutls`,
//! installed by `scripts/setup-debian.sh`), started by the test, unprivileged, on a free port
//! with `imtcp` over TLS and `omfile`. A linked sentry's records reach it once each with their
//! fields (read back with an RFC 5424 parser); with rsyslog stopped for 30 s the base keeps
//! storing, and once it is back nothing is missing. `/metrics` is scraped and parsed too.
#![cfg(target_os = "linux")]

mod deploy;
mod ports;
mod rsyslog_server;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use deploy::{BASE, Deployment, ok, run, sentry, serve, wait_until};
use kraken_base::admin::AdminClient;
use kraken_base::config::BaseConfig;
use rsyslog_server::Rsyslog;
use serde_json::Value as Json;

const GUID: &str = "forwarded-1";
/// A received message's record: (logger, seq) and its structured data.
fn parse(message: &str) -> ((String, i64), BTreeMap<String, String>) {
    let parsed = syslog_loose::parse_message(message, syslog_loose::Variant::RFC5424);
    assert_eq!(parsed.protocol, syslog_loose::Protocol::RFC5424(1), "{message}");
    assert_eq!(parsed.hostname, Some(GUID), "{message}");
    let element = parsed.structured_data.first().unwrap_or_else(|| panic!("no structured data: {message}"));
    assert_eq!(element.id, "kraken@32473");
    let fields: BTreeMap<String, String> =
        element.params().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    let key = (fields["kraken.logger"].clone(), fields["kraken.seq"].parse().unwrap());
    assert_eq!(parsed.msgid, Some(key.0.as_str()));
    (key, fields)
}

/// The admin API's records of the sentry, every one: (logger, seq) -> params.
fn stored(admin: &AdminClient) -> HashMap<(String, i64), Json> {
    let mut all = HashMap::new();
    let mut after = 0i64;
    loop {
        let query = [("sentry", GUID.to_owned()), ("after", after.to_string()), ("limit", "5000".into())];
        let page = admin.get("/api/logs", &query).unwrap();
        let records = page["records"].as_array().unwrap().clone();
        let Some(last) = records.last() else { return all };
        after = last["id"].as_i64().unwrap();
        for record in records {
            let key = (record["logger"].as_str().unwrap().to_owned(), record["seq"].as_i64().unwrap());
            all.insert(key, record["params"].clone());
        }
    }
}

/// `GET path` with `token`: (status line and headers, body).
fn get(address: std::net::SocketAddr, path: &str, token: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// `GET /metrics` with `token`: the parsed samples.
fn scrape(address: std::net::SocketAddr, token: &str) -> Vec<prometheus_parse::Sample> {
    let (head, body) = get(address, "/metrics", token);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("content-type: application/openmetrics-text"), "{head}");
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap().samples
}

fn value_of(samples: &[prometheus_parse::Sample], metric: &str) -> f64 {
    let sample = samples.iter().find(|s| s.metric == metric).unwrap_or_else(|| panic!("no {metric}"));
    match sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{metric}: {other:?}"),
    }
}

#[test]
fn records_reach_rsyslog_over_tls_once_each_and_none_is_lost_while_it_is_away() {
    let deployment = Deployment::new("forward", GUID, "default_interval_ms = 1000");
    let dir = deployment.dir.clone();
    // The receiver's own CA and certificate (valid for 127.0.0.1).
    let receiver_pki = dir.join("receiver-pki");
    ok(run(Path::new(BASE), &["pki", "init", &receiver_pki.to_string_lossy(), "--name", "127.0.0.1"]));
    let mut rsyslog = Rsyslog::start(&dir.join("rsyslog"), &receiver_pki);
    let mut config = fs::read_to_string(&deployment.base_config).unwrap();
    config.push_str(&format!(
        "[[forward]]\nname = \"siem\"\naddress = \"127.0.0.1:{}\"\nca = {:?}\nstart = \"beginning\"\n",
        rsyslog.port,
        receiver_pki.join("ca.pem").to_string_lossy()
    ));
    fs::write(&deployment.base_config, config).unwrap();
    let base_config = BaseConfig::load(Path::new(&deployment.base_config)).unwrap();
    let _base = serve(&deployment.base_config, &dir.join("base.log"));
    let token = wait_until(Duration::from_secs(20), || {
        fs::read_to_string(base_config.token_path()).ok().filter(|t| !t.trim().is_empty())
    })
    .expect("the base never started")
    .trim()
    .to_owned();
    let admin = AdminClient::for_url(
        format!("http://{}", base_config.admin.listen),
        token.clone(),
        &base_config.sentry_ca,
    )
    .unwrap();
    // The token is written before the admin listener is bound: wait for it to answer.
    wait_until(Duration::from_secs(20), || admin.get("/api/sentries", &[]).ok())
        .expect("the admin API never answered");
    let mut agent = sentry(&deployment.sentry_config, &dir.join("sentry.log"));

    // Before any outage: what is stored arrives, each record once, fields intact.
    let arrived = wait_until(Duration::from_secs(60), || {
        let stored = stored(&admin);
        (stored.len() >= 40 && rsyslog.messages().len() >= stored.len()).then_some(())
    });
    assert!(
        arrived.is_some(),
        "records did not reach rsyslog; base log: {}",
        fs::read_to_string(dir.join("base.log")).unwrap()
    );
    let stored_before = stored(&admin);
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for message in rsyslog.messages() {
        let (key, fields) = parse(&message);
        *seen.entry(key.clone()).or_default() += 1;
        let params = &stored_before.get(&key).unwrap_or_else(|| panic!("{key:?} was never stored"));
        for (name, value) in params.as_object().unwrap() {
            let expected = match value {
                Json::String(text) => text.clone(),
                Json::Null => String::new(),
                other => other.to_string(),
            };
            assert_eq!(fields.get(name.as_str()), Some(&expected), "{key:?} param {name}: {message}");
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once with the receiver up: {twice:?}");
    let missing = stored_before.keys().filter(|k| !seen.contains_key(*k)).count();
    assert_eq!(missing, 0, "stored but not received");

    // rsyslog away for 30 s: the base goes on storing (and acknowledging) the sentry's records.
    rsyslog.stop();
    let during = stored(&admin).len();
    std::thread::sleep(Duration::from_secs(30));
    let after_outage = stored(&admin).len();
    assert!(
        after_outage >= during + 100,
        "storage stalled while the receiver was away: {during} -> {after_outage}"
    );
    let samples = scrape(base_config.admin.listen, &token);
    assert_eq!(value_of(&samples, "kraken_base_forward_connected"), 0.0);
    assert!(value_of(&samples, "kraken_base_forward_backlog_records") > 0.0, "a queue while away");
    rsyslog.resume();

    // Back: every record stored arrives (some twice at most: at least once).
    let _ = Command::new("kill").arg("-INT").arg(agent.0.id().to_string()).status();
    let _ = agent.0.wait();
    std::thread::sleep(Duration::from_secs(1));
    let everything = stored(&admin);
    let caught_up = wait_until(Duration::from_secs(60), || {
        let received: std::collections::HashSet<(String, i64)> =
            rsyslog.messages().iter().map(|m| parse(m).0).collect();
        everything.keys().all(|k| received.contains(k)).then_some(received.len())
    });
    let received: Vec<(String, i64)> = rsyslog.messages().iter().map(|m| parse(m).0).collect();
    assert!(
        caught_up.is_some(),
        "records lost across the outage: {} stored, {} received; base log: {}",
        everything.len(),
        received.len(),
        fs::read_to_string(dir.join("base.log")).unwrap()
    );
    eprintln!(
        "forwarded {} records, {} messages received ({} sent again after the outage)",
        everything.len(),
        received.len(),
        received.len() - everything.len()
    );

    // Prometheus's token reads the metrics and nothing else.
    let metrics_token = fs::read_to_string(base_config.metrics_token_path()).unwrap().trim().to_owned();
    assert_ne!(metrics_token, token);
    let samples = scrape(base_config.admin.listen, &metrics_token);
    let (head, _) = get(base_config.admin.listen, "/api/sentries", &metrics_token);
    assert!(head.starts_with("HTTP/1.1 401"), "the metrics token is good for /metrics only: {head}");
    assert_eq!(value_of(&samples, "kraken_base_forward_connected"), 1.0);
    assert!(value_of(&samples, "kraken_base_forward_sent_total") >= everything.len() as f64);
    assert!(value_of(&samples, "kraken_base_records_stored_total") >= everything.len() as f64);
    assert_eq!(value_of(&samples, "kraken_base_forward_dropped_total"), 0.0);
    assert_eq!(value_of(&samples, "kraken_base_storage_available"), 1.0);
    assert!(samples.iter().any(|s| s.metric == "kraken_base_batch_store_seconds_count"));
}
