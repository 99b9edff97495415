//! Benchmark (b): a fleet of sentries against one base. `kraken-base serve` runs as its own
//! process (so its memory and CPU are its own); this process simulates the sentries, each with
//! its own certificate and its own two mutually authenticated TLS connections, as the product
//! makes them: `hello` on the command connection, the base's calls answered
//! (`getLoggerFactories`, `getLoggers`, `connectLogChannel`), the log channel opened with the
//! base's nonce, then one acknowledged `onLogBatch` per second on the log channel carrying that
//! second's records (each with its logger sequence number, and the batch with a spool epoch,
//! so the base does its resend bookkeeping). A batch that is not acknowledged is sent again,
//! as the spool would.
//!
//! Reported: sentries connected, records made, records stored (distinct GUID and seq, read
//! from the base's SQLite file afterwards), records lost (made but not stored), and the base
//! process's peak RSS (VmHWM) and CPU over the steady window. Goals: 0 lost, base RSS under
//! 200 MB.
//!
//! Run: `cargo bench -p kraken-base --bench fleet` (1,000 sentries, 10 records/s each, 60 s);
//! `-- --quick` for 100 sentries over 15 s; `-- --sentries N --seconds S --rate R` to choose.
//! Linux only (it reads the base's /proc entries).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kraken_codec::{Map, Value};
use kraken_rpc::tls::{self, ServerPin, TlsIdentity, TrustedCas};
use kraken_rpc::{Connector, RpcConfig, RpcConnection, ServiceTable, service_fn};
use tokio::sync::mpsc;

const BASE: &str = env!("CARGO_BIN_EXE_kraken-base");
/// The spool epoch every simulated sentry sends with its batches (each has its own GUID).
const EPOCH: &str = "0123456789abcdef";

struct Settings {
    sentries: usize,
    seconds: u64,
    rate: usize,
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<u64>().ok())
    };
    let quick = args.iter().any(|a| a == "--quick");
    Settings {
        sentries: value("--sentries").map_or(if quick { 100 } else { 1_000 }, |v| v as usize),
        seconds: value("--seconds").unwrap_or(if quick { 15 } else { 60 }),
        rate: value("--rate").map_or(10, |v| v as usize),
    }
}

/// What the simulated fleet counts.
#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    log_channels: AtomicU64,
    made: AtomicU64,
    acknowledged: AtomicU64,
    resent_batches: AtomicU64,
}

struct BaseProcess(Child);

impl Drop for BaseProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (peak RSS, current RSS) of `pid`, in bytes.
fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU time (user + system) `pid` has used so far.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name.
    let clock_ticks = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clock_ticks)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
    let connection =
        Connector::tls(Arc::new(RpcConfig::new(guid)), client, pin).connect(address, services).await?;
    connection.peered(Duration::from_secs(30)).await?;
    Ok(connection)
}

