//! Free loopback ports for the servers the tests and benches start (bases, ClickHouse,
//! rsyslog).
//!
//! A port is taken below Linux's ephemeral range (32768 and up). The tests running beside one
//! another open outgoing connections by the thousand (sentries, HTTP clients, ClickHouse's
//! own), each on an ephemeral port: a port picked in that range could be taken by one of them
//! before the server it was picked for binds it, or while that server is down between a kill
//! and a restart. Each process starts at a random point of the range and each call after the
//! port the last one gave, so two calls give two ports and two processes rarely try the same.
#![allow(dead_code)]

use std::hash::{BuildHasher, RandomState};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The first port of the range the ports are picked in.
const FIRST: u32 = 20_000;
/// How many ports the range holds (20000 to 31999).
const COUNT: u32 = 12_000;

/// A port nothing listens on now, between 20000 and 31999.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let mut start = NEXT.load(Ordering::Relaxed);
    if start == u32::MAX {
        start = (RandomState::new().hash_one(std::process::id()) % u64::from(COUNT)) as u32;
    }
    let port = (0..COUNT)
        .map(|step| FIRST + (start + step) % COUNT)
        .find(|&port| TcpListener::bind(("127.0.0.1", port as u16)).is_ok())
        .expect("a free port between 20000 and 31999");
    NEXT.store(port - FIRST + 1, Ordering::Relaxed);
    port as u16
}
