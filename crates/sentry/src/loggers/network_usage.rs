//! `network-usage`: per-device traffic deltas between runs, and a total record every run.
//!
//! Each run reads every interface's cumulative counters (`GetIfTable2` on Windows, rtnetlink
//! on Linux) and subtracts the previous run's, so `*_delta` fields are true deltas over the
//! interval measured on the monotonic clock (BUG-32). State is keyed by interface identity
//! (LUID on Windows, name on Linux), never by position (BUG-34); an interface seen for the
//! first time only sets its baseline (the first run of all sends only the total record, with no
//! device yet). Frames per second are packets per second (no ×8, BUG-31);
//! a link of unknown or zero speed has 0 % usage instead of breaking the total (BUG-33). Only
//! interfaces with a 6-byte hardware address are reported, as the original.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kraken_codec::{Map, Value};
use sentry_host::{HostFacts, Interface, InterfaceCounters};

use super::factory::{FactoryContext, Localized, LoggerFactory};
use super::factory::{LoggerRun, RunOutput};
use crate::host_text;
use crate::store::OptionValue;
use sentry_protocol::record::params;

pub struct NetworkUsageFactory;

impl LoggerFactory for NetworkUsageFactory {
    fn performance(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "network-usage"
    }
    fn display_names(&self) -> Localized {
        &[("en", "Network Usage Logger"), ("ko", "네트워크 사용량 로거")]
    }
    fn descriptions(&self) -> Localized {
        &[("en", "Check Network Usage"), ("ko", "네트워크 사용량 점검")]
    }
    fn create(
        &self,
        context: &FactoryContext,
        _: &str,
        _: &BTreeMap<String, OptionValue>,
    ) -> Box<dyn LoggerRun> {
        Box::new(NetworkUsage { host: context.host.clone(), previous: HashMap::new(), last_run: None })
    }
}

struct NetworkUsage {
    host: Arc<dyn HostFacts>,
    previous: HashMap<String, InterfaceCounters>,
    last_run: Option<Instant>,
}

impl LoggerRun for NetworkUsage {
    fn run_once(&mut self) -> Result<RunOutput, String> {
        let interfaces = self.host.interfaces().map_err(|e| e.to_string())?;
        let now = Instant::now();
        let elapsed = self.last_run.replace(now).map(|then| now - then);
        let mut records = Vec::new();
        let mut current = HashMap::with_capacity(interfaces.len());
        for nic in interfaces.iter().filter(|nic| nic.mac.len() == 6) {
            if let (Some(elapsed), Some(before)) = (elapsed, self.previous.get(&nic.id)) {
                records.push(device_record(nic, before, elapsed));
            }
            current.insert(nic.id.clone(), nic.counters);
        }
        self.previous = current;
        // The total comes every run; on the baseline run it has no device yet (`-`, 0 %).
        let total = total_record(&records);
        records.push(total);
        Ok(records.into())
    }
}

/// A counter's growth; a counter that went backwards was reset (interface re-created), so its
/// current value is the growth since then.
fn delta(now: u64, before: u64) -> i64 {
    i64::try_from(now.checked_sub(before).unwrap_or(now)).unwrap_or(i64::MAX)
}

