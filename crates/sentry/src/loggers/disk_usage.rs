//! `disk-usage`: a record per fixed volume (and per mounted removable one), then a total.
//!
//! Volumes come from `GetLogicalDriveStringsW` on Windows and mountinfo on Linux (every real
//! mount point, not only `/`); empty drives and network shares are not probed (BUG-38). `free`
//! is the space available to the agent's account (quotas and the root reserve excluded),
//! `used` is total minus all free blocks, and `usage` is `df`'s Use%: used / (used + free),
//! floored. With no volume at all the total record says so instead of failing.

use std::collections::BTreeMap;
use std::sync::Arc;

use kraken_codec::{Map, Value};
use sentry_host::{HostFacts, Volume, VolumeKind};

use super::factory::{FactoryContext, Localized, LoggerFactory};
use super::factory::{LoggerRun, RunOutput};
use crate::store::OptionValue;
use sentry_protocol::record::params;

pub struct DiskUsageFactory;

impl LoggerFactory for DiskUsageFactory {
    fn performance(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "disk-usage"
    }
    fn display_names(&self) -> Localized {
        &[("en", "Disk Usage Logger"), ("ko", "디스크 사용량 로거")]
    }
    fn descriptions(&self) -> Localized {
        &[("en", "Check Disk Usage"), ("ko", "디스크 사용량 점검")]
    }
    fn create(
        &self,
        context: &FactoryContext,
        _: &str,
        _: &BTreeMap<String, OptionValue>,
    ) -> Box<dyn LoggerRun> {
        Box::new(DiskUsage { host: context.host.clone() })
    }
}

struct DiskUsage {
    host: Arc<dyn HostFacts>,
}

impl LoggerRun for DiskUsage {
    fn run_once(&mut self) -> Result<RunOutput, String> {
        let volumes = self.host.volumes().map_err(|e| e.to_string())?;
        Ok(disk_records(&volumes).into())
    }
}

/// Partition records for the local volumes with space, then the total record.
pub fn disk_records(volumes: &[Volume]) -> Vec<Map> {
    let local = volumes.iter().filter(|v| {
        matches!(v.kind, VolumeKind::Fixed | VolumeKind::Removable | VolumeKind::RamDisk) && v.total > 0
    });
    let mut records: Vec<Map> = local.map(partition_record).collect();
    let busiest = records.iter().fold(None::<(&str, i32)>, |best, record| {
        let usage = record.get("usage").and_then(Value::as_i32).unwrap_or(0);
        let name = record.get("partition").and_then(Value::as_str).unwrap_or("-");
        match best {
            Some((_, max)) if usage < max => best,
            _ => Some((name, usage)),
        }
    });
    let (partition, usage) = busiest.map_or(("-".to_owned(), 0), |(p, u)| (p.to_owned(), u));
    let total = params(
        "total",
        format!("disk usage: max partition usage [{partition} ({usage}%)]"),
        [
            ("scope", Value::from("total")),
            ("max_partition", Value::from(partition)),
            ("max_usage", Value::I32(usage)),
        ],
    );
    records.push(total);
    records
}

fn partition_record(volume: &Volume) -> Map {
    let total = volume.total;
    let free = volume.available.min(total);
    let used = total.saturating_sub(volume.free.max(free));
    let usable = u128::from(used) + u128::from(free);
    let usage = (u128::from(used) * 100).checked_div(usable).map_or(0, |p| p as i32);
    let mb = |bytes: u64| bytes / 1_048_576;
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    params(
        "partition",
        format!(
            "disk usage: partition={}, usage={usage}%, free={}MB, total={}MB",
            volume.root,
            mb(free),
            mb(total)
        ),
        [
            ("scope", Value::from("partition")),
            ("partition", Value::from(volume.root.as_str())),
            ("usage", Value::I32(usage)),
            ("free", Value::I64(as_i64(free))),
            ("used", Value::I64(as_i64(used))),
            ("total", Value::I64(as_i64(total))),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(root: &str, kind: VolumeKind, total: u64, available: u64) -> Volume {
        Volume {
            root: root.into(),
            device: None,
            fs_type: "ext4".into(),
            kind,
            total,
            free: available,
            available,
        }
    }

    #[test]
    fn partitions_then_the_busiest_in_the_total() {
        let gb = 1 << 30;
        let records = disk_records(&[
            volume("/", VolumeKind::Fixed, 100 * gb, 25 * gb),
            volume("/mnt/nas", VolumeKind::Network, 100 * gb, gb),
            volume("/home", VolumeKind::Fixed, 10 * gb, 5 * gb),
        ]);
        assert_eq!(records.len(), 3, "the network share is not a local partition");
        assert_eq!(records[0]["usage"], Value::I32(75));
        assert_eq!(records[0]["free"], Value::I64(25 * gb as i64), "free is what the caller may use");
        assert_eq!(records[0]["used"], Value::I64(75 * gb as i64));
        assert_eq!(
            records[0]["msg"],
            Value::from("disk usage: partition=/, usage=75%, free=25600MB, total=102400MB")
        );
        assert_eq!(records[2]["max_partition"], Value::from("/"));
        assert_eq!(records[2]["max_usage"], Value::I32(75));
        assert_eq!(records[2]["msg"], Value::from("disk usage: max partition usage [/ (75%)]"));
    }

    #[test]
    fn usage_is_dfs_use_percent_when_blocks_are_reserved() {
        let gb = 1 << 30;
        // 100 GB, 40 GB free of which 10 GB reserved for root: df shows 60 used, 30 avail, 67%.
        let reserved = Volume { free: 40 * gb, ..volume("/", VolumeKind::Fixed, 100 * gb, 30 * gb) };
        let records = disk_records(&[reserved]);
        assert_eq!(records[0]["used"], Value::I64(60 * gb as i64));
        assert_eq!(records[0]["free"], Value::I64(30 * gb as i64));
        assert_eq!(records[0]["usage"], Value::I32(66));
    }

    #[test]
    fn no_volume_still_gives_a_total() {
        let records = disk_records(&[]);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["max_partition"], Value::from("-"));
        assert_eq!(records[0]["scope"], Value::from("total"));
    }
}
