//! Two real peers over loopback: mutual TLS with certificates made in the test, peering,
//! sessions, calls, posts, errors, a call back inside a call, time limits, many concurrent calls,
//! half-open detection by ping, refused certificates and bad frames.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestCa, config, tls_connector, tls_pair, tls_server};
use kraken_codec::Value;
use kraken_rpc::tls::{self, ServerPin};
use kraken_rpc::{Connector, PeerAuth, RpcError, RpcFault, RpcServer, ServiceTable, TrustLevel, service_fn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// `echo(x)` returns x; `fail()` fails; `slow(ms)` sleeps; `record(x)` sends x to the channel;
/// `hello(guid)` calls back into the caller's `kraken-sentry` service and returns its answer.
fn base_services(records: mpsc::UnboundedSender<Value>) -> ServiceTable {
    let service = service_fn(move |ctx, method, params| {
        let records = records.clone();
        async move {
            match method.as_str() {
                "echo" => Ok(params.into_iter().next().unwrap_or(Value::Null)),
                "fail" => Err(RpcFault::new("logger not found: cpu")),
                "slow" => {
                    let ms = params.first().and_then(Value::as_i64).unwrap_or(1000);
                    tokio::time::sleep(Duration::from_millis(ms as u64)).await;
                    Ok(Value::I64(ms))
                }
                "record" => {
                    let _ = records.send(params.into_iter().next().unwrap_or(Value::Null));
                    Ok(Value::Null)
                }
                "record_slowly" => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let _ = records.send(params.into_iter().next().unwrap_or(Value::Null));
                    Ok(Value::Null)
                }
                "panic" => panic!("boom"),
                "hello" => {
                    let sentry =
                        ctx.connection.create_session("kraken-sentry").await.map_err(|e| e.to_string())?;
                    let facts = sentry
                        .call("run", vec!["getLoggers".into(), Value::Null])
                        .await
                        .map_err(|e| RpcFault::new(format!("callback failed: {e}")))?;
                    Ok(Value::Array(vec![Value::I32(sentry.id()), facts]))
                }
                other => Err(RpcFault::method_not_found(other)),
            }
        }
    });
    ServiceTable::from([("kraken-base".to_owned(), service)])
}

fn sentry_services() -> ServiceTable {
    let service = service_fn(|_ctx, method, params| async move {
        match (method.as_str(), params.first().and_then(Value::as_str)) {
            ("run", Some("getLoggers")) => Ok(Value::Array(vec![Value::from("cpu")])),
            _ => Err(RpcFault::method_not_found(&method)),
        }
    });
    ServiceTable::from([("kraken-sentry".to_owned(), service)])
}

/// Starts `count` calls of `slow(ms)`, each in its own task.
fn spawn_slow_calls(
    base: &kraken_rpc::RpcSession,
    count: usize,
    ms: i32,
) -> Vec<tokio::task::JoinHandle<Result<Value, RpcError>>> {
    (0..count)
        .map(|_| {
            let base = base.clone();
            tokio::spawn(async move { base.call("slow", vec![Value::I32(ms)]).await })
        })
        .collect()
}

#[tokio::test]
async fn tls_peering_sessions_calls_posts_and_errors() {
    let ca = TestCa::new("Test CA");
    let (records_tx, mut records) = mpsc::unbounded_channel();
    let (_server, client, accepted) = tls_pair(
        &ca,
        config("base-guid"),
        base_services(records_tx),
        config("sentry-1"),
        ServiceTable::new(),
    )
    .await;

    // Identities: GUIDs from peering, the client's certificate on the server side.
    assert_eq!(client.peer_guid().as_deref(), Some("base-guid"));
    assert_eq!(accepted.peer_guid().as_deref(), Some("sentry-1"));
    let cert = accepted.peer().certificate.clone().unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("sentry-1"));
    assert_eq!(cert.fingerprint_sha256.len(), 64);

    // The acceptor hands out even session ids.
    let base = client.create_session("kraken-base").await.unwrap();
    assert_eq!(base.id() % 2, 0);

    let echoed =
        base.call("echo", vec![kraken_codec::map! { "pid" => 4i32, "ws" => 1i64 << 40 }]).await.unwrap();
    assert_eq!(echoed, kraken_codec::map! { "pid" => 4i32, "ws" => 1i64 << 40 });

    base.post("record", vec![Value::from("first")]).await.unwrap();
    base.post("record", vec![Value::from("second")]).await.unwrap();
    assert_eq!(records.recv().await.unwrap(), Value::from("first"));
    assert_eq!(records.recv().await.unwrap(), Value::from("second"));

    let err = base.call("fail", vec![]).await.unwrap_err();
    assert_eq!(err, RpcError::Remote(Some("logger not found: cpu".into())));
    let err = base.call("nope", vec![]).await.unwrap_err();
    assert_eq!(err.remote_cause(), Some("method not found: nope"));
    let err = client.create_session("no-such-service").await.unwrap_err();
    assert_eq!(err.remote_cause(), Some("service binding not found: no-such-service"));

    // An unknown session gets no answer at all (as in Java), so the caller's limit applies.
    let err = client.call(99, "echo", vec![], Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout { .. }), "{err:?}");

    client.close("test done");
    assert!(accepted.closed().await.contains("closed"));
}

