//! Every host command through the method table on the real host: field names, their order
//! and their integer kinds (i32 vs i64 matters to Java bases), checked against the seed's shapes
//! and against facts this test creates (its own process and sockets, a temporary directory).

use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kraken_codec::Value;
use sentry::commands::{CommandContext, FileRoots, host_methods};

fn context() -> CommandContext {
    let mut context = CommandContext::for_this_host();
    context.sampling_window = Duration::from_millis(50);
    context
}

fn call(context: &CommandContext, method: &str, params: Value) -> Value {
    host_methods().dispatch(context, method, &params).unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn call_err(context: &CommandContext, method: &str, params: Value) -> String {
    host_methods().dispatch(context, method, &params).expect_err(method).to_string()
}

/// Asserts `value` is a map with exactly these keys, in this order, of these kinds
/// (`kind_name`s; "str|null" allows either).
fn assert_shape(value: &Value, shape: &[(&str, &str)]) {
    let map = value.as_map().unwrap_or_else(|| panic!("not a map: {value:?}"));
    let keys: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
    let expected: Vec<&str> = shape.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, expected, "{value:?}");
    for (key, kinds) in shape {
        let kind = map.get(key).unwrap().kind_name();
        assert!(kinds.split('|').any(|k| k == kind), "{key} is {kind}, expected {kinds}: {value:?}");
    }
}

fn list(value: &Value) -> &[Value] {
    value.as_array().unwrap_or_else(|| panic!("not a list: {value:?}"))
}

#[test]
fn get_processes_has_the_seed_shape_and_lists_this_process() {
    let reply = call(&context(), "getProcesses", Value::Null);
    let rows = list(&reply);
    for row in rows {
        assert_shape(row, &[("pid", "i32"), ("name", "str"), ("cpu_usage", "i32"), ("working_set", "i64")]);
    }
    let me = i32::try_from(std::process::id()).unwrap();
    let this = rows.iter().find(|r| r.as_map().unwrap()["pid"] == Value::I32(me)).expect("own pid");
    assert!(this.as_map().unwrap()["working_set"].as_i64().unwrap() > 0);
}

#[test]
fn get_net_stat_has_four_lists_and_shows_our_sockets() {
    let tcp4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let tcp6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let udp4 = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let udp6 = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let reply = call(&context(), "getNetStat", Value::Null);
    let map = reply.as_map().unwrap();
    assert_eq!(map.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["tcp", "tcp6", "udp", "udp6"]);
    let tcp_shape = [
        ("local_ip", "str"),
        ("local_port", "i32"),
        ("remote_ip", "str"),
        ("remote_port", "i32"),
        ("state", "str"),
        ("pid", "i32"),
    ];
    let udp_shape = [("local_ip", "str"), ("local_port", "i32"), ("state", "str"), ("pid", "i32")];
    for key in ["tcp", "tcp6"] {
        list(&map[key]).iter().for_each(|row| assert_shape(row, &tcp_shape));
    }
    for key in ["udp", "udp6"] {
        list(&map[key]).iter().for_each(|row| assert_shape(row, &udp_shape));
    }
    // Wine 8's socket tables give pid 0 for every row (measured); Windows and Linux give ours.
    let owner = if sentry_host::running_under_wine() { 0 } else { std::process::id() };
    let me = Value::I32(i32::try_from(owner).unwrap());
    let has = |key: &str, port: u16, state: &str| {
        list(&map[key]).iter().any(|row| {
            let row = row.as_map().unwrap();
            row["local_port"] == Value::I32(i32::from(port))
                && row["state"] == Value::from(state)
                && row["pid"] == me
        })
    };
    assert!(has("tcp", tcp4.local_addr().unwrap().port(), "Listen"));
    assert!(has("tcp6", tcp6.local_addr().unwrap().port(), "Listen"));
    assert!(has("udp", udp4.local_addr().unwrap().port(), "LISTEN"));
    assert!(has("udp6", udp6.local_addr().unwrap().port(), "LISTEN"));
}

