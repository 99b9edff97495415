//! IPv4 and IPv6 routes of the main table, from an rtnetlink `RTM_GETROUTE` dump (as `ip route`).
//!
//! Only the main table (254) is listed, which is what `ip route` and `/proc/net/route` show;
//! the kernel's local and broadcast routes live in the local table and are left out. Cached
//! IPv6 clones are left out too. A multipath route gives one row per next hop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol as NlProtocol,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{names::interface_names, netlink};
use crate::{HostResult, Route, RouteKind, RouteProtocol};

pub(crate) fn list() -> HostResult<Vec<Route>> {
    let replies = netlink::dump("routes", RouteNetlinkMessage::GetRoute(RouteMessage::default()))?;
    let names = interface_names();
    let mut routes = Vec::new();
    for reply in replies {
        if let RouteNetlinkMessage::NewRoute(message) = reply {
            routes.extend(from_message(&message));
        }
    }
    for route in &mut routes {
        route.interface_name = names.get(&route.interface_index).cloned();
    }
    Ok(routes)
}

/// Converts one route message into a row per next hop; empty for routes `ip route` hides.
fn from_message(message: &RouteMessage) -> Vec<Route> {
    let header = &message.header;
    let unspecified = match header.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return Vec::new(),
    };
    let mut table = u32::from(header.table);
    let mut destination = unspecified;
    let mut gateway = None;
    let mut interface_index = 0;
    let mut metric = 0;
    let mut hops = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(address) => destination = ip(address).unwrap_or(unspecified),
            RouteAttribute::Gateway(address) => gateway = ip(address),
            RouteAttribute::Oif(index) => interface_index = *index,
            RouteAttribute::Priority(priority) => metric = *priority,
            RouteAttribute::MultiPath(next_hops) => {
                for hop in next_hops {
                    let hop_gateway = hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(address) => ip(address),
                        _ => None,
                    });
                    hops.push((hop.interface_index, hop_gateway));
                }
            }
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || header.flags.contains(RouteFlags::Cloned) {
        return Vec::new();
    }
    if hops.is_empty() {
        hops.push((interface_index, gateway));
    }
    hops.into_iter()
        .map(|(interface_index, gateway)| Route {
            destination,
            prefix_len: header.destination_prefix_length,
            next_hop: gateway.unwrap_or(unspecified),
            interface_index,
            interface_name: None,
            metric,
            kind: kind(header.kind, gateway.is_some()),
            protocol: protocol(header.protocol),
        })
        .collect()
}

fn ip(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// RFC 1354 route type: a gateway makes it indirect; unreachable kinds are invalid.
fn kind(route_type: RouteType, has_gateway: bool) -> RouteKind {
    match route_type {
        RouteType::Unicast
        | RouteType::Local
        | RouteType::Broadcast
        | RouteType::Anycast
        | RouteType::Multicast => {
            if has_gateway {
                RouteKind::Indirect
            } else {
                RouteKind::Direct
            }
        }
        RouteType::BlackHole | RouteType::Unreachable | RouteType::Prohibit => RouteKind::Invalid,
        _ => RouteKind::Other,
    }
}

/// Linux route protocols in the seed's (Windows') vocabulary.
fn protocol(protocol: NlProtocol) -> RouteProtocol {
    match protocol {
        NlProtocol::Kernel => RouteProtocol::Local,
        NlProtocol::Boot | NlProtocol::Dhcp => RouteProtocol::NetMgmt,
        NlProtocol::Static => RouteProtocol::Static,
        NlProtocol::IcmpRedirect | NlProtocol::Ra => RouteProtocol::Icmp,
        NlProtocol::Rip => RouteProtocol::Rip,
        NlProtocol::Ospf => RouteProtocol::Ospf,
        NlProtocol::Bgp => RouteProtocol::Bgp,
        NlProtocol::Isis => RouteProtocol::IsIs,
        NlProtocol::Eigrp => RouteProtocol::Igrp,
        _ => RouteProtocol::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_protocols_use_the_seed_vocabulary() {
        assert_eq!(kind(RouteType::Unicast, true), RouteKind::Indirect);
        assert_eq!(kind(RouteType::Unicast, false), RouteKind::Direct);
        assert_eq!(kind(RouteType::Unreachable, false), RouteKind::Invalid);
        assert_eq!(kind(RouteType::Throw, false), RouteKind::Other);
        assert_eq!(protocol(NlProtocol::Kernel), RouteProtocol::Local);
        assert_eq!(protocol(NlProtocol::Boot), RouteProtocol::NetMgmt);
        assert_eq!(protocol(NlProtocol::Static), RouteProtocol::Static);
        assert_eq!(protocol(NlProtocol::Ra), RouteProtocol::Icmp);
        assert_eq!(protocol(NlProtocol::Babel), RouteProtocol::Other);
    }
}
