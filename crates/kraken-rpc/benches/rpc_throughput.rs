//! Kraken RPC throughput over one loopback TLS connection, against a baseline measured in the
//! same run: raw length-prefixed frames of the same size over the same kind of TLS connection
//! (same rustls configuration, same certificates), with no RPC at all.
//!
//! * posts: the client posts `onLog(guid, logger, record)` with a ~300-byte record body as fast
//!   as it can; the rate is counted when the server's service has received the last one. The
//!   service reads the GUID and logger name and keeps the record encoded (as it arrived: every
//!   frame is still checked in full); a second row has it decode all parameters into values.
//!   Baseline: the client writes 300-byte frames; counted when the server has read the last.
//! * calls: one call at a time (`echo(record)`), so each is a full round trip. Baseline: write a
//!   frame, read the echoed frame.
//!
//! The two peers run as a sentry and a base would, in two processes: each on its own
//! single-threaded runtime and OS thread (the machine has two cores), talking only through the
//! socket. The raw baseline runs the same way. The measures run in seven rounds (three with
//! `--quick`), each measuring RPC and raw back to back; the closing table gives the median rates,
//! and the median and range of the rounds' RPC / raw ratios. The goals are posts >= 0.5 of raw,
//! and calls close to raw round trips (limited by round trips only).
//!
//! Run: `cargo bench -p kraken-rpc --bench rpc_throughput` (`-- --quick` for a short run). For
//! a profiler: with `RPC_BENCH_PROFILE_POSTS=1` it runs only one long RPC posts measurement and
//! prints the CPU time each thread spent in it; `RPC_BENCH_PROFILE_RAW=1` runs only the raw
//! baseline. A number above 1 instead of `1` sets how many posts or frames (default 200,000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{TestCa, config, tls_connector};
use kraken_codec::{Value, encode, map};
use kraken_rpc::service::{BoxFuture, call_decoded};
use kraken_rpc::tls::{self, ServerPin};
use kraken_rpc::{CallContext, Params, RpcFault, RpcServer, RpcService, ServiceTable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio::sync::Notify;

fn record() -> Value {
    map! {
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
    }
}

/// Encoded size of one `onLog` body's record, to size the raw frames the same.
fn record_len() -> usize {
    encode(&record()).len()
}

struct Counter {
    seen: AtomicUsize,
    target: AtomicUsize,
    done: Notify,
}

impl Counter {
    fn count(&self) {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == self.target.load(Ordering::Relaxed) {
            self.done.notify_one();
        }
    }
}

/// What the base's service does with each `onLog` post.
#[derive(Clone, Copy, PartialEq)]
enum Handling {
    /// Reads the GUID and the logger name and keeps the record encoded, as a service that
    /// stores records as they came would (`RpcService::call_encoded`).
    Encoded,
    /// Decodes every parameter into a `Value` tree first (the default `call_encoded`, as
    /// `service_fn` services get).
    Decoded,
}

/// The bench's base service: counts `onLog` posts, echoes calls.
struct CountingService {
    counter: Arc<Counter>,
    handling: Handling,
}

impl RpcService for CountingService {
    fn call(
        &self,
        _ctx: CallContext,
        method: String,
        params: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        let result = match method.as_str() {
            "onLog" => {
                assert_eq!(params.len(), 3, "onLog(guid, logger, record)");
                self.counter.count();
                Value::Null
            }
            _ => params.into_iter().next().unwrap_or(Value::Null),
        };
        Box::pin(std::future::ready(Ok(result)))
    }

    fn call_encoded(
        &self,
        ctx: CallContext,
        method: String,
        params: Params,
    ) -> BoxFuture<'static, Result<Value, RpcFault>> {
        if self.handling == Handling::Decoded || method != "onLog" {
            return call_decoded(self, ctx, method, params);
        }
        let mut items = params.items();
        let (Some(guid), Some(logger), Some(record)) = (items.next(), items.next(), items.next()) else {
            return Box::pin(std::future::ready(Err(RpcFault::new("onLog(guid, logger, record)"))));
        };
        let names = (guid.str_bytes().map(std::str::from_utf8), logger.str_bytes().map(std::str::from_utf8));
        assert!(matches!(names, (Some(Ok(_)), Some(Ok(_)))) && record.entries().is_some());
        self.counter.count();
        Box::pin(std::future::ready(Ok(Value::Null)))
    }
}

fn counting_services(counter: Arc<Counter>, handling: Handling) -> ServiceTable {
    let service: Arc<dyn RpcService> = Arc::new(CountingService { counter, handling });
    ServiceTable::from([("kraken-base".to_owned(), service)])
}

/// Starts an RPC server on the base's runtime; the connection it accepts stays open there until
/// the returned server is dropped.
async fn base_on(base: &Handle, ca: &TestCa, services: ServiceTable) -> (RpcServer, std::net::SocketAddr) {
    let identity = ca.leaf("kraken-base", &["localhost"]);
    let server_tls = tls::server_config(&identity, &ca.trusted()).unwrap();
    base.spawn(async move {
        let server = RpcServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(config("base")),
            Some(server_tls),
            services,
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        (server, addr)
    })
    .await
    .unwrap()
}

