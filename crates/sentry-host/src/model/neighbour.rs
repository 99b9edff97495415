//! ARP (IPv4) and neighbour-discovery (IPv6) cache entries.

use std::net::IpAddr;

/// How a neighbour entry came to be, in the seed's four words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighbourKind {
    /// Configured by hand (Linux NUD_PERMANENT / NUD_NOARP, Windows `MIB_IPNET_TYPE_STATIC`).
    Static,
    /// Learned (Linux reachable, stale, delay, probe; Windows `MIB_IPNET_TYPE_DYNAMIC`).
    Dynamic,
    /// Failed or incomplete resolution (Linux NUD_FAILED / NUD_INCOMPLETE, Windows invalid).
    Invalid,
    /// Anything else.
    Other,
}

/// One neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface index.
    pub interface_index: u32,
    /// The adapter as the seed names it: the adapter description on Windows, the device name
    /// on Linux. `None` when the interface has vanished since the entry was read.
    pub adapter: Option<String>,
    pub ip: IpAddr,
    /// Link-layer address; empty while unresolved.
    pub mac: Vec<u8>,
    pub kind: NeighbourKind,
}
