//! What a hostile map costs: decoding, the borrowed decoding, reading a frame part by part, and
//! the JSON readers must all be linear in their input whatever keys repeat. A map with one
//! repeated key used to fall into an insert loop costing N² (40,000 keys and one repeat took
//! 22 s in a debug build; a full frame, by the square of its ~500,000 keys, about an hour).
//! Each case here fills a maximal RPC frame (8 MiB, `kraken_rpc::frame::DEFAULT_MAX_FRAME_LEN`)
//! or a maximal admin-API body (2 MiB, axum's default JSON limit) and must finish within a bound
//! that is generous for linear work in a debug build on a loaded machine and hopeless for
//! quadratic work. The same cases check that a
//! repeated key keeps its first position and its last value, as Java's `HashMap.put` does.

use std::time::{Duration, Instant};

use kraken_codec::encode::{open_array, open_map, write_key, write_str};
use kraken_codec::typed_json;
use kraken_codec::{
    DecodeLimits, Map, RawValue, Value, decode_borrowed_prefix, decode_prefix, encode_into, plain_json,
};

/// The largest frame a connection accepts (`kraken_rpc::frame::DEFAULT_MAX_FRAME_LEN`).
const MAX_FRAME: usize = 8 << 20;
/// The largest JSON body the base's admin API accepts (axum's default limit).
const MAX_JSON_BODY: usize = 2 << 20;
/// What one case may take: measured at about a second each in a debug build; a quadratic
/// decode of the same input would take most of an hour.
const BOUND: Duration = Duration::from_secs(10);

/// Runs `work`, prints how long it took and fails if that is beyond [`BOUND`].
fn timed<T>(case: &str, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    let elapsed = started.elapsed();
    println!("{case}: {elapsed:?}");
    assert!(elapsed < BOUND, "{case} took {elapsed:?}: decoding is not linear");
    result
}

/// A MAP of entries `key_of(i) => I32(i)` filling `size` bytes (give or take one entry), and the
/// number of entries.
fn map_filling(size: usize, key_of: impl Fn(usize) -> String) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(size);
    let map = open_map(&mut out);
    let mut count = 0;
    while out.len() < size - 16 {
        write_key(&mut out, &key_of(count));
        encode_into(&Value::I32(count as i32), &mut out);
        count += 1;
    }
    map.close(&mut out);
    (out, count)
}

/// Decodes `bytes` both ways (owned and borrowed), timed, checking they agree; the owned value.
fn decode_both(case: &str, bytes: &[u8]) -> Map {
    let limits = DecodeLimits { max_input: MAX_FRAME, ..DecodeLimits::default() };
    let (owned, consumed) = timed(&format!("{case}, decode"), || decode_prefix(bytes, &limits).unwrap());
    assert_eq!(consumed, bytes.len());
    let borrowed =
        timed(&format!("{case}, borrowed decode"), || decode_borrowed_prefix(bytes, &limits).unwrap().0);
    let Value::Map(map) = owned else { panic!("{case}: not a map") };
    println!("{case}: {} bytes decoded to {} keys", bytes.len(), map.len());
    let borrowed = borrowed.as_map().expect("a map");
    assert_eq!(borrowed.len(), map.len(), "{case}");
    for ((key, value), (borrowed_key, borrowed_value)) in map.iter().zip(borrowed.iter()) {
        assert_eq!((key.as_str(), value), (borrowed_key, &borrowed_value.clone().into_owned()), "{case}");
    }
    map
}

#[test]
fn a_frame_of_one_key_repeated_decodes_in_linear_time() {
    let (bytes, count) = map_filling(MAX_FRAME, |_| "k".to_owned());
    let map = decode_both("every key the same", &bytes);
    assert_eq!(map.len(), 1);
    assert_eq!(map["k"], Value::I32(count as i32 - 1), "the last value wins");
}

#[test]
fn a_frame_of_keys_each_given_twice_decodes_in_linear_time() {
    let (bytes, count) = map_filling(MAX_FRAME, |i| (i / 2).to_string());
    let map = decode_both("half the keys repeated", &bytes);
    assert_eq!(map.len(), count.div_ceil(2));
    // Each key at its first position (in order), with the value of its second occurrence.
    for (slot, (key, value)) in map.iter().enumerate() {
        assert_eq!(key.as_str(), slot.to_string());
        let last = (2 * slot + 1).min(count - 1);
        assert_eq!(value, &Value::I32(last as i32));
    }
}

