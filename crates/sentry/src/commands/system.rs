//! `getHostName`, `getSystemInfo` and `getDate`.
//!
//! `getSystemInfo` keeps the original's `os.*`, `user.*` and `host.name` keys and replaces the
//! JVM's `java.*` keys with `agent.name` and `agent.version`.

use std::time::SystemTime;

use kraken_codec::{Map, Value};
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{Args, CommandError, Method, host_error};

pub const METHODS: &[Method] = &[
    Method { name: sentry_method::GET_HOST_NAME, params: &[], handler: get_host_name },
    Method { name: sentry_method::GET_SYSTEM_INFO, params: &[], handler: get_system_info },
    Method { name: sentry_method::GET_DATE, params: &[], handler: get_date },
];

fn get_host_name(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let name = context.host.host_name().map_err(|_| CommandError::failed("hostname not found"))?;
    Ok(Value::from(name))
}

fn get_system_info(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let os = context.host.os_info().map_err(host_error)?;
    let host_name = context.host.host_name().unwrap_or_default();
    let mut info = Map::with_capacity(8);
    info.insert("agent.name", Value::from("kraken-sentry"));
    info.insert("agent.version", Value::from(env!("CARGO_PKG_VERSION")));
    info.insert("os.name", Value::from(os.name));
    info.insert("os.arch", Value::from(os.arch));
    info.insert("os.version", Value::from(os.version));
    info.insert("user.dir", Value::from(current_dir()));
    info.insert("user.home", Value::from(home_dir()));
    info.insert("host.name", Value::from(host_name));
    Ok(Value::Map(info))
}

fn get_date(_: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    Ok(Value::from(SystemTime::now()))
}

fn current_dir() -> String {
    std::env::current_dir().map(|dir| dir.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The user's home: `USERPROFILE` on Windows, `HOME` elsewhere (empty when unset, as for a
/// service account without one).
fn home_dir() -> String {
    let variable = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var(variable).unwrap_or_default()
}
