//! The ARP (IPv4) and neighbour-discovery (IPv6) caches.
//!
//! `GetIpNetTable2(AF_UNSPEC)` gives both families with the NDP state of each entry. Where it
//! fails (Wine 8 does not implement it), `GetIpNetTable` gives the IPv4 ARP cache with its
//! legacy entry types. Either way each entry is named by the adapter *description* from
//! `GetAdaptersAddresses`, read afresh on every call (BUG-43).

use std::mem::offset_of;
use std::net::IpAddr;

use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetIpNetTable, GetIpNetTable2, MIB_IPNET_ROW2, MIB_IPNET_TABLE2, MIB_IPNET_TYPE_DYNAMIC,
    MIB_IPNET_TYPE_INVALID, MIB_IPNET_TYPE_STATIC, MIB_IPNETROW_LH, MIB_IPNETTABLE,
};
use windows_sys::Win32::Networking::WinSock::AF_UNSPEC;

use super::adapters::{self, Adapter};
use super::win32::{MibTable, ip_from_sockaddr_inet, ipv4_from_dword, mac_bytes, sized_table};
use crate::{HostResult, Neighbour, NeighbourKind};

const FACT: &str = "neighbours";

/// Every neighbour entry of both families (IPv4 only where the modern API is missing).
pub(crate) fn list() -> HostResult<Vec<Neighbour>> {
    let adapters = adapters::list(FACT)?;
    match list_v2(&adapters) {
        Ok(neighbours) => Ok(neighbours),
        Err(_) => list_legacy(&adapters),
    }
}

/// Both families from `GetIpNetTable2`.
fn list_v2(adapters: &[Adapter]) -> HostResult<Vec<Neighbour>> {
    let table = MibTable::read(FACT, "GetIpNetTable2", |table: *mut *mut MIB_IPNET_TABLE2| {
        // SAFETY: `table` is a writable pointer slot; the API allocates the table into it.
        unsafe { GetIpNetTable2(AF_UNSPEC, table) }
    })?;
    // SAFETY: GetIpNetTable2 returns a MIB_IPNET_TABLE2.
    let rows = unsafe { table.rows::<MIB_IPNET_ROW2>(offset_of!(MIB_IPNET_TABLE2, Table)) };
    Ok(rows
        .iter()
        .filter_map(|row| {
            let ip = ip_from_sockaddr_inet(&row.Address)?;
            Some(neighbour(
                adapters,
                row.InterfaceIndex,
                ip,
                mac_bytes(&row.PhysicalAddress, row.PhysicalAddressLength),
                kind_from_state(row.State),
            ))
        })
        .collect())
}

/// The IPv4 ARP cache from `GetIpNetTable`.
fn list_legacy(adapters: &[Adapter]) -> HostResult<Vec<Neighbour>> {
    let buf = sized_table(FACT, "GetIpNetTable", |ptr, size| {
        // SAFETY: `ptr` points to `*size` writable, 8-aligned bytes; the API writes at most that
        // many and reports the size it needs otherwise.
        unsafe { GetIpNetTable(ptr.cast(), size, 0) }
    })?;
    let Some(buf) = buf else {
        return Ok(Vec::new()); // ERROR_NO_DATA: the cache is empty.
    };
    // SAFETY: GetIpNetTable writes a MIB_IPNETTABLE.
    let rows = unsafe { buf.rows::<MIB_IPNETROW_LH>(FACT, offset_of!(MIB_IPNETTABLE, table)) }?;
    Ok(rows
        .iter()
        .map(|row| {
            // SAFETY: both union members are the same DWORD.
            let kind = kind_from_type(unsafe { row.Anonymous.dwType });
            let ip = IpAddr::V4(ipv4_from_dword(row.dwAddr));
            neighbour(adapters, row.dwIndex, ip, mac_bytes(&row.bPhysAddr, row.dwPhysAddrLen), kind)
        })
        .collect())
}

fn neighbour(adapters: &[Adapter], index: u32, ip: IpAddr, mac: Vec<u8>, kind: NeighbourKind) -> Neighbour {
    let adapter = adapters::by_index(adapters, index).map(|a| a.description.clone());
    Neighbour { interface_index: index, adapter, ip, mac, kind }
}

