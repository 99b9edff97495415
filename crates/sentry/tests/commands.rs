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

    let entries = call(&context, "listFiles", arg(&dir));
    let mut names = Vec::new();
    for entry in list(&entries) {
        assert_shape(
            entry,
            &[("name", "str"), ("size", "i64"), ("is_dir", "bool"), ("modified_at", "date"), ("type", "str")],
        );
        let entry = entry.as_map().unwrap();
        names.push(entry["name"].as_str().unwrap().to_owned());
        if entry["name"] == Value::from("file.txt") {
            assert_eq!(
                (entry["size"].clone(), entry["is_dir"].clone(), entry["type"].clone()),
                (Value::I64(5), Value::Bool(false), Value::from("file"))
            );
        }
    }
    names.sort();
    assert_eq!(names, ["file.txt", "inner"]);

    assert!(call_err(&context, "listFiles", arg(&dir.join("missing"))).starts_with("path not found: "));
    assert!(call_err(&context, "listFiles", arg(&dir.join("file.txt"))).starts_with("not a directory: "));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn arg(path: &std::path::Path) -> Value {
    Value::Array(vec![Value::from(path.to_string_lossy().as_ref())])
}

fn entry_named(entries: &Value, name: &str) -> kraken_codec::Map {
    let entry = list(entries).iter().find(|e| e.as_map().unwrap()["name"] == Value::from(name));
    entry.unwrap_or_else(|| panic!("{name} not listed: {entries:?}")).as_map().unwrap().clone()
}

/// `..` that climbs out of a root is refused by the path's text, before any lookup: a missing
/// path outside is "not allowed" too, so the answer tells nothing of what lies outside.
#[test]
fn list_files_refuses_paths_that_climb_out_of_the_roots() {
    let dir = temp_dir("climb");
    let mut context = context();
    context.file_roots = FileRoots::Only(vec![dir.join("inner")]);
    for outside in [
        dir.join("inner").join(".."),
        dir.join("inner").join("..").join("inner").join("..").join(".."),
        dir.clone(),
        std::env::temp_dir(),
        dir.join("inner").join("..").join("missing"),
    ] {
        let error = call_err(&context, "listFiles", arg(&outside));
        assert!(error.starts_with("path not allowed: ") && error.contains("outside"), "{outside:?}: {error}");
    }
    assert!(
        list(&call(&context, "listFiles", arg(&dir.join("inner").join(".").join("..").join("inner"))))
            .is_empty()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A link inside a listed directory is an entry of type `link`, never followed: neither the
/// size of what it points to nor its children appear. A requested path may pass through a
/// link only if the link leads into the roots.
#[cfg(unix)]
#[test]
fn list_files_never_follows_a_link_out_of_the_roots() {
    let dir = temp_dir("links");
    let outside = temp_dir("links-outside");
    std::fs::write(outside.join("secret.txt"), vec![b'x'; 4321]).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), dir.join("to-secret")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("to-outside")).unwrap();
    std::os::unix::fs::symlink("inner", dir.join("to-inner")).unwrap();
    std::fs::write(dir.join("inner").join("x.log"), b"abc").unwrap();
    let mut context = context();
    context.file_roots = FileRoots::Only(vec![dir.clone()]);

    let entries = call(&context, "listFiles", arg(&dir));
    for link in ["to-secret", "to-outside", "to-inner"] {
        let entry = entry_named(&entries, link);
        assert_eq!(
            (entry["type"].clone(), entry["size"].clone(), entry["is_dir"].clone()),
            (Value::from("link"), Value::I64(0), Value::Bool(false)),
            "{link}"
        );
    }
    let text = format!("{entries:?}");
    assert!(!text.contains("4321") && !text.contains("secret.txt"), "the target shows through: {text}");

    // Through a link that leads out: refused, and nothing of the outside is listed.
    let error = call_err(&context, "listFiles", arg(&dir.join("to-outside")));
    assert!(error.starts_with("path not allowed: ") && error.contains("leads outside"), "{error}");
    let error = call_err(&context, "listFiles", arg(&dir.join("to-outside").join("deeper")));
    assert!(error.starts_with("path not allowed: "), "{error}");
    // Through a link that stays inside: listed.
    let inner = call(&context, "listFiles", arg(&dir.join("to-inner")));
    assert_eq!(entry_named(&inner, "x.log")["size"], Value::I64(3));

    // The root itself reached through a link: the link's target must lie inside the roots too.
    std::os::unix::fs::symlink(&dir, outside.join("to-root")).unwrap();
    let mut via_link = context;
    via_link.file_roots = FileRoots::Only(vec![outside.join("to-root")]);
    let listed = call(&via_link, "listFiles", arg(&outside.join("to-root").join("to-inner")));
    assert_eq!(entry_named(&listed, "x.log")["type"], Value::from("file"));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

#[test]
fn list_files_is_not_allowed_until_roots_are_configured() {
    let context = context(); // as `for_this_host`: the default
    for params in [Value::Null, arg(&std::env::temp_dir())] {
        let error = call_err(&context, "listFiles", params);
        assert!(error.starts_with("listFiles is not allowed on this sentry"), "{error}");
        assert!(error.contains("commands.list_files_roots"), "{error}");
    }
    let mut empty = CommandContext::for_this_host();
    empty.file_roots = FileRoots::from_settings(true, Some(&[]));
    assert!(call_err(&empty, "listFiles", Value::Null).starts_with("listFiles is not allowed"));
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