async fn rpc_session(
    base: &Handle,
    ca: &TestCa,
    services: ServiceTable,
) -> (RpcServer, kraken_rpc::RpcSession) {
    let (mut server, addr) = base_on(base, ca, services).await;
    let client = tls_connector(ca, ca, config("sentry"), ServerPin::None)
        .connect(addr, ServiceTable::new())
        .await
        .unwrap();
    let accepted = server.accept().await.unwrap();
    client.peered(Duration::from_secs(5)).await.unwrap();
    accepted.peered(Duration::from_secs(5)).await.unwrap();
    (server, client.create_session("kraken-base").await.unwrap())
}

async fn rpc_posts_per_sec(base: &Handle, ca: &TestCa, posts: usize, handling: Handling) -> f64 {
    let counter =
        Arc::new(Counter { seen: AtomicUsize::new(0), target: AtomicUsize::new(posts), done: Notify::new() });
    let (_server, session) = rpc_session(base, ca, counting_services(counter.clone(), handling)).await;
    // Records are made before the clock starts: a logger makes them anyway, the bench measures
    // what RPC adds (encoding, framing, decoding, dispatch).
    let batch: Vec<Vec<Value>> =
        (0..posts).map(|_| vec![Value::from("sentry"), Value::from("cpu"), record()]).collect();
    let cpu_before = thread_cpu_ticks();
    let started = Instant::now();
    for params in batch {
        session.post("onLog", params).await.unwrap();
    }
    counter.done.notified().await;
    let rate = posts as f64 / started.elapsed().as_secs_f64();
    if std::env::var_os("RPC_BENCH_PROFILE_POSTS").is_some() {
        println!("CPU per thread while posting, in clock ticks:");
        for (thread, ticks) in thread_cpu_ticks() {
            let was = cpu_before.iter().find(|(name, _)| *name == thread).map_or(0, |(_, t)| *t);
            println!("  {thread:<16} {}", ticks - was);
        }
    }
    rate
}

async fn rpc_calls_per_sec(base: &Handle, ca: &TestCa, calls: usize) -> f64 {
    let counter =
        Arc::new(Counter { seen: AtomicUsize::new(0), target: AtomicUsize::new(0), done: Notify::new() });
    let (_server, session) = rpc_session(base, ca, counting_services(counter, Handling::Decoded)).await;
    let batch: Vec<Vec<Value>> = (0..calls).map(|_| vec![record()]).collect();
    let started = Instant::now();
    for params in batch {
        session.call("echo", params).await.unwrap();
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

/// A raw TLS pair with the same configuration builders as the RPC endpoints.
async fn raw_tls_pair(
    base: &Handle,
    ca: &TestCa,
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) {
    let server_identity = ca.leaf("kraken-base", &["localhost"]);
    let server_config = tls::server_config(&server_identity, &ca.trusted()).unwrap();
    let client_identity = ca.leaf("sentry", &[]);
    let client_config = tls::client_config(&client_identity, &ca.trusted(), ServerPin::None).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = base.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        tokio_rustls::TlsAcceptor::from(server_config).accept(tcp).await.unwrap()
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = tls::server_name_for(&ServerPin::None, addr.ip());
    let client = tokio_rustls::TlsConnector::from(client_config).connect(name, tcp).await.unwrap();
    (client, accept.await.unwrap())
}

async fn read_frame<R: AsyncReadExt + Unpin>(stream: &mut R, buf: &mut Vec<u8>) {
    let len = stream.read_u32().await.unwrap() as usize;
    buf.resize(len, 0);
    stream.read_exact(buf).await.unwrap();
}

async fn raw_frames_per_sec(base: &Handle, ca: &TestCa, frames: usize, size: usize) -> f64 {
    let (client, mut server) = raw_tls_pair(base, ca).await;
    let reader = base.spawn(async move {
        let mut buf = Vec::new();
        for _ in 0..frames {
            read_frame(&mut server, &mut buf).await;
        }
    });
    let payload = vec![0x5a; size];
    let mut out = tokio::io::BufWriter::new(client);
    let started = Instant::now();
    for _ in 0..frames {
        out.write_u32(size as u32).await.unwrap();
        out.write_all(&payload).await.unwrap();
    }
    out.flush().await.unwrap();
    reader.await.unwrap();
    frames as f64 / started.elapsed().as_secs_f64()
}

async fn raw_round_trips_per_sec(base: &Handle, ca: &TestCa, trips: usize, size: usize) -> f64 {
    let (mut client, mut server) = raw_tls_pair(base, ca).await;
    let echo = base.spawn(async move {
        let mut buf = Vec::new();
        for _ in 0..trips {
            read_frame(&mut server, &mut buf).await;
            let mut frame = (buf.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&buf);
            server.write_all(&frame).await.unwrap();
            server.flush().await.unwrap();
        }
    });
    let mut frame = (size as u32).to_be_bytes().to_vec();
    frame.extend(std::iter::repeat_n(0x5a, size));
    let mut buf = Vec::new();
    let started = Instant::now();
    for _ in 0..trips {
        client.write_all(&frame).await.unwrap();
        client.flush().await.unwrap();
        read_frame(&mut client, &mut buf).await;
    }
    let rate = trips as f64 / started.elapsed().as_secs_f64();
    echo.await.unwrap();
    rate
}

/// CPU time (user + system, in clock ticks) of each of this process's threads, by name.
fn thread_cpu_ticks() -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let fields: Vec<&str> = rest.split(' ').collect();
            let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((name.to_owned(), ticks))
        })
        .collect()
}

