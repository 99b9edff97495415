//! The same inputs through both storages, SQLite and ClickHouse (a server of the test's own,
//! `clickhouse_server`): the same records, sentries, events and wanted loggers come back, the
//! filters find the same records, a resend stores nothing twice, and a filter text with
//! quotes, backslashes and `--` is data, never SQL. Then what only ClickHouse does: records
//! wait while it is down and are stored once when it is back.
#![cfg(unix)]

mod clickhouse_server;
mod ports;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clickhouse_server::ClickHouseServer;
use kraken_base::storage::{
    ClickHouseSettings, ClickHouseStorage, RecordFilter, RetentionLimits, SqliteStorage, Storage,
    StoredRecord,
};

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kraken-conformance-{name}-{}", std::process::id()))
}

/// A SQLite storage and a ClickHouse storage (with the server behind it), both empty.
fn both(name: &str) -> (ClickHouseServer, Vec<Arc<dyn Storage>>, PathBuf) {
    let dir = temp_dir(name);
    let _ = std::fs::remove_dir_all(&dir);
    let server = ClickHouseServer::start(&dir.join("clickhouse"));
    let sqlite: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.join("base.sqlite3")).unwrap());
    let settings =
        ClickHouseSettings { url: server.url(), node: Some("node-a".into()), ..Default::default() };
    let clickhouse: Arc<dyn Storage> = Arc::new(ClickHouseStorage::open(&settings).unwrap());
    (server, vec![sqlite, clickhouse], dir)
}

fn numbered(guid: &str, logger: &str, seq: i64, params: &str) -> StoredRecord {
    StoredRecord {
        guid: guid.into(),
        logger: logger.into(),
        date_ms: 1_700_000_000_000 + seq * 1000,
        logtype: Some("system".into()),
        msg: Some(format!("record {seq}")),
        params: params.into(),
        seq: Some(seq),
        epoch: Some("epoch-1".into()),
    }
}

/// Records as compared across storages: everything but the storage's own ids (10,000 at most
/// unless the filter says).
fn read(storage: &dyn Storage, filter: RecordFilter) -> Vec<StoredRecord> {
    let limit = if filter.limit == 0 { 10_000 } else { filter.limit };
    storage.records(&RecordFilter { limit, ..filter }).unwrap().into_iter().map(|(_, r)| r).collect()
}

/// What each storage answers to `ask`; asserts they agree and returns the answer.
fn agree<T: PartialEq + std::fmt::Debug>(
    storages: &[Arc<dyn Storage>],
    what: &str,
    ask: impl Fn(&dyn Storage) -> T,
) -> T {
    let answers: Vec<T> = storages.iter().map(|s| ask(s.as_ref())).collect();
    for (storage, answer) in storages.iter().zip(&answers).skip(1) {
        assert_eq!(answer, &answers[0], "{what}: {} differs from {}", storage.kind(), storages[0].kind());
    }
    answers.into_iter().next().unwrap()
}