#[test]
fn arp_and_route_rows_use_the_seed_vocabulary() {
    let context = context();
    for method in ["getArpCache", "getArpCache6"] {
        for row in list(&call(&context, method, Value::Null)) {
            assert_shape(row, &[("adapter", "str"), ("type", "str"), ("mac", "str"), ("ip", "str")]);
            let kind = row.as_map().unwrap()["type"].as_str().unwrap().to_owned();
            assert!(["static", "dynamic", "invalid", "other"].contains(&kind.as_str()), "{kind}");
        }
    }
    let routes = call(&context, "getRoutingTable", Value::Null);
    assert!(!list(&routes).is_empty(), "no IPv4 route at all");
    for (method, v6) in [("getRoutingTable", false), ("getRoutingTable6", true)] {
        for row in list(&call(&context, method, Value::Null)) {
            assert_shape(
                row,
                &[
                    ("type", "str"),
                    ("protocol", "str"),
                    ("destination", "str"),
                    ("mask", "str"),
                    ("forward", "str"),
                    ("metric", "i32"),
                ],
            );
            let row = row.as_map().unwrap();
            assert!(["Direct", "Indirect", "Invalid", "Other"].contains(&row["type"].as_str().unwrap()));
            let destination: std::net::IpAddr = row["destination"].as_str().unwrap().parse().unwrap();
            assert_eq!(destination.is_ipv6(), v6);
        }
    }
}

#[test]
fn network_interfaces_give_each_family_its_own_address() {
    for row in list(&call(&context(), "getNetworkInterfaces", Value::Null)) {
        assert_shape(
            row,
            &[
                ("display_name", "str"),
                ("name", "str"),
                ("mac", "str"),
                ("ip", "str|null"),
                ("ip6", "str|null"),
                ("mtu", "i32"),
            ],
        );
        let row = row.as_map().unwrap();
        assert_eq!(row["mac"].as_str().unwrap().len(), 17);
        if let Some(ip) = row["ip"].as_str() {
            ip.parse::<Ipv4Addr>().unwrap();
        }
        if let Some(ip6) = row["ip6"].as_str() {
            ip6.parse::<Ipv6Addr>().unwrap(); // BUG-19: never an IPv4 address
        }
    }
}

#[test]
fn disk_partitions_system_info_host_name_and_date() {
    let context = context();
    let disks = call(&context, "getDiskPartitions", Value::Null);
    let disks = disks.as_map().unwrap();
    assert!(!disks.is_empty());
    for (_, sizes) in disks.iter() {
        assert_shape(sizes, &[("total", "i64"), ("free", "i64")]);
    }
    let info = call(&context, "getSystemInfo", Value::Null);
    let info = info.as_map().unwrap();
    for key in ["os.name", "os.arch", "os.version", "user.dir", "user.home", "host.name", "agent.version"] {
        assert_eq!(info.get(key).map(Value::kind_name), Some("str"), "{key}");
    }
    let host_name = call(&context, "getHostName", Value::Null);
    assert_eq!(Some(&host_name), info.get("host.name"));
    let Value::Date(ms) = call(&context, "getDate", Value::Null) else { panic!("getDate is not a date") };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now - ms).abs() < 5_000);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kraken-list-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("inner")).unwrap();
    std::fs::write(dir.join("file.txt"), b"hello").unwrap();
    dir
}