#[tokio::test]
async fn posts_keep_their_order_behind_a_slow_one_and_a_panic_is_an_error() {
    let ca = TestCa::new("Test CA");
    let (records_tx, mut records) = mpsc::unbounded_channel();
    let (_server, client, accepted) =
        tls_pair(&ca, config("base"), base_services(records_tx), config("sentry"), ServiceTable::new()).await;
    let base = client.create_session("kraken-base").await.unwrap();

    // The first post waits, so the next ones queue behind it and must still run in order.
    base.post("record_slowly", vec![Value::from("a")]).await.unwrap();
    for name in ["b", "c", "d"] {
        base.post("record", vec![Value::from(name)]).await.unwrap();
    }
    for expected in ["a", "b", "c", "d"] {
        let got = tokio::time::timeout(Duration::from_secs(5), records.recv()).await.unwrap().unwrap();
        assert_eq!(got, Value::from(expected));
    }

    // A panicking handler answers like a failing one, and the connection goes on.
    let err = base.call("panic", vec![]).await.unwrap_err();
    assert!(err.remote_cause().unwrap_or_default().contains("boom"), "{err:?}");
    base.post("panic", vec![]).await.unwrap();
    assert_eq!(base.call("echo", vec![Value::I32(5)]).await.unwrap(), Value::I32(5));
    assert!(!accepted.is_closed());
}

#[tokio::test]
async fn a_full_post_backlog_holds_the_reader_and_loses_nothing() {
    let ca = TestCa::new("Test CA");
    let (records_tx, mut records) = mpsc::unbounded_channel();
    let (_server, client, accepted) =
        tls_pair(&ca, config("base"), base_services(records_tx), config("sentry"), ServiceTable::new()).await;
    let base = client.create_session("kraken-base").await.unwrap();

    // Far more posts queue behind a slow one than a session's backlog holds (256): the reader
    // waits for room, and every post still runs, in order.
    base.post("record_slowly", vec![Value::I32(0)]).await.unwrap();
    for n in 1..1000 {
        base.post("record", vec![Value::I32(n)]).await.unwrap();
    }
    for expected in 0..1000 {
        let got = tokio::time::timeout(Duration::from_secs(5), records.recv()).await.unwrap().unwrap();
        assert_eq!(got, Value::I32(expected));
    }
    assert_eq!(base.call("echo", vec![Value::I32(5)]).await.unwrap(), Value::I32(5));
    assert!(!accepted.is_closed());
}

#[tokio::test]
async fn encoded_parameters_go_out_as_they_are_and_malformed_ones_are_refused() {
    let ca = TestCa::new("Test CA");
    let (records_tx, _records) = mpsc::unbounded_channel();
    let (_server, client, _accepted) =
        tls_pair(&ca, config("base"), base_services(records_tx), config("sentry"), ServiceTable::new()).await;
    let base = client.create_session("kraken-base").await.unwrap();

    let record = kraken_codec::map! { "logger" => "cpu", "params" => kraken_codec::map! { "idle" => 83i32 } };
    let reply = base.start_call_encoded("echo", &kraken_codec::encode(&record), Duration::from_secs(5)).await;
    assert_eq!(reply.unwrap().wait().await.unwrap(), record);

    // A map that claims more bytes than it has: refused before anything is sent.
    let refused = base.start_call_encoded("echo", &[0x09, 0x7f], Duration::from_secs(5)).await;
    let Err(err) = refused else { panic!("malformed parameters were sent") };
    assert!(matches!(&err, RpcError::Protocol(cause) if cause.contains("not well-formed")), "{err:?}");
    assert_eq!(base.call("echo", vec![Value::I32(5)]).await.unwrap(), Value::I32(5));
}

