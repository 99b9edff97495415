//! The IPv4 and IPv6 routing tables.
//!
//! `GetIpForwardTable2(AF_UNSPEC)` gives both families. Its rows carry no route type, so a route
//! whose next hop is the unspecified address is `Direct` and any other `Indirect`. The metric is
//! what `route print` shows: the route's own metric plus its interface's metric for the family,
//! taken from the adapter list (`Ipv4Metric`/`Ipv6Metric`, the value `GetIpInterfaceEntry`
//! gives; that call aborts the process under Wine 8), or the route's alone if the interface is
//! not listed. Where the modern call fails, `GetIpForwardTable` gives the IPv4 table with its
//! legacy types and `metric1`. Interface names are the adapters' friendly names
//! (`GetAdaptersAddresses`).

use std::mem::offset_of;
use std::net::{IpAddr, Ipv4Addr};

use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetIpForwardTable, GetIpForwardTable2, MIB_IPFORWARD_ROW2, MIB_IPFORWARD_TABLE2, MIB_IPFORWARDROW,
    MIB_IPFORWARDTABLE,
};
use windows_sys::Win32::Networking::WinSock::AF_UNSPEC;

use super::adapters::{self, Adapter};
use super::win32::{MibTable, ip_from_sockaddr_inet, ipv4_from_dword, sized_table};
use crate::{HostResult, Route, RouteKind, RouteProtocol};

const FACT: &str = "routes";

/// Every route of both families (IPv4 only where the modern API is missing).
pub(crate) fn list() -> HostResult<Vec<Route>> {
    let adapters = adapters::list(FACT)?;
    match list_v2(&adapters) {
        Ok(routes) => Ok(routes),
        Err(_) => list_legacy(&adapters),
    }
}

/// Both families from `GetIpForwardTable2`.
fn list_v2(adapters: &[Adapter]) -> HostResult<Vec<Route>> {
    let table = MibTable::read(FACT, "GetIpForwardTable2", |table: *mut *mut MIB_IPFORWARD_TABLE2| {
        // SAFETY: `table` is a writable pointer slot; the API allocates the table into it.
        unsafe { GetIpForwardTable2(AF_UNSPEC, table) }
    })?;
    // SAFETY: GetIpForwardTable2 returns a MIB_IPFORWARD_TABLE2.
    let rows = unsafe { table.rows::<MIB_IPFORWARD_ROW2>(offset_of!(MIB_IPFORWARD_TABLE2, Table)) };
    let mut routes = Vec::with_capacity(rows.len());
    for row in rows {
        let (Some(destination), Some(next_hop)) =
            (ip_from_sockaddr_inet(&row.DestinationPrefix.Prefix), ip_from_sockaddr_inet(&row.NextHop))
        else {
            continue;
        };
        let adapter = adapters::by_index(adapters, row.InterfaceIndex);
        let interface_metric =
            adapter.map_or(0, |a| if destination.is_ipv4() { a.ipv4_metric } else { a.ipv6_metric });
        routes.push(Route {
            destination,
            prefix_len: row.DestinationPrefix.PrefixLength,
            next_hop,
            interface_index: row.InterfaceIndex,
            interface_name: adapter.map(|a| a.friendly_name.clone()),
            metric: row.Metric.saturating_add(interface_metric),
            kind: if next_hop.is_unspecified() { RouteKind::Direct } else { RouteKind::Indirect },
            protocol: protocol(row.Protocol),
        });
    }
    Ok(routes)
}

/// The IPv4 table from `GetIpForwardTable`.
fn list_legacy(adapters: &[Adapter]) -> HostResult<Vec<Route>> {
    let buf = sized_table(FACT, "GetIpForwardTable", |ptr, size| {
        // SAFETY: `ptr` points to `*size` writable, 8-aligned bytes; the API writes at most that
        // many and reports the size it needs otherwise.
        unsafe { GetIpForwardTable(ptr.cast(), size, 0) }
    })?;
    let Some(buf) = buf else {
        return Ok(Vec::new()); // ERROR_NO_DATA: no routes.
    };
    // SAFETY: GetIpForwardTable writes a MIB_IPFORWARDTABLE.
    let rows = unsafe { buf.rows::<MIB_IPFORWARDROW>(FACT, offset_of!(MIB_IPFORWARDTABLE, table)) }?;
    Ok(rows.iter().map(|row| legacy_route(adapters, row)).collect())
}

fn legacy_route(adapters: &[Adapter], row: &MIB_IPFORWARDROW) -> Route {
    // SAFETY: each union's members are the same DWORD.
    let (kind, proto) = unsafe { (row.Anonymous1.dwForwardType, row.Anonymous2.dwForwardProto) };
    let kind = legacy_kind(kind);
    // The legacy table gives an on-link route the interface's own address as next hop; the
    // model wants the unspecified address there, as the modern table gives.
    let next_hop =
        if kind == RouteKind::Direct { Ipv4Addr::UNSPECIFIED } else { ipv4_from_dword(row.dwForwardNextHop) };
    Route {
        destination: IpAddr::V4(ipv4_from_dword(row.dwForwardDest)),
        prefix_len: prefix_len(row.dwForwardMask),
        next_hop: IpAddr::V4(next_hop),
        interface_index: row.dwForwardIfIndex,
        interface_name: interface_name(adapters, row.dwForwardIfIndex),
        metric: row.dwForwardMetric1,
        kind,
        protocol: protocol(proto as i32),
    }
}

