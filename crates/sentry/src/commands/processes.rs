//! `getProcesses`: every process with pid, name, CPU percent and working set.
//!
//! CPU percent is of the whole machine, from two snapshots a sampling window apart (default
//! 100 ms). Unlike the original, every pid is listed (BUG-23), and `cpu_usage` is always an
//! integer: 0 for a process that started inside the window or whose times cannot be read.

use kraken_codec::{Value, map};
use sentry_host::sampling::{ProcessUsage, sample_processes};
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{Args, CommandError, Method, host_error};

pub const METHODS: &[Method] =
    &[Method { name: sentry_method::GET_PROCESSES, params: &[], handler: get_processes }];

fn get_processes(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let usage = sample_processes(context.host.as_ref(), context.sampling_window).map_err(host_error)?;
    Ok(usage.iter().map(process_record).collect())
}

/// The seed's process map: `pid` i32, `name` str, `cpu_usage` i32, `working_set` i64.
pub fn process_record(usage: &ProcessUsage) -> Value {
    let process = &usage.process;
    map! {
        "pid" => i32::try_from(process.pid).unwrap_or(i32::MAX),
        "name" => process.name.as_str(),
        "cpu_usage" => usage.cpu_percent.map_or(0, |p| p.round() as i32),
        "working_set" => process.working_set.map_or(0, |w| i64::try_from(w).unwrap_or(i64::MAX)),
    }
}
