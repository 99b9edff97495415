//! The simulated sentries, run in worker processes (a process holds only so many sockets):
//! each sentry has its own certificate and its two mutually authenticated TLS connections, as
//! the product makes them: `hello` on the command connection, the base's calls answered
//! (`getLoggerFactories`, `getLoggers`, `connectLogChannel`), the log channel opened with the
//! base's nonce, then one acknowledged `onLogBatch` per second on the log channel carrying that
//! second's records (each with its logger sequence number, the batch with a spool epoch). A
//! batch not acknowledged is sent again, as the spool would; a sentry whose node goes away
//! moves to the next node, as a sentry with `alternates` does, and keeps making records
//! meanwhile.
//!
//! A worker reads the sentries it runs and the nodes from its arguments, prints `progress`
//! lines every second and a `done` line at the end, and stops when its standard input closes.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kraken_codec::{Map, Value};
use kraken_rpc::tls::{self, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcConnection, RpcSession, ServiceTable, service_fn};
use tokio::sync::mpsc;

/// The spool epoch every simulated sentry sends with its batches (each has its own GUID).
const EPOCH: &str = "0123456789abcdef";

/// What a worker's sentries count.
#[derive(Default)]
pub struct Counters {
    pub connected: AtomicU64,
    pub log_channels: AtomicU64,
    pub made: AtomicU64,
    pub acknowledged: AtomicU64,
    pub resent_batches: AtomicU64,
    pub moves: AtomicU64,
    pub failed_links: AtomicU64,
}

impl Counters {
    fn line(&self, kind: &str) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{kind} connected={} channels={} made={} acknowledged={} resent={} moves={} failed={}",
            get(&self.connected),
            get(&self.log_channels),
            get(&self.made),
            get(&self.acknowledged),
            get(&self.resent_batches),
            get(&self.moves),
            get(&self.failed_links)
        )
    }

    /// Reads a line [`Self::line`] wrote: (kind, values by name).
    pub fn parse(line: &str) -> Option<(String, std::collections::HashMap<String, u64>)> {
        let mut words = line.split_whitespace();
        let kind = words.next()?.to_owned();
        let values = words
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect();
        Some((kind, values))
    }
}

/// A worker's part: `guids` against `ports`, `rate` records/s each, from `pki`.
pub struct WorkerPlan {
    pub pki: PathBuf,
    pub guids: Vec<String>,
    pub ports: Vec<u16>,
    pub rate: usize,
    /// Where this worker's first sentry starts (sentry `i` starts on node `(first + i) % n`).
    pub first: usize,
    /// How long its sentries take to arrive (evenly spread).
    pub ramp: Duration,
}

