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
//! both formats lend their strings, JSON those without escapes). `read` reads a whole value as
//! a consumer does (every key, string and number visited, summed so nothing is skipped): Kraken
//! the way the base reads records and call parameters, a [`RawValue`] checked once and walked in
//! place with nothing built; MessagePack and JSON by decoding into a `BorrowedValue` and
//! walking that (every format gives the same sum). After criterion's own report
//! the bench prints, per payload and direction, the MessagePack time divided by the Kraken time:
//! a ratio of 1.0 or more means Kraken is at least as fast as MessagePack (the goal for owned
//! values), 3.0 or more the goal for reading records without an allocation per string.
//!
//! Run: `cargo bench -p kraken-codec --bench codec`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BenchmarkId, Criterion, Throughput};
use kraken_codec::{
    BorrowedValue, DecodeLimits, RawValue, Value, decode_borrowed_prefix, decode_prefix, encode_into, map,
    type_byte, utf8,
};

const FORMATS: [&str; 3] = ["kraken", "msgpack", "json"];
/// MessagePack read without building a tree (`read` only).
const MSGPACK_STREAMED: &str = "msgpack_streamed";

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

/// A sum over every part of a value (each key's length, each string's length, each number),
/// so that reading a value means reading all of it: the same sum whichever format carried it.
fn tree_sum(value: &BorrowedValue<'_>) -> u64 {
    match value {
        BorrowedValue::Map(map) => map.iter().map(|(key, v)| key.len() as u64 + tree_sum(v)).sum(),
        BorrowedValue::Array(items) => items.iter().map(tree_sum).sum(),
        BorrowedValue::Str(text) => text.len() as u64,
        BorrowedValue::I16(v) => *v as u64,
        BorrowedValue::I32(v) => *v as u64,
        BorrowedValue::I64(v) | BorrowedValue::Date(v) => *v as u64,
        _ => 1,
    }
}

/// [`tree_sum`] of a value left encoded: walked in place, nothing built, each string's text
/// checked as UTF-8 (as building a tree checks it). Only containers recurse: a scalar is read
/// where its entry is met.
fn raw_sum(value: &RawValue<'_>) -> u64 {
    let sum = match value.type_byte() {
        type_byte::MAP => value.entries().map(|entries| {
            entries.map(|(key, v)| utf8::decode_lossy_borrowed(key).len() as u64 + part_sum(v)).sum()
        }),
        type_byte::ARRAY => value.items().map(|items| items.map(part_sum).sum()),
        _ => return part_sum(*value),
    };
    sum.unwrap_or(1)
}

/// [`raw_sum`] of one part of a container.
#[inline(always)]
fn part_sum(value: RawValue<'_>) -> u64 {
    let sum = match value.type_byte() {
        type_byte::MAP | type_byte::ARRAY => return raw_sum(&value),
        type_byte::STRING => value.str_bytes().map(|bytes| utf8::decode_lossy_borrowed(bytes).len() as u64),
        type_byte::ZINT16 | type_byte::ZINT32 | type_byte::ZINT64 => value.as_i64().map(|v| v as u64),
        type_byte::DATE => value.as_date_ms().map(|ms| ms as u64),
        _ => None,
    };
    sum.unwrap_or(1)
}

/// Reads a whole value: Kraken as the base reads records and call parameters (a [`RawValue`]
/// checked once, then walked), the others by decoding into a borrowed tree and walking it.
fn read_with(format: &str, bytes: &[u8]) -> u64 {
    match format {
        "kraken" => raw_sum(&RawValue::parse(bytes, &DecodeLimits::default()).expect("kraken checks")),
        _ => tree_sum(&decode_borrowed_with(format, bytes)),
    }
}

/// [`tree_sum`] of a serde input read as it streams by, building nothing: the fastest way serde
/// gives to read every part of a value of unknown shape.
struct StreamedSum(u64);

/// The length of a map key, read without keeping it.
struct KeyLen(u64);

impl<'de> serde::Deserialize<'de> for KeyLen {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = KeyLen;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E>(self, key: &str) -> Result<KeyLen, E> {
                Ok(KeyLen(key.len() as u64))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

impl<'de> serde::Deserialize<'de> for StreamedSum {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = StreamedSum;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<StreamedSum, E> {
                Ok(StreamedSum(1))
            }
            fn visit_i64<E>(self, v: i64) -> Result<StreamedSum, E> {
                Ok(StreamedSum(v as u64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<StreamedSum, E> {
                Ok(StreamedSum(v))
            }
            fn visit_f64<E>(self, _: f64) -> Result<StreamedSum, E> {
                Ok(StreamedSum(1))
            }
            fn visit_str<E>(self, text: &str) -> Result<StreamedSum, E> {
                Ok(StreamedSum(text.len() as u64))
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<StreamedSum, E> {
                Ok(StreamedSum(1))
            }
            fn visit_unit<E>(self) -> Result<StreamedSum, E> {
                Ok(StreamedSum(1))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<StreamedSum, A::Error> {
                let mut sum = 0;
                while let Some(StreamedSum(item)) = items.next_element()? {
                    sum += item;
                }
                Ok(StreamedSum(sum))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut entries: A,
            ) -> Result<StreamedSum, A::Error> {
                let mut sum = 0;
                while let Some((KeyLen(key), StreamedSum(value))) = entries.next_entry()? {
                    sum += key + value;
                }
                Ok(StreamedSum(sum))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// [`read_with`] for MessagePack, streamed through [`StreamedSum`] instead of a tree.
fn read_msgpack_streamed(bytes: &[u8]) -> u64 {
    rmp_serde::from_slice::<StreamedSum>(bytes).expect("msgpack decodes").0
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

    let mut group = c.benchmark_group(format!("{payload}/read"));
    let mut sums = Vec::new();
    for format in FORMATS {
        let mut bytes = Vec::new();
        encode_with(format, value, &mut bytes);
        sums.push(read_with(format, &bytes));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(format), |b| {
            b.iter(|| read_with(format, black_box(&bytes)))
        });
    }
    let mut bytes = Vec::new();
    encode_with("msgpack", value, &mut bytes);
    sums.push(read_msgpack_streamed(&bytes));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(BenchmarkId::from_parameter(MSGPACK_STREAMED), |b| {
        b.iter(|| read_msgpack_streamed(black_box(&bytes)))
    });
    assert!(sums.iter().all(|&sum| sum == sums[0]), "every format reads the same content: {sums:?}");
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
        for direction in ["encode", "decode", "decode_borrowed", "read"] {
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
            if let (true, Some(streamed)) = (direction == "read", median_ns(dir, &group, MSGPACK_STREAMED)) {
                println!(
                    "{:<30} {:>12} {:>10.0}ns {:>12} {:>16.2}",
                    format!("{group} (msgpack streamed)"),
                    "",
                    streamed,
                    "",
                    streamed / kraken
                );
            }
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
