//! Agent footprint against collectd, measured side by side in the same run (Linux only).
//!
//! Runs `kraken-sentry run` with its four default loggers (cpu, memory, network, disk) at a
//! 1 s interval, records to a file, and `collectd` (Debian `collectd-core`, a C metrics daemon)
//! with its cpu, memory, interface and df plugins at the same 1 s interval writing CSV files,
//! both for the same 60 s. Then reads from `/proc`: peak RSS (`VmHWM`) and CPU time (user +
//! system, whole process) of each, and prints CPU as % of one core over the window, with the
//! ratios (ours / collectd). RSS is also split into anonymous (the process's own memory) and
//! file-backed (its executable and shared libraries), because the second dominates a
//! statically linked binary: a page fault maps the cached pages around it too (fault-around,
//! 64 KiB here), and start-up touches code all over the text, so nearly the whole text segment
//! counts as resident. Goals: peak RSS under 15 MB, CPU under 1 % of one core, and neither
//! above collectd's.
//!
//! Needs collectd: `bash scripts/setup-debian.sh --bench`. `KRAKEN_FOOTPRINT_AGENT=<path>`
//! measures another build of the agent (another profile, say) in place of this one's; a
//! relative path is taken from the workspace root.
//! Run: `cargo bench -p sentry --bench footprint` (`-- --quick` for 15 s).

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AGENT: &str = env!("CARGO_BIN_EXE_kraken-sentry");
const COLLECTD: &str = "/usr/sbin/collectd";

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("footprint: this benchmark reads /proc and runs on Linux only");
}

#[cfg(target_os = "linux")]
fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let window = Duration::from_secs(if quick { 15 } else { 60 });
    if !Path::new(COLLECTD).exists() {
        eprintln!("footprint: {COLLECTD} not found; install it with `bash scripts/setup-debian.sh --bench`");
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join(format!("kraken-footprint-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();

    let mut agent = start_agent(&dir);
    let mut collectd = start_collectd(&dir);
    // Let both start up before the window opens; the peak RSS covers start-up too.
    std::thread::sleep(Duration::from_secs(2));
    let (agent_start, collectd_start) = (cpu_ticks(agent.id()), cpu_ticks(collectd.id()));
    let opened = Instant::now();
    std::thread::sleep(window);
    let elapsed = opened.elapsed();
    let (agent_end, collectd_end) = (cpu_ticks(agent.id()), cpu_ticks(collectd.id()));
    let (agent_rss, collectd_rss) = (peak_rss_kb(agent.id()), peak_rss_kb(collectd.id()));
    let (agent_split, collectd_split) = (rss_split_kb(agent.id()), rss_split_kb(collectd.id()));
    stop(&mut agent);
    stop(&mut collectd);

    let records = fs::read_to_string(dir.join("records.jsonl")).map(|t| t.lines().count()).unwrap_or(0);
    let csv_files = count_files(&dir.join("csv"));
    let ticks = procfs_ticks_per_second() as f64;
    let percent = |start: u64, end: u64| (end - start) as f64 / ticks / elapsed.as_secs_f64() * 100.0;
    let (agent_cpu, collectd_cpu) = (percent(agent_start, agent_end), percent(collectd_start, collectd_end));
    println!(
        "window: {:.1} s, interval 1 s; kraken-sentry wrote {records} records, collectd {csv_files} CSV files",
        elapsed.as_secs_f64()
    );
    println!("                 peak RSS   CPU (% of one core)   RSS now: anonymous + file-backed");
    for (name, rss, cpu, (anon, file)) in [
        ("kraken-sentry", agent_rss, agent_cpu, agent_split),
        ("collectd", collectd_rss, collectd_cpu, collectd_split),
    ] {
        println!(
            "  {name:<13}  {:>5.1} MB   {cpu:>6.2} %              {:.1} MB + {:.1} MB",
            rss as f64 / 1024.0,
            anon as f64 / 1024.0,
            file as f64 / 1024.0
        );
    }
    println!("ratios (kraken-sentry / collectd; goal <= 1.0):");
    println!("  peak RSS  {:.2}", agent_rss as f64 / collectd_rss as f64);
    println!("  CPU       {:.2}", if collectd_cpu > 0.0 { agent_cpu / collectd_cpu } else { f64::NAN });
    println!("goals: RSS < 15 MB: {}; CPU < 1 %: {}", agent_rss < 15 * 1024, agent_cpu < 1.0);
    assert!(records > 0, "the agent wrote no records");
    let _ = fs::remove_dir_all(&dir);
}

fn start_agent(dir: &Path) -> Child {
    let config = dir.join("sentry.toml");
    let text = format!(
        "data_dir = {:?}\n[loggers]\ndefault_interval_ms = 1000\n[output]\npath = {:?}\n",
        dir.join("data").to_string_lossy(),
        dir.join("records.jsonl").to_string_lossy()
    );
    fs::write(&config, text).unwrap();
    Command::new(agent_binary())
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kraken-sentry starts")
}

/// The agent to measure: this build's, or `KRAKEN_FOOTPRINT_AGENT` (relative to the workspace
/// root, where the README's commands run).
fn agent_binary() -> PathBuf {
    let Some(path) = std::env::var_os("KRAKEN_FOOTPRINT_AGENT").map(PathBuf::from) else {
        return AGENT.into();
    };
    if path.is_absolute() { path } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path) }
}

fn start_collectd(dir: &Path) -> Child {
    let config = dir.join("collectd.conf");
    let text = format!(
        "Interval 1\nBaseDir {base:?}\nPIDFile {pid:?}\nPluginDir \"/usr/lib/collectd\"\n\
         TypesDB \"/usr/share/collectd/types.db\"\nFQDNLookup false\n\
         LoadPlugin cpu\nLoadPlugin memory\nLoadPlugin interface\nLoadPlugin df\nLoadPlugin csv\n\
         <Plugin csv>\n  DataDir {csv:?}\n  StoreRates true\n</Plugin>\n",
        base = dir.to_string_lossy(),
        pid = dir.join("collectd.pid").to_string_lossy(),
        csv = dir.join("csv").to_string_lossy(),
    );
    fs::write(&config, text).unwrap();
    Command::new(COLLECTD)
        .args(["-f", "-C"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("collectd starts")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// utime + stime of a whole process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("process alive");
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of stat are utime and stime; `after_name` starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// VmHWM (peak resident set) in KB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("process alive");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

/// (RssAnon, RssFile) in KB: private memory, and pages of the executable and libraries.
fn rss_split_kb(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("process alive");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

fn procfs_ticks_per_second() -> u64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(100)
}

fn count_files(dir: &PathBuf) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum()
}
