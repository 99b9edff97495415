//! The admin API of the real `kraken-base serve`, probed as a hostile local client would: every
//! route answers an anonymous request 401 whatever its body, query or content type; headers
//! sent byte by byte (slowloris) are cut off; connections beyond the cap are closed at once;
//! params nested deeper than a sentry reads are refused with 400 and the real sentry stays
//! connected; a client giving wrong console tokens is held off alone. Unix only (the sentry is the Linux build).
#![cfg(unix)]

mod deploy;
mod ports;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use deploy::{BASE, Deployment, Running, run, sentry, serve, wait_until};
use kraken_base::config::BaseConfig;
use serde_json::{Value as Json, json};

/// A base serving `deployment`, up (its admin API answering), with its admin address and token.
struct Served {
    _base: Running,
    admin: SocketAddr,
    token: String,
    log: std::path::PathBuf,
}

fn start(deployment: &Deployment) -> Served {
    let log = deployment.dir.join("base.log");
    let base = serve(&deployment.base_config, &log);
    let config = BaseConfig::load(Path::new(&deployment.base_config)).unwrap();
    let up = wait_until(Duration::from_secs(60), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("base running").then_some(())
    });
    assert!(up.is_some(), "the base did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    let token = std::fs::read_to_string(config.token_path()).unwrap().trim().to_owned();
    Served { _base: base, admin: config.admin.listen, token, log }
}

/// One HTTP/1.1 exchange on a new connection (`Connection: close`): the status and the body.
fn exchange(admin: SocketAddr, request_head: &str, body: &[u8]) -> (u16, String) {
    try_exchange(admin, request_head, body).unwrap_or_else(|| panic!("no answer to {request_head}"))
}

/// [`exchange`], `None` if the connection closed without an answer.
fn try_exchange(admin: SocketAddr, request_head: &str, body: &[u8]) -> Option<(u16, String)> {
    let (status, whole) = exchange_on(TcpStream::connect(admin).unwrap(), admin, request_head, body)?;
    Some((status, whole.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

/// [`exchange`] from the loopback address `source` (127.0.0.0/8 is all loopback on Linux): the
/// status and the whole response, head and body.
fn exchange_from(source: &str, admin: SocketAddr, request_head: &str, body: &[u8]) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source.parse().unwrap(), 0)).unwrap();
        socket.connect(admin).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    exchange_on(stream, admin, request_head, body).unwrap_or_else(|| panic!("no answer to {request_head}"))
}

/// One exchange on `stream`: the status and the whole response text.
fn exchange_on(
    mut stream: TcpStream,
    admin: SocketAddr,
    request_head: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{request_head}\r\nHost: {admin}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // Written beside the reading: the base may answer (401) and close before it reads a body
    // it does not want, and the answer must be read before the connection is reset.
    let mut writer = stream.try_clone().unwrap();
    let body = body.to_vec();
    std::thread::spawn(move || writer.write_all(&body));
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        response.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok())?;
    Some((status, text))
}

