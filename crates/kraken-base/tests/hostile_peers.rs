//! Hostile peers against a real base on loopback (real TLS, real sockets): idle sockets beside
//! a real sentry, a peer that never says hello, a revoked certificate, a certificate naming two
//! sentries, a sentry off the allow-list. Each is refused or closed without holding up the
//! others.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, link, next_event, raw_connection, start_base_with};
use kraken_base::access::SentryAccess;
use kraken_base::config::ConnectionLimits;
use kraken_base::server::Base;
use kraken_base::storage::RecordFilter;
use kraken_codec::{Map, Value};
use kraken_rpc::tls::{self, CrlWatch, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcError, ServiceTable};
use rcgen::string::Ia5String;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
use sentry::link::LinkEvent;
use tokio::io::AsyncReadExt;

/// A fresh PKI with sentry-1 and sentry-2 in a temporary folder, removed at the end.
struct Scene {
    dir: PathBuf,
    pki: PathBuf,
}

impl Scene {
    fn new(name: &str) -> Scene {
        let dir = std::env::temp_dir().join(format!("kraken-base-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pki = dir.join("pki");
        kraken_base::pki::init(&pki, &[]).unwrap();
        for guid in ["sentry-1", "sentry-2"] {
            kraken_base::pki::issue(&pki, guid, kraken_base::pki::SENTRY_VALIDITY_DAYS).unwrap();
        }
        Scene { dir, pki }
    }

    async fn base(&self, access: SentryAccess, connections: ConnectionLimits, handshake: Duration) -> Base {
        start_base_with(&self.dir, "127.0.0.1:0".parse().unwrap(), access, connections, handshake).await
    }

    /// The fixture the shared helpers take, for `base`.
    fn fixture(&self, base: Base) -> common::Fixture {
        common::Fixture { dir: self.dir.clone(), base }
    }
}

/// A TLS connection with the given certificate files, peered; or why not.
async fn try_connect(
    pki: &Path,
    cert: &Path,
    key: &Path,
    address: std::net::SocketAddr,
) -> Result<kraken_rpc::RpcConnection, RpcError> {
    let identity = TlsIdentity::from_pem_files(cert, key).unwrap();
    let ca = TrustedCas::from_pem_file(&pki.join("ca.pem")).unwrap();
    let pin = ServerPin::Name("127.0.0.1".into());
    let client = tls::client_config(&identity, &ca, pin.clone()).unwrap();
    let connection = Connector::tls(Arc::new(RpcConfig::new("probe")), client, pin)
        .connect(address, ServiceTable::new())
        .await?;
    connection.peered(Duration::from_secs(3)).await?;
    Ok(connection)
}

/// `count` sockets connected to `address` from 127.0.0.`source`, that never send a byte.
async fn idle_sockets(address: SocketAddr, source: u8, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, source], 0))).unwrap();
        idle.push(socket.connect(address).await.unwrap());
    }
    idle
}

