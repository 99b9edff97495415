//! A real sentry link against a real base on loopback, over mutual TLS with certificates from
//! `kraken-base pki`: hello, the base calling the sentry's commands, records stored, and the
//! identity rules (a certificate for one GUID cannot claim another; another CA is refused; a
//! connection cannot speak for another sentry).

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use common::{base_config, fixture, link, next_event, raw_connection, start_base};
use kraken_base::server::Base;
use kraken_base::storage::RecordFilter;
use kraken_codec::{Map, Value};
use kraken_rpc::ServiceTable;
use sentry::commands::{CommandContext, SentryService, sentry_methods};
use sentry::link::{LinkEvent, LinkSettings, run_link};
use tokio::sync::mpsc;

#[tokio::test]
async fn a_sentry_links_and_the_base_runs_its_commands() {
    let fixture = fixture("commands").await;
    let pki = fixture.dir.join("pki");
    let mut events = link(&fixture, "sentry-1", "sentry-1", &pki);
    let LinkEvent::Connected { hello, .. } = next_event(&mut events).await else { panic!("not connected") };
    let extensions = hello.as_map().unwrap()["extensions"].clone();
    assert_eq!(extensions, Value::Array(vec![Value::from("onLogBatch")]));
    assert_eq!(fixture.base.sentries.connected(), ["sentry-1"]);

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = Value::I32(i32::from(listener.local_addr().unwrap().port()));
    let netstat = fixture.base.call("sentry-1", "getNetStat", vec![]).await.unwrap();
    let tcp = netstat.as_map().unwrap()["tcp"].as_array().unwrap().to_vec();
    assert!(tcp.iter().any(|row| row.as_map().unwrap()["local_port"] == port), "our listener is missing");
    let features = fixture.base.call("sentry-1", "getFeatures", vec![]).await.unwrap();
    assert!(features.as_array().unwrap().contains(&Value::from("netstat")));
    let error = fixture.base.call("sentry-1", "noSuchMethod", vec![]).await.unwrap_err();
    assert!(error.to_string().contains("sentry method not found: noSuchMethod"), "{error}");
    assert!(fixture.base.call("sentry-9", "getHostName", vec![]).await.is_err());
    let stored = fixture.base.storage.sentries().unwrap();
    assert_eq!((stored[0].guid.as_str(), stored[0].connected), ("sentry-1", true));
}

#[tokio::test]
async fn a_certificate_cannot_claim_another_guid_and_another_ca_is_refused() {
    let fixture = fixture("identity").await;
    let pki = fixture.dir.join("pki");
    // sentry-2's certificate, claiming to be sentry-1.
    let mut events = link(&fixture, "sentry-1", "sentry-2", &pki);
    let LinkEvent::Failed { error, .. } = next_event(&mut events).await else { panic!("an impostor linked") };
    assert!(error.contains("the certificate names sentry sentry-2, not sentry-1"), "{error}");
    assert!(fixture.base.sentries.connected().is_empty());

    // A certificate from another CA does not get past TLS.
    let other = fixture.dir.join("other-pki");
    kraken_base::pki::init(&other, &[]).unwrap();
    kraken_base::pki::issue(&other, "sentry-1", kraken_base::pki::SENTRY_VALIDITY_DAYS).unwrap();
    let mut config = base_config(&fixture, "sentry-1", &other);
    config.ca = pki.join("ca.pem"); // it trusts the right base, but the base does not trust it
    let mut context = CommandContext::for_this_host();
    context.sampling_window = Duration::from_millis(20);
    let service = SentryService::new(Arc::new(sentry_methods()), Arc::new(context));
    let (tx, mut events) = mpsc::unbounded_channel();
    let settings = LinkSettings {
        base: config,
        guid: "sentry-1".into(),
        max_backoff: Duration::from_millis(500),
        setup_timeout: Duration::from_secs(10),
        spool: None,
        loggers: None,
    };
    tokio::spawn(run_link(settings, service, Some(tx)));
    let LinkEvent::Failed { .. } = next_event(&mut events).await else { panic!("a foreign CA linked") };
    assert!(fixture.base.sentries.connected().is_empty());
}

#[tokio::test]
async fn records_are_stored_and_a_connection_speaks_only_for_its_own_guid() {
    let fixture = fixture("records").await;
    let pki = fixture.dir.join("pki");
    let connection = raw_connection(&pki, "sentry-1", fixture.base.local_addr(), ServiceTable::new()).await;
    let session = connection.create_session("kraken-base").await.unwrap();
    session.call("hello", vec!["sentry-1".into()]).await.unwrap();

    let mut params = Map::new();
    params.insert("logtype", Value::from("system"));
    params.insert("msg", Value::from("cpu usage: 7%"));
    params.insert("idle", Value::I32(93));
    let mut record = Map::new();
    record.insert("logger", Value::from("cpu"));
    record.insert("date", Value::Date(1_700_000_000_000));
    record.insert("msg", Value::from("cpu usage: 7%"));
    record.insert("params", Value::Map(params));
    let ack = session
        .call("onLogBatch", vec!["sentry-1".into(), Value::Array(vec![Value::Map(record.clone())])])
        .await;
    assert_eq!(ack.unwrap(), Value::I32(1));
    let refused =
        session.call("onLogBatch", vec!["sentry-2".into(), Value::Array(vec![Value::Map(record)])]).await;
    assert_eq!(
        refused.unwrap_err().remote_cause(),
        Some("this connection speaks for sentry sentry-1, not sentry-2")
    );

    let stored = fixture.base.storage.records(&RecordFilter::default()).unwrap();
    assert_eq!(stored.len(), 1);
    let (_, record) = &stored[0];
    assert_eq!(
        (record.guid.as_str(), record.logger.as_str(), record.date_ms),
        ("sentry-1", "cpu", 1_700_000_000_000)
    );
    assert_eq!(record.logtype.as_deref(), Some("system"));
    assert_eq!(record.params_json()["idle"], 93);
}