fn interface_name(adapters: &[Adapter], index: u32) -> Option<String> {
    adapters::by_index(adapters, index).map(|a| a.friendly_name.clone())
}

/// The prefix length of a netmask kept as a DWORD in network byte order.
fn prefix_len(mask: u32) -> u8 {
    u32::from_be(mask).leading_ones() as u8
}

/// A legacy `MIB_IPFORWARD_TYPE`: 3 direct, 4 indirect, 2 invalid.
fn legacy_kind(kind: u32) -> RouteKind {
    match kind {
        3 => RouteKind::Direct,
        4 => RouteKind::Indirect,
        2 => RouteKind::Invalid,
        _ => RouteKind::Other,
    }
}

/// An `NL_ROUTE_PROTOCOL` / `MIB_IPPROTO_*` value.
fn protocol(proto: i32) -> RouteProtocol {
    match proto {
        2 => RouteProtocol::Local,
        3 => RouteProtocol::NetMgmt,
        4 => RouteProtocol::Icmp,
        5 => RouteProtocol::Egp,
        6 => RouteProtocol::Ggp,
        7 => RouteProtocol::Hello,
        8 => RouteProtocol::Rip,
        9 => RouteProtocol::IsIs,
        10 => RouteProtocol::EsIs,
        11 => RouteProtocol::Igrp,
        12 => RouteProtocol::Bbn,
        13 => RouteProtocol::Ospf,
        14 => RouteProtocol::Bgp,
        10002 => RouteProtocol::Autostatic,
        10006 => RouteProtocol::Static,
        10007 => RouteProtocol::StaticNonDod,
        _ => RouteProtocol::Other,
    }
}

#[cfg(test)]
mod tests {
    use windows_sys::Win32::Networking::WinSock::{
        MIB_IPPROTO_BGP, MIB_IPPROTO_CISCO, MIB_IPPROTO_LOCAL, MIB_IPPROTO_NETMGMT,
        MIB_IPPROTO_NT_AUTOSTATIC, MIB_IPPROTO_NT_STATIC, MIB_IPPROTO_NT_STATIC_NON_DOD, MIB_IPPROTO_OTHER,
        MIB_IPPROTO_RIP,
    };

    use super::*;

    #[test]
    fn protocols_follow_mib_ipproto() {
        assert_eq!(protocol(MIB_IPPROTO_OTHER), RouteProtocol::Other);
        assert_eq!(protocol(MIB_IPPROTO_LOCAL), RouteProtocol::Local);
        assert_eq!(protocol(MIB_IPPROTO_NETMGMT), RouteProtocol::NetMgmt);
        assert_eq!(protocol(MIB_IPPROTO_RIP), RouteProtocol::Rip);
        assert_eq!(protocol(MIB_IPPROTO_CISCO), RouteProtocol::Igrp);
        assert_eq!(protocol(MIB_IPPROTO_BGP), RouteProtocol::Bgp);
        assert_eq!(protocol(MIB_IPPROTO_NT_AUTOSTATIC), RouteProtocol::Autostatic);
        assert_eq!(protocol(MIB_IPPROTO_NT_STATIC), RouteProtocol::Static);
        assert_eq!(protocol(MIB_IPPROTO_NT_STATIC_NON_DOD), RouteProtocol::StaticNonDod);
        assert_eq!(protocol(19), RouteProtocol::Other); // MIB_IPPROTO_DHCP has no name of its own.
        assert_eq!(protocol(0), RouteProtocol::Other);
    }

    #[test]
    fn legacy_types_and_masks() {
        assert_eq!(legacy_kind(3), RouteKind::Direct);
        assert_eq!(legacy_kind(4), RouteKind::Indirect);
        assert_eq!(legacy_kind(2), RouteKind::Invalid);
        assert_eq!(legacy_kind(1), RouteKind::Other);
        assert_eq!(prefix_len(u32::from_ne_bytes([255, 255, 255, 0])), 24);
        assert_eq!(prefix_len(u32::from_ne_bytes([255, 255, 240, 0])), 20);
        assert_eq!(prefix_len(0), 0);
        assert_eq!(prefix_len(u32::MAX), 32);
    }

    /// The legacy IPv4 table (the fallback) reads, and agrees with the modern one on each IPv4
    /// route's destination, next hop and kind. Under Wine 8 both list the host's IPv4 routes.
    #[test]
    fn legacy_table_matches_the_modern_one() {
        let adapters = adapters::list(FACT).unwrap();
        let legacy = list_legacy(&adapters).unwrap();
        assert!(!legacy.is_empty());
        assert!(legacy.iter().all(|r| r.destination.is_ipv4() && r.prefix_len <= 32), "{legacy:?}");
        let modern = list_v2(&adapters).unwrap();
        for r in &legacy {
            assert!(
                modern.iter().any(|m| (m.destination, m.prefix_len, m.next_hop)
                    == (r.destination, r.prefix_len, r.next_hop)),
                "{r:?} not in {modern:?}"
            );
        }
    }
}
