//! `getArpCache` (IPv4, the seed's method) and `getArpCache6` (IPv6 neighbours, an addition).

use kraken_codec::{Value, map};
use sentry_host::Neighbour;
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{Args, CommandError, Method, host_error};
use crate::host_text;

pub const METHODS: &[Method] = &[
    Method { name: sentry_method::GET_ARP_CACHE, params: &[], handler: get_arp_cache },
    Method { name: sentry_method::GET_ARP_CACHE6, params: &[], handler: get_arp_cache6 },
];

fn get_arp_cache(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    neighbours(context, false)
}

fn get_arp_cache6(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    neighbours(context, true)
}

fn neighbours(context: &CommandContext, ipv6: bool) -> Result<Value, CommandError> {
    let all = context.host.neighbours().map_err(host_error)?;
    Ok(all.iter().filter(|n| n.ip.is_ipv6() == ipv6).map(neighbour_record).collect())
}

/// The seed's ARP map: `adapter`, `type`, `mac`, `ip`, all strings.
pub fn neighbour_record(neighbour: &Neighbour) -> Value {
    map! {
        "adapter" => neighbour.adapter.as_deref().unwrap_or_default(),
        "type" => host_text::neighbour_kind(neighbour.kind),
        "mac" => host_text::mac(&neighbour.mac),
        "ip" => host_text::ip(&neighbour.ip),
    }
}