/// How long sentry `sentry-1` (from 127.0.0.1) takes to link to the fixture's base.
async fn time_to_link(fixture: &common::Fixture, pki: &Path) -> Duration {
    let started = Instant::now();
    let mut events = link(fixture, "sentry-1", "sentry-1", pki);
    let LinkEvent::Connected { .. } = next_event(&mut events).await else {
        panic!("the sentry did not link")
    };
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_neither_delay_nor_crowd_out_a_real_sentry() {
    let scene = Scene::new("idle");
    let limits = ConnectionLimits::default();
    // An 8 s handshake limit: before, 256 such sockets held every handshake slot that long.
    let base = scene.base(SentryAccess::default(), limits, Duration::from_secs(8)).await;
    let address = base.local_addr();
    // 400 sockets from 127.0.0.2 that never send a byte: more than the per-source limit of
    // connections not yet admitted (256).
    const IDLE: usize = 400;
    let idle = idle_sockets(address, 2, IDLE).await;
    // A real sentry from 127.0.0.1 links well within its 5 s budget.
    let fixture = scene.fixture(base);
    let linked_in = time_to_link(&fixture, &scene.pki).await;
    assert!(linked_in < Duration::from_secs(4), "linking took {linked_in:?} beside {IDLE} idle sockets");
    // Every idle socket is closed by the base: at once past the limit, after the 8 s
    // handshake limit otherwise.
    let started = Instant::now();
    let closings: Vec<_> = idle
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                let read = tokio::time::timeout(Duration::from_secs(12), socket.read(&mut byte)).await;
                assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "an idle socket was kept open: {read:?}");
                started.elapsed()
            })
        })
        .collect();
    let mut closed_after = Vec::new();
    for closing in closings {
        closed_after.push(closing.await.unwrap());
    }
    // Refused ones close long before the 8 s handshake limit closes the others (under Wine,
    // accepting and closing hundreds of sockets takes a few seconds).
    let at_once = closed_after.iter().filter(|after| **after < Duration::from_secs(4)).count();
    assert!(at_once >= IDLE - limits.max_pending_per_source, "only {at_once} refused at once");
    let last = closed_after.iter().max().unwrap();
    assert!(*last < Duration::from_secs(11), "idle sockets closed after {last:?}");
    assert_eq!(fixture.base.sentries.connected(), ["sentry-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_from_several_sources_filling_every_pending_place_do_not_keep_a_sentry_out() {
    let scene = Scene::new("idle-sources");
    // Every place for connections not yet admitted taken by three sources' idle sockets.
    let limits = ConnectionLimits { max_pending: 90, max_pending_per_source: 40, ..Default::default() };
    let base = scene.base(SentryAccess::default(), limits, Duration::from_secs(8)).await;
    let address = base.local_addr();
    let mut idle = Vec::new();
    for source in 2..=4 {
        idle.extend(idle_sockets(address, source, 40).await);
    }
    // A sentry from another address takes the place of the busiest source's oldest socket
    // at once, instead of being refused until the handshake limit frees a place.
    let fixture = scene.fixture(base);
    let linked_in = time_to_link(&fixture, &scene.pki).await;
    assert!(
        linked_in < Duration::from_secs(4),
        "linking took {linked_in:?} beside idle sockets of 3 sources"
    );
    assert_eq!(fixture.base.sentries.connected(), ["sentry-1"]);
    drop(idle);
}

#[tokio::test]
async fn a_peer_that_never_says_hello_is_closed_and_one_that_does_stays() {
    let scene = Scene::new("nohello");
    let limits = ConnectionLimits { hello_timeout_ms: 1_000, ..Default::default() };
    let base = scene.base(SentryAccess::default(), limits, Duration::from_secs(5)).await;
    let opened = Instant::now();
    let silent = raw_connection(&scene.pki, "sentry-1", base.local_addr(), ServiceTable::new()).await;
    let talking = raw_connection(&scene.pki, "sentry-2", base.local_addr(), ServiceTable::new()).await;
    let session = talking.create_session("kraken-base").await.unwrap();
    session.call("hello", vec!["sentry-2".into()]).await.unwrap();
    // The base closes it (the reason it logs is "not admitted within 1s").
    tokio::time::timeout(Duration::from_secs(4), silent.closed()).await.expect("still open");
    let after = opened.elapsed();
    assert!(after >= Duration::from_millis(900), "closed after {after:?}, before the hello limit");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!talking.is_closed(), "a sentry that said hello was closed");
    assert_eq!(base.sentries.connected(), ["sentry-2"]);
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_and_its_connection_closed() {
    let scene = Scene::new("revoked");
    let crl = kraken_base::pki::PkiFiles::in_dir(&scene.pki).crl;
    let access = SentryAccess { revocations: Some(CrlWatch::load(&crl).unwrap()), ..Default::default() };
    let base = scene.base(access, ConnectionLimits::default(), Duration::from_secs(5)).await;
    let fixture = scene.fixture(base);
    let mut first = link(&fixture, "sentry-1", "sentry-1", &scene.pki);
    let mut second = link(&fixture, "sentry-2", "sentry-2", &scene.pki);
    assert!(matches!(next_event(&mut first).await, LinkEvent::Connected { .. }));
    assert!(matches!(next_event(&mut second).await, LinkEvent::Connected { .. }));

    let revoked = kraken_base::pki::revocation::revoke(&scene.pki, "sentry-1").unwrap();
    assert_eq!(revoked.len(), 1);
    let started = Instant::now();
    let LinkEvent::Disconnected { .. } = next_event(&mut first).await else { panic!("still linked") };
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    // It cannot come back: its next attempts fail in the handshake.
    let LinkEvent::Failed { error, .. } = next_event(&mut first).await else { panic!("linked again") };
    assert!(!error.is_empty());
    let (cert, key) = kraken_base::pki::sentry_files(&scene.pki, "sentry-1");
    assert!(try_connect(&scene.pki, &cert, &key, fixture.base.local_addr()).await.is_err());
    assert!(eventually(Duration::from_secs(2), || fixture.base.sentries.connected() == ["sentry-2"]).await);
}

/// A certificate for `common_name` with these URI names, signed by the scene's CA.
fn custom_certificate(pki: &Path, name: &str, common_name: &str, uris: &[&str]) -> (PathBuf, PathBuf) {
    let ca_pem = std::fs::read_to_string(pki.join("ca.pem")).unwrap();
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(pki.join("ca.key")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.subject_alt_names =
        uris.iter().map(|u| SanType::URI(Ia5String::try_from(u.to_string()).unwrap())).collect();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (pki.join(format!("{name}.pem")), pki.join(format!("{name}.key")));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

#[tokio::test]
async fn certificates_naming_two_sentries_or_off_the_allow_list_are_refused_in_the_handshake() {
    let scene = Scene::new("names");
    let allowed = Some(Arc::new(["sentry-1".to_owned(), "sentry-2".to_owned()].into_iter().collect()));
    let access = SentryAccess { allowed, ..Default::default() };
    let base = scene.base(access, ConnectionLimits::default(), Duration::from_secs(5)).await;
    let address = base.local_addr();
    let two = custom_certificate(&scene.pki, "two", "sentry-1", &["urn:kraken:sentry:sentry-2"]);
    let outsider = custom_certificate(&scene.pki, "outsider", "sentry-3", &[]);
    let fine = custom_certificate(&scene.pki, "fine", "sentry-1", &["urn:kraken:sentry:sentry-1"]);
    // Refused before peering: not one frame is read from them.
    for (cert, key) in [&two, &outsider] {
        let outcome = try_connect(&scene.pki, cert, key, address).await;
        assert!(outcome.is_err(), "{} got through", cert.display());
    }
    let connection = try_connect(&scene.pki, &fine.0, &fine.1, address).await.unwrap();
    let session = connection.create_session("kraken-base").await.unwrap();
    session.call("hello", vec!["sentry-1".into()]).await.unwrap();
    assert_eq!(base.sentries.connected(), ["sentry-1"]);
}

/// A batch of `count` records of `logger` numbered from `first`, each carrying `pad` bytes.
fn batch(guid: &str, logger: &str, first: i64, count: usize, pad: usize) -> Vec<Value> {
    let records = (0..count as i64)
        .map(|i| {
            let mut record = Map::new();
            record.insert("logger", Value::from(logger));
            record.insert("date", Value::Date(1_700_000_000_000 + first + i));
            record.insert("msg", Value::from("x".repeat(pad)));
            record.insert("params", Value::Map(Map::new()));
            record.insert("seq", Value::I64(first + i));
            Value::Map(record)
        })
        .collect();
    vec![guid.into(), Value::Array(records), Value::from(format!("epoch-{guid}"))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_maximal_frames_from_one_sentry_leaves_another_flowing() {
    let scene = Scene::new("flood");
    let base = scene.base(SentryAccess::default(), ConnectionLimits::default(), Duration::from_secs(5)).await;
    let address = base.local_addr();
    let pki = scene.pki.clone();
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // The flooder: batches of about 7.5 MiB (the frame limit is 8 MiB), 12 at a time on one
    // connection, again and again, reconnecting whenever the base closes it.
    let flooder = {
        let flooding = flooding.clone();
        tokio::spawn(async move {
            let (mut accepted, mut refused, mut next) = (0u32, 0u32, 1i64);
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                let connection = raw_connection(&pki, "sentry-1", address, ServiceTable::new()).await;
                let session = connection.create_session("kraken-base").await.unwrap();
                if session.call("hello", vec!["sentry-1".into()]).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                let mut replies = Vec::new();
                for _ in 0..12 {
                    let params = batch("sentry-1", "flood", next, 75, 100 * 1024);
                    next += 75;
                    match session.start_call("onLogBatch", params, Duration::from_secs(60)).await {
                        Ok(reply) => replies.push(reply),
                        Err(_) => break,
                    }
                }
                for reply in replies {
                    match reply.wait().await {
                        Ok(_) => accepted += 1,
                        Err(_) => refused += 1,
                    }
                }
                connection.close("next round");
            }
            (accepted, refused)
        })
    };
    // The steady sentry: one small batch every 100 ms, each acknowledgement timed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let steady = raw_connection(&scene.pki, "sentry-2", address, ServiceTable::new()).await;
    let session = steady.create_session("kraken-base").await.unwrap();
    session.call("hello", vec!["sentry-2".into()]).await.unwrap();
    let mut slowest = Duration::ZERO;
    for seq in 1..=20 {
        let started = Instant::now();
        let ack = session.call("onLogBatch", batch("sentry-2", "steady", seq, 1, 100)).await.unwrap();
        assert_eq!(ack, Value::I32(1));
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let (accepted, refused) = flooder.await.unwrap();
    println!(
        "steady sentry: slowest acknowledgement {slowest:?}; flooder: {accepted} batches stored, {refused} refused"
    );
    // On Linux the base reads the flood faster than it commits it: the calls waiting on the
    // connection pass its budget (64 MiB) and are refused at once, and the flooder's share of
    // the intake (32 MiB) fills. Under Wine reading a 7.5 MiB frame takes longer than
    // committing it, neither fills, and nothing needs refusing (seen in Wine runs here; the
    // other assertions still hold).
    if cfg!(windows) {
        println!("under Wine: {refused} batches refused");
    } else {
        assert!(refused > 0, "the flooder was never refused ({accepted} stored)");
    }
    // Its batches queue behind at most the flooder's share (32 MiB) in the writer. Under Wine a
    // debug build commits such batches several times slower than on Linux.
    let bound = if cfg!(windows) { Duration::from_secs(15) } else { Duration::from_secs(3) };
    assert!(slowest < bound, "the steady sentry waited {slowest:?} for an acknowledgement");
    let filter = RecordFilter { logger: Some("steady".into()), limit: 100, ..Default::default() };
    assert_eq!(base.storage.records(&filter).unwrap().len(), 20, "every steady record stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentry_sending_events_without_end_is_refused_past_its_budget() {
    let scene = Scene::new("events");
    let base = scene.base(SentryAccess::default(), ConnectionLimits::default(), Duration::from_secs(5)).await;
    let address = base.local_addr();
    let noisy = raw_connection(&scene.pki, "sentry-1", address, ServiceTable::new()).await;
    let session = noisy.create_session("kraken-base").await.unwrap();
    session.call("hello", vec!["sentry-1".into()]).await.unwrap();
    // Events of about 200 KB each (a detail just under the stored cap): the budget's burst
    // (4 MiB) holds twenty of them.
    let detail = "x".repeat(200_000);
    let (mut stored, mut refused) = (0, 0);
    for n in 0..40 {
        let params = vec!["sentry-1".into(), format!("logger-{n}").into(), detail.as_str().into()];
        match session.call("loggerStarted", params).await {
            Ok(_) => stored += 1,
            Err(RpcError::Remote(Some(message))) if message.contains("over their budget") => refused += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    println!("noisy sentry: {stored} events stored, {refused} refused");
    assert!((19..=21).contains(&stored), "{stored} stored");
    assert_eq!(stored + refused, 40);
    assert_eq!(
        base.storage.events("sentry-1", 100).unwrap().iter().filter(|e| e.kind == "loggerStarted").count(),
        stored
    );
    // Another sentry's events are its own budget's business.
    let quiet = raw_connection(&scene.pki, "sentry-2", address, ServiceTable::new()).await;
    let session = quiet.create_session("kraken-base").await.unwrap();
    session.call("hello", vec!["sentry-2".into()]).await.unwrap();
    session.call("loggerStarted", vec!["sentry-2".into(), "cpu".into(), Value::I32(1000)]).await.unwrap();
    let events = base.storage.events("sentry-2", 10).unwrap();
    assert!(events.iter().any(|e| e.kind == "loggerStarted" && e.logger == "cpu"), "{events:?}");
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