/// The requests every route gets, each with what it would be answered given the token: bad
/// bodies, queries and content types included.
fn probes() -> Vec<(&'static str, &'static str, Vec<u8>, u16)> {
    let deep = format!("{{\"method\":\"getLoggers\",\"params\":[{}1{}]}}", "[".repeat(200), "]".repeat(200));
    vec![
        ("GET /api/sentries HTTP/1.1", "", vec![], 200),
        ("GET /api/sentries?x=%ZZ HTTP/1.1", "", vec![], 200),
        ("POST /api/sentries HTTP/1.1", "", vec![], 405),
        ("POST /api/sentries/s1/call HTTP/1.1", "Content-Type: application/json", b"{not json".to_vec(), 400),
        ("POST /api/sentries/s1/call HTTP/1.1", "Content-Type: text/plain", b"{}".to_vec(), 415),
        ("POST /api/sentries/s1/call HTTP/1.1", "", br#"{"method":"getLoggers"}"#.to_vec(), 415),
        (
            "POST /api/sentries/s1/call HTTP/1.1",
            "Content-Type: application/json",
            br#"{"params":1}"#.to_vec(),
            400,
        ),
        ("POST /api/sentries/s1/call HTTP/1.1", "Content-Type: application/json", deep.into_bytes(), 400),
        (
            "POST /api/sentries/s1/call HTTP/1.1",
            "Content-Type: application/json",
            br#"{"method":"getLoggers","params":[]}"#.to_vec(),
            404,
        ),
        ("POST /api/sentries/s1/call HTTP/1.1", "Content-Type: application/json", vec![b' '; 2 << 20], 413),
        ("GET /api/sentries/s1/call HTTP/1.1", "", vec![], 405),
        ("GET /api/logs HTTP/1.1", "", vec![], 200),
        ("GET /api/logs?limit=abc HTTP/1.1", "", vec![], 400),
        ("GET /api/logs?after=-&after=1 HTTP/1.1", "", vec![], 400),
        ("DELETE /api/logs HTTP/1.1", "", vec![], 405),
        ("GET /nowhere HTTP/1.1", "", vec![], 404),
        ("GET /api/../api/sentries HTTP/1.1", "", vec![], 404),
    ]
}

#[test]
fn every_route_answers_an_anonymous_request_401_before_reading_anything() {
    let deployment = Deployment::new("admin-401", "sentry-401", "");
    let served = start(&deployment);
    let wrong = format!("Bearer {}", served.token.to_uppercase().replace(|c: char| c.is_ascii_digit(), "Z"));
    let short = format!("Bearer {}", &served.token[..32]);
    let lower_scheme = format!("bearer {}", served.token);
    let anonymous: [Option<&str>; 6] = [
        None,
        Some("Bearer "),
        Some(&wrong),
        Some(&short),
        Some(&lower_scheme),
        Some("Basic YWRtaW46YWRtaW4="),
    ];
    for (line, header, body, with_token) in probes() {
        let headers = |auth: Option<&str>| {
            let mut head = line.to_owned();
            for h in [header.to_owned(), auth.map(|a| format!("Authorization: {a}")).unwrap_or_default()] {
                if !h.is_empty() {
                    head.push_str("\r\n");
                    head.push_str(&h);
                }
            }
            head
        };
        for auth in anonymous {
            let (status, reply) = exchange(served.admin, &headers(auth), &body);
            assert_eq!(status, 401, "{line} {header} with {auth:?}: {reply}");
            assert_eq!(
                serde_json::from_str::<Json>(&reply).unwrap(),
                json!({"error": "missing or wrong admin token"})
            );
        }
        // With the token the same request reaches its route, which reads it.
        let token = format!("Bearer {}", served.token);
        let (status, reply) = exchange(served.admin, &headers(Some(&token)), &body);
        assert_eq!(status, with_token, "{line} {header} with the token: {reply}");
    }
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

#[test]
fn wrong_console_tokens_hold_off_that_client_only_and_every_answer_says_nosniff() {
    let deployment = Deployment::new("admin-logins", "sentry-logins", "");
    let served = start(&deployment);
    let login = |source: &str, token: &str| {
        let body = format!("token={token}");
        exchange_from(
            source,
            served.admin,
            "POST /console/login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
            body.as_bytes(),
        )
    };
    let wrong = "x".repeat(64);
    for attempt in 1..=20 {
        let (status, reply) = login("127.0.0.2", &wrong);
        assert_eq!(status, 401, "wrong token {attempt}: the login page again: {reply}");
        assert!(reply.contains("That is not the admin token."), "{reply}");
    }
    let (status, reply) = login("127.0.0.2", &wrong);
    assert_eq!(status, 429, "the 21st wrong token within a minute: {reply}");
    let (status, _) = login("127.0.0.2", &served.token);
    assert_eq!(status, 429, "that client waits for its minute to pass, right token or not");
    let (status, reply) = login("127.0.0.3", &served.token);
    assert_eq!(status, 303, "another client logs in meanwhile: {reply}");
    assert!(reply.to_ascii_lowercase().contains("set-cookie: kraken_console="), "{reply}");
    // Every answer, JSON and refusals included, tells browsers not to guess its type.
    let bearer = format!("GET /api/sentries HTTP/1.1\r\nAuthorization: Bearer {}", served.token);
    for head in ["GET /api/sentries HTTP/1.1", bearer.as_str(), "GET /nowhere HTTP/1.1"] {
        let (_, reply) = exchange_from("127.0.0.1", served.admin, head, b"");
        assert!(reply.to_ascii_lowercase().contains("x-content-type-options: nosniff"), "{head}: {reply}");
    }
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

#[test]
fn headers_sent_byte_by_byte_are_cut_off_after_the_header_timeout() {
    let deployment = Deployment::new("admin-slowloris", "sentry-slow", "");
    let served = start(&deployment);
    let mut slow = TcpStream::connect(served.admin).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let opened = Instant::now();
    slow.write_all(b"GET /api/sentries HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut closed_after = None;
    for n in 0..40 {
        // One more header line every 500 ms: never a whole head.
        if slow.write_all(format!("X-Slow-{n}: {n}\r\n").as_bytes()).is_err() {
            closed_after = Some(opened.elapsed());
            break;
        }
        let mut buffer = [0u8; 256];
        match slow.read(&mut buffer) {
            Ok(_) => {
                closed_after = Some(opened.elapsed());
                break;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            Err(_) => {
                closed_after = Some(opened.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let closed_after = closed_after.expect("a slowloris connection was kept for 20 s");
    assert!(
        closed_after >= Duration::from_secs(9) && closed_after <= Duration::from_secs(13),
        "closed after {closed_after:?} (header timeout 10 s)"
    );
    // Meanwhile and after, the API answered others.
    let (status, _) = exchange(
        served.admin,
        &format!("GET /api/sentries HTTP/1.1\r\nAuthorization: Bearer {}", served.token),
        b"",
    );
    assert_eq!(status, 200);
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once_and_a_freed_slot_serves_again() {
    let deployment = Deployment::new("admin-cap", "sentry-cap", "");
    let served = start(&deployment);
    let mut held: Vec<TcpStream> = (0..32).map(|_| TcpStream::connect(served.admin).unwrap()).collect();
    // Let the base accept them all.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let mut extra = TcpStream::connect(served.admin).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = extra.write_all(
        format!("GET /api/sentries HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", served.token)
            .as_bytes(),
    );
    let mut buffer = [0u8; 64];
    let read = extra.read(&mut buffer);
    assert!(
        matches!(read, Ok(0))
            || read.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the 33rd connection got {read:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "closed after {:?}", started.elapsed());
    // One held connection does a request and goes: its slot serves a new connection.
    let mut first = held.remove(0);
    first
        .write_all(format!("GET /api/sentries HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\r\n", served.token).as_bytes())
        .unwrap();
    let mut response = String::new();
    first.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let served_again = wait_until(Duration::from_secs(3), || {
        let head = format!("GET /api/sentries HTTP/1.1\r\nAuthorization: Bearer {}", served.token);
        try_exchange(served.admin, &head, b"").filter(|(status, _)| *status == 200)
    });
    assert!(served_again.is_some());
    let log = std::fs::read_to_string(&served.log).unwrap();
    assert!(log.contains("connection limit reached"), "{log}");
    drop(held);
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

/// A param `[[[...1...]]]` of `depth` levels.
fn nested(depth: usize) -> Json {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

#[test]
fn params_nested_deeper_than_a_sentry_reads_get_400_and_the_sentry_stays_connected() {
    let guid = "sentry-deep";
    let deployment = Deployment::new("admin-depth", guid, "");
    let served = start(&deployment);
    let _sentry = sentry(&deployment.sentry_config, &deployment.dir.join("sentry.log"));
    let config = &deployment.base_config;
    let connected = wait_until(Duration::from_secs(30), || {
        let output = run(Path::new(BASE), &["sentries", "--config", config]);
        String::from_utf8_lossy(&output.stdout).contains(&format!("{guid}  connected")).then_some(())
    });
    assert!(connected.is_some(), "the sentry never connected");
    let call = |params: Json| {
        let body = json!({ "method": "getLoggerFactory", "params": params }).to_string();
        exchange(
            served.admin,
            &format!(
                "POST /api/sentries/{guid}/call HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: Bearer {}",
                served.token
            ),
            body.as_bytes(),
        )
    };
    let max = kraken_base::admin::frame_fit::max_param_depth();
    // The deepest accepted reaches the sentry, which reads it and answers (a string was due).
    let (status, reply) = call(json!([nested(max)]));
    assert_eq!(status, 502, "{reply}");
    assert!(reply.contains("(name) must be"), "the sentry's own answer: {reply}");
    // One level more, up to what the JSON parser reads, and beyond it: refused here, alike.
    for depth in [max + 1, max + 5, 100, 127, 300] {
        let (status, reply) = call(json!([nested(depth)]));
        assert_eq!(status, 400, "depth {depth}: {reply}");
        assert!(
            reply.contains(&format!("params nested too deeply: a sentry reads at most {max} levels")),
            "depth {depth}: {reply}"
        );
    }
    // The sentry kept its connections: it still answers, and it never disconnected.
    let (status, reply) = call(json!(["disk-usage"]));
    assert_eq!(status, 200, "{reply}");
    let log = std::fs::read_to_string(&served.log).unwrap();
    assert!(!log.contains("sentry disconnected"), "{log}");
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

#[test]
fn off_loopback_the_admin_api_is_https_and_the_command_line_speaks_it() {
    let deployment = Deployment::new("admin-tls", "sentry-tls", "");
    let text = std::fs::read_to_string(&deployment.base_config).unwrap();
    let (head, admin) = text.split_once("[admin]\n").unwrap();
    let port = admin.trim().rsplit(':').next().unwrap().trim_end_matches('"').to_owned();
    std::fs::write(
        &deployment.base_config,
        format!("{head}[admin]\nlisten = \"0.0.0.0:{port}\"\ntls = true\n"),
    )
    .unwrap();
    let served = start(&deployment);
    // Plain HTTP gets no answer: the listener speaks TLS only.
    let dialled: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(try_exchange(dialled, "GET /api/sentries HTTP/1.1", b""), None);
    // The command line dials it on loopback over HTTPS, checking the base's certificate with
    // the CA of `sentry_ca`, and brings the token.
    let listed = run(Path::new(BASE), &["sentries", "--config", &deployment.base_config]);
    assert!(
        listed.status.success(),
        "{}{}",
        String::from_utf8_lossy(&listed.stderr),
        std::fs::read_to_string(&served.log).unwrap_or_default()
    );
    let logs = run(Path::new(BASE), &["logs", "--config", &deployment.base_config]);
    assert!(logs.status.success(), "{}", String::from_utf8_lossy(&logs.stderr));
}
