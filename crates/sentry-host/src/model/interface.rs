//! Network interfaces: identity, addresses and cumulative counters.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Operational status (RFC 2863 `ifOperStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperStatus {
    Up,
    Down,
    Testing,
    Unknown,
    Dormant,
    NotPresent,
    LowerLayerDown,
}

/// Cumulative counters since the interface came up. They only grow, except when the interface
/// is re-created or a 32-bit counter wraps; consumers compute deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InterfaceCounters {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_unicast_packets: u64,
    pub tx_unicast_packets: u64,
    /// Broadcast + multicast packets received.
    pub rx_non_unicast_packets: u64,
    /// Broadcast + multicast packets sent (Linux does not count these: always 0 there).
    pub tx_non_unicast_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_discards: u64,
    pub tx_discards: u64,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// A stable identity: the LUID on Windows, the device name on Linux. Loggers key their
    /// state by it, never by `index` (BUG-34).
    pub id: String,
    /// Interface index (may be reused after the interface goes away).
    pub index: u32,
    /// Short name: `eth0` on Linux, the friendly alias (`Ethernet 2`) on Windows.
    pub name: String,
    /// Description: the adapter description on Windows, the name (or driver) on Linux.
    pub description: String,
    /// IANA ifType: 6 ethernet, 24 software loopback, 71 IEEE 802.11, 1 other.
    pub if_type: u32,
    pub mtu: u32,
    /// Hardware address; empty when the interface has none.
    pub mac: Vec<u8>,
    /// Link speed in bits per second, when the OS reports one.
    pub speed_bps: Option<u64>,
    pub oper_status: OperStatus,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    pub counters: InterfaceCounters,
}
