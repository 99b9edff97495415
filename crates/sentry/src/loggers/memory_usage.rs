//! `memory-usage`: physical and virtual memory, free and total, in KB as the seed says.
//!
//! "Virtual" is the system commit limit and available commit on Windows (page file included),
//! and swap on Linux: never the agent's own address space (BUG-37). The field names are the
//! seed's on both systems (the Linux original sent `swapfree`/`swaptotal`, swapped).

use std::collections::BTreeMap;
use std::sync::Arc;

use kraken_codec::{Map, Value};
use sentry_host::{HostFacts, MemoryStatus};

use super::factory::{FactoryContext, Localized, LoggerFactory};
use super::factory::{LoggerRun, RunOutput};
use crate::store::OptionValue;
use sentry_protocol::record::params;

pub struct MemoryUsageFactory;

impl LoggerFactory for MemoryUsageFactory {
    fn performance(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "memory-usage"
    }
    fn display_names(&self) -> Localized {
        &[("en", "Memory Usage Logger"), ("ko", "메모리 사용량 로거")]
    }
    fn descriptions(&self) -> Localized {
        &[("en", "Check Memory Usage"), ("ko", "메모리 사용량 점검")]
    }
    fn create(
        &self,
        context: &FactoryContext,
        _: &str,
        _: &BTreeMap<String, OptionValue>,
    ) -> Box<dyn LoggerRun> {
        Box::new(MemoryUsage { host: context.host.clone() })
    }
}

struct MemoryUsage {
    host: Arc<dyn HostFacts>,
}

impl LoggerRun for MemoryUsage {
    fn run_once(&mut self) -> Result<RunOutput, String> {
        let memory = self.host.memory().map_err(|e| e.to_string())?;
        Ok(vec![memory_record(&memory)].into())
    }
}

/// The seed's record: `pfree`, `ptotal`, `vfree`, `vtotal` (i64, KB).
pub fn memory_record(memory: &MemoryStatus) -> Map {
    let kb = |bytes: u64| i64::try_from(bytes / 1024).unwrap_or(i64::MAX);
    let (pfree, ptotal) = (kb(memory.physical_free), kb(memory.physical_total));
    let (vfree, vtotal) = (kb(memory.virtual_free), kb(memory.virtual_total));
    params(
        "system",
        format!("memory usage: physical {pfree}/{ptotal}, virtual {vfree}/{vtotal}"),
        [
            ("pfree", Value::I64(pfree)),
            ("ptotal", Value::I64(ptotal)),
            ("vfree", Value::I64(vfree)),
            ("vtotal", Value::I64(vtotal)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kilobytes_of_the_right_kind() {
        let record = memory_record(&MemoryStatus {
            physical_total: 8 << 30,
            physical_free: 3 << 30,
            virtual_total: 2 << 30,
            virtual_free: 1 << 30,
        });
        assert_eq!(record["ptotal"], Value::I64(8 * 1024 * 1024));
        assert_eq!(record["pfree"], Value::I64(3 * 1024 * 1024));
        assert_eq!(record["vtotal"], Value::I64(2 * 1024 * 1024));
        assert_eq!(record["vfree"], Value::I64(1024 * 1024));
        assert_eq!(
            record["msg"],
            Value::from("memory usage: physical 3145728/8388608, virtual 1048576/2097152")
        );
    }
}
