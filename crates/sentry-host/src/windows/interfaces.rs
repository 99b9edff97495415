//! Network interfaces: identity and 64-bit counters from `GetIfTable2`, addresses from
//! `GetAdaptersAddresses`.
//!
//! Each interface is keyed by its LUID (as a decimal string), which survives re-ordering and
//! re-indexing (BUG-34). `GetIfTable2` also lists filter and pseudo interfaces (WFP, QoS,
//! "-0000" lightweight filters...) that `ipconfig` never shows: a row is kept only if
//! `GetAdaptersAddresses` knows its LUID or it is a hardware interface. Unicast addresses are
//! matched to rows by LUID, in the order the OS gives them.

use std::mem::offset_of;

use windows_sys::Win32::NetworkManagement::IpHelper::{GetIfTable2, MIB_IF_ROW2, MIB_IF_TABLE2};

use super::adapters::{self, Adapter};
use super::win32::{MibTable, from_wide, mac_bytes};
use crate::{HostResult, Interface, InterfaceCounters, OperStatus};

const FACT: &str = "interfaces";

/// `InterfaceAndOperStatusFlags` bit 0: `HardwareInterface`.
const HARDWARE_INTERFACE: u8 = 1;

/// Every interface that is a real adapter, with its addresses and counters.
pub(crate) fn list() -> HostResult<Vec<Interface>> {
    let adapters = adapters::list(FACT)?;
    let table = MibTable::read(FACT, "GetIfTable2", |table: *mut *mut MIB_IF_TABLE2| {
        // SAFETY: `table` is a writable pointer slot; the API allocates the table into it.
        unsafe { GetIfTable2(table) }
    })?;
    // SAFETY: GetIfTable2 returns a MIB_IF_TABLE2.
    let rows = unsafe { table.rows::<MIB_IF_ROW2>(offset_of!(MIB_IF_TABLE2, Table)) };
    Ok(rows
        .iter()
        .filter_map(|row| {
            // SAFETY: NET_LUID_LH is a union whose `Value` covers all of it.
            let luid = unsafe { row.InterfaceLuid.Value };
            let adapter = adapters.iter().find(|a| a.luid == luid);
            let hardware = row.InterfaceAndOperStatusFlags._bitfield & HARDWARE_INTERFACE != 0;
            (adapter.is_some() || hardware).then(|| interface(row, luid, adapter))
        })
        .collect())
}

fn interface(row: &MIB_IF_ROW2, luid: u64, adapter: Option<&Adapter>) -> Interface {
    Interface {
        id: luid.to_string(),
        index: row.InterfaceIndex,
        name: from_wide(&row.Alias),
        description: from_wide(&row.Description),
        if_type: row.Type,
        mtu: row.Mtu,
        mac: mac_bytes(&row.PhysicalAddress, row.PhysicalAddressLength),
        speed_bps: speed(row.ReceiveLinkSpeed, row.TransmitLinkSpeed),
        oper_status: oper_status(row.OperStatus),
        ipv4: adapter.map(|a| a.ipv4.clone()).unwrap_or_default(),
        ipv6: adapter.map(|a| a.ipv6.clone()).unwrap_or_default(),
        counters: InterfaceCounters {
            rx_bytes: row.InOctets,
            tx_bytes: row.OutOctets,
            rx_unicast_packets: row.InUcastPkts,
            tx_unicast_packets: row.OutUcastPkts,
            rx_non_unicast_packets: row.InNUcastPkts,
            tx_non_unicast_packets: row.OutNUcastPkts,
            rx_errors: row.InErrors,
            tx_errors: row.OutErrors,
            rx_discards: row.InDiscards,
            tx_discards: row.OutDiscards,
        },
    }
}

/// The faster of the two link speeds; 0 and `u64::MAX` mean "not known".
fn speed(rx: u64, tx: u64) -> Option<u64> {
    [rx, tx].into_iter().filter(|&s| s != 0 && s != u64::MAX).max()
}

/// An `IF_OPER_STATUS` (RFC 2863 `ifOperStatus`): `IfOperStatusUp` = 1 ... `LowerLayerDown` = 7.
fn oper_status(status: i32) -> OperStatus {
    match status {
        1 => OperStatus::Up,
        2 => OperStatus::Down,
        3 => OperStatus::Testing,
        5 => OperStatus::Dormant,
        6 => OperStatus::NotPresent,
        7 => OperStatus::LowerLayerDown,
        _ => OperStatus::Unknown, // 4, IfOperStatusUnknown, and anything newer.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_speeds() {
        assert_eq!(speed(0, 0), None);
        assert_eq!(speed(u64::MAX, u64::MAX), None);
        assert_eq!(speed(1_000_000_000, 100_000_000), Some(1_000_000_000));
        assert_eq!(speed(u64::MAX, 10), Some(10));
    }

    #[test]
    fn oper_statuses() {
        use windows_sys::Win32::NetworkManagement::Ndis::{IfOperStatusLowerLayerDown, IfOperStatusUp};
        assert_eq!(oper_status(IfOperStatusUp), OperStatus::Up);
        assert_eq!(oper_status(IfOperStatusLowerLayerDown), OperStatus::LowerLayerDown);
        let expected = [
            OperStatus::Up,
            OperStatus::Down,
            OperStatus::Testing,
            OperStatus::Unknown,
            OperStatus::Dormant,
            OperStatus::NotPresent,
            OperStatus::LowerLayerDown,
        ];
        for (code, status) in (1..=7).zip(expected) {
            assert_eq!(oper_status(code), status);
        }
        assert_eq!(oper_status(0), OperStatus::Unknown);
    }
}
