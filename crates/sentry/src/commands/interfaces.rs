//! `getNetworkInterfaces`: interfaces with a 6-byte hardware address, with their first IPv4
//! and first IPv6 address (each of its own family, BUG-19) and MTU.

use kraken_codec::{Value, map};
use sentry_host::Interface;
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{Args, CommandError, Method, host_error};
use crate::host_text;

pub const METHODS: &[Method] =
    &[Method { name: sentry_method::GET_NETWORK_INTERFACES, params: &[], handler: get_network_interfaces }];

fn get_network_interfaces(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let interfaces = context.host.interfaces().map_err(host_error)?;
    Ok(interfaces.iter().filter(|nic| nic.mac.len() == 6).map(interface_record).collect())
}

/// The original's map: `display_name`, `name`, `mac`, `ip` (str|null), `ip6` (str|null), `mtu`.
pub fn interface_record(nic: &Interface) -> Value {
    map! {
        "display_name" => nic.description.as_str(),
        "name" => nic.name.as_str(),
        "mac" => host_text::mac(&nic.mac),
        "ip" => nic.ipv4.first().map(|ip| ip.to_string()),
        "ip6" => nic.ipv6.first().map(|ip| ip.to_string()),
        "mtu" => i32::try_from(nic.mtu).unwrap_or(i32::MAX),
    }
}
