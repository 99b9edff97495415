//! The Linux back end checked against independent sources on the same machine: sockets and
//! processes this test creates, `ip -j route`/`ip -j neigh` (iproute2), `/sys/class/net`,
//! `/proc/self/stat` and `df`.
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use std::{fs, thread};

use sentry_host::sampling::sample_processes;
use sentry_host::{HostFacts, Socket, SocketProtocol, SystemHost, TcpState};

fn host() -> SystemHost {
    SystemHost
}

fn find(sockets: &[Socket], protocol: SocketProtocol, port: u16, v6: bool) -> Vec<&Socket> {
    sockets
        .iter()
        .filter(|s| s.protocol == protocol && s.local.port() == port && s.local.is_ipv6() == v6)
        .collect()
}

/// `ip -j <args>` as JSON rows.
fn ip_json(args: &[&str]) -> Vec<serde_json::Value> {
    let output = Command::new("ip").arg("-j").args(args).output().expect("iproute2 `ip` must be installed");
    assert!(output.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    if text.trim().is_empty() { Vec::new() } else { serde_json::from_str(&text).unwrap() }
}

#[test]
fn listening_and_connected_tcp_sockets_of_both_families_show_with_this_pid() {
    let me = std::process::id();
    let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let client = TcpStream::connect(v4.local_addr().unwrap()).unwrap();
    let (_server_side, _) = v4.accept().unwrap();
    let sockets = host().sockets().unwrap();

    let listen4 = find(&sockets, SocketProtocol::Tcp, v4.local_addr().unwrap().port(), false);
    assert!(
        listen4.iter().any(|s| s.state == Some(TcpState::Listen) && s.pid == Some(me)),
        "IPv4 listener on {} missing or without pid {me}: {listen4:?}",
        v4.local_addr().unwrap()
    );
    // The accepted side shares the listener's local port and is established.
    assert!(listen4.iter().any(|s| s.state == Some(TcpState::Established) && s.pid == Some(me)));
    let client_port = client.local_addr().unwrap().port();
    let client_rows = find(&sockets, SocketProtocol::Tcp, client_port, false);
    assert!(
        client_rows.iter().any(|s| s.state == Some(TcpState::Established)
            && s.remote == Some(v4.local_addr().unwrap())
            && s.pid == Some(me)),
        "client socket {client_port} missing: {client_rows:?}"
    );
    let listen6 = find(&sockets, SocketProtocol::Tcp, v6.local_addr().unwrap().port(), true);
    assert!(
        listen6.iter().any(|s| s.state == Some(TcpState::Listen)
            && s.pid == Some(me)
            && s.local.ip() == IpAddr::V6(Ipv6Addr::LOCALHOST)),
        "IPv6 listener missing: {listen6:?}"
    );
}

#[test]
fn udp_sockets_of_both_families_show_with_this_pid() {
    let me = std::process::id();
    let v4 = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let v6 = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let sockets = host().sockets().unwrap();
    for (socket, v6_family) in [(&v4, false), (&v6, true)] {
        let address = socket.local_addr().unwrap();
        let rows = find(&sockets, SocketProtocol::Udp, address.port(), v6_family);
        assert_eq!(rows.len(), 1, "UDP {address}: {rows:?}");
        assert_eq!(rows[0].local, address);
        assert_eq!((rows[0].pid, rows[0].state, rows[0].remote), (Some(me), None, None));
    }
}

#[test]
fn this_process_is_listed_with_its_parent_working_set_and_times() {
    let me = std::process::id();
    let processes = host().processes().unwrap();
    let this = processes.iter().find(|p| p.pid == me).expect("own pid listed");
    // /proc/self/stat: `pid (comm) state ppid ...`, read independently here.
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let comm = &stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()];
    let ppid: u32 = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(this.name, comm);
    assert_eq!(this.parent_pid, Some(ppid));
    assert!(this.working_set.unwrap() > 1024 * 1024, "working set {:?}", this.working_set);
    assert!(this.cpu_time.is_some() && this.start_stamp.is_some());
    assert_eq!(this.image_path.as_deref(), std::env::current_exe().ok().as_deref().and_then(|p| p.to_str()));
    // pid 1 is always there.
    assert!(processes.iter().any(|p| p.pid == 1));
}