/// One device record over `elapsed`.
pub fn device_record(nic: &Interface, before: &InterfaceCounters, elapsed: Duration) -> Map {
    let c = &nic.counters;
    let rx_bytes = delta(c.rx_bytes, before.rx_bytes);
    let tx_bytes = delta(c.tx_bytes, before.tx_bytes);
    let rx_ucast = delta(c.rx_unicast_packets, before.rx_unicast_packets);
    let tx_ucast = delta(c.tx_unicast_packets, before.tx_unicast_packets);
    let rx_nucast = delta(c.rx_non_unicast_packets, before.rx_non_unicast_packets);
    let tx_nucast = delta(c.tx_non_unicast_packets, before.tx_non_unicast_packets);
    let bandwidth = nic.speed_bps.map_or(0, |b| i64::try_from(b).unwrap_or(i64::MAX));
    let seconds = elapsed.as_secs_f64();
    let per_second = |n: i64| if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
    let (rx_bps, tx_bps) = (per_second(rx_bytes) * 8.0, per_second(tx_bytes) * 8.0);
    let (rx_fps, tx_fps) = (per_second(rx_ucast + rx_nucast), per_second(tx_ucast + tx_nucast));
    let mac = host_text::mac(&nic.mac);
    let msg = format!(
        "network usage: {} ({mac}), RX[{}%, {}, {}], TX[{}%, {}, {}]",
        nic.description,
        usage_percent(rx_bps, bandwidth),
        with_unit(rx_bps, "bps"),
        with_unit(rx_fps, "fps"),
        usage_percent(tx_bps, bandwidth),
        with_unit(tx_bps, "bps"),
        with_unit(tx_fps, "fps"),
    );
    params(
        "device",
        msg,
        [
            ("scope", Value::from("device")),
            ("interval", Value::I64(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))),
            ("index", Value::I32(i32::try_from(nic.index).unwrap_or(i32::MAX))),
            ("type", Value::I32(i32::try_from(nic.if_type).unwrap_or(i32::MAX))),
            ("description", Value::from(nic.description.as_str())),
            ("mtu", Value::I32(i32::try_from(nic.mtu).unwrap_or(i32::MAX))),
            ("mac", Value::from(mac)),
            ("bandwidth", Value::I64(bandwidth)),
            ("rx_bytes_delta", Value::I64(rx_bytes)),
            ("tx_bytes_delta", Value::I64(tx_bytes)),
            ("rx_ucast_pkts_delta", Value::I64(rx_ucast)),
            ("tx_ucast_pkts_delta", Value::I64(tx_ucast)),
            ("rx_nucast_pkts_delta", Value::I64(rx_nucast)),
            ("tx_nucast_pkts_delta", Value::I64(tx_nucast)),
            ("rx_errors_delta", Value::I64(delta(c.rx_errors, before.rx_errors))),
            ("tx_errors_delta", Value::I64(delta(c.tx_errors, before.tx_errors))),
            ("rx_discards_delta", Value::I64(delta(c.rx_discards, before.rx_discards))),
            ("tx_discards_delta", Value::I64(delta(c.tx_discards, before.tx_discards))),
        ],
    )
}

/// Percent of the link's bandwidth; 0 when the speed is unknown (BUG-33).
fn usage_percent(bits_per_second: f64, bandwidth: i64) -> i32 {
    if bandwidth <= 0 {
        0
    } else {
        (bits_per_second * 100.0 / bandwidth as f64).floor().min(i32::MAX as f64) as i32
    }
}

/// The original's unit text: divided by 1000 while above 1000, up to G (`12Kbps`, `999fps`).
fn with_unit(value: f64, suffix: &str) -> String {
    let mut value = value.max(0.0).floor() as u64;
    let mut prefix = "";
    for next in ["K", "M", "G"] {
        if value <= 1000 {
            break;
        }
        value /= 1000;
        prefix = next;
    }
    format!("{value}{prefix}{suffix}")
}