/// Rates of one measure in every round, with the raw baseline measured next to it.
#[derive(Default)]
struct Paired {
    rpc: Vec<f64>,
    raw: Vec<f64>,
}

impl Paired {
    fn push(&mut self, rpc: f64, raw: f64) {
        self.rpc.push(rpc);
        self.raw.push(raw);
    }

    /// One table row: median rates, and the median (and range) of the rounds' ratios.
    fn print(&self, measure: &str) {
        let mut ratios: Vec<f64> = self.rpc.iter().zip(&self.raw).map(|(rpc, raw)| rpc / raw).collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "{measure:<34} {:>12.0}/s {:>16.0}/s {:>8.2}   {:.2}-{:.2}",
            median(&self.rpc),
            median(&self.raw),
            median(&ratios),
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (posts, calls, rounds) = if quick { (5_000, 1_000, 3) } else { (100_000, 10_000, 7) };
    // The base's runtime, on a thread of its own.
    let base_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let base = base_runtime.handle().clone();
    std::thread::Builder::new()
        .name("base".into())
        .spawn(move || base_runtime.block_on(std::future::pending::<()>()))
        .unwrap();
    // The sentry's runtime, on this thread.
    let sentry_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    sentry_runtime.block_on(async {
        let ca = TestCa::new("Bench CA");
        let size = record_len();
        // For a profiler: one long measurement; the variable's value, if a number, is its count.
        let profiled = |name: &str| {
            let value = std::env::var(name).ok()?;
            Some(value.parse().ok().filter(|&count| count > 1).unwrap_or(posts * 2))
        };
        if let Some(frames) = profiled("RPC_BENCH_PROFILE_RAW") {
            let rate = raw_frames_per_sec(&base, &ca, frames, size).await;
            println!("{rate:.0} raw frames/s");
            return;
        }
        if let Some(count) = profiled("RPC_BENCH_PROFILE_POSTS") {
            let rate = rpc_posts_per_sec(&base, &ca, count, Handling::Encoded).await;
            println!("{rate:.0} posts/s");
            return;
        }
        // Rounds of every measure back to back, RPC and raw in turn (which goes first
        // alternates), so that both meet the same state of the machine; the ratio is taken per
        // round. The raw baseline's speed swings from run to run here (with how its buffers fall
        // in memory), so a single pair proves little.
        let (mut posts_paired, mut decoded_paired, mut calls_paired) =
            (Paired::default(), Paired::default(), Paired::default());
        for round in 0..rounds {
            let rpc_first = round % 2 == 0;
            let mut raw_posts = 0.0;
            if !rpc_first {
                raw_posts = raw_frames_per_sec(&base, &ca, posts, size).await;
            }
            let rpc_posts = rpc_posts_per_sec(&base, &ca, posts, Handling::Encoded).await;
            let decoded_posts = rpc_posts_per_sec(&base, &ca, posts, Handling::Decoded).await;
            if rpc_first {
                raw_posts = raw_frames_per_sec(&base, &ca, posts, size).await;
            }
            posts_paired.push(rpc_posts, raw_posts);
            decoded_paired.push(decoded_posts, raw_posts);
            let (rpc_calls, raw_calls) = if rpc_first {
                let rpc = rpc_calls_per_sec(&base, &ca, calls).await;
                (rpc, raw_round_trips_per_sec(&base, &ca, calls, size).await)
            } else {
                let raw = raw_round_trips_per_sec(&base, &ca, calls, size).await;
                (rpc_calls_per_sec(&base, &ca, calls).await, raw)
            };
            calls_paired.push(rpc_calls, raw_calls);
            println!(
                "round {}: posts {rpc_posts:.0}/s vs frames {raw_posts:.0}/s ({:.2}); calls {rpc_calls:.0}/s vs \
                 echoes {raw_calls:.0}/s ({:.2})",
                round + 1,
                rpc_posts / raw_posts,
                rpc_calls / raw_calls
            );
        }
        println!(
            "Kraken RPC over one loopback TLS connection, {size}-byte record bodies; medians of {rounds} rounds:"
        );
        println!("{:<34} {:>14} {:>18} {:>8}   range", "measure", "Kraken RPC", "raw TLS frames", "ratio");
        posts_paired.print("one-way (posts vs frames)");
        decoded_paired.print("  same, params decoded to values");
        calls_paired.print("round trips (calls vs echoes)");
    });
}