#[test]
fn cpu_usage_of_this_process_rises_while_a_thread_spins() {
    let me = std::process::id();
    let host = host();
    let window = Duration::from_millis(400);
    let usage_of_me = |host: &SystemHost| {
        let usage = sample_processes(host, window).unwrap();
        usage.into_iter().find(|u| u.process.pid == me).and_then(|u| u.cpu_percent).unwrap()
    };
    let idle = usage_of_me(&host);
    let spinning = Arc::new(AtomicBool::new(true));
    let spinner = {
        let spinning = spinning.clone();
        thread::spawn(move || {
            let mut x = 0u64;
            while spinning.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        })
    };
    thread::sleep(Duration::from_millis(50));
    let busy = usage_of_me(&host);
    spinning.store(false, Ordering::Relaxed);
    spinner.join().unwrap();
    // One spinning thread is 100 / cpu_count percent of the machine; allow for a busy CI host.
    let one_cpu = 100.0 / host.cpu_count() as f64;
    assert!(
        busy > idle && busy >= one_cpu * 0.3,
        "idle {idle:.1}%, spinning {busy:.1}%, one cpu = {one_cpu:.1}%"
    );
}

#[test]
fn routes_match_ip_route() {
    fn prefix(dst: &str, v6: bool) -> String {
        match (dst, v6) {
            ("default", false) => "0.0.0.0/0".to_owned(),
            ("default", true) => "::/0".to_owned(),
            (d, false) if !d.contains('/') => format!("{d}/32"),
            (d, true) if !d.contains('/') => format!("{d}/128"),
            (d, _) => d.to_owned(),
        }
    }
    let mut expected = BTreeSet::new();
    for (family, v6) in [("-4", false), ("-6", true)] {
        for row in ip_json(&[family, "route", "show", "table", "main"]) {
            let dst = prefix(row["dst"].as_str().unwrap(), v6);
            let gateway = row["gateway"].as_str().map(str::to_owned);
            let dev = row["dev"].as_str().map(str::to_owned);
            let metric = row["metric"].as_u64().unwrap_or(0) as u32;
            expected.insert((dst, gateway, dev, metric));
        }
    }
    let actual: BTreeSet<_> = host()
        .routes()
        .unwrap()
        .into_iter()
        .map(|r| {
            let gateway = (!r.next_hop.is_unspecified()).then(|| r.next_hop.to_string());
            (format!("{}/{}", r.destination, r.prefix_len), gateway, r.interface_name, r.metric)
        })
        .collect();
    assert!(!expected.is_empty(), "ip route shows no route: cannot compare");
    assert_eq!(actual, expected);
}

