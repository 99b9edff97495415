//! ARP and IPv6 neighbour caches, from an rtnetlink `RTM_GETNEIGH` dump (as `ip neigh`).
//!
//! One dump covers both families, so IPv4 and IPv6 entries are read the same way. Entries of
//! other families (bridge FDB) and the kernel's `NOARP` placeholders for multicast or loopback
//! are left out, as `ip neigh` leaves them out.

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use std::net::IpAddr;

use super::{names::interface_names, netlink};
use crate::{HostResult, Neighbour, NeighbourKind};

pub(crate) fn list() -> HostResult<Vec<Neighbour>> {
    let replies =
        netlink::dump("neighbours", RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()))?;
    let names = interface_names();
    Ok(replies
        .into_iter()
        .filter_map(|reply| match reply {
            RouteNetlinkMessage::NewNeighbour(message) => from_message(&message),
            _ => None,
        })
        .map(|mut neighbour| {
            neighbour.adapter = names.get(&neighbour.interface_index).cloned();
            neighbour
        })
        .collect())
}

/// Converts one neighbour message; `None` for entries `ip neigh` would not show.
fn from_message(message: &NeighbourMessage) -> Option<Neighbour> {
    let state = message.header.state;
    if matches!(state, NeighbourState::Noarp | NeighbourState::None) {
        return None;
    }
    let mut ip = None;
    let mut mac = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => ip = Some(IpAddr::V4(*v4)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => ip = Some(IpAddr::V6(*v6)),
            NeighbourAttribute::LinkLayerAddress(bytes) => mac.clone_from(bytes),
            _ => {}
        }
    }
    Some(Neighbour {
        interface_index: message.header.ifindex,
        adapter: None,
        ip: ip?,
        mac,
        kind: kind(state),
    })
}

/// The seed's four kinds from a NUD state.
fn kind(state: NeighbourState) -> NeighbourKind {
    match state {
        NeighbourState::Permanent => NeighbourKind::Static,
        NeighbourState::Reachable | NeighbourState::Stale | NeighbourState::Delay | NeighbourState::Probe => {
            NeighbourKind::Dynamic
        }
        NeighbourState::Incomplete | NeighbourState::Failed => NeighbourKind::Invalid,
        _ => NeighbourKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nud_states_map_to_the_seed_kinds() {
        assert_eq!(kind(NeighbourState::Permanent), NeighbourKind::Static);
        assert_eq!(kind(NeighbourState::Stale), NeighbourKind::Dynamic);
        assert_eq!(kind(NeighbourState::Reachable), NeighbourKind::Dynamic);
        assert_eq!(kind(NeighbourState::Failed), NeighbourKind::Invalid);
        assert_eq!(kind(NeighbourState::Incomplete), NeighbourKind::Invalid);
        assert_eq!(kind(NeighbourState::Other(0x400)), NeighbourKind::Other);
    }
}