/// Runs a worker until its standard input closes.
pub fn run_worker(plan: WorkerPlan) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            for _ in std::io::stdin().lock().lines() {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    runtime.block_on(async {
        let ramp = plan.ramp;
        let mut tasks = Vec::new();
        let count = plan.guids.len().max(1);
        for (i, guid) in plan.guids.iter().enumerate() {
            let delay = ramp.mul_f64(i as f64 / count as f64);
            let start = (plan.first + i) % plan.ports.len();
            let (pki, guid, ports, stop, counters) =
                (plan.pki.clone(), guid.clone(), plan.ports.clone(), stop.clone(), counters.clone());
            let rate = plan.rate;
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                simulate(pki, guid, ports, start, rate, stop, counters).await;
            }));
        }
        while !stop.load(Ordering::Relaxed) {
            println!("{}", counters.line("progress"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    println!("{}", counters.line("done"));
    Ok(())
}

/// A uniformly random duration in `[0, ceiling]`.
fn jitter(ceiling: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    Duration::from_millis(random % (ceiling.as_millis() as u64 + 1))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn record(seq: i64) -> Value {
    let mut params = Map::new();
    params.insert("logtype", Value::from("system"));
    params.insert("msg", Value::from("cpu usage: 17%"));
    params.insert("idle", Value::I32(83));
    params.insert("kernel", Value::I32(5));
    params.insert("user", Value::I32(12));
    let mut map = Map::new();
    map.insert("logger", Value::from("cpu"));
    map.insert("date", Value::Date(now_ms()));
    map.insert("msg", Value::from("cpu usage: 17%"));
    map.insert("params", Value::Map(params));
    map.insert("seq", Value::I64(seq));
    Value::Map(map)
}

/// One sentry's TLS connection to the base, peered.
async fn dial(pki: &Path, guid: &str, port: u16, services: ServiceTable) -> anyhow::Result<RpcConnection> {
    let identity =
        TlsIdentity::from_pem_files(&pki.join(format!("{guid}.pem")), &pki.join(format!("{guid}.key")))?;
    let ca = TrustedCas::from_pem_file(&pki.join("ca.pem"))?;
    let pin = ServerPin::Name("127.0.0.1".into());
    let client = tls::client_config(&identity, &ca, pin.clone())?;
    let address = format!("127.0.0.1:{port}").parse()?;
    let mut config = RpcConfig::new(guid);
    config.handshake_timeout = Duration::from_secs(20);
    let connection = Connector::tls(Arc::new(config), client, pin).connect(address, services).await?;
    connection.peered(Duration::from_secs(30)).await?;
    Ok(connection)
}

/// A sentry linked to one node: its two connections and the log channel's session.
struct Linked {
    command: RpcConnection,
    log: RpcConnection,
    session: RpcSession,
}

impl Drop for Linked {
    fn drop(&mut self) {
        self.command.close("moving");
        self.log.close("moving");
    }
}

/// `hello` on a command connection to `port`, then the log channel when the base asks.
async fn link(pki: &Path, guid: &str, port: u16, counters: &Counters) -> anyhow::Result<Linked> {
    let (nonce_tx, mut nonces) = mpsc::unbounded_channel::<String>();
    let service = service_fn(move |_, _, params: Vec<Value>| {
        let nonce_tx = nonce_tx.clone();
        async move {
            if params.first().and_then(Value::as_str) == Some("connectLogChannel")
                && let Some(nonce) =
                    params.get(1).and_then(Value::as_array).and_then(|a| a.first()).and_then(Value::as_str)
            {
                let _ = nonce_tx.send(nonce.to_owned());
                return Ok(Value::Null);
            }
            Ok(Value::Array(vec![]))
        }
    });
    let mut services = ServiceTable::new();
    services.insert("kraken-sentry".into(), service);
    let command = dial(pki, guid, port, services).await?;
    // A half-made link is closed, or the base would keep the sentry's old connection and
    // refuse the next `hello` as a duplicate.
    let opened: Arc<Mutex<Option<RpcConnection>>> = Arc::default();
    let rest = async {
        let session = command.create_session("kraken-base").await?;
        session.call_with_timeout("hello", vec![Value::from(guid)], Duration::from_secs(30)).await?;
        counters.connected.fetch_add(1, Ordering::Relaxed);
        let nonce = tokio::time::timeout(Duration::from_secs(60), nonces.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("no nonce"))?;
        let log = dial(pki, guid, port, ServiceTable::new()).await?;
        *opened.lock().unwrap() = Some(log.clone());
        let log_session = log.create_session("kraken-base").await?;
        log_session
            .call_with_timeout(
                "setLogChannel",
                vec![Value::from(guid), Value::from(nonce)],
                Duration::from_secs(30),
            )
            .await?;
        counters.log_channels.fetch_add(1, Ordering::Relaxed);
        anyhow::Ok((log, log_session))
    };
    match tokio::time::timeout(Duration::from_secs(60), rest).await {
        Ok(Ok((log, session))) => Ok(Linked { command, log, session }),
        outcome => {
            command.close("link not made");
            if let Some(log) = opened.lock().unwrap().take() {
                log.close("link not made");
            }
            Err(outcome
                .map_err(anyhow::Error::from)
                .and_then(|inner| inner.map(|_| ()))
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("link not made")))
        }
    }
}

/// One simulated sentry, until `stop`: makes `rate` records a second, sends what waits once
/// linked, moves to the next node when its node is lost.
async fn simulate(
    pki: PathBuf,
    guid: String,
    ports: Vec<u16>,
    mut node: usize,
    rate: usize,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let mut linked: Option<Linked> = None;
    let mut next_try = Instant::now();
    // Failed attempts in a row: the wait before the next grows as a sentry's does (doubling
    // from 0.5 s up to a minute, with full jitter), so a fleet does not return in step.
    let mut failures = 0u32;
    let mut ever_linked = false;
    let mut seq = 0i64;
    let mut pending: Vec<Value> = Vec::new();
    let mut grace = 60u32;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping && ever_linked {
            for _ in 0..rate {
                seq += 1;
                pending.push(record(seq));
            }
            counters.made.fetch_add(rate as u64, Ordering::Relaxed);
        }
        if linked.as_ref().is_some_and(|l| l.command.is_closed() || l.log.is_closed()) {
            linked = None;
            node = (node + 1) % ports.len();
            counters.moves.fetch_add(1, Ordering::Relaxed);
        }
        if linked.is_none() && Instant::now() >= next_try {
            match link(&pki, &guid, ports[node], &counters).await {
                Ok(now_linked) => {
                    linked = Some(now_linked);
                    ever_linked = true;
                    failures = 0;
                }
                _ => {
                    counters.failed_links.fetch_add(1, Ordering::Relaxed);
                    node = (node + 1) % ports.len();
                    failures += 1;
                    let ceiling = Duration::from_millis(500)
                        .saturating_mul(1 << failures.min(7))
                        .min(Duration::from_secs(60));
                    next_try = Instant::now() + jitter(ceiling);
                }
            }
        }
        if let Some(current) = &linked
            && !pending.is_empty()
        {
            let params = vec![Value::from(guid.as_str()), Value::Array(pending.clone()), Value::from(EPOCH)];
            match current.session.call_with_timeout("onLogBatch", params, Duration::from_secs(30)).await {
                Ok(_) => {
                    counters.acknowledged.fetch_add(pending.len() as u64, Ordering::Relaxed);
                    pending.clear();
                }
                Err(_) => {
                    counters.resent_batches.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Stopped: what is unacknowledged gets a minute more, as a spool would keep it.
        if stopping {
            grace = grace.saturating_sub(1);
            if pending.is_empty() || !ever_linked || grace == 0 {
                break;
            }
        }
    }
}
