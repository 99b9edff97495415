use kraken_codec::{DecodeLimits, Value, map, validate_prefix};
use kraken_rpc::message::{Body, Message};
use std::time::Instant;
fn record() -> Value {
    map! {
        "date" => Value::Date(1_764_300_000_123),
        "msg" => "cpu usage: 17%",
        "params" => map! {
            "logtype" => "system", "idle" => 83i32, "kernel" => 5i32, "user" => 12i32,
            "msg" => "cpu usage: 17%", "host" => "WIN-7Q3M2K1ABCD",
            "source" => "kraken-sentry 0.1.0 on Windows 10 Pro 22H2 (build 19045)",
            "padding" => "x".repeat(96),
        },
    }
}
fn main() {
    let m = Message {
        id: 17,
        session: 3,
        body: Body::Post {
            method: "onLog".into(),
            params: vec![Value::from("sentry"), Value::from("cpu"), record()],
        },
    };
    let mut bytes = Vec::new();
    m.encode_into(&mut bytes);
    let frame = bytes::Bytes::from(bytes.clone());
    let limits = DecodeLimits::default();
    if std::env::args().any(|a| a == "parse") {
        for _ in 0..20_000_000 {
            std::hint::black_box(Message::parse(std::hint::black_box(frame.clone()), &limits).unwrap());
        }
        return;
    }
    if std::env::args().any(|a| a == "encode") {
        let mut out = Vec::new();
        for _ in 0..20_000_000 {
            out.clear();
            std::hint::black_box(m.encode_into(&mut out));
        }
        return;
    }
    for _ in 0..3 {
        let n = 2_000_000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(validate_prefix(std::hint::black_box(&bytes), &limits).unwrap());
        }
        println!("validate {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(Message::parse(std::hint::black_box(frame.clone()), &limits).unwrap());
        }
        println!("parse {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        let mut out = Vec::new();
        for _ in 0..n {
            out.clear();
            std::hint::black_box(m.encode_into(&mut out));
        }
        println!("encode {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
    }
}