#[tokio::test]
async fn a_handler_calls_back_while_its_caller_waits() {
    let ca = TestCa::new("Test CA");
    let (tx, _rx) = mpsc::unbounded_channel();
    let (_server, client, _accepted) =
        tls_pair(&ca, config("base"), base_services(tx), config("sentry"), sentry_services()).await;
    let base = client.create_session("kraken-base").await.unwrap();
    let answer = base.call("hello", vec![Value::from("sentry")]).await.unwrap();
    let items = answer.as_array().unwrap();
    // The initiator (the sentry) hands out odd session ids.
    assert_eq!(items[0].as_i32().unwrap() % 2, 1);
    assert_eq!(items[1], Value::Array(vec![Value::from("cpu")]));
}

#[tokio::test]
async fn time_limits_and_a_slow_handler_stalls_nobody_else() {
    let ca = TestCa::new("Test CA");
    let (tx, _rx) = mpsc::unbounded_channel();
    let (_server, client, _accepted) =
        tls_pair(&ca, config("base"), base_services(tx), config("sentry"), ServiceTable::new()).await;
    let base = client.create_session("kraken-base").await.unwrap();

    let slow = spawn_slow_calls(&base, 1, 1500).pop().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    assert_eq!(base.call("echo", vec![Value::I32(1)]).await.unwrap(), Value::I32(1));
    assert!(started.elapsed() < Duration::from_millis(1000), "echo waited {:?}", started.elapsed());

    let err =
        base.call_with_timeout("slow", vec![Value::I32(2000)], Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout { ref method, .. } if method == "slow"), "{err:?}");
    assert_eq!(slow.await.unwrap().unwrap(), Value::I64(1500));
}

#[tokio::test]
async fn a_thousand_concurrent_calls() {
    let ca = TestCa::new("Test CA");
    let (tx, _rx) = mpsc::unbounded_channel();
    let (_server, client, _accepted) =
        tls_pair(&ca, config("base"), base_services(tx), config("sentry"), ServiceTable::new()).await;
    let base = client.create_session("kraken-base").await.unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..1000i32 {
        let base = base.clone();
        calls.spawn(async move { (i, base.call("echo", vec![Value::I32(i)]).await) });
    }
    let mut answered = 0;
    while let Some(done) = calls.join_next().await {
        let (i, result) = done.unwrap();
        assert_eq!(result.unwrap(), Value::I32(i));
        answered += 1;
    }
    assert_eq!(answered, 1000);
}

#[tokio::test]
async fn waiting_handlers_are_limited_and_instant_ones_always_run() {
    let ca = TestCa::new("Test CA");
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut base_config = config("base");
    base_config.max_concurrent_handlers = 2;
    let (_server, client, _accepted) =
        tls_pair(&ca, base_config, base_services(tx), config("sentry"), ServiceTable::new()).await;
    let base = client.create_session("kraken-base").await.unwrap();
    let slow = spawn_slow_calls(&base, 2, 700);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Both slots are held by waiting handlers: a third that would wait is refused...
    let refused = base.call("slow", vec![Value::I32(10)]).await.unwrap_err();
    assert_eq!(refused, RpcError::Remote(Some("too many calls in progress (2)".into())));
    // ...and so is an instant one, which cannot be told apart before it runs.
    assert!(base.call("echo", vec![Value::I32(1)]).await.is_err());
    for call in slow {
        assert_eq!(call.await.unwrap().unwrap(), Value::I64(700));
    }
    // The slots are back: waiting handlers run again, and instant ones never took a slot.
    assert_eq!(base.call("slow", vec![Value::I32(10)]).await.unwrap(), Value::I64(10));
    let echoes =
        futures_util::future::join_all((0..50).map(|i| base.call("echo", vec![Value::I32(i)]))).await;
    assert!(echoes.into_iter().all(|echo| echo.is_ok()));
}

