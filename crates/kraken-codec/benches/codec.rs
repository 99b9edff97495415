//! Kraken codec speed against MessagePack (`rmp-serde`) and JSON (`serde_json`), measured in the
//! same run on the same in-memory [`Value`]s, for the two payloads a sentry sends most:
//!
//! * `log_record`: one network-usage record, `{date, msg, params}` with a 20-field params map;
//! * `process_list`: a `getProcesses` reply of 300 `{pid, name, cpu_usage, working_set}` maps.
//!
//! Each format encodes into a reused buffer and decodes back into a [`Value`], so only the wire
//! format differs. `decode_borrowed` decodes the same bytes into a [`BorrowedValue`], whose
//! strings (and blobs) borrow from the input: Kraken through `decode_borrowed`, MessagePack and
//! JSON through `BorrowedValue`'s serde `Deserialize` (the same type, with the same map building;
//! both formats lend their strings, JSON those without escapes). After criterion's own report
//! the bench prints, per payload and direction, the MessagePack time divided by the Kraken time:
//! a ratio of 1.0 or more means Kraken is at least as fast as MessagePack (the goal for owned
//! values), 3.0 or more the goal for borrowed ones.
//!
//! Run: `cargo bench -p kraken-codec --bench codec`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BenchmarkId, Criterion, Throughput};
use kraken_codec::{
    BorrowedValue, DecodeLimits, Value, decode_borrowed_prefix, decode_prefix, encode_into, map,
};

const FORMATS: [&str; 3] = ["kraken", "msgpack", "json"];

fn network_usage_record() -> Value {
    let params = map! {
        "logtype" => "device",
        "scope" => "device",
        "interval" => 5_000i64,
        "index" => 12i32,
        "type" => 6i32,
        "description" => "Intel(R) Ethernet Connection (7) I219-LM",
        "mtu" => 1_500i32,
        "mac" => "00:1b:21:3a:4f:5c",
        "bandwidth" => 1_000_000_000i64,
        "rx_bytes_delta" => 18_734_221i64,
        "tx_bytes_delta" => 2_391_774i64,
        "rx_ucast_pkts_delta" => 14_213i64,
        "tx_ucast_pkts_delta" => 9_871i64,
        "rx_nucast_pkts_delta" => 211i64,
        "tx_nucast_pkts_delta" => 17i64,
        "rx_errors_delta" => 0i64,
        "tx_errors_delta" => 0i64,
        "rx_discards_delta" => 3i64,
        "tx_discards_delta" => 0i64,
        "msg" => "network usage: Intel(R) Ethernet (00:1b:21:3a:4f:5c), RX[2%, 29974753bps, 2842fps], TX[0%, 3826838bps, 1977fps]",
    };
    map! {
        "date" => Value::Date(1_764_300_000_123),
        "msg" => "network usage: Intel(R) Ethernet (00:1b:21:3a:4f:5c), RX[2%, 29974753bps, 2842fps], TX[0%, 3826838bps, 1977fps]",
        "params" => params,
    }
}

fn process_list() -> Value {
    const NAMES: [&str; 6] =
        ["svchost.exe", "explorer.exe", "chrome.exe", "MsMpEng.exe", "lsass.exe", "kraken-sentry.exe"];
    (0..300)
        .map(|i: i32| {
            map! {
                "pid" => 4 + i * 4,
                "name" => NAMES[i as usize % NAMES.len()],
                "cpu_usage" => i % 7,
                "working_set" => 4_096i64 * i64::from(1_000 + i * 37),
            }
        })
        .collect()
}

fn encode_with(format: &str, value: &Value, out: &mut Vec<u8>) {
    out.clear();
    match format {
        "kraken" => {
            encode_into(value, out);
        }
        "msgpack" => rmp_serde::encode::write(out, value).expect("msgpack encodes"),
        _ => serde_json::to_writer(&mut *out, value).expect("json encodes"),
    }
}

fn decode_with(format: &str, bytes: &[u8]) -> Value {
    match format {
        "kraken" => decode_prefix(bytes, &DecodeLimits::default()).expect("kraken decodes").0,
        "msgpack" => rmp_serde::from_slice(bytes).expect("msgpack decodes"),
        _ => serde_json::from_slice(bytes).expect("json decodes"),
    }
}

fn decode_borrowed_with<'a>(format: &str, bytes: &'a [u8]) -> BorrowedValue<'a> {
    match format {
        "kraken" => decode_borrowed_prefix(bytes, &DecodeLimits::default()).expect("kraken decodes").0,
        "msgpack" => rmp_serde::from_slice(bytes).expect("msgpack decodes"),
        _ => serde_json::from_slice(bytes).expect("json decodes"),
    }
}

fn bench_payload(c: &mut Criterion, payload: &str, value: &Value) {
    let mut group = c.benchmark_group(format!("{payload}/encode"));
    for format in FORMATS {
        let mut out = Vec::new();
        encode_with(format, value, &mut out);
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(format), |b| {
            b.iter(|| encode_with(format, black_box(value), &mut out))
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("{payload}/decode"));
    for format in FORMATS {
        let mut bytes = Vec::new();
        encode_with(format, value, &mut bytes);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(format), |b| {
            b.iter(|| decode_with(format, black_box(&bytes)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("{payload}/decode_borrowed"));
    for format in FORMATS {
        let mut bytes = Vec::new();
        encode_with(format, value, &mut bytes);
        // Both sides read the same content (MessagePack carries the date as an integer).
        assert_eq!(decode_borrowed_with(format, &bytes).into_owned(), decode_with(format, &bytes));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(format), |b| {
            b.iter(|| decode_borrowed_with(format, black_box(&bytes)))
        });
    }
    group.finish();
}

/// Criterion's median estimate, in nanoseconds, of one benchmark of this run.
fn median_ns(dir: &Path, group: &str, format: &str) -> Option<f64> {
    let path = dir.join(group.replace('/', "_")).join(format).join("new").join("estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn print_ratios(dir: &Path) {
    println!();
    println!("Kraken codec against MessagePack (rmp-serde) and JSON (serde_json), median times of this run:");
    println!(
        "{:<30} {:>12} {:>12} {:>12} {:>16} {:>13}",
        "payload", "kraken", "msgpack", "json", "msgpack/kraken", "json/kraken"
    );
    for payload in ["log_record", "process_list"] {
        for direction in ["encode", "decode", "decode_borrowed"] {
            let group = format!("{payload}/{direction}");
            let times: Vec<Option<f64>> = FORMATS.iter().map(|f| median_ns(dir, &group, f)).collect();
            let [Some(kraken), Some(msgpack), Some(json)] = times[..] else {
                println!("{group:<30} (not measured in this run)");
                continue;
            };
            println!(
                "{group:<30} {:>10.0}ns {:>10.0}ns {:>10.0}ns {:>16.2} {:>13.2}",
                kraken,
                msgpack,
                json,
                msgpack / kraken,
                json / kraken
            );
        }
    }
}

fn main() {
    let output: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion");
    let mut c = Criterion::default().output_directory(&output).configure_from_args();
    bench_payload(&mut c, "log_record", &network_usage_record());
    bench_payload(&mut c, "process_list", &process_list());
    c.final_summary();
    print_ratios(&output);
}