#[test]
fn list_files_lists_roots_and_directories_within_the_allow_list() {
    let dir = temp_dir("allowed");
    let mut context = context();
    context.file_roots = FileRoots::Only(vec![dir.clone()]);
    let roots = call(&context, "listFiles", Value::Null);
    let roots = list(&roots);
    assert_eq!(roots.len(), 1);
    // A root's name is its path, as people write it (no `\\?\` prefix on Windows).
    let name = roots[0].as_map().unwrap()["name"].as_str().unwrap().to_owned();
    assert!(!name.starts_with(r"\\?\"), "{name}");
    assert_eq!(std::fs::canonicalize(&name).unwrap(), std::fs::canonicalize(&dir).unwrap());

    let path = Value::Array(vec![Value::from(dir.to_string_lossy().as_ref())]);
    let entries = call(&context, "listFiles", path);
    let mut names = Vec::new();
    for entry in list(&entries) {
        assert_shape(entry, &[("name", "str"), ("size", "i64"), ("is_dir", "bool"), ("modified_at", "date")]);
        let entry = entry.as_map().unwrap();
        names.push(entry["name"].as_str().unwrap().to_owned());
        if entry["name"] == Value::from("file.txt") {
            assert_eq!((entry["size"].clone(), entry["is_dir"].clone()), (Value::I64(5), Value::Bool(false)));
        }
    }
    names.sort();
    assert_eq!(names, ["file.txt", "inner"]);

    let arg = |p: PathBuf| Value::Array(vec![Value::from(p.to_string_lossy().as_ref())]);
    assert!(call_err(&context, "listFiles", arg(dir.join("missing"))).starts_with("path not found: "));
    assert!(call_err(&context, "listFiles", arg(dir.join("file.txt"))).starts_with("not a directory: "));
    assert!(
        call_err(&context, "listFiles", arg(dir.join("inner").join("..").join("..")))
            .starts_with("path not allowed: ")
    );
    assert!(call_err(&context, "listFiles", arg(std::env::temp_dir())).starts_with("path not allowed: "));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Symbolic links show their target only when it is inside the roots; one pointing outside
/// shows as itself and tells nothing of its target.
#[cfg(unix)]
#[test]
fn list_files_follows_links_only_within_the_roots() {
    let dir = temp_dir("links");
    let outside = temp_dir("links-outside");
    std::fs::write(outside.join("secret.txt"), vec![b'x'; 4321]).unwrap();
    std::os::unix::fs::symlink(dir.join("file.txt"), dir.join("inside-link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), dir.join("outside-link")).unwrap();
    let mut context = context();
    context.file_roots = FileRoots::Only(vec![dir.clone()]);
    let entries =
        call(&context, "listFiles", Value::Array(vec![Value::from(dir.to_string_lossy().as_ref())]));
    let size_of = |name: &str| {
        let entry = list(&entries).iter().find(|e| e.as_map().unwrap()["name"] == Value::from(name)).cloned();
        entry.unwrap_or_else(|| panic!("{name} not listed")).as_map().unwrap()["size"].clone()
    };
    assert_eq!(size_of("inside-link"), Value::I64(5), "a link within the roots shows its target");
    let link_length = std::fs::symlink_metadata(dir.join("outside-link")).unwrap().len() as i64;
    assert_eq!(size_of("outside-link"), Value::I64(link_length), "a link outside shows as itself");
    // The text decides before any lookup: outside the roots, a missing path is "not allowed" too.
    let missing_outside = Value::Array(vec![Value::from(outside.join("missing").to_string_lossy().as_ref())]);
    assert!(call_err(&context, "listFiles", missing_outside).starts_with("path not allowed: "));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

#[test]
fn list_files_can_be_switched_off() {
    let mut context = context();
    context.file_roots = FileRoots::Disabled;
    assert_eq!(call_err(&context, "listFiles", Value::Null), "listFiles is disabled on this sentry");
}

#[test]
fn features_cover_the_host_commands() {
    let features = call(&context(), "getFeatures", Value::Null);
    let features: Vec<&str> = list(&features).iter().map(|f| f.as_str().unwrap()).collect();
    for feature in ["process-list", "arp-cache", "routing-table", "netstat", "disk-info", "nic-info"] {
        assert!(features.contains(&feature), "{feature} missing from {features:?}");
    }
}
