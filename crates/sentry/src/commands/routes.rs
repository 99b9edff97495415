//! `getRoutingTable` (IPv4, the seed's method) and `getRoutingTable6` (IPv6, an addition).

use kraken_codec::{Value, map};
use sentry_host::Route;
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{Args, CommandError, Method, host_error};
use crate::host_text;

pub const METHODS: &[Method] = &[
    Method { name: sentry_method::GET_ROUTING_TABLE, params: &[], handler: get_routing_table },
    Method { name: sentry_method::GET_ROUTING_TABLE6, params: &[], handler: get_routing_table6 },
];

fn get_routing_table(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    routes(context, false)
}

fn get_routing_table6(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    routes(context, true)
}

fn routes(context: &CommandContext, ipv6: bool) -> Result<Value, CommandError> {
    let all = context.host.routes().map_err(host_error)?;
    Ok(all.iter().filter(|r| r.destination.is_ipv6() == ipv6).map(route_record).collect())
}

/// The seed's route map: `type`, `protocol`, `destination`, `mask`, `forward` (next hop),
/// `metric` (i32).
pub fn route_record(route: &Route) -> Value {
    map! {
        "type" => host_text::route_kind(route.kind),
        "protocol" => host_text::route_protocol(route.protocol),
        "destination" => host_text::ip(&route.destination),
        "mask" => host_text::mask(&route.destination, route.prefix_len),
        "forward" => host_text::ip(&route.next_hop),
        "metric" => i32::try_from(route.metric).unwrap_or(i32::MAX),
    }
}