#[tokio::test]
async fn losing_the_connection_fails_pending_calls_at_once() {
    let ca = TestCa::new("Test CA");
    let (tx, _rx) = mpsc::unbounded_channel();
    let (_server, client, accepted) =
        tls_pair(&ca, config("base"), base_services(tx), config("sentry"), ServiceTable::new()).await;
    let base = client.create_session("kraken-base").await.unwrap();
    let pending = spawn_slow_calls(&base, 5, 5000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    accepted.close("base shutting down");
    for call in pending {
        let err = call.await.unwrap().unwrap_err();
        assert!(matches!(err, RpcError::Closed(_)), "{err:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(client.is_closed());
}

/// Forwards bytes between a client and a server until frozen, then silently swallows them:
/// a peer that is gone without closing (half-open).
async fn freezable_proxy(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        frozen: Arc<AtomicBool>,
    ) {
        let mut buf = vec![0u8; 16384];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !frozen.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let flag = frozen.clone();
    tokio::spawn(async move {
        let (inbound, _) = listener.accept().await.unwrap();
        let outbound = tokio::net::TcpStream::connect(target).await.unwrap();
        let (in_read, in_write) = inbound.into_split();
        let (out_read, out_write) = outbound.into_split();
        tokio::spawn(pump(in_read, out_write, flag.clone()));
        pump(out_read, in_write, flag).await;
    });
    (addr, frozen)
}

#[tokio::test]
async fn a_half_open_peer_is_detected_by_ping() {
    let ca = TestCa::new("Test CA");
    let mut server_config = config("base");
    server_config.ping_interval = Some(Duration::from_millis(300));
    server_config.ping_timeout = Duration::from_millis(500);
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut server = tls_server(&ca, server_config, base_services(tx)).await;
    let (proxy, frozen) = freezable_proxy(server.local_addr()).await;
    let client = tls_connector(&ca, &ca, config("sentry"), ServerPin::None)
        .connect(proxy, ServiceTable::new())
        .await
        .unwrap();
    let accepted = server.accept().await.unwrap();
    client.peered(Duration::from_secs(5)).await.unwrap();

    // Idle but alive: pings are answered, the connection stays up.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!accepted.is_closed());

    frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let reason = tokio::time::timeout(Duration::from_secs(5), accepted.closed()).await.unwrap();
    assert!(reason.contains("ping"), "{reason}");
    // Detected within one idle interval plus the ping time limit (and some scheduling slack).
    assert!(started.elapsed() < Duration::from_millis(300 + 500 + 700), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_and_the_listener_keeps_serving() {
    let ca = TestCa::new("Test CA");
    let rogue = TestCa::new("Rogue CA");
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut server = tls_server(&ca, config("base"), base_services(tx)).await;

    let intruder = tls_connector(&rogue, &ca, config("intruder"), ServerPin::None);
    // rustls reports the client-side handshake as done before the server's verdict arrives, so
    // the refusal shows either at connect or as an immediate close.
    if let Ok(conn) = intruder.connect(server.local_addr(), ServiceTable::new()).await {
        let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await.unwrap();
        assert!(!reason.is_empty());
        assert!(conn.peered(Duration::from_millis(100)).await.is_err());
    }

    let good = tls_connector(&ca, &ca, config("sentry"), ServerPin::None);
    let client = good.connect(server.local_addr(), ServiceTable::new()).await.unwrap();
    let accepted = tokio::time::timeout(Duration::from_secs(5), server.accept()).await.unwrap().unwrap();
    assert_eq!(accepted.peer().certificate.as_ref().unwrap().common_name.as_deref(), Some("sentry"));
    client.peered(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn the_server_identity_can_be_pinned() {
    let ca = TestCa::new("Test CA");
    let (tx, _rx) = mpsc::unbounded_channel();
    let server = tls_server(&ca, config("base"), base_services(tx)).await;
    let addr = server.local_addr();

    let wrong_name = tls_connector(&ca, &ca, config("s1"), ServerPin::Name("other.example".into()));
    let err = wrong_name.connect(addr, ServiceTable::new()).await.unwrap_err();
    assert!(err.to_string().contains("handshake"), "{err}");

    let right_name = tls_connector(&ca, &ca, config("s2"), ServerPin::Name("localhost".into()));
    right_name
        .connect(addr, ServiceTable::new())
        .await
        .unwrap()
        .peered(Duration::from_secs(5))
        .await
        .unwrap();

    let wrong_print = tls_connector(&ca, &ca, config("s3"), ServerPin::Fingerprint([7; 32]));
    assert!(wrong_print.connect(addr, ServiceTable::new()).await.is_err());
}

/// Opens a raw TLS stream to the server, as a peer that will send arbitrary bytes.
async fn raw_tls(
    ca: &TestCa,
    addr: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let identity = ca.leaf("raw", &[]);
    let client = tls::client_config(&identity, &ca.trusted(), ServerPin::None).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = tls::server_name_for(&ServerPin::None, addr.ip());
    tokio_rustls::TlsConnector::from(client).connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn garbage_and_oversized_frames_close_only_their_connection() {
    let ca = TestCa::new("Test CA");
    let mut server_config = config("base");
    server_config.max_frame_len = 64 * 1024;
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut server = tls_server(&ca, server_config, base_services(tx)).await;
    let addr = server.local_addr();

    // A well-behaved client stays connected throughout.
    let good = tls_connector(&ca, &ca, config("sentry"), ServerPin::None);
    let client = good.connect(addr, ServiceTable::new()).await.unwrap();
    let _accepted = server.accept().await.unwrap();
    let base = client.create_session("kraken-base").await.unwrap();

    for bad in [
        vec![0x09, 0x00],                         // not an array
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f], // announces ~34 GB
        vec![0x0a, 0x02, 0x11, 0x00],             // complete, but type 0x11 is not a value
        vec![0x0a, 0x02, 0x0d, 0x02],             // a value, but not [header, body]
    ] {
        let mut raw = raw_tls(&ca, addr).await;
        let accepted = tokio::time::timeout(Duration::from_secs(5), server.accept()).await.unwrap().unwrap();
        raw.write_all(&bad).await.unwrap();
        raw.flush().await.unwrap();
        let reason = tokio::time::timeout(Duration::from_secs(5), accepted.closed()).await.unwrap();
        assert!(!reason.is_empty(), "{bad:02x?}");
        // The server ends the stream: reading reaches its end (after any peering bytes) instead
        // of hanging. Whether the end is clean depends on the TLS close, so only time is checked.
        let mut sink = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut sink)).await;
        assert!(ended.is_ok(), "the server did not end the stream after {bad:02x?}");
        assert_eq!(base.call("echo", vec![Value::I32(7)]).await.unwrap(), Value::I32(7));
    }
}

#[tokio::test]
async fn plain_tcp_peering_by_password() {
    // Peering is symmetric: each side proves its password to the other.
    let mut server_config = config("base");
    server_config.password = Some("base-pass".into());
    server_config
        .peers
        .insert("sentry".into(), PeerAuth { password: "s3cret".into(), trust: TrustLevel::High });
    let base_peer = PeerAuth { password: "base-pass".into(), trust: TrustLevel::Medium };
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut server =
        RpcServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(server_config), None, base_services(tx))
            .await
            .unwrap();

    let mut good = config("sentry");
    good.password = Some("s3cret".into());
    good.peers.insert("base".into(), base_peer.clone());
    let client =
        Connector::plain(Arc::new(good)).connect(server.local_addr(), ServiceTable::new()).await.unwrap();
    let accepted = server.accept().await.unwrap();
    assert_eq!(client.peered(Duration::from_secs(5)).await.unwrap(), TrustLevel::High);
    assert_eq!(accepted.peered(Duration::from_secs(5)).await.unwrap(), TrustLevel::Medium);
    let base = client.create_session("kraken-base").await.unwrap();
    assert_eq!(base.call("echo", vec![Value::from("x")]).await.unwrap(), Value::from("x"));

    let mut bad = config("sentry");
    bad.password = Some("wrong".into());
    bad.peers.insert("base".into(), base_peer);
    let intruder =
        Connector::plain(Arc::new(bad)).connect(server.local_addr(), ServiceTable::new()).await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), intruder.closed()).await.unwrap();
    assert!(reason.contains("authentication refused"), "{reason}");
}

/// A raw plain-TCP peer that asks for a session without peering first gets Java's refusal.
#[tokio::test]
async fn a_session_request_before_peering_is_refused() {
    use kraken_rpc::frame_reader::FrameReader;
    use kraken_rpc::message::{Body, Message};

    let (tx, _rx) = mpsc::unbounded_channel();
    let server =
        RpcServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(config("base")), None, base_services(tx))
            .await
            .unwrap();
    let mut raw = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    let request = Message {
        id: 1,
        session: 0,
        body: Body::Call {
            method: "session-request".into(),
            params: vec![Value::from("kraken-base"), Value::Map(kraken_codec::Map::new())],
        },
    };
    raw.write_all(&kraken_codec::encode(&request.into_value())).await.unwrap();

    // The server also sends its own peering request; read until the answer to ours.
    let mut frames = FrameReader::new(raw, 1 << 20);
    let cause = loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), frames.next_frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let limits = kraken_codec::DecodeLimits::default();
        if let Body::Error { ret_for: 1, cause } = Message::parse(frame, &limits).unwrap().body {
            break cause;
        }
    };
    assert_eq!(cause.as_deref(), Some("[kraken-base] session request not allowed, establish peering first"));
}
