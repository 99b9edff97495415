//! TCP and UDP sockets of both families with their owning pids.
//!
//! `GetExtendedTcpTable(TCP_TABLE_OWNER_PID_ALL)` and `GetExtendedUdpTable(UDP_TABLE_OWNER_PID)`
//! are called once per family, each with the row layout of its own family: the IPv6 tables have
//! 16-byte addresses and scope ids (the original read them with the IPv4 layout, BUG-41).
//! Buffers are sized by the API and grown while it says they are too small. Ports are in
//! network byte order in the low 16 bits of a DWORD.

use std::mem::offset_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, MIB_TCP6ROW_OWNER_PID, MIB_TCP6TABLE_OWNER_PID,
    MIB_TCPROW_OWNER_PID, MIB_TCPTABLE_OWNER_PID, MIB_UDP6ROW_OWNER_PID, MIB_UDP6TABLE_OWNER_PID,
    MIB_UDPROW_OWNER_PID, MIB_UDPTABLE_OWNER_PID, TCP_TABLE_OWNER_PID_ALL, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};

use super::win32::{TableBuf, ipv4_from_dword, port_from_dword, sized_table};
use crate::{HostResult, Socket, SocketProtocol, TcpState};

const FACT: &str = "sockets";

/// TCP v4, TCP v6, UDP v4 and UDP v6 sockets, in that order.
pub(crate) fn list() -> HostResult<Vec<Socket>> {
    let mut sockets = Vec::new();
    if let Some(buf) = tcp_table(AF_INET)? {
        // SAFETY: an AF_INET TCP_TABLE_OWNER_PID_ALL table is a MIB_TCPTABLE_OWNER_PID.
        let rows =
            unsafe { buf.rows::<MIB_TCPROW_OWNER_PID>(FACT, offset_of!(MIB_TCPTABLE_OWNER_PID, table)) }?;
        sockets.extend(rows.iter().map(tcp_v4));
    }
    if let Some(buf) = tcp_table(AF_INET6)? {
        // SAFETY: an AF_INET6 TCP_TABLE_OWNER_PID_ALL table is a MIB_TCP6TABLE_OWNER_PID.
        let rows =
            unsafe { buf.rows::<MIB_TCP6ROW_OWNER_PID>(FACT, offset_of!(MIB_TCP6TABLE_OWNER_PID, table)) }?;
        sockets.extend(rows.iter().map(tcp_v6));
    }
    if let Some(buf) = udp_table(AF_INET)? {
        // SAFETY: an AF_INET UDP_TABLE_OWNER_PID table is a MIB_UDPTABLE_OWNER_PID.
        let rows =
            unsafe { buf.rows::<MIB_UDPROW_OWNER_PID>(FACT, offset_of!(MIB_UDPTABLE_OWNER_PID, table)) }?;
        sockets.extend(rows.iter().map(|r| udp(v4(r.dwLocalAddr, r.dwLocalPort), r.dwOwningPid)));
    }
    if let Some(buf) = udp_table(AF_INET6)? {
        // SAFETY: an AF_INET6 UDP_TABLE_OWNER_PID table is a MIB_UDP6TABLE_OWNER_PID.
        let rows =
            unsafe { buf.rows::<MIB_UDP6ROW_OWNER_PID>(FACT, offset_of!(MIB_UDP6TABLE_OWNER_PID, table)) }?;
        sockets.extend(
            rows.iter().map(|r| udp(v6(r.ucLocalAddr, r.dwLocalScopeId, r.dwLocalPort), r.dwOwningPid)),
        );
    }
    Ok(sockets)
}

fn tcp_table(family: u16) -> HostResult<Option<TableBuf>> {
    sized_table(FACT, "GetExtendedTcpTable", |ptr, size| {
        // SAFETY: `ptr` points to `*size` writable, 8-aligned bytes; the API writes at most that
        // many and reports the size it needs otherwise.
        unsafe { GetExtendedTcpTable(ptr, size, 0, u32::from(family), TCP_TABLE_OWNER_PID_ALL, 0) }
    })
}

fn udp_table(family: u16) -> HostResult<Option<TableBuf>> {
    sized_table(FACT, "GetExtendedUdpTable", |ptr, size| {
        // SAFETY: as in `tcp_table`.
        unsafe { GetExtendedUdpTable(ptr, size, 0, u32::from(family), UDP_TABLE_OWNER_PID, 0) }
    })
}

fn tcp_v4(row: &MIB_TCPROW_OWNER_PID) -> Socket {
    let remote = v4(row.dwRemoteAddr, row.dwRemotePort);
    tcp(v4(row.dwLocalAddr, row.dwLocalPort), remote, row.dwState, row.dwOwningPid)
}

fn tcp_v6(row: &MIB_TCP6ROW_OWNER_PID) -> Socket {
    let local = v6(row.ucLocalAddr, row.dwLocalScopeId, row.dwLocalPort);
    let remote = v6(row.ucRemoteAddr, row.dwRemoteScopeId, row.dwRemotePort);
    tcp(local, remote, row.dwState, row.dwOwningPid)
}

fn tcp(local: SocketAddr, remote: SocketAddr, state: u32, pid: u32) -> Socket {
    let state = tcp_state(state);
    // A listener has no peer; Windows may leave junk in the remote fields of its row.
    let remote = if state == TcpState::Listen { unspecified(&local) } else { remote };
    Socket { protocol: SocketProtocol::Tcp, local, remote: Some(remote), state: Some(state), pid: Some(pid) }
}

