//! The seed's string forms of host facts, written once for the commands and the loggers: MAC
//! addresses, masks, TCP states, route kinds and protocols, neighbour kinds, IP text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sentry_host::{NeighbourKind, RouteKind, RouteProtocol, TcpState};

/// `00:11:22:aa:bb:cc`: lower-case hex pairs joined by colons; empty for no address.
pub fn mac(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// The dotted (IPv4) or colon (IPv6) mask of a prefix length of `ip`'s family.
pub fn mask(ip: &IpAddr, prefix_len: u8) -> String {
    match ip {
        IpAddr::V4(_) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix_len.min(32))).unwrap_or(0);
            Ipv4Addr::from(bits).to_string()
        }
        IpAddr::V6(_) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix_len.min(128))).unwrap_or(0);
            Ipv6Addr::from(bits).to_string()
        }
    }
}

/// The seed's TCP state names (`Established`, `TimeWait`, `LastACK`, `DeleteTCB`...).
pub fn tcp_state(state: TcpState) -> &'static str {
    match state {
        TcpState::Closed => "Closed",
        TcpState::Listen => "Listen",
        TcpState::SynSent => "SynSent",
        TcpState::SynReceived => "SynReceived",
        TcpState::Established => "Established",
        TcpState::FinWait1 => "FinWait1",
        TcpState::FinWait2 => "FinWait2",
        TcpState::CloseWait => "CloseWait",
        TcpState::Closing => "Closing",
        TcpState::LastAck => "LastACK",
        TcpState::TimeWait => "TimeWait",
        TcpState::DeleteTcb => "DeleteTCB",
        TcpState::Unknown => "Unknown",
    }
}

/// The state the seed gives every UDP socket.
pub const UDP_STATE: &str = "LISTEN";

/// ARP entry types, lower-case as the seed shows them.
pub fn neighbour_kind(kind: NeighbourKind) -> &'static str {
    match kind {
        NeighbourKind::Static => "static",
        NeighbourKind::Dynamic => "dynamic",
        NeighbourKind::Invalid => "invalid",
        NeighbourKind::Other => "other",
    }
}

/// Route types, capitalised as the seed shows them.
pub fn route_kind(kind: RouteKind) -> &'static str {
    match kind {
        RouteKind::Direct => "Direct",
        RouteKind::Indirect => "Indirect",
        RouteKind::Invalid => "Invalid",
        RouteKind::Other => "Other",
    }
}

/// Route protocols, spelled as the seed lists them.
pub fn route_protocol(protocol: RouteProtocol) -> &'static str {
    match protocol {
        RouteProtocol::Other => "Other",
        RouteProtocol::Local => "Local",
        RouteProtocol::NetMgmt => "NetMgmt",
        RouteProtocol::Icmp => "ICMP",
        RouteProtocol::Egp => "EGP",
        RouteProtocol::Ggp => "GGP",
        RouteProtocol::Hello => "Hello",
        RouteProtocol::Rip => "RIP",
        RouteProtocol::IsIs => "IS_IS",
        RouteProtocol::EsIs => "ES_IS",
        RouteProtocol::Igrp => "IGRP",
        RouteProtocol::Bbn => "BBN",
        RouteProtocol::Ospf => "OSPF",
        RouteProtocol::Bgp => "BGP",
        RouteProtocol::Autostatic => "Autostatic",
        RouteProtocol::Static => "Static",
        RouteProtocol::StaticNonDod => "StaticNonDOD",
    }
}

/// An IP address as text: dotted IPv4, RFC 5952 compressed IPv6; IPv4-mapped IPv6 addresses
/// (`::ffff:1.2.3.4`, seen on dual-stack sockets) keep their IPv6 form.
pub fn ip(address: &IpAddr) -> String {
    address.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_lower_case_colon_pairs() {
        assert_eq!(mac(&[0x00, 0x1A, 0x2b, 0xFF, 0x00, 0x05]), "00:1a:2b:ff:00:05");
        assert_eq!(mac(&[]), "");
    }

    #[test]
    fn masks_follow_the_family() {
        let v4: IpAddr = Ipv4Addr::UNSPECIFIED.into();
        let v6: IpAddr = Ipv6Addr::UNSPECIFIED.into();
        assert_eq!(mask(&v4, 24), "255.255.255.0");
        assert_eq!(mask(&v4, 0), "0.0.0.0");
        assert_eq!(mask(&v4, 32), "255.255.255.255");
        assert_eq!(mask(&v6, 64), "ffff:ffff:ffff:ffff::");
        assert_eq!(mask(&v6, 0), "::");
    }

    #[test]
    fn seed_spellings() {
        assert_eq!(tcp_state(TcpState::LastAck), "LastACK");
        assert_eq!(tcp_state(TcpState::DeleteTcb), "DeleteTCB");
        assert_eq!(route_protocol(RouteProtocol::StaticNonDod), "StaticNonDOD");
        assert_eq!(route_protocol(RouteProtocol::IsIs), "IS_IS");
        assert_eq!(neighbour_kind(NeighbourKind::Dynamic), "dynamic");
    }
}
