//! Every standard logger runs two cycles on this machine's real host facts and produces
//! well-formed records: the fields of the seed with their kinds, `logtype` and `msg` present.
//! Runs on Linux and, as a Windows exe, under Wine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kraken_codec::{Map, Value};
use sentry::loggers::factory::RunOutput;
use sentry::loggers::{FactoryContext, LoggerRun, standard_factories};
use sentry::store::{Policy, Store};

fn context(name: &str) -> (FactoryContext, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("kraken-logger-cycles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(Store::open(&dir).unwrap());
    (FactoryContext { host: Arc::new(sentry_host::SystemHost), store, delivery: None }, dir)
}

/// Runs `factory` twice, a second apart, and returns both runs' records.
fn two_cycles(context: &FactoryContext, factory: &str) -> (Vec<Map>, Vec<Map>) {
    let factories = standard_factories();
    let factory = factories.iter().find(|f| f.name() == factory).unwrap();
    let mut run: Box<dyn LoggerRun> = factory.create(context, factory.name(), &BTreeMap::new());
    let params = |output: RunOutput| output.records.into_iter().map(|(_, params)| params).collect();
    let first = run.run_once().unwrap_or_else(|e| panic!("{} first run: {e}", factory.name()));
    std::thread::sleep(Duration::from_millis(1_000));
    let second = run.run_once().unwrap_or_else(|e| panic!("{} second run: {e}", factory.name()));
    (params(first), params(second))
}

fn assert_fields(record: &Map, logtype: &str, fields: &[(&str, &str)]) {
    assert_eq!(record.get("logtype"), Some(&Value::from(logtype)), "{record:?}");
    assert_eq!(record.get("msg").map(Value::kind_name), Some("str"), "{record:?}");
    for (key, kind) in fields {
        assert_eq!(record.get(key).map(Value::kind_name), Some(*kind), "{key} in {record:?}");
    }
}

#[test]
fn cpu_usage_baselines_then_reports_percents_summing_to_100() {
    let (context, dir) = context("cpu");
    let (first, second) = two_cycles(&context, "cpu-usage");
    assert!(first.is_empty(), "the first run only takes a baseline");
    assert_eq!(second.len(), 1);
    assert_fields(&second[0], "system", &[("idle", "i32"), ("kernel", "i32"), ("user", "i32")]);
    let sum: i64 = ["idle", "kernel", "user"].iter().map(|k| second[0][*k].as_i64().unwrap()).sum();
    assert_eq!(sum, 100);
    drop(context); // Windows cannot delete an open file
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn memory_usage_reports_kilobytes() {
    let (context, dir) = context("memory");
    let (first, _) = two_cycles(&context, "memory-usage");
    assert_fields(
        &first[0],
        "system",
        &[("pfree", "i64"), ("ptotal", "i64"), ("vfree", "i64"), ("vtotal", "i64")],
    );
    let (free, total) = (first[0]["pfree"].as_i64().unwrap(), first[0]["ptotal"].as_i64().unwrap());
    assert!(total > 1024 && free <= total, "{free}/{total}");
    drop(context); // Windows cannot delete an open file
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn network_usage_baselines_then_reports_devices_and_a_total() {
    let (context, dir) = context("network");
    let (first, second) = two_cycles(&context, "network-usage");
    assert_eq!(first.len(), 1, "the first run takes the baseline and sends only the total: {first:?}");
    assert_eq!(
        (first[0]["scope"].clone(), first[0]["description"].clone()),
        (Value::from("total"), Value::from("-"))
    );
    let (total, devices) = second.split_last().expect("a total record every run");
    assert_fields(
        total,
        "total",
        &[("scope", "str"), ("max_usage", "i32"), ("description", "str"), ("mac", "str")],
    );
    for device in devices {
        assert_fields(
            device,
            "device",
            &[
                ("scope", "str"),
                ("interval", "i64"),
                ("index", "i32"),
                ("type", "i32"),
                ("description", "str"),
                ("mtu", "i32"),
                ("mac", "str"),
                ("bandwidth", "i64"),
                ("rx_bytes_delta", "i64"),
                ("tx_bytes_delta", "i64"),
                ("rx_ucast_pkts_delta", "i64"),
                ("tx_ucast_pkts_delta", "i64"),
                ("rx_nucast_pkts_delta", "i64"),
                ("tx_nucast_pkts_delta", "i64"),
                ("rx_errors_delta", "i64"),
                ("tx_errors_delta", "i64"),
                ("rx_discards_delta", "i64"),
                ("tx_discards_delta", "i64"),
            ],
        );
        let interval = device["interval"].as_i64().unwrap();
        assert!((900..5_000).contains(&interval), "interval {interval} ms for a 1 s gap");
    }
    drop(context); // Windows cannot delete an open file
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn disk_usage_reports_partitions_and_a_total() {
    let (context, dir) = context("disk");
    let (first, _) = two_cycles(&context, "disk-usage");
    let (total, partitions) = first.split_last().unwrap();
    assert_fields(total, "total", &[("scope", "str"), ("max_partition", "str"), ("max_usage", "i32")]);
    assert!(!partitions.is_empty(), "this machine has a fixed volume");
    for partition in partitions {
        assert_fields(
            partition,
            "partition",
            &[("partition", "str"), ("usage", "i32"), ("free", "i64"), ("used", "i64"), ("total", "i64")],
        );
    }
    drop(context); // Windows cannot delete an open file
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn process_check_reports_each_listed_process_every_run() {
    let (context, dir) = context("process");
    let me = std::env::current_exe().unwrap();
    let my_name = me.file_name().unwrap().to_string_lossy().to_lowercase();
    context.store.set_process_rule(&my_name, Policy::Allow).unwrap();
    context.store.set_process_rule("no-such-process-kraken", Policy::Allow).unwrap();
    let (first, second) = two_cycles(&context, "process-check");
    for run in [&first, &second] {
        assert_eq!(run.len(), 2, "level-triggered: every rule, every run");
        for record in run {
            assert_fields(
                record,
                "processcheck",
                &[("name", "str"), ("policy", "str"), ("running", "bool"), ("status", "str")],
            );
        }
    }
    let by_name = |name: &str| first.iter().find(|r| r["name"] == Value::from(name)).unwrap().clone();
    assert_eq!(by_name("no-such-process-kraken")["status"], Value::from("warning"));
    // On Linux the kernel `comm` is cut at 15 characters, but the executable's file name matches.
    assert_eq!(by_name(&my_name)["running"], Value::Bool(true), "{first:?}");
    drop(context); // Windows cannot delete an open file
    std::fs::remove_dir_all(dir).unwrap();
}
