//! Forwarding throughput: `N` stored records (default 200,000, each with the ~300-byte params
//! of a cpu record) sent by a real forward output (the base's code: pages read from SQLite,
//! RFC 5424 framing, TLS) to rsyslog (imtcp over TLS, omfile), against the raw baseline: the
//! same framed bytes, made beforehand, piped to the same kind of rsyslog by
//! `openssl s_client`. Each run counts from its start to rsyslog's N-th line written.
//! Printed: records/s and MB/s of both, and the forwarder's share of the baseline.
//!
//! Run: `cargo bench -p kraken-base --bench forward` (`-- --quick`: 50,000 records). Needs
//! rsyslog, rsyslog-gnutls and openssl (`scripts/setup-debian.sh`).

#[path = "../tests/ports/mod.rs"]
mod ports;
#[path = "../tests/rsyslog_server/mod.rs"]
mod rsyslog_server;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kraken_base::forward::output::Output;
use kraken_base::forward::{ForwardConfig, cursor::CursorFile, link::Dialer};
use kraken_base::metrics::BaseMetrics;
use kraken_base::storage::{SqliteStorage, Storage, StoredRecord};
use rsyslog_server::Rsyslog;

fn record(n: i64) -> StoredRecord {
    StoredRecord {
        guid: "bench-sentry".into(),
        logger: "cpu".into(),
        date_ms: 1_764_300_000_000 + n,
        logtype: Some("system".into()),
        msg: Some(format!("cpu usage: {}%", n % 100)),
        params: format!(
            r#"{{"logtype":"system","msg":"cpu usage: {}%","idle":{},"user":12,"system":5,"iowait":0,"irq":0,"softirq":0,"steal":0,"cores":[{{"core":0,"idle":80,"user":15,"system":5}},{{"core":1,"idle":86,"user":9,"system":5}}],"seq":{n}}}"#,
            n % 100,
            100 - n % 100
        ),
        seq: Some(n),
        epoch: None,
    }
}

/// Waits until `rsyslog` wrote `count` lines; the time since `started`. Reads only what was
/// added since the last look, so counting costs little of the machine being measured.
fn until_received(rsyslog: &Rsyslog, count: usize, started: Instant) -> Duration {
    let (mut seen, mut offset) = (0usize, 0u64);
    let mut buffer = Vec::new();
    loop {
        if let Ok(mut file) = std::fs::File::open(rsyslog.output()) {
            file.seek(SeekFrom::Start(offset)).unwrap();
            buffer.clear();
            offset += file.read_to_end(&mut buffer).unwrap() as u64;
            seen += buffer.iter().filter(|b| **b == b'\n').count();
        }
        if seen >= count {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(600), "rsyslog stopped at {seen} of {count}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let count: usize = if quick { 50_000 } else { 200_000 };
    let dir = std::env::temp_dir().join(format!("kraken-forward-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = dir.join("pki");
    kraken_base::pki::init(&pki, &["127.0.0.1".into()]).unwrap();

    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.join("base.sqlite3")).unwrap());
    let records: Vec<StoredRecord> = (1..=count as i64).map(record).collect();
    for chunk in records.chunks(10_000) {
        storage.append(chunk).unwrap();
    }

    // The forward output, as `serve` runs it.
    let receiver = Rsyslog::start(&dir.join("rsyslog-forward"), &pki);
    let config: ForwardConfig = toml::from_str(&format!(
        "name = \"bench\"\naddress = \"127.0.0.1:{}\"\nca = {:?}\nstart = \"beginning\"",
        receiver.port,
        pki.join("ca.pem")
    ))
    .unwrap();
    config.check().unwrap();
    let format = config.format();
    let metrics = BaseMetrics::new();
    let output = Output {
        name: config.name.clone(),
        dialer: Dialer::new(&config).unwrap(),
        format: format.clone(),
        storage: storage.clone(),
        cursor: CursorFile::new(&dir.join("forward"), "bench", storage.kind()),
        max_backlog: config.max_backlog,
        stats: metrics.output("bench"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let task = runtime.spawn(output.run(0, stopped));
    let forwarded = until_received(&receiver, count, started);
    let _ = stop.send(true);
    runtime.block_on(task).unwrap();
    drop(receiver);

    // The baseline: the same bytes, framed beforehand, through openssl s_client.
    let framing = Instant::now();
    let mut frames = Vec::new();
    for record in &records {
        format.frame(record, &mut frames);
    }
    let framing = framing.elapsed();
    let bytes = frames.len();
    let framed = dir.join("framed.bin");
    std::fs::write(&framed, &frames).unwrap();
    let receiver = Rsyslog::start(&dir.join("rsyslog-raw"), &pki);
    let started = Instant::now();
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(format!("127.0.0.1:{}", receiver.port))
        .arg("-CAfile")
        .arg(pki.join("ca.pem"))
        .stdin(std::fs::File::open(&framed).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let raw = until_received(&receiver, count, started);
    let _ = client.kill();
    let _ = client.wait();
    drop(receiver);

    let rate = |elapsed: Duration| count as f64 / elapsed.as_secs_f64();
    let mb = |elapsed: Duration| bytes as f64 / 1e6 / elapsed.as_secs_f64();
    println!("forward: {count} records, {:.1} MB framed, to rsyslog over TLS", bytes as f64 / 1e6);
    println!(
        "  kraken-base forward output: {:>9.0} records/s  {:>6.1} MB/s  ({forwarded:.2?})",
        rate(forwarded),
        mb(forwarded)
    );
    println!(
        "  openssl s_client, same bytes: {:>7.0} records/s  {:>6.1} MB/s  ({raw:.2?})",
        rate(raw),
        mb(raw)
    );
    println!("  ratio (forward / raw): {:.2}", raw.as_secs_f64() / forwarded.as_secs_f64());
    println!("  framing alone, one thread: {:.2} us per record", framing.as_secs_f64() * 1e6 / count as f64);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