#[test]
fn a_frame_of_distinct_keys_and_one_repeat_decodes_in_linear_time() {
    // Keys of one width, so that the entries' count does not depend on which key is repeated;
    // the last entry repeats the first key.
    let key = |i: usize| format!("key{i:07}");
    let (_, total) = map_filling(MAX_FRAME, key);
    let (bytes, count) = map_filling(MAX_FRAME, |i| if i + 1 == total { key(0) } else { key(i) });
    assert_eq!(count, total);
    let map = decode_both("distinct keys, one repeated", &bytes);
    assert_eq!(map.len(), count - 1);
    assert_eq!(map.keys().next().unwrap().as_str(), key(0));
    assert_eq!(
        map[key(0).as_str()],
        Value::I32(count as i32 - 1),
        "the repeat's value, at the first position"
    );
    assert_eq!(map.keys().last().unwrap().as_str(), key(count - 2));
}

#[test]
fn many_small_maps_of_repeated_keys_decode_in_linear_time() {
    // An array filling a frame with maps of 40 entries (the hashed path) and of 8 entries (the
    // pairwise path), every key given twice.
    let mut bytes = Vec::with_capacity(MAX_FRAME);
    let array = open_array(&mut bytes);
    let mut maps = 0;
    while bytes.len() < MAX_FRAME - 1024 {
        let map = open_map(&mut bytes);
        for i in 0..[40, 8][maps % 2] {
            write_key(&mut bytes, &(i / 2).to_string());
            encode_into(&Value::I32(i), &mut bytes);
        }
        map.close(&mut bytes);
        maps += 1;
    }
    array.close(&mut bytes);
    let limits = DecodeLimits { max_input: MAX_FRAME, ..DecodeLimits::default() };
    let value = timed("small maps, decode", || decode_prefix(&bytes, &limits).unwrap().0);
    let borrowed =
        timed("small maps, borrowed decode", || decode_borrowed_prefix(&bytes, &limits).unwrap().0);
    let items = value.as_array().unwrap();
    assert_eq!(items.len(), maps);
    assert_eq!(borrowed.as_array().unwrap().len(), maps);
    let first = items[0].as_map().unwrap();
    assert_eq!((first.len(), &first["3"]), (20, &Value::I32(7)));
    let second = items[1].as_map().unwrap();
    assert_eq!((second.len(), &second["3"]), (4, &Value::I32(7)));
}

#[test]
fn an_rpc_return_of_a_hostile_map_reads_in_linear_time() {
    // `[header, {method, ret}]`, read as kraken-rpc reads a received frame: checked whole, walked
    // part by part, and the result decoded.
    let (ret, _) =
        map_filling(MAX_FRAME - 256, |i| if i % 1000 == 999 { "0".to_owned() } else { i.to_string() });
    let mut frame = Vec::with_capacity(MAX_FRAME);
    let array = open_array(&mut frame);
    let header = open_map(&mut frame);
    for (key, value) in [("session", 3), ("id", 2), ("ret-for", 1)] {
        write_key(&mut frame, key);
        encode_into(&Value::I32(value), &mut frame);
    }
    write_key(&mut frame, "type");
    write_str(&mut frame, "rpc-ret");
    header.close(&mut frame);
    let body = open_map(&mut frame);
    write_key(&mut frame, "method");
    write_str(&mut frame, "getProcesses");
    write_key(&mut frame, "ret");
    frame.extend_from_slice(&ret);
    body.close(&mut frame);
    array.close(&mut frame);
    assert!(frame.len() <= MAX_FRAME);
    let limits = DecodeLimits { max_input: MAX_FRAME, ..DecodeLimits::default() };
    let result = timed("rpc-ret of a hostile map, read", || {
        let raw = RawValue::parse(&frame, &limits).unwrap();
        let body = raw.items().unwrap().nth(1).unwrap();
        let (_, ret) = body.entries().unwrap().find(|(key, _)| *key == b"ret").unwrap();
        ret.decode().unwrap()
    });
    let map = result.as_map().unwrap();
    assert!(map.get("999").is_none(), "key 999 was replaced by a repeat of \"0\"");
    assert!(matches!(map["0"], Value::I32(v) if v % 1000 == 999 && v > 999));
}