/// An `NL_NEIGHBOR_STATE` (`GetIpNetTable2`): 0 unreachable, 1 incomplete, 2 probe, 3 delay,
/// 4 stale, 5 reachable, 6 permanent.
fn kind_from_state(state: i32) -> NeighbourKind {
    match state {
        6 => NeighbourKind::Static,
        2..=5 => NeighbourKind::Dynamic,
        0 | 1 => NeighbourKind::Invalid,
        _ => NeighbourKind::Other,
    }
}

/// A legacy `MIB_IPNET_TYPE` (`GetIpNetTable`): 4 static, 3 dynamic, 2 invalid, 1 other.
fn kind_from_type(kind: u32) -> NeighbourKind {
    match kind as i32 {
        MIB_IPNET_TYPE_STATIC => NeighbourKind::Static,
        MIB_IPNET_TYPE_DYNAMIC => NeighbourKind::Dynamic,
        MIB_IPNET_TYPE_INVALID => NeighbourKind::Invalid,
        _ => NeighbourKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostError;

    #[test]
    fn neighbour_states() {
        use windows_sys::Win32::Networking::WinSock::{
            NlnsDelay, NlnsIncomplete, NlnsPermanent, NlnsProbe, NlnsReachable, NlnsStale, NlnsUnreachable,
        };
        assert_eq!(kind_from_state(NlnsPermanent), NeighbourKind::Static);
        for dynamic in [NlnsReachable, NlnsStale, NlnsDelay, NlnsProbe] {
            assert_eq!(kind_from_state(dynamic), NeighbourKind::Dynamic);
        }
        assert_eq!(kind_from_state(NlnsUnreachable), NeighbourKind::Invalid);
        assert_eq!(kind_from_state(NlnsIncomplete), NeighbourKind::Invalid);
        assert_eq!(kind_from_state(6), NeighbourKind::Static);
        for dynamic in [2, 3, 4, 5] {
            assert_eq!(kind_from_state(dynamic), NeighbourKind::Dynamic);
        }
        assert_eq!(kind_from_state(0), NeighbourKind::Invalid);
        assert_eq!(kind_from_state(1), NeighbourKind::Invalid);
        assert_eq!(kind_from_state(7), NeighbourKind::Other);
    }

    #[test]
    fn legacy_types() {
        assert_eq!(kind_from_type(4), NeighbourKind::Static);
        assert_eq!(kind_from_type(3), NeighbourKind::Dynamic);
        assert_eq!(kind_from_type(2), NeighbourKind::Invalid);
        assert_eq!(kind_from_type(1), NeighbourKind::Other);
        assert_eq!(kind_from_type(9), NeighbourKind::Other);
    }

    /// The modern table either reads (real Windows) or fails with an error naming the call,
    /// which is what makes `list` fall back; Wine 8 fails it with error 1.
    #[test]
    fn modern_table_reads_or_names_its_failure() {
        let adapters = adapters::list(FACT).unwrap();
        match list_v2(&adapters) {
            Ok(entries) => assert!(entries.iter().all(|e| e.mac.len() <= 32), "{entries:?}"),
            Err(e) => assert!(matches!(e, HostError::Win32 { call: "GetIpNetTable2", .. }), "{e}"),
        }
    }

    /// The IPv4 ARP cache through the legacy API, which Wine 8 implements: every entry is IPv4
    /// with at most 8 address bytes, and named by its adapter's description. (Wine lists the
    /// gateway as dynamic and the 224.0.0.22 / 239.255.255.250 multicast entries as static.)
    #[test]
    fn legacy_table_reads() {
        let adapters = adapters::list(FACT).unwrap();
        let entries = list_legacy(&adapters).unwrap();
        for e in &entries {
            assert!(e.ip.is_ipv4(), "{e:?}");
            assert!(e.mac.len() <= 8, "{e:?}");
            if let Some(a) = adapters::by_index(&adapters, e.interface_index) {
                assert_eq!(e.adapter.as_deref(), Some(a.description.as_str()));
            }
        }
    }
}
