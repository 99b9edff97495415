//! TCP and UDP sockets with their owning process.

use std::net::SocketAddr;

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketProtocol {
    Tcp,
    Udp,
}

/// TCP connection state, in Windows' vocabulary (`MIB_TCP_STATE`). Linux states map onto it:
/// `SYN_RECV` is `SynReceived`, `CLOSE` is `Closed`, `NEW_SYN_RECV` is `SynReceived`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    DeleteTcb,
    Unknown,
}

/// One socket. The address family is that of `local`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub protocol: SocketProtocol,
    pub local: SocketAddr,
    /// The peer, for TCP (unspecified address and port 0 when listening). `None` for UDP.
    pub remote: Option<SocketAddr>,
    /// TCP state; `None` for UDP.
    pub state: Option<TcpState>,
    /// Owning process, when the OS tells (Linux: only for processes this user may inspect).
    pub pid: Option<u32>,
}