fn udp(local: SocketAddr, pid: u32) -> Socket {
    Socket { protocol: SocketProtocol::Udp, local, remote: None, state: None, pid: Some(pid) }
}

fn v4(addr: u32, port: u32) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ipv4_from_dword(addr), port_from_dword(port)))
}

/// An IPv6 socket address. The scope id is documented as being in network byte order; it is
/// kept only for link-local addresses, the only ones it means anything for (Wine 8 fills in
/// junk, e.g. 0x1000 for `::1`).
fn v6(addr: [u8; 16], scope_id: u32, port: u32) -> SocketAddr {
    let ip = Ipv6Addr::from(addr);
    let scope_id = if ip.is_unicast_link_local() { u32::from_be(scope_id) } else { 0 };
    SocketAddr::V6(SocketAddrV6::new(ip, port_from_dword(port), 0, scope_id))
}

/// The unspecified address of `local`'s family, port 0.
fn unspecified(local: &SocketAddr) -> SocketAddr {
    let ip = match local {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// A `MIB_TCP_STATE` value.
fn tcp_state(state: u32) -> TcpState {
    match state {
        1 => TcpState::Closed,
        2 => TcpState::Listen,
        3 => TcpState::SynSent,
        4 => TcpState::SynReceived,
        5 => TcpState::Established,
        6 => TcpState::FinWait1,
        7 => TcpState::FinWait2,
        8 => TcpState::CloseWait,
        9 => TcpState::Closing,
        10 => TcpState::LastAck,
        11 => TcpState::TimeWait,
        12 => TcpState::DeleteTcb,
        _ => TcpState::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use windows_sys::Win32::NetworkManagement::IpHelper::{
        MIB_TCP_STATE_CLOSED, MIB_TCP_STATE_DELETE_TCB, MIB_TCP_STATE_ESTAB, MIB_TCP_STATE_LISTEN,
        MIB_TCP_STATE_TIME_WAIT,
    };

    use super::*;

    #[test]
    fn tcp_states_follow_mib_tcp_state() {
        assert_eq!(tcp_state(MIB_TCP_STATE_CLOSED as u32), TcpState::Closed);
        assert_eq!(tcp_state(MIB_TCP_STATE_LISTEN as u32), TcpState::Listen);
        assert_eq!(tcp_state(MIB_TCP_STATE_ESTAB as u32), TcpState::Established);
        assert_eq!(tcp_state(MIB_TCP_STATE_TIME_WAIT as u32), TcpState::TimeWait);
        assert_eq!(tcp_state(MIB_TCP_STATE_DELETE_TCB as u32), TcpState::DeleteTcb);
        assert_eq!(tcp_state(0), TcpState::Unknown);
        assert_eq!(tcp_state(13), TcpState::Unknown);
        assert_eq!(tcp_state(100), TcpState::Unknown);
    }

    #[test]
    fn v4_rows_convert() {
        let row = MIB_TCPROW_OWNER_PID {
            dwState: 5,
            dwLocalAddr: u32::from_ne_bytes([10, 0, 0, 1]),
            dwLocalPort: u32::from(443u16.to_be()),
            dwRemoteAddr: u32::from_ne_bytes([192, 168, 1, 2]),
            dwRemotePort: u32::from(50_000u16.to_be()),
            dwOwningPid: 1234,
        };
        let s = tcp_v4(&row);
        assert_eq!(s.local, "10.0.0.1:443".parse().unwrap());
        assert_eq!(s.remote, Some("192.168.1.2:50000".parse().unwrap()));
        assert_eq!(s.state, Some(TcpState::Established));
        assert_eq!(s.pid, Some(1234));
    }

    #[test]
    fn v6_rows_use_the_v6_layout() {
        // SAFETY: MIB_TCP6ROW_OWNER_PID is plain data; zero is a valid value.
        let mut row: MIB_TCP6ROW_OWNER_PID = unsafe { std::mem::zeroed() };
        row.ucLocalAddr = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
        row.dwLocalScopeId = 7u32.to_be();
        row.dwLocalPort = u32::from(8080u16.to_be());
        row.ucRemoteAddr = [0xff; 16]; // Junk a listener may carry.
        row.dwRemotePort = 99;
        row.dwState = 2;
        row.dwOwningPid = 4;
        let s = tcp_v6(&row);
        assert_eq!(s.local, SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 8080, 0, 7)));
        assert_eq!(s.remote, Some("[::]:0".parse().unwrap()));
        assert_eq!(s.state, Some(TcpState::Listen));
        assert_eq!(s.pid, Some(4));
    }

    #[test]
    fn scope_ids_only_for_link_local() {
        let loopback = v6(Ipv6Addr::LOCALHOST.octets(), 0x1000, u32::from(80u16.to_be()));
        assert_eq!(loopback, "[::1]:80".parse().unwrap());
        let link = v6("fe80::2".parse::<Ipv6Addr>().unwrap().octets(), 12u32.to_be(), 0);
        assert_eq!(link, SocketAddr::V6(SocketAddrV6::new("fe80::2".parse().unwrap(), 0, 0, 12)));
    }

    #[test]
    fn udp_rows_have_no_peer_or_state() {
        let s = udp(v4(u32::from_ne_bytes([0, 0, 0, 0]), u32::from(53u16.to_be())), 8);
        assert_eq!(s.local, "0.0.0.0:53".parse().unwrap());
        assert_eq!((s.remote, s.state, s.pid), (None, None, Some(8)));
    }
}
