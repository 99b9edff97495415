//! Records per second from one sentry to the base, end to end, beside raw RPC posts measured
//! in the same run.
//!
//! * End to end: `N` records (the same ~300-byte cpu record as the RPC bench) wait in a
//!   sentry's durable spool; the timer starts when the sentry's link has said `hello` and
//!   stops when the spool is empty and the base has committed all `N` to SQLite. The path is
//!   the product's: spool read, acknowledged `onLogBatch` batches (up to three of at most 2,000
//!   records in flight) over mutual TLS on the log channel, the base's decode and JSON
//!   conversion, the base's writer thread committing in arrival order (group commits), the
//!   acknowledgement, the spool delete.
//! * Raw: the same record posted `N` times as `onLog` over the same kind of TLS connection to
//!   a service that only counts them (the RPC issue's posts figure).
//!
//! Both run in this process on one multi-threaded runtime (2 cores). Goal: end to end at
//! least 50,000 records/s and at least 0.3 of raw.
//!
//! Three rounds alternate the two measurements; the medians are compared.
//!
//! Run: `cargo bench -p kraken-base --bench end_to_end` (`-- --quick`: one round, fewer records).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kraken_codec::{Value, encode, map};
use kraken_rpc::tls::{self, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcServer, ServiceTable, service_fn};
use sentry::spool::{DropClass, SpoolEntry};
use sentry::store::Store;
use tokio::sync::Notify;

fn record() -> Value {
    map! {
        "logger" => "bench",
        "date" => Value::Date(1_764_300_000_123),
        "msg" => "cpu usage: 17%",
        "params" => map! {
            "logtype" => "system",
            "idle" => 83i32,
            "kernel" => 5i32,
            "user" => 12i32,
            "msg" => "cpu usage: 17%",
            "host" => "WIN-7Q3M2K1ABCD",
            "source" => "kraken-sentry 0.1.0 on Windows 10 Pro 22H2 (build 19045)",
            "padding" => "x".repeat(96),
        },
        "seq" => 1i64,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: usize = if quick { 20_000 } else { 200_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("kraken-bench-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = dir.join("pki");
    let files = kraken_base::pki::init(&pki, &[]).unwrap();
    kraken_base::pki::issue(&pki, "bench-sentry", kraken_base::pki::SENTRY_VALIDITY_DAYS).unwrap();

    // Rounds alternate the two measurements, so both see the same machine; medians are shown.
    let rounds = if quick { 1 } else { 3 };
    let (mut raws, mut ends) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        raws.push(runtime.block_on(raw_posts(&files, &pki, n)));
        let round_dir = dir.join(format!("round-{round}"));
        ends.push(runtime.block_on(end_to_end(&round_dir, &files, &pki, n)));
    }
    let (raw, end_to_end) = (support::median(&mut raws), support::median(&mut ends));
    println!("{n} records of {} bytes (encoded), median of {rounds} rounds", encode(&record()).len());
    println!("  raw RPC posts (TLS, counted)      {:>10.0} records/s  {raws:.0?}", raw);
    println!("  end to end (spool → base SQLite)  {:>10.0} records/s  {ends:.0?}", end_to_end);
    println!(
        "ratio end to end / raw: {:.2} (goal >= 0.3); goal >= 50,000 records/s: {}",
        end_to_end / raw,
        end_to_end >= 50_000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn client_tls(pki: &std::path::Path) -> (Arc<rustls::ClientConfig>, ServerPin) {
    let identity =
        TlsIdentity::from_pem_files(&pki.join("bench-sentry.pem"), &pki.join("bench-sentry.key")).unwrap();
    let ca = TrustedCas::from_pem_file(&pki.join("ca.pem")).unwrap();
    let pin = ServerPin::Name("127.0.0.1".into());
    (tls::client_config(&identity, &ca, pin.clone()).unwrap(), pin)
}

/// Posts `n` records to a counting service; records per second.
async fn raw_posts(files: &kraken_base::pki::PkiFiles, pki: &std::path::Path, n: usize) -> f64 {
    let seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let service = {
        let (seen, done) = (seen.clone(), done.clone());
        service_fn(move |_ctx, _method, _params| {
            let (seen, done) = (seen.clone(), done.clone());
            async move {
                if seen.fetch_add(1, Ordering::Relaxed) + 1 == n {
                    done.notify_one();
                }
                Ok(Value::Null)
            }
        })
    };
    let identity = TlsIdentity::from_pem_files(&files.base_cert, &files.base_key).unwrap();
    let server_tls =
        tls::server_config(&identity, &TrustedCas::from_pem_file(&files.ca_cert).unwrap()).unwrap();
    let mut server = RpcServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(RpcConfig::new("raw-base")),
        Some(server_tls),
        ServiceTable::from([("kraken-base".to_owned(), service)]),
    )
    .await
    .unwrap();
    let (client, pin) = client_tls(pki);
    let connection = Connector::tls(Arc::new(RpcConfig::new("bench-sentry")), client, pin)
        .connect(server.local_addr(), ServiceTable::new())
        .await
        .unwrap();
    let _accepted = server.accept().await.unwrap();
    connection.peered(Duration::from_secs(5)).await.unwrap();
    let session = connection.create_session("kraken-base").await.unwrap();
    let entry = record();
    let started = Instant::now();
    let waiting = done.notified();
    tokio::pin!(waiting);
    waiting.as_mut().enable();
    for _ in 0..n {
        session
            .post("onLog", vec![Value::from("bench-sentry"), Value::from("bench"), entry.clone()])
            .await
            .unwrap();
    }
    waiting.await;
    n as f64 / started.elapsed().as_secs_f64()
}

/// Drains `n` spooled records into a real base; records per second.
async fn end_to_end(
    dir: &std::path::Path,
    files: &kraken_base::pki::PkiFiles,
    pki: &std::path::Path,
    n: usize,
) -> f64 {
    let (base, storage) = support::start_base(dir, files, false).await;
    let store = Arc::new(Store::open(&dir.join("sentry")).unwrap());
    // Each record has its own sequence number, as the spool gives them (the base skips a
    // number it already stored).
    let numbered = |seq: usize| {
        let mut entry = record();
        if let Value::Map(map) = &mut entry {
            map.insert("seq", Value::I64(seq as i64 + 1));
        }
        encode(&entry)
    };
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let entries: Vec<SpoolEntry> = chunk
            .iter()
            .map(|&seq| SpoolEntry {
                base: "local".into(),
                logger: "bench".into(),
                record: numbered(seq),
                class: DropClass::Performance,
            })
            .collect();
        store.spool_append(&entries, &[], &[], u64::MAX).unwrap();
    }
    let (link, started) = support::link(&base, pki, store.clone(), Arc::new(Notify::new())).await;
    // Done when the oldest-record lookup finds nothing (an index probe, cheap to poll).
    while !store.spool_batch("local", 1, usize::MAX).unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    // Every record is in the base, once (read after the clock stopped).
    let stored =
        storage.records(&kraken_base::storage::RecordFilter { limit: n + 1, ..Default::default() }).unwrap();
    assert_eq!(stored.len(), n, "records stored");
    link.abort();
    n as f64 / elapsed.as_secs_f64()
}
