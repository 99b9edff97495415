//! The adapter list of `GetAdaptersAddresses`, read afresh on every call (BUG-43).
//!
//! Interfaces, neighbours and routes use it to name interfaces: by LUID (interfaces) or by
//! interface index, IPv4 `IfIndex` or `Ipv6IfIndex` (neighbours, routes). Anycast, multicast and
//! DNS-server lists are skipped; unicast addresses are kept in the order the OS gives them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use windows_sys::Win32::NetworkManagement::IpHelper::{
    GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER, GAA_FLAG_SKIP_MULTICAST, GetAdaptersAddresses,
    IP_ADAPTER_ADDRESSES_LH,
};
use windows_sys::Win32::Networking::WinSock::AF_UNSPEC;

use super::win32::{from_wide_ptr, sized_table, socket_address};
use crate::HostResult;

/// One adapter, as far as the other readers need it.
#[derive(Debug, Clone)]
pub(super) struct Adapter {
    pub luid: u64,
    /// IPv4 interface index (0 when IPv4 is not enabled on it).
    pub if_index: u32,
    /// IPv6 interface index (0 when IPv6 is not enabled on it).
    pub ipv6_if_index: u32,
    /// `Description`, e.g. `Intel(R) Ethernet Connection I219-V`.
    pub description: String,
    /// `FriendlyName`, the alias, e.g. `Ethernet 2`.
    pub friendly_name: String,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// The interface metric for IPv4 (`Ipv4Metric`), as `GetIpInterfaceEntry` would give it.
    pub ipv4_metric: u32,
    /// The interface metric for IPv6 (`Ipv6Metric`).
    pub ipv6_metric: u32,
}

impl Adapter {
    /// True if `index` is this adapter's IPv4 or IPv6 interface index.
    pub fn has_index(&self, index: u32) -> bool {
        index != 0 && (self.if_index == index || self.ipv6_if_index == index)
    }
}

/// The adapter with interface index `index`, if any.
pub(super) fn by_index(adapters: &[Adapter], index: u32) -> Option<&Adapter> {
    adapters.iter().find(|a| a.has_index(index))
}

/// Every adapter `GetAdaptersAddresses(AF_UNSPEC)` lists, with its unicast addresses.
pub(super) fn list(fact: &'static str) -> HostResult<Vec<Adapter>> {
    let flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
    let buf = sized_table(fact, "GetAdaptersAddresses", |ptr, size| {
        // SAFETY: `ptr` points to `*size` writable, 8-aligned bytes; the API writes at most that
        // many and reports the size it needs otherwise.
        unsafe { GetAdaptersAddresses(u32::from(AF_UNSPEC), flags, std::ptr::null(), ptr.cast(), size) }
    })?;
    let Some(buf) = buf else {
        return Ok(Vec::new()); // ERROR_NO_DATA: no adapters at all.
    };
    let mut adapters = Vec::new();
    let mut next = buf.as_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>();
    while !next.is_null() {
        // SAFETY: `next` is the buffer start or a `Next` link the API wrote, pointing inside the
        // buffer, which stays alive for the whole walk.
        let adapter = unsafe { &*next };
        adapters.push(read_adapter(adapter));
        next = adapter.Next;
    }
    Ok(adapters)
}

fn read_adapter(a: &IP_ADAPTER_ADDRESSES_LH) -> Adapter {
    let mut ipv4 = Vec::new();
    let mut ipv6 = Vec::new();
    let mut unicast = a.FirstUnicastAddress;
    while !unicast.is_null() {
        // SAFETY: a unicast link the API wrote into the (live) buffer.
        let entry = unsafe { &*unicast };
        // SAFETY: the entry's address points to `iSockaddrLength` bytes the API wrote.
        match unsafe { socket_address(&entry.Address) }.map(|s| s.ip()) {
            Some(IpAddr::V4(ip)) => ipv4.push(ip),
            Some(IpAddr::V6(ip)) => ipv6.push(ip),
            None => {}
        }
        unicast = entry.Next;
    }
    // SAFETY: the API fills both members of the leading union (Length, IfIndex) and the LUID
    // union is a plain u64; the strings are NUL-terminated inside the buffer or null.
    unsafe {
        Adapter {
            luid: a.Luid.Value,
            if_index: a.Anonymous1.Anonymous.IfIndex,
            ipv6_if_index: a.Ipv6IfIndex,
            description: from_wide_ptr(a.Description),
            friendly_name: from_wide_ptr(a.FriendlyName),
            ipv4,
            ipv6,
            ipv4_metric: a.Ipv4Metric,
            ipv6_metric: a.Ipv6Metric,
        }
    }
}