#[tokio::test]
async fn connected_loggers_reach_the_base_and_nothing_is_lost_while_it_is_away() {
    use sentry::loggers::{FactoryContext, LoggerRegistry, SinkSet, standard_factories};
    use sentry::spool::SpoolSink;
    use sentry::store::Store;

    let mut fixture = fixture("spool").await;
    let pki = fixture.dir.join("pki");
    let store = Arc::new(Store::open(&fixture.dir.join("sentry")).unwrap());
    let spool = Arc::new(SpoolSink::new(store.clone(), 1 << 30, &standard_factories()));
    let sinks = Arc::new(SinkSet::default());
    sinks.add(spool.clone());
    let host: Arc<dyn sentry_host_facts::HostFacts> = Arc::new(sentry_host_facts::SystemHost);
    let registry = Arc::new(LoggerRegistry::new(
        standard_factories(),
        FactoryContext { host, store: store.clone(), delivery: None },
        sinks,
        100,
    ));
    registry.create("memory-usage", "mem", None, &Map::new()).unwrap();
    let mut context = CommandContext::for_this_host();
    context.loggers = Some(registry.clone());
    let service = SentryService::new(Arc::new(sentry_methods()), Arc::new(context));
    let settings = LinkSettings {
        base: base_config(&fixture, "sentry-1", &pki),
        guid: "sentry-1".into(),
        max_backoff: Duration::from_millis(300),
        setup_timeout: Duration::from_secs(10),
        spool: Some(sentry::spool::SpoolAccess { store: store.clone(), wake: spool.wake.clone() }),
        loggers: Some(registry.clone()),
    };
    let (tx, mut events) = mpsc::unbounded_channel();
    tokio::spawn(run_link(settings, service, Some(tx)));
    assert!(matches!(next_event(&mut events).await, LinkEvent::Connected { .. }));

    // The base connects the logger and starts it, as an operator would through the base.
    let info = fixture.base.call("sentry-1", "connectLogger", vec!["mem".into()]).await.unwrap();
    assert_eq!(info.as_map().unwrap()["logger_name"], Value::from("mem"));
    fixture.base.call("sentry-1", "startLogger", vec!["mem".into(), Value::I32(100)]).await.unwrap();
    let stored = |base: &Base| {
        base.storage
            .records(&RecordFilter { logger: Some("mem".into()), limit: 100_000, ..Default::default() })
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while stored(&fixture.base).len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no records reached the base");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The base goes away for a while; the logger keeps running and its records are spooled.
    let listen = fixture.base.local_addr();
    fixture.base.shutdown(Duration::from_secs(10)).await;
    assert!(matches!(next_event(&mut events).await, LinkEvent::Disconnected { .. }));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (waiting, _, dropped) = store.spool_stats("local").unwrap();
    assert!(waiting >= 5, "records made while the base was away are spooled: {waiting}");
    assert_eq!(dropped, 0);

    // It comes back on the same address with the same storage; the spool drains into it.
    fixture.base = start_base(&fixture.dir, listen).await;
    loop {
        if let LinkEvent::Connected { .. } = next_event(&mut events).await {
            break;
        }
    }
    registry.stop("mem", 5_000).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while store.spool_stats("local").unwrap().0 > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the spool did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let made = registry.logger_info("mem").unwrap().as_map().unwrap()["log_count"].as_i64().unwrap() as usize;
    let records = stored(&fixture.base);
    let dates: Vec<i64> = records.iter().map(|(_, r)| r.date_ms).collect();
    assert_eq!(records.len(), made, "every record made arrived, once");
    let seqs: Vec<(i64, Option<i64>)> = records.iter().map(|(id, r)| (*id, r.seq)).collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "in order, no duplicates: {dates:?} {seqs:?}");
    assert!(
        records.iter().all(|(_, r)| r.logtype.as_deref() == Some("system")
            && r.params_json()["ptotal"].as_i64().unwrap() > 0)
    );
    // The sentry told the base when the logger started and stopped (loggerStarted/Stopped).
    let events = fixture.base.storage.events("sentry-1", 100).unwrap();
    let kinds: Vec<(&str, &str)> = events.iter().map(|e| (e.kind.as_str(), e.logger.as_str())).collect();
    assert!(
        kinds.contains(&("loggerStarted", "mem")) && kinds.contains(&("loggerStopped", "mem")),
        "{kinds:?}"
    );
    // At each connection the sentry announced what it has, the logger made before the link
    // included (BUG-15).
    assert!(
        kinds.contains(&("factoryAdded", "memory-usage")) && kinds.contains(&("loggerAdded", "mem")),
        "{kinds:?}"
    );
    let started = events.iter().find(|e| e.kind == "loggerStarted").unwrap();
    assert_eq!(started.detail, 100, "the interval comes with loggerStarted");
    // At every hello the base read the sentry's factories and loggers, and noted them.
    let synced = events.iter().find(|e| e.kind == "synced").expect("no synced event");
    let factories = synced.detail["factories"].as_array().unwrap();
    assert!(factories.iter().any(|f| f["name"] == "memory-usage"), "{factories:?}");
    assert!(synced.detail["loggers"].as_array().unwrap().iter().any(|l| l["logger_name"] == "mem"));
    // Records came on the log channel the sentry opened when the base asked.
    assert!(fixture.base.sentries.get("sentry-1").unwrap().log_connection.is_some());
    registry.shutdown(Duration::from_secs(5));
}