#[test]
fn both_storages_store_and_find_the_same_records() {
    let (_server, storages, dir) = both("records");
    for storage in &storages {
        let first: Vec<_> = (1..=100).map(|n| numbered("s1", "cpu", n, &format!("{{\"n\":{n}}}"))).collect();
        assert_eq!(storage.append(&first).unwrap(), 100, "{}", storage.kind());
        let other: Vec<_> = (1..=30).map(|n| numbered("s2", "memory", n, "{}")).collect();
        storage.append(&other).unwrap();
        // A resend of 51..=100 with 20 new ones: only the new are stored.
        let again: Vec<_> = (51..=120).map(|n| numbered("s1", "cpu", n, &format!("{{\"n\":{n}}}"))).collect();
        assert_eq!(storage.append(&again).unwrap(), 20, "{}", storage.kind());
        // The same resend split over two appends, and repeated within one.
        let twice: Vec<_> = [110, 111, 111, 121]
            .iter()
            .map(|&n| numbered("s1", "cpu", n, &format!("{{\"n\":{n}}}")))
            .collect();
        assert_eq!(storage.append(&twice).unwrap(), 1, "{}", storage.kind());
        // Unnumbered records (an original sentry's) are all kept, even identical ones.
        let plain = StoredRecord { seq: None, epoch: None, ..numbered("s3", "cpu", 1, "{}") };
        assert_eq!(storage.append(&[plain.clone(), plain]).unwrap(), 2, "{}", storage.kind());
    }
    let all = agree(&storages, "every record", |s| read(s, RecordFilter::default()));
    assert_eq!(all.len(), 121 + 30 + 2);
    let s1: Vec<i64> = all.iter().filter(|r| r.guid == "s1").map(|r| r.seq.unwrap()).collect();
    assert_eq!(s1, (1..=121).collect::<Vec<_>>(), "in arrival order, each once");

    let count =
        |filter: RecordFilter| agree(&storages, &format!("{filter:?}"), |s| read(s, filter.clone())).len();
    assert_eq!(count(RecordFilter { guid: Some("s2".into()), ..Default::default() }), 30);
    assert_eq!(count(RecordFilter { logger: Some("cpu".into()), ..Default::default() }), 123);
    assert_eq!(
        count(RecordFilter { guid: Some("s1".into()), logger: Some("memory".into()), ..Default::default() }),
        0
    );
    let day = |n: i64| 1_700_000_000_000 + n * 1000;
    assert_eq!(
        count(RecordFilter {
            guid: Some("s1".into()),
            since_ms: Some(day(10)),
            until_ms: Some(day(20)),
            ..Default::default()
        }),
        10
    );
    assert_eq!(count(RecordFilter { text: Some("{\"n\":7}".into()), ..Default::default() }), 1);
    assert_eq!(
        count(RecordFilter { text: Some("record 11".into()), guid: Some("s1".into()), ..Default::default() }),
        11
    );
    assert_eq!(count(RecordFilter { limit: 5, ..Default::default() }), 5);

    // Following: after the id of the tenth record, the rest.
    agree(&storages, "after an id", |s| {
        let ids: Vec<i64> = s
            .records(&RecordFilter { limit: 10, ..Default::default() })
            .unwrap()
            .iter()
            .map(|(id, _)| *id)
            .collect();
        read(s, RecordFilter { after_id: Some(ids[9]), ..Default::default() }).len()
    });
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_filter_text_with_quotes_backslashes_and_comments_is_only_text() {
    let (_server, storages, dir) = both("injection");
    let hostile = [
        "it's",
        "a\\b",
        "x' OR '1'='1",
        "--",
        "'; DROP TABLE records; --",
        "\\' OR 1=1 --",
        "?",
        "%_",
        "back`tick",
        "tab\tnew\nline",
    ];
    for storage in &storages {
        for (n, text) in hostile.iter().enumerate() {
            let record = StoredRecord {
                msg: Some(format!("before {text} after")),
                ..numbered("s1", "cpu", n as i64 + 1, "{}")
            };
            storage.append(&[record]).unwrap();
        }
        storage.append(&[numbered("s1", "cpu", 100, "{\"plain\":true}")]).unwrap();
    }
    for text in hostile {
        let found = agree(&storages, text, |s| {
            read(s, RecordFilter { text: Some(text.into()), ..Default::default() })
        });
        assert!(
            found.iter().any(|r| r.msg.as_deref() == Some(&format!("before {text} after"))),
            "{text:?} finds its record: {found:?}"
        );
        // Each text matches only records that hold it.
        assert!(found.iter().all(|r| r.msg.as_deref().unwrap().contains(text) || r.params.contains(text)));
        let as_guid = agree(&storages, text, |s| {
            read(s, RecordFilter { guid: Some(text.into()), ..Default::default() })
        });
        assert!(as_guid.is_empty(), "{text:?} as a sentry matches nothing");
    }
    agree(&storages, "still all there", |s| read(s, RecordFilter::default()).len());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sentries_events_and_wanted_loggers_read_back_alike() {
    let (_server, storages, dir) = both("sentries");
    for storage in &storages {
        storage.sentry_connected("s1", "10.0.0.1:5000").unwrap();
        storage.sentry_connected("s2", "10.0.0.2:5000").unwrap();
        storage.sentry_disconnected("s1", "closed").unwrap();
        for n in 0..3 {
            storage
                .record_event("s1", "loggerStarted", &format!("l{n}"), &serde_json::json!({ "n": n }))
                .unwrap();
        }
        storage.record_event("s2", "loggerAdded", "x", &serde_json::json!("x".repeat(300_000))).unwrap();
        storage.set_wanted_logger("s1", "a", true).unwrap();
        storage.set_wanted_logger("s1", "b", true).unwrap();
        storage.set_wanted_logger("s1", "a", false).unwrap();
        storage.set_wanted_logger("s1", "c", false).unwrap();
        // A rollback: an old number with new content is stored, and reported once.
        storage.append(&(1..=5).map(|n| numbered("s1", "cpu", n, "{}")).collect::<Vec<_>>()).unwrap();
        let back: Vec<_> = (3..=4).map(|n| numbered("s1", "cpu", n, "{\"again\":1}")).collect();
        assert_eq!(storage.append(&back).unwrap(), 2, "{}", storage.kind());
    }
    agree(&storages, "sentries", |s| {
        s.sentries().unwrap().into_iter().map(|r| (r.guid, r.connected, r.address)).collect::<Vec<_>>()
    });
    // (kind, logger, detail): when each storage received them differs.
    let events_of = |s: &dyn Storage, guid: &str, limit: usize| {
        s.events(guid, limit).unwrap().into_iter().map(|e| (e.kind, e.logger, e.detail)).collect::<Vec<_>>()
    };
    let events = agree(&storages, "events", |s| events_of(s, "s1", 2));
    assert_eq!(events[0].0, "sequence-rollback");
    assert_eq!(events[0].2, serde_json::json!({ "epoch": "epoch-1", "last_seq": 5, "seq": 3 }));
    assert_eq!(events[1].1, "l2", "newest first");
    let capped = agree(&storages, "a capped event", |s| events_of(s, "s2", 1));
    assert_eq!(capped[0].2["truncated"], true);
    let now = now_ms();
    for storage in &storages {
        let received = storage.events("s1", 1).unwrap()[0].received_ms;
        assert!((now - 60_000..=now + 1000).contains(&received), "{}: received {received}", storage.kind());
    }
    assert_eq!(agree(&storages, "wanted loggers", |s| s.wanted_loggers("s1").unwrap()), ["b"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn forward_outputs_read_their_own_nodes_records_in_id_order_and_bound_their_backlog() {
    let (server, storages, dir) = both("forward");
    for storage in &storages {
        assert_eq!(storage.newest_record_id().unwrap(), 0, "{}: empty", storage.kind());
        let batch: Vec<StoredRecord> = (1..=10).map(|n| numbered("s1", "cpu", n, "{}")).collect();
        storage.append(&batch).unwrap();
        let newest = storage.newest_record_id().unwrap();
        let own = RecordFilter { own_node_only: true, limit: 4, ..RecordFilter::default() };
        let page = storage.records(&own).unwrap();
        assert_eq!(page.iter().map(|(_, r)| r.seq.unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4]);
        let (fourth, _) = page[3];
        let rest =
            storage.records(&RecordFilter { after_id: Some(fourth), limit: 100, ..own.clone() }).unwrap();
        assert_eq!(rest.len(), 6, "{}", storage.kind());
        assert_eq!(rest.last().unwrap().0, newest);
        let backlog = storage.forward_backlog(fourth, 100).unwrap();
        assert_eq!((backlog.waiting, backlog.skip_to), (6, None), "{}", storage.kind());
        // Keeping 2 of the 6 skips 4: the position moves to the 8th record.
        let backlog = storage.forward_backlog(fourth, 2).unwrap();
        assert_eq!((backlog.waiting, backlog.skipped), (6, 4), "{}", storage.kind());
        let kept = storage.records(&RecordFilter { after_id: backlog.skip_to, ..own.clone() }).unwrap();
        assert_eq!(
            kept.iter().map(|(_, r)| r.seq.unwrap()).collect::<Vec<_>>(),
            [9, 10],
            "{}",
            storage.kind()
        );
        // Read back from the newest, a page at a time (as the console's charts do).
        let seqs =
            |page: &[(i64, StoredRecord)]| page.iter().map(|(_, r)| r.seq.unwrap()).collect::<Vec<_>>();
        let newest = RecordFilter { newest_first: true, limit: 4, ..RecordFilter::default() };
        let first = storage.records(&newest).unwrap();
        assert_eq!(seqs(&first), [10, 9, 8, 7], "{}", storage.kind());
        let next = storage.records(&RecordFilter { before_id: Some(first[3].0), ..newest }).unwrap();
        assert_eq!(seqs(&next), [6, 5, 4, 3], "{}", storage.kind());
    }
    // Another node sharing ClickHouse stores records of its own: each node forwards its own.
    let settings =
        ClickHouseSettings { url: server.url(), node: Some("node-b".into()), ..Default::default() };
    let other = ClickHouseStorage::open(&settings).unwrap();
    other.append(&[numbered("s2", "cpu", 1, "{}")]).unwrap();
    let own = RecordFilter { own_node_only: true, limit: 100, ..RecordFilter::default() };
    assert_eq!(other.records(&own).unwrap().len(), 1);
    assert_eq!(storages[1].records(&own).unwrap().len(), 10, "node-a's own");
    assert_eq!(
        storages[1].records(&RecordFilter { limit: 100, ..RecordFilter::default() }).unwrap().len(),
        11
    );
    assert!(other.newest_record_id().unwrap() > storages[1].newest_record_id().unwrap());
    assert_eq!(storages[1].forward_backlog(0, 100).unwrap().waiting, 10);
    drop((storages, other, server));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_and_the_quota_empty_both_storages() {
    let (_server, storages, dir) = both("retention");
    for storage in &storages {
        storage
            .append(&(1..=50).map(|n| numbered("big", "cpu", n, &"x".repeat(100))).collect::<Vec<_>>())
            .unwrap();
        storage.append(&(1..=5).map(|n| numbered("small", "cpu", n, "{}")).collect::<Vec<_>>()).unwrap();
        storage.record_event("small", "loggerStarted", "cpu", &serde_json::json!(null)).unwrap();
    }
    let over = agree(&storages, "over quota", |s| s.sentries_over(2_000).unwrap());
    assert_eq!(over.iter().map(|(guid, _)| guid.as_str()).collect::<Vec<_>>(), ["big"]);
    for storage in &storages {
        let (deleted, left) = storage.delete_oldest_of("big", 1_000).unwrap();
        assert_eq!((deleted, left), (50, 0), "{}", storage.kind());
    }
    // ClickHouse deletes rows in the background.
    wait_for("the quota's deletion", || {
        storages.iter().all(|s| {
            read(s.as_ref(), RecordFilter { guid: Some("big".into()), ..Default::default() }).is_empty()
        })
    });
    agree(&storages, "what the quota left", |s| read(s, RecordFilter::default()).len());
    // Everything received before tomorrow's end is expired.
    let limits = RetentionLimits { received_before_ms: now_ms() + 2 * 86_400_000, max_records: None };
    for storage in &storages {
        while storage.delete_expired(&limits, 1_000).unwrap().rows() > 0 {}
    }
    agree(&storages, "after retention", |s| {
        (read(s, RecordFilter::default()).len(), s.events("small", 10).unwrap().len())
    });
    assert!(read(storages[1].as_ref(), RecordFilter::default()).is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn records_wait_while_clickhouse_is_down_and_are_stored_once_when_it_is_back() {
    let dir = temp_dir("outage");
    let _ = std::fs::remove_dir_all(&dir);
    let mut server = ClickHouseServer::start(&dir.join("clickhouse"));
    let settings = ClickHouseSettings { url: server.url(), insert_interval_ms: 20, ..Default::default() };
    let storage: Arc<dyn Storage> = Arc::new(ClickHouseStorage::open(&settings).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let writer = kraken_base::storage::RecordWriter::start(storage.clone()).unwrap();
    runtime
        .block_on(writer.submit((1..=10).map(|n| numbered("s1", "cpu", n, "{}")).collect(), None))
        .unwrap();
    assert!(storage.health().available);

    server.kill();
    let held =
        runtime.spawn(writer.submit((11..=20).map(|n| numbered("s1", "cpu", n, "{}")).collect(), None));
    wait_for("the storage to show it is down", || !storage.health().available);
    assert!(storage.health().error.unwrap().contains("clickhouse"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!held.is_finished(), "nothing is acknowledged while ClickHouse is down");

    server.start_again();
    runtime.block_on(held).unwrap().unwrap();
    assert!(storage.health().available);
    // The sender, unsure, sends 11..=20 again: stored once.
    runtime
        .block_on(writer.submit((11..=25).map(|n| numbered("s1", "cpu", n, "{}")).collect(), None))
        .unwrap();
    let seqs: Vec<i64> =
        read(storage.as_ref(), RecordFilter::default()).iter().map(|r| r.seq.unwrap()).collect();
    assert_eq!(seqs, (1..=25).collect::<Vec<_>>());
    let stored_rows = server.query("SELECT count() FROM kraken.records");
    assert_eq!(stored_rows.trim(), "25", "no second copy, even unmerged");
    drop(writer);
    drop(storage);
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "waited 60 s for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
