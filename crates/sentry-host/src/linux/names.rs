//! Interface index → name, from `/sys/class/net/<name>/ifindex`.
//!
//! Neighbour and route rows carry only an interface index; this gives them the device name.

use std::collections::HashMap;
use std::fs;

/// Every interface of this network namespace, by index. Unreadable entries are skipped.
pub(super) fn interface_names() -> HashMap<u32, String> {
    let Ok(entries) = fs::read_dir("/sys/class/net") else { return HashMap::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let index = fs::read_to_string(entry.path().join("ifindex")).ok()?.trim().parse().ok()?;
            Some((index, name))
        })
        .collect()
}