/// The total record: the device with the highest rx or tx usage (the later one on a tie), or
/// `-` when there is no device.
pub fn total_record(devices: &[Map]) -> Map {
    let usage = |record: &Map| {
        let get = |key: &str| record.get(key).and_then(Value::as_i64).unwrap_or(0);
        let seconds = get("interval") as f64 / 1000.0;
        let bps = |bytes: i64| if seconds > 0.0 { bytes as f64 * 8.0 / seconds } else { 0.0 };
        let bandwidth = get("bandwidth");
        usage_percent(bps(get("rx_bytes_delta")), bandwidth)
            .max(usage_percent(bps(get("tx_bytes_delta")), bandwidth))
    };
    let mut best: Option<(&Map, i32)> = None;
    for record in devices {
        let this = usage(record);
        if best.is_none_or(|(_, max)| this >= max) {
            best = Some((record, this));
        }
    }
    let text = |record: &Map, key: &str| record.get(key).and_then(Value::as_str).unwrap_or("-").to_owned();
    let (description, mac, max_usage) = match best {
        Some((record, max)) => (text(record, "description"), text(record, "mac"), max),
        None => ("-".to_owned(), "-".to_owned(), 0),
    };
    params(
        "total",
        format!("network usage: max network usage [{description} ({mac}) - {max_usage}%]"),
        [
            ("scope", Value::from("total")),
            ("max_usage", Value::I32(max_usage)),
            ("description", Value::from(description)),
            ("mac", Value::from(mac)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_host::OperStatus;

    fn nic(id: &str, speed: Option<u64>, counters: InterfaceCounters) -> Interface {
        Interface {
            id: id.into(),
            index: 3,
            name: id.into(),
            description: format!("{id} adapter"),
            if_type: 6,
            mtu: 1500,
            mac: vec![2, 0, 0, 0, 0, 1],
            speed_bps: speed,
            oper_status: OperStatus::Up,
            ipv4: vec![],
            ipv6: vec![],
            counters,
        }
    }

    fn counters(rx_bytes: u64, tx_bytes: u64, rx_packets: u64) -> InterfaceCounters {
        InterfaceCounters {
            rx_bytes,
            tx_bytes,
            rx_unicast_packets: rx_packets,
            rx_errors: 2,
            ..Default::default()
        }
    }

    #[test]
    fn deltas_are_true_deltas_and_fps_is_packets_per_second() {
        let before = counters(1_000, 500, 10);
        let now = nic("eth0", Some(1_000_000), counters(126_000, 500, 110));
        let record = device_record(&now, &before, Duration::from_secs(10));
        assert_eq!(record["rx_bytes_delta"], Value::I64(125_000));
        assert_eq!(record["tx_bytes_delta"], Value::I64(0));
        assert_eq!(record["rx_ucast_pkts_delta"], Value::I64(100));
        assert_eq!(record["rx_errors_delta"], Value::I64(0), "errors are deltas from the first run on");
        assert_eq!(record["interval"], Value::I64(10_000));
        assert_eq!(record["bandwidth"], Value::I64(1_000_000));
        assert_eq!((record["type"].clone(), record["mtu"].clone()), (Value::I32(6), Value::I32(1500)));
        // 125,000 bytes in 10 s = 100 kbit/s = 10 % of 1 Mbit/s; 100 packets in 10 s = 10 fps.
        assert_eq!(
            record["msg"],
            Value::from(
                "network usage: eth0 adapter (02:00:00:00:00:01), RX[10%, 100Kbps, 10fps], TX[0%, 0bps, 0fps]"
            )
        );
    }

    #[test]
    fn a_reset_counter_counts_from_zero() {
        let record = device_record(
            &nic("eth0", None, counters(300, 0, 0)),
            &counters(5_000, 0, 0),
            Duration::from_secs(1),
        );
        assert_eq!(record["rx_bytes_delta"], Value::I64(300));
    }

    #[test]
    fn the_total_picks_the_busiest_device_and_survives_zero_bandwidth() {
        let slow = device_record(
            &nic("wan", Some(1_000_000), counters(62_500, 0, 0)),
            &counters(0, 0, 0),
            Duration::from_secs(1),
        );
        let unknown = device_record(
            &nic("tun", None, counters(9_999_999, 0, 0)),
            &counters(0, 0, 0),
            Duration::from_secs(1),
        );
        let total = total_record(&[slow, unknown]);
        assert_eq!(total["max_usage"], Value::I32(50));
        assert_eq!(total["description"], Value::from("wan adapter"));
        assert_eq!(
            total["msg"],
            Value::from("network usage: max network usage [wan adapter (02:00:00:00:00:01) - 50%]")
        );
        let empty = total_record(&[]);
        assert_eq!(
            (empty["description"].clone(), empty["max_usage"].clone()),
            (Value::from("-"), Value::I32(0))
        );
    }

    #[test]
    fn units_follow_the_original() {
        assert_eq!(with_unit(999.0, "bps"), "999bps");
        assert_eq!(with_unit(1000.0, "bps"), "1000bps");
        assert_eq!(with_unit(12_345.0, "bps"), "12Kbps");
        assert_eq!(with_unit(3_000_001.0, "fps"), "3Mfps");
        assert_eq!(with_unit(5e12, "bps"), "5000Gbps");
    }
}
