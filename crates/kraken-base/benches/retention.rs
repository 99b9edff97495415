//! How long retention holds the storage, and how long the record writer waits behind it: `N`
//! records (default 1,000,000, each with the ~300-byte params of a cpu record) all past the age
//! limit are deleted by one retention pass ([`retention::apply`], steps of
//! [`retention::BATCH`] rows) while a writer appends 100 records every 5 ms, as a busy base's
//! writer thread does. Reported: the pass (rows, steps, duration), the longest step (one
//! transaction, from taking the storage to its commit) and the writer's appends (count,
//! longest, 99th percentile).
//!
//! Goal: no step holds the storage over 100 ms (the process exits 1 otherwise).
//!
//! Run: `cargo bench -p kraken-base --bench retention` (`-- --quick`: 100,000 records;
//! `-- --one-transaction`: the whole pass as one step, as retention deleted before, to compare).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use kraken_base::config::RetentionConfig;
use kraken_base::storage::{SqliteStorage, Storage, StoredRecord, retention};

const GOAL: Duration = Duration::from_millis(100);

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

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let batch =
        if std::env::args().any(|a| a == "--one-transaction") { i64::MAX as usize } else { retention::BATCH };
    let count: i64 = if quick { 100_000 } else { 1_000_000 };
    let dir = std::env::temp_dir().join(format!("kraken-bench-retention-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let storage = Arc::new(SqliteStorage::open(&dir.join("base.sqlite3")).unwrap());

    let filling = Instant::now();
    for start in (0..count).step_by(50_000) {
        let batch: Vec<_> = (start..(start + 50_000).min(count)).map(record).collect();
        storage.append(&batch).unwrap();
    }
    let size = std::fs::metadata(dir.join("base.sqlite3")).map_or(0, |m| m.len())
        + std::fs::metadata(dir.join("base.sqlite3-wal")).map_or(0, |m| m.len());
    println!("{count} records stored in {:.1?} ({} MiB on disk)", filling.elapsed(), size >> 20);

    // One day on, with a one-day limit: every record stored so far is past it, the writer's
    // (stored from now on) are not.
    let policy = RetentionConfig { max_age_days: 1, ..RetentionConfig::default() };
    let later = SystemTime::now() + Duration::from_secs(86_400);
    std::thread::sleep(Duration::from_millis(2));
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (storage, writing) = (storage.clone(), writing.clone());
        std::thread::spawn(move || {
            let mut waits = Vec::new();
            let mut n = 10_000_000;
            while writing.load(Ordering::SeqCst) {
                let batch: Vec<_> = (n..n + 100).map(record).collect();
                n += 100;
                let started = Instant::now();
                storage.append(&batch).unwrap();
                waits.push(started.elapsed());
                std::thread::sleep(Duration::from_millis(5));
            }
            waits
        })
    };

    let started = Instant::now();
    let pass = retention::apply(storage.as_ref(), &policy, later, batch, &|| false).unwrap();
    let took = started.elapsed();
    writing.store(false, Ordering::SeqCst);
    let mut waits = writer.join().unwrap();
    waits.sort();
    let p99 = waits[(waits.len() * 99 / 100).min(waits.len() - 1)];

    println!(
        "retention pass: {} records and {} other rows deleted in {} steps of at most {} rows, {:.1?}",
        pass.records, pass.other_rows, pass.steps, batch, took
    );
    println!("longest step (storage held, one transaction): {:.1?}", pass.longest_step);
    println!(
        "writer meanwhile: {} appends of 100 records, longest {:.1?}, 99th percentile {:.1?}",
        waits.len(),
        waits.last().copied().unwrap_or_default(),
        p99
    );
    drop(storage);
    let _ = std::fs::remove_dir_all(&dir);
    let met = pass.longest_step <= GOAL;
    println!("goal: longest step <= {GOAL:?}: {}", if met { "met" } else { "NOT met" });
    if !met {
        std::process::exit(1);
    }
}
