//! The log channel and sentry identity at the base, over real TLS on loopback: a sentry's link
//! opens its log channel when the base asks, the nonce is good once and only for that sentry,
//! records travel on the log channel, the two connections close together, and a GUID is held by
//! its live connection but taken over from a dead one.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{eventually, fixture, link, next_event, raw_connection};
use kraken_base::storage::RecordFilter;
use kraken_codec::{Map, Value};
use kraken_rpc::{RpcConnection, RpcSession, ServiceTable, service_fn};
use sentry::link::LinkEvent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The id of `guid`'s (command, log) connections at the base.
fn connections(fixture: &common::Fixture, guid: &str) -> Option<(u64, Option<u64>)> {
    let sentry = fixture.base.sentries.get(guid)?;
    Some((sentry.connection.id(), sentry.log_connection.map(|c| c.id())))
}

#[tokio::test]
async fn a_linked_sentry_opens_its_log_channel_and_both_connections_close_together() {
    let fixture = fixture("log-channel").await;
    let pki = fixture.dir.join("pki");
    let mut events = link(&fixture, "sentry-1", "sentry-1", &pki);
    assert!(matches!(next_event(&mut events).await, LinkEvent::Connected { .. }));
    let has_log_channel = || connections(&fixture, "sentry-1").is_some_and(|(_, log)| log.is_some());
    assert!(eventually(Duration::from_secs(10), has_log_channel).await, "no log channel");
    let (command, log) = connections(&fixture, "sentry-1").unwrap();

    // The log channel goes: its command connection goes with it, and the sentry starts over
    // with a new pair (a new nonce, a new log channel: BUG-8).
    fixture.base.sentries.get("sentry-1").unwrap().log_connection.unwrap().close("test: log channel cut");
    assert!(matches!(next_event(&mut events).await, LinkEvent::Disconnected { .. }));
    assert!(matches!(next_event(&mut events).await, LinkEvent::Connected { .. }));
    assert!(eventually(Duration::from_secs(10), has_log_channel).await, "no new log channel");
    let (new_command, new_log) = connections(&fixture, "sentry-1").unwrap();
    assert_ne!(new_command, command);
    assert_ne!(new_log, log);
}

/// A hand-made sentry on a raw connection: it says hello and hands over the nonces the base
/// sends in `connectLogChannel`.
struct FakeSentry {
    connection: RpcConnection,
    session: RpcSession,
    nonces: mpsc::UnboundedReceiver<String>,
}

impl FakeSentry {
    async fn connect(fixture: &common::Fixture, guid: &str, address: std::net::SocketAddr) -> FakeSentry {
        let (tx, nonces) = mpsc::unbounded_channel();
        let service = service_fn(move |_, _, params: Vec<Value>| {
            let tx = tx.clone();
            async move {
                match params.first().and_then(Value::as_str) {
                    Some("connectLogChannel") => {
                        let nonce = params[1].as_array().unwrap()[0].as_str().unwrap().to_owned();
                        let _ = tx.send(nonce);
                        Ok(Value::Null)
                    }
                    _ => Ok(Value::Array(vec![])),
                }
            }
        });
        let mut services = ServiceTable::new();
        services.insert("kraken-sentry".into(), service);
        let connection = raw_connection(&fixture.dir.join("pki"), guid, address, services).await;
        let session = connection.create_session("kraken-base").await.unwrap();
        session.call("hello", vec![guid.into()]).await.unwrap();
        FakeSentry { connection, session, nonces }
    }

    async fn nonce(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.nonces.recv()).await.expect("no nonce").unwrap()
    }
}

/// Presents `nonce` for `guid` on a new connection with `cert_of`'s certificate.
async fn set_log_channel(
    fixture: &common::Fixture,
    cert_of: &str,
    guid: &str,
    nonce: &str,
) -> (RpcConnection, RpcSession, Result<Value, kraken_rpc::RpcError>) {
    let connection =
        raw_connection(&fixture.dir.join("pki"), cert_of, fixture.base.local_addr(), ServiceTable::new())
            .await;
    let session = connection.create_session("kraken-base").await.unwrap();
    let outcome = session.call("setLogChannel", vec![guid.into(), nonce.into()]).await;
    (connection, session, outcome)
}