/// One simulated sentry: connects, opens the log channel when asked, then sends `rate`
/// records a second until `stop`, resending any batch not acknowledged.
async fn simulate(
    pki: PathBuf,
    guid: String,
    port: u16,
    rate: usize,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
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
    let setup = async {
        let command = dial(&pki, &guid, port, services).await?;
        let session = command.create_session("kraken-base").await?;
        session.call_with_timeout("hello", vec![Value::from(guid.as_str())], Duration::from_secs(30)).await?;
        counters.connected.fetch_add(1, Ordering::Relaxed);
        let nonce = tokio::time::timeout(Duration::from_secs(60), nonces.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("no nonce"))?;
        let log = dial(&pki, &guid, port, ServiceTable::new()).await?;
        let log_session = log.create_session("kraken-base").await?;
        log_session
            .call_with_timeout(
                "setLogChannel",
                vec![Value::from(guid.as_str()), Value::from(nonce)],
                Duration::from_secs(30),
            )
            .await?;
        counters.log_channels.fetch_add(1, Ordering::Relaxed);
        anyhow::Ok((command, log, log_session))
    };
    let (_command, _log, log_session) = match setup.await {
        Ok(connected) => connected,
        Err(error) => {
            eprintln!("fleet: {guid} could not connect: {error:#}");
            return;
        }
    };
    let mut seq = 0i64;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: Vec<Value> = Vec::new();
    loop {
        ticker.tick().await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        for _ in 0..rate {
            seq += 1;
            pending.push(record(seq));
        }
        counters.made.fetch_add(rate as u64, Ordering::Relaxed);
        let params = vec![Value::from(guid.as_str()), Value::Array(pending.clone()), Value::from(EPOCH)];
        match log_session.call_with_timeout("onLogBatch", params, Duration::from_secs(30)).await {
            Ok(_) => {
                counters.acknowledged.fetch_add(pending.len() as u64, Ordering::Relaxed);
                pending.clear();
            }
            Err(_) => {
                counters.resent_batches.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // What is still unacknowledged gets a last chance, as a spool would give it.
    for _ in 0..3 {
        if pending.is_empty() {
            break;
        }
        let params = vec![Value::from(guid.as_str()), Value::Array(pending.clone()), Value::from(EPOCH)];
        if log_session.call_with_timeout("onLogBatch", params, Duration::from_secs(30)).await.is_ok() {
            counters.acknowledged.fetch_add(pending.len() as u64, Ordering::Relaxed);
            pending.clear();
        }
    }
}

fn main() -> anyhow::Result<()> {
    let settings = settings();
    let dir = std::env::temp_dir().join(format!("kraken-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = dir.join("pki");
    let started = Instant::now();
    kraken_base::pki::init(&pki, &[])?;
    let guids: Vec<String> = (0..settings.sentries).map(|i| format!("fleet-{i:05}")).collect();
    for guid in &guids {
        kraken_base::pki::issue(&pki, guid, kraken_base::pki::SENTRY_VALIDITY_DAYS)?;
    }
    eprintln!("fleet: {} certificates issued in {:.1?}", guids.len(), started.elapsed());

    let (port, admin) = (free_port(), free_port());
    let config = dir.join("base.toml");
    let shown = |p: PathBuf| p.to_string_lossy().into_owned();
    std::fs::write(
        &config,
        format!(
            // Every simulated sentry dials from 127.0.0.1: the per-source limits are the total's.
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\ncertificate = {:?}\nkey = {:?}\nsentry_ca = {:?}\n\
             [connections]\nmax_total = 100000\nmax_per_source = 100000\nmax_pending = 100000\n\
             max_pending_per_source = 100000\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n",
            shown(dir.join("data")),
            shown(pki.join("base.pem")),
            shown(pki.join("base.key")),
            shown(pki.join("ca.pem")),
        ),
    )?;
    let base = BaseProcess(
        Command::new(BASE)
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(dir.join("base.log"))?)
            .spawn()?,
    );
    let pid = base.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the base did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, idle_rss) = memory_of(pid);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let report = runtime.block_on(async {
        // The fleet arrives over ten seconds, as sentries with jittered first delays would.
        let ramp = Duration::from_secs(10);
        let mut tasks = Vec::new();
        for (i, guid) in guids.iter().enumerate() {
            let delay = ramp.mul_f64(i as f64 / guids.len() as f64);
            let (pki, guid, stop, counters) = (pki.clone(), guid.clone(), stop.clone(), counters.clone());
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                simulate(pki, guid, port, settings.rate, stop, counters).await;
            }));
        }
        let all_in = Instant::now() + Duration::from_secs(120);
        while counters.log_channels.load(Ordering::Relaxed) < guids.len() as u64 && Instant::now() < all_in {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!(
            "fleet: {} connected, {} log channels after {:.1?}; measuring {} s",
            counters.connected.load(Ordering::Relaxed),
            counters.log_channels.load(Ordering::Relaxed),
            started.elapsed(),
            settings.seconds
        );
        let (cpu_before, window) = (cpu_of(pid), Instant::now());
        let mut rss_max = 0;
        while window.elapsed() < Duration::from_secs(settings.seconds) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_max = rss_max.max(memory_of(pid).1);
        }
        let cpu = cpu_of(pid).saturating_sub(cpu_before).as_secs_f64() / window.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
        (cpu, rss_max)
    });
    let (cpu, rss_max) = report;
    let (peak_rss, _) = memory_of(pid);
    drop(base);

    let storage = rusqlite::Connection::open(dir.join("data").join("base.sqlite3"))?;
    let stored: i64 =
        storage.query_row("SELECT COUNT(*) FROM (SELECT DISTINCT guid, seq FROM records)", [], |row| {
            row.get(0)
        })?;
    let rows: i64 = storage.query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))?;
    let made = counters.made.load(Ordering::Relaxed);
    let stored = stored as u64;
    let lost = made.saturating_sub(stored);
    let mb = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!(
        "fleet: {} sentries x {} records/s for {} s against one kraken-base process",
        settings.sentries, settings.rate, settings.seconds
    );
    println!(
        "  connected {} / log channels {}",
        counters.connected.load(Ordering::Relaxed),
        counters.log_channels.load(Ordering::Relaxed)
    );
    println!(
        "  records made {made}, acknowledged {}, stored {stored} ({} rows), lost {lost}; batches resent {}",
        counters.acknowledged.load(Ordering::Relaxed),
        rows,
        counters.resent_batches.load(Ordering::Relaxed)
    );
    println!(
        "  base: peak RSS {:.1} MB (idle {:.1} MB, max sampled {:.1} MB), CPU {:.0}% of one core",
        mb(peak_rss),
        mb(idle_rss),
        mb(rss_max),
        cpu * 100.0
    );
    println!(
        "  goals: 0 lost: {}; base RSS under 200 MB: {}",
        if lost == 0 { "met" } else { "NOT met" },
        if peak_rss < 200 << 20 { "met" } else { "NOT met" }
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