#[test]
fn json_documents_of_many_and_repeated_keys_read_in_linear_time() {
    // Plain JSON (the admin API's call parameters): keys all distinct (serde_json keeps one of
    // each), which the map used to insert one by one, scanning.
    let mut plain = String::from("{");
    let mut count = 0;
    while plain.len() < MAX_JSON_BODY - 32 {
        plain.push_str(&format!("\"k{count}\":{count},"));
        count += 1;
    }
    plain.push_str("\"k0\":-1}");
    let json: serde_json::Value = serde_json::from_str(&plain).unwrap();
    let value = timed("plain JSON, from_json", || plain_json::from_json(&json));
    assert_eq!(value.as_map().unwrap().len(), count);
    // serde into a value sees every key, the repeat too.
    let value = timed("plain JSON, serde into Value", || serde_json::from_str::<Value>(&plain).unwrap());
    let map = value.as_map().unwrap();
    assert_eq!((map.len(), map.keys().next().unwrap().as_str(), &map["k0"]), (count, "k0", &Value::I32(-1)));
    let borrowed = timed("plain JSON, serde into BorrowedValue", || {
        serde_json::from_str::<kraken_codec::BorrowedValue>(&plain).unwrap()
    });
    assert_eq!(borrowed.into_owned(), value);

    // Typed JSON (`kraken-sentry codec encode`): every key given twice.
    let mut typed = String::from(r#"{"t":"map","entries":["#);
    let mut entries: usize = 0;
    while typed.len() < MAX_JSON_BODY - 64 {
        typed.push_str(&format!(r#"["{}",{{"t":"i32","v":{entries}}}],"#, entries / 2));
        entries += 1;
    }
    typed.push_str(r#"["0",{"t":"null"}]]}"#);
    let value = timed("typed JSON, parse", || typed_json::parse_str(&typed).unwrap());
    let map = value.as_map().unwrap();
    assert_eq!(map.len(), entries.div_ceil(2));
    assert_eq!((map.keys().next().unwrap().as_str(), &map["0"]), ("0", &Value::Null));
    assert_eq!(map["1"], Value::I32(3));
}

#[test]
fn a_deep_record_with_a_java_quirk_writes_as_json_in_linear_time() {
    // Maps nested 63 deep around an array of 4 million NULLs (a maximal frame's worth of values
    // at the deepest level the limits allow), with one Java quirk beside it (an
    // array whose item runs past its declared length), which makes the whole value inexact: it
    // is walked by reading each part, not by skipping over length prefixes. Written as JSON part
    // by part, each level would read all that is below it again (16 s in a debug build).
    const DEPTH: usize = 63;
    let mut bytes = Vec::with_capacity(MAX_FRAME);
    let maps: Vec<_> = (0..DEPTH)
        .map(|_| {
            let map = open_map(&mut bytes);
            write_key(&mut bytes, "k");
            map
        })
        .collect();
    let nulls = open_array(&mut bytes);
    bytes.extend(std::iter::repeat_n(0x00, 4_000_000));
    nulls.close(&mut bytes);
    // `0a 01 0d 80 02`: an array of declared length 1 whose ZINT32 item takes 3 bytes.
    write_key(&mut bytes, "quirk");
    bytes.extend_from_slice(&[0x0a, 0x01, 0x0d, 0x80, 0x02]);
    for map in maps.into_iter().rev() {
        map.close(&mut bytes);
    }
    assert!(bytes.len() <= MAX_FRAME);
    let raw = RawValue::parse(&bytes, &DecodeLimits::default()).unwrap();
    let json = timed("deep quirky value, raw to JSON", || plain_json::raw_to_json_string(raw));
    let decoded = decode_prefix(&bytes, &DecodeLimits::default()).unwrap().0;
    assert_eq!(json, plain_json::to_json_string(&decoded));
}