fn cause(outcome: Result<Value, kraken_rpc::RpcError>) -> String {
    outcome.unwrap_err().remote_cause().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_log_channel_nonce_is_good_once_and_only_for_its_own_sentry() {
    let fixture = fixture("nonce").await;
    let mut sentry = FakeSentry::connect(&fixture, "sentry-1", fixture.base.local_addr()).await;
    let nonce = sentry.nonce().await;
    assert_eq!(nonce.len(), 36, "a UUID: {nonce}");

    let (_, _, outcome) = set_log_channel(&fixture, "sentry-2", "sentry-1", &nonce).await;
    assert_eq!(cause(outcome), "the certificate names sentry sentry-2, not sentry-1");
    let (_, _, outcome) = set_log_channel(&fixture, "sentry-2", "sentry-2", &nonce).await;
    assert_eq!(cause(outcome), "sentry sentry-2 is not connected");
    // A wrong nonce uses the right one up: it cannot be guessed at.
    let (_, _, outcome) = set_log_channel(&fixture, "sentry-1", "sentry-1", "not-the-nonce").await;
    assert_eq!(cause(outcome), "nonce does not match");
    let (_, _, outcome) = set_log_channel(&fixture, "sentry-1", "sentry-1", &nonce).await;
    assert_eq!(cause(outcome), "no log channel was requested from sentry sentry-1");
    assert_eq!(connections(&fixture, "sentry-1").unwrap().1, None);
    assert!(!sentry.connection.is_closed(), "refusals leave the command connection alone");
}

#[tokio::test]
async fn records_travel_on_the_log_channel_and_it_closes_with_its_command_connection() {
    let fixture = fixture("log-records").await;
    let mut sentry = FakeSentry::connect(&fixture, "sentry-1", fixture.base.local_addr()).await;
    let nonce = sentry.nonce().await;
    let (log, log_session, outcome) = set_log_channel(&fixture, "sentry-1", "sentry-1", &nonce).await;
    assert_eq!(outcome.unwrap(), Value::Null);
    assert!(connections(&fixture, "sentry-1").unwrap().1.is_some());

    let mut record = Map::new();
    record.insert("logger", Value::from("cpu"));
    record.insert("date", Value::Date(1_700_000_000_000));
    record.insert("msg", Value::from("cpu usage: 7%"));
    record.insert("params", Value::Map(Map::new()));
    let batch = vec!["sentry-1".into(), Value::Array(vec![Value::Map(record)])];
    assert_eq!(log_session.call("onLogBatch", batch).await.unwrap(), Value::I32(1));
    let stored = fixture.base.storage.records(&RecordFilter::default()).unwrap();
    assert_eq!(stored.len(), 1);
    // The log channel speaks for its own sentry only.
    let refused = log_session.call("onLogBatch", vec!["sentry-2".into(), Value::Array(vec![])]).await;
    assert_eq!(cause(refused), "this connection speaks for sentry sentry-1, not sentry-2");

    // A log channel cannot become a command connection.
    let again = log_session.call("hello", vec!["sentry-1".into()]).await;
    assert_eq!(cause(again), "this connection already speaks for sentry sentry-1");
    // The sentry drops its log channel: the base closes the command connection too.
    log.close("test: sentry closes its log channel");
    let closed = tokio::time::timeout(Duration::from_secs(5), sentry.session.connection().closed()).await;
    assert!(closed.is_ok(), "the command connection stayed open");
    assert!(eventually(Duration::from_secs(5), || fixture.base.sentries.get("sentry-1").is_none()).await);
}

/// A TCP relay that can be frozen: it then neither reads nor writes, nor closes, like a host
/// that vanished from the network.
async fn freezable_relay(target: std::net::SocketAddr, frozen: Arc<AtomicBool>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = tokio::net::TcpStream::connect(target).await.unwrap();
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        let pump = |mut from: tokio::net::tcp::OwnedReadHalf,
                    mut to: tokio::net::tcp::OwnedWriteHalf,
                    frozen: Arc<AtomicBool>| async move {
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                let read = from.read(&mut buffer).await.unwrap_or(0);
                if read == 0 {
                    return;
                }
                while frozen.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if to.write_all(&buffer[..read]).await.is_err() {
                    return;
                }
            }
        };
        tokio::spawn(pump(client_read, upstream_write, frozen.clone()));
        pump(upstream_read, client_write, frozen).await;
    });
    address
}

#[tokio::test]
async fn a_live_sentry_keeps_its_guid_and_a_dead_one_is_replaced() {
    let fixture = fixture("liveness").await;
    let frozen = Arc::new(AtomicBool::new(false));
    let relay = freezable_relay(fixture.base.local_addr(), frozen.clone()).await;
    let first = FakeSentry::connect(&fixture, "sentry-1", relay).await;
    let first_id = connections(&fixture, "sentry-1").unwrap().0;

    // While the first connection answers pings, a second one for the same GUID is refused.
    let second =
        raw_connection(&fixture.dir.join("pki"), "sentry-1", fixture.base.local_addr(), ServiceTable::new())
            .await;
    let session = second.create_session("kraken-base").await.unwrap();
    let refused = session.call("hello", vec!["sentry-1".into()]).await;
    assert_eq!(cause(refused), "sentry sentry-1 is already connected");
    assert_eq!(connections(&fixture, "sentry-1").unwrap().0, first_id);

    // The first one's host vanishes: no answer to the base's ping, so a newcomer replaces it.
    frozen.store(true, Ordering::Relaxed);
    let third = FakeSentry::connect(&fixture, "sentry-1", fixture.base.local_addr()).await;
    let (third_id, _) = connections(&fixture, "sentry-1").unwrap();
    assert_ne!(third_id, first_id);
    assert!(!third.connection.is_closed());
    let sentries = fixture.base.storage.sentries().unwrap();
    assert!(sentries.iter().any(|s| s.guid == "sentry-1" && s.connected));
    drop(first);
}
