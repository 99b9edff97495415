//! Physical memory and swap from `/proc/meminfo`.

use procfs::{Current, Meminfo};

use crate::{HostError, HostResult, MemoryStatus};

pub(crate) fn status() -> HostResult<MemoryStatus> {
    let info = Meminfo::current().map_err(|e| HostError::malformed("memory", e.to_string()))?;
    Ok(MemoryStatus {
        physical_total: info.mem_total,
        // MemAvailable exists since Linux 3.14; before it, free memory is the best estimate.
        physical_free: info.mem_available.unwrap_or(info.mem_free),
        virtual_total: info.swap_total,
        virtual_free: info.swap_free,
    })
}
