//! `getNetStat` and `getProcesses` against `ss -tanp` and `ps -eo pid,comm,rss`, measured in the
//! same run on the same machine, with 10,000 TCP sockets open on loopback (Linux only).
//!
//! The bench opens 5,000 connected loopback pairs (10,000 sockets, plus the listener) in its own
//! process, then times, interleaved, each side `ROUNDS` times and keeps the median:
//! * `getNetStat` through the sentry's method table (tables read, owners found by scanning
//!   every `/proc/<pid>/fd`, seed maps built) against `ss -tanp` (same facts: sockets and owning
//!   processes), its output read through a pipe;
//! * `getProcesses` with a zero sampling window, i.e. two full snapshots and the seed maps, but
//!   no sleep, against `ps -eo pid,comm,rss`. A single snapshot (`HostFacts::processes`) is
//!   shown too.
//!
//! The peers' times include starting their process, which is part of what they cost. The goal
//! is a ratio (ours / peer) of at most 1.0.
//!
//! Run: `cargo bench -p sentry --bench host_commands` (`-- --quick` for fewer rounds and sockets).

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use kraken_codec::Value;
use sentry::commands::{CommandContext, host_methods};

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("host_commands: this benchmark compares against ss and ps and runs on Linux only");
}

#[cfg(target_os = "linux")]
fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (pairs, rounds) = if quick { (1_000, 5) } else { (5_000, 15) };
    raise_fd_limit(pairs * 2 + 256);
    let _sockets = open_pairs(pairs);

    let table = host_methods();
    let mut context = CommandContext::for_this_host();
    context.sampling_window = Duration::ZERO;

    let netstat_rows = |reply: &Value| {
        reply
            .as_map()
            .map_or(0, |m| m.values().map(|l| l.as_array().map_or(0, <[Value]>::len)).sum::<usize>())
    };
    let reply = table.dispatch(&context, "getNetStat", &Value::Null).expect("getNetStat");
    println!("sockets open: {} pairs; getNetStat rows: {}", pairs, netstat_rows(&reply));

    let mut ours_netstat = Vec::new();
    let mut ss = Vec::new();
    let mut ours_processes = Vec::new();
    let mut one_snapshot = Vec::new();
    let mut ps = Vec::new();
    for _ in 0..rounds {
        ours_netstat.push(time(|| {
            let reply = table.dispatch(&context, "getNetStat", &Value::Null).expect("getNetStat");
            assert!(netstat_rows(&reply) >= pairs * 2);
        }));
        ss.push(time(|| run_peer("ss", &["-tanp"])));
        ours_processes.push(time(|| {
            let reply = table.dispatch(&context, "getProcesses", &Value::Null).expect("getProcesses");
            assert!(!reply.as_array().unwrap().is_empty());
        }));
        one_snapshot.push(time(|| {
            assert!(!context.host.processes().unwrap().is_empty());
        }));
        ps.push(time(|| run_peer("ps", &["-eo", "pid,comm,rss"])));
    }
    let (netstat, ss, processes, snapshot, ps) =
        (median(ours_netstat), median(ss), median(ours_processes), median(one_snapshot), median(ps));
    println!("median of {rounds} rounds:");
    println!("  getNetStat                     {:>9.2} ms", ms(netstat));
    println!("  ss -tanp                       {:>9.2} ms", ms(ss));
    println!("  getProcesses (2 snapshots)     {:>9.2} ms", ms(processes));
    println!("  one process snapshot           {:>9.2} ms", ms(snapshot));
    println!("  ps -eo pid,comm,rss            {:>9.2} ms", ms(ps));
    println!("ratios (ours / peer, goal <= 1.0):");
    println!("  getNetStat / ss -tanp                  {:.2}", ms(netstat) / ms(ss));
    println!("  getProcesses / ps -eo pid,comm,rss     {:.2}", ms(processes) / ms(ps));
    println!("  one snapshot / ps -eo pid,comm,rss     {:.2}", ms(snapshot) / ms(ps));
}

/// Lifts the soft open-files limit to what the sockets need (bounded by the hard limit).
#[cfg(target_os = "linux")]
fn raise_fd_limit(needed: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let needed = needed as u64;
    if limit.current.is_some_and(|current| current < needed) {
        let hard = limit.maximum.unwrap_or(u64::MAX);
        assert!(
            hard >= needed,
            "the hard open-files limit ({hard}) is below the {needed} sockets this bench opens"
        );
        limit.current = Some(needed);
        setrlimit(Resource::Nofile, limit).expect("raising the open-files limit");
    }
}

/// `pairs` connected loopback TCP pairs (both ends kept open).
fn open_pairs(pairs: usize) -> Vec<TcpStream> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let address = listener.local_addr().unwrap();
    let mut sockets = Vec::with_capacity(pairs * 2);
    for _ in 0..pairs {
        let client = TcpStream::connect(address).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        sockets.push(client);
        sockets.push(server);
    }
    sockets
}

/// Runs a peer tool to completion, reading all its output.
fn run_peer(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(output.status.success() && !output.stdout.is_empty(), "{program} failed");
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
