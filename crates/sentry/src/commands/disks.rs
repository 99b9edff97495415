//! `getDiskPartitions`: total and free bytes of every volume, keyed by its root path.
//!
//! Every volume the host reports (fixed, removable with media, network) is listed, keyed by
//! root (`C:\`, `/`, `/home`); with no volume at all the reply is an empty map (BUG-38).
//! `free` is free bytes, as the original, not the bytes available to the caller.

use kraken_codec::{Map, Value, map};
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{Args, CommandError, Method, host_error};

pub const METHODS: &[Method] =
    &[Method { name: sentry_method::GET_DISK_PARTITIONS, params: &[], handler: get_disk_partitions }];

fn get_disk_partitions(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let volumes = context.host.volumes().map_err(host_error)?;
    let mut partitions = Map::with_capacity(volumes.len());
    for volume in volumes {
        let bytes = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        partitions.insert(
            volume.root.as_str(),
            map! { "total" => bytes(volume.total), "free" => bytes(volume.free) },
        );
    }
    Ok(Value::Map(partitions))
}
