//! IP routing table entries.

use std::net::IpAddr;

/// The route type of RFC 1354 (`ipRouteType`), as Windows reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// The destination is on the link (no gateway).
    Direct,
    /// Reached through a gateway.
    Indirect,
    /// An invalid route (Linux: unreachable, blackhole, prohibit).
    Invalid,
    Other,
}

/// Who installed the route (RFC 1354 `ipRouteProto` plus Windows' own values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteProtocol {
    Other,
    /// Added by the stack for a local address (Linux `proto kernel`).
    Local,
    /// Set by management: DHCP, `route add` on Linux (`proto boot`, `proto dhcp`).
    NetMgmt,
    /// Learned from ICMP redirects or router advertisements (Linux `proto redirect`, `proto ra`).
    Icmp,
    Egp,
    Ggp,
    Hello,
    Rip,
    IsIs,
    EsIs,
    /// Cisco IGRP (`MIB_IPPROTO_CISCO`).
    Igrp,
    Bbn,
    Ospf,
    Bgp,
    /// Windows `MIB_IPPROTO_NT_AUTOSTATIC`.
    Autostatic,
    /// Configured statically (Windows `MIB_IPPROTO_NT_STATIC`, Linux `proto static`).
    Static,
    /// Windows `MIB_IPPROTO_NT_STATIC_NON_DOD`.
    StaticNonDod,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: IpAddr,
    /// Prefix length of the destination (the mask).
    pub prefix_len: u8,
    /// Next hop; the unspecified address for an on-link route.
    pub next_hop: IpAddr,
    pub interface_index: u32,
    /// Interface name where known (Windows alias, Linux device name).
    pub interface_name: Option<String>,
    pub metric: u32,
    pub kind: RouteKind,
    pub protocol: RouteProtocol,
}