#[test]
fn neighbours_match_ip_neigh() {
    // Entries can change state between two reads; compare (ip, dev, lladdr) and retry a few times.
    let read_ip = || {
        let mut rows = BTreeSet::new();
        for family in ["-4", "-6"] {
            for row in ip_json(&[family, "neigh", "show"]) {
                rows.insert((
                    row["dst"].as_str().unwrap().to_owned(),
                    row["dev"].as_str().map(str::to_owned),
                    row["lladdr"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        rows
    };
    let read_ours = || {
        let neighbours = host().neighbours().unwrap();
        neighbours
            .into_iter()
            .map(|n| {
                let mac: Vec<String> = n.mac.iter().map(|b| format!("{b:02x}")).collect();
                (n.ip.to_string(), n.adapter, mac.join(":"))
            })
            .collect::<BTreeSet<_>>()
    };
    let mut last = None;
    for _ in 0..3 {
        let (before, ours, after) = (read_ip(), read_ours(), read_ip());
        if before == after {
            assert_eq!(ours, before);
            return;
        }
        last = Some((before, ours, after));
        thread::sleep(Duration::from_millis(200));
    }
    panic!("the neighbour table kept changing: {last:?}");
}

#[test]
fn interfaces_match_sys_class_net() {
    let interfaces = host().interfaces().unwrap();
    let mut names_in_sys: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names_in_sys.sort();
    let mut names: Vec<String> = interfaces.iter().map(|nic| nic.name.clone()).collect();
    names.sort();
    assert_eq!(names, names_in_sys);
    for nic in &interfaces {
        let sys = |file: &str| {
            fs::read_to_string(format!("/sys/class/net/{}/{file}", nic.name)).unwrap().trim().to_owned()
        };
        assert_eq!(nic.index.to_string(), sys("ifindex"), "{}", nic.name);
        assert_eq!(nic.mtu.to_string(), sys("mtu"), "{}", nic.name);
        let mac: Vec<String> = nic.mac.iter().map(|b| format!("{b:02x}")).collect();
        let sys_mac = sys("address");
        if sys_mac.chars().all(|c| c == '0' || c == ':') {
            assert!(nic.mac.is_empty(), "{}: all-zero address should read as none", nic.name);
        } else {
            assert_eq!(mac.join(":"), sys_mac, "{}", nic.name);
        }
        // Counters only grow: ours (read first) never exceed sysfs's (read now).
        let rx: u64 = sys("statistics/rx_bytes").parse().unwrap();
        assert!(nic.counters.rx_bytes <= rx, "{}: rx_bytes {} > {rx}", nic.name, nic.counters.rx_bytes);
    }
    let lo = interfaces.iter().find(|nic| nic.name == "lo").expect("loopback");
    assert_eq!(lo.if_type, 24);
    assert!(lo.ipv4.contains(&Ipv4Addr::LOCALHOST));
}

#[test]
fn loopback_counters_move_with_traffic() {
    let lo_bytes =
        || host().interfaces().unwrap().into_iter().find(|n| n.name == "lo").unwrap().counters.rx_bytes;
    let before = lo_bytes();
    let receiver = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    for _ in 0..20 {
        sender.send_to(&[7u8; 1000], receiver.local_addr().unwrap()).unwrap();
    }
    assert!(lo_bytes() >= before + 20_000);
}

#[test]
fn cpu_times_grow_and_memory_is_consistent() {
    let host = host();
    let first = host.cpu_times().unwrap();
    let started = Instant::now();
    thread::sleep(Duration::from_millis(300));
    let second = host.cpu_times().unwrap();
    let grown = second.total() - first.total();
    // All processors together account for about elapsed × cpu_count of time.
    let expected = started.elapsed().as_secs_f64() * host.cpu_count() as f64;
    assert!(grown.as_secs_f64() > expected * 0.5, "grew {grown:?}, expected about {expected:.2}s");
    let memory = host.memory().unwrap();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: u64 = meminfo.lines().next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(memory.physical_total, total_kb * 1024);
    assert!(memory.physical_free <= memory.physical_total && memory.virtual_free <= memory.virtual_total);
}

#[test]
fn the_root_volume_matches_df() {
    let volumes = host().volumes().unwrap();
    let root = volumes.iter().find(|v| v.root == "/").expect("/ listed");
    let output = Command::new("df").args(["-B1", "--output=size", "/"]).output().unwrap();
    let size: u64 = String::from_utf8(output.stdout).unwrap().lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(root.total, size);
    assert!(root.available <= root.free && root.free <= root.total);
    // Pseudo file systems are not volumes.
    assert!(!volumes.iter().any(|v| v.root == "/proc" || v.fs_type == "tmpfs" || v.fs_type == "sysfs"));
}

#[test]
fn host_name_and_os_match_uname() {
    let uname =
        |flag: &str| String::from_utf8(Command::new("uname").arg(flag).output().unwrap().stdout).unwrap();
    let host = host();
    assert_eq!(host.host_name().unwrap(), uname("-n").trim());
    let os = host.os_info().unwrap();
    assert_eq!(os.version, uname("-r").trim());
    assert_eq!(os.arch, uname("-m").trim());
    assert!(!os.name.is_empty());
}
