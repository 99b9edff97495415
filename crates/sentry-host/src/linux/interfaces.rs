//! Network interfaces from rtnetlink (`RTM_GETLINK` and `RTM_GETADDR` dumps, as `ip addr`),
//! with the link speed from `/sys/class/net/<name>/speed`.
//!
//! The link dump gives name, index, type, MTU, hardware address, operational state and the
//! 64-bit counters of `/proc/net/dev` in one message per interface. Linux counts received
//! multicast but neither sent multicast nor broadcast, so `tx_non_unicast_packets` is 0 and
//! every sent packet counts as unicast.

use std::collections::HashMap;
use std::fs;
use std::net::IpAddr;
use std::path::Path;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkLayerType, LinkMessage, State, Stats64};

use super::netlink;
use crate::{HostResult, Interface, InterfaceCounters, OperStatus};

const FACT: &str = "interfaces";

pub(crate) fn list() -> HostResult<Vec<Interface>> {
    let links = netlink::dump(FACT, RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
    let addresses = netlink::dump(FACT, RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
    let mut interfaces: Vec<Interface> = links
        .into_iter()
        .filter_map(|reply| match reply {
            RouteNetlinkMessage::NewLink(link) => Some(from_link(&link)),
            _ => None,
        })
        .collect();
    let by_index: HashMap<u32, usize> =
        interfaces.iter().enumerate().map(|(i, nic)| (nic.index, i)).collect();
    for reply in addresses {
        let RouteNetlinkMessage::NewAddress(message) = reply else { continue };
        let Some(&position) = by_index.get(&message.header.index) else { continue };
        // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS elsewhere.
        let local = message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let address = local.or_else(|| {
            message.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        });
        match address {
            Some(IpAddr::V4(v4)) => interfaces[position].ipv4.push(v4),
            Some(IpAddr::V6(v6)) => interfaces[position].ipv6.push(v6),
            None => {}
        }
    }
    for nic in &mut interfaces {
        nic.speed_bps = link_speed(&nic.name);
        if nic.if_type == IF_TYPE_ETHERNET
            && Path::new("/sys/class/net").join(&nic.name).join("wireless").exists()
        {
            nic.if_type = IF_TYPE_WIFI;
        }
    }
    Ok(interfaces)
}

const IF_TYPE_OTHER: u32 = 1;
const IF_TYPE_ETHERNET: u32 = 6;
const IF_TYPE_LOOPBACK: u32 = 24;
const IF_TYPE_WIFI: u32 = 71;

fn from_link(link: &LinkMessage) -> Interface {
    let mut nic = Interface {
        id: String::new(),
        index: link.header.index,
        name: String::new(),
        description: String::new(),
        if_type: match link.header.link_layer_type {
            LinkLayerType::Ether => IF_TYPE_ETHERNET,
            LinkLayerType::Loopback => IF_TYPE_LOOPBACK,
            _ => IF_TYPE_OTHER,
        },
        mtu: 0,
        mac: Vec::new(),
        speed_bps: None,
        oper_status: OperStatus::Unknown,
        ipv4: Vec::new(),
        ipv6: Vec::new(),
        counters: InterfaceCounters::default(),
    };
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::IfName(name) => nic.name.clone_from(name),
            LinkAttribute::IfAlias(alias) => nic.description.clone_from(alias),
            LinkAttribute::Mtu(mtu) => nic.mtu = *mtu,
            LinkAttribute::Address(mac) => nic.mac.clone_from(mac),
            LinkAttribute::OperState(state) => nic.oper_status = oper_status(*state),
            LinkAttribute::Stats64(stats) => nic.counters = counters(stats),
            _ => {}
        }
    }
    if nic.mac.iter().all(|&b| b == 0) {
        nic.mac.clear(); // loopback and tunnels report an all-zero address
    }
    nic.id.clone_from(&nic.name);
    if nic.description.is_empty() {
        nic.description.clone_from(&nic.name);
    }
    nic
}

fn counters(stats: &Stats64) -> InterfaceCounters {
    InterfaceCounters {
        rx_bytes: stats.rx_bytes,
        tx_bytes: stats.tx_bytes,
        rx_unicast_packets: stats.rx_packets.saturating_sub(stats.multicast),
        tx_unicast_packets: stats.tx_packets,
        rx_non_unicast_packets: stats.multicast,
        tx_non_unicast_packets: 0,
        rx_errors: stats.rx_errors,
        tx_errors: stats.tx_errors,
        rx_discards: stats.rx_dropped,
        tx_discards: stats.tx_dropped,
    }
}

/// RFC 2863 status from the kernel's `IF_OPER_*`; "unknown" is what virtual links that do not
/// track carrier (loopback, most tunnels) report while working.
fn oper_status(state: State) -> OperStatus {
    match state {
        State::Up => OperStatus::Up,
        State::Down => OperStatus::Down,
        State::LowerLayerDown => OperStatus::LowerLayerDown,
        State::Testing => OperStatus::Testing,
        State::Dormant => OperStatus::Dormant,
        State::NotPresent => OperStatus::NotPresent,
        _ => OperStatus::Unknown,
    }
}

/// Link speed in bits per second: sysfs gives Mbit/s, or -1 / an error when unknown.
fn link_speed(name: &str) -> Option<u64> {
    let text = fs::read_to_string(Path::new("/sys/class/net").join(name).join("speed")).ok()?;
    let mbps: i64 = text.trim().parse().ok()?;
    u64::try_from(mbps).ok().filter(|&m| m > 0).map(|m| m * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_multicast_is_not_unicast() {
        let mut stats = Stats64::default();
        (stats.rx_packets, stats.multicast, stats.tx_packets) = (10, 3, 7);
        let counters = counters(&stats);
        assert_eq!((counters.rx_unicast_packets, counters.rx_non_unicast_packets), (7, 3));
        assert_eq!((counters.tx_unicast_packets, counters.tx_non_unicast_packets), (7, 0));
    }
}
