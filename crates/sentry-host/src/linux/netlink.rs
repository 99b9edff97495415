//! A blocking rtnetlink dump: send one `RTM_GET*` request with `NLM_F_DUMP`, collect the replies.
//!
//! Neighbours, routes, links and addresses are all read this way (it is what `ip neigh`,
//! `ip route` and `ip link` do). The socket has a receive timeout so a kernel that never
//! answers cannot hang a command, and the number of messages collected is bounded.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::{HostError, HostResult};

/// How long one `recv` may wait for the kernel.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on the messages of one dump (a routing table with a full BGP feed has ~1M).
const MAX_MESSAGES: usize = 4_000_000;
/// Receive buffer: the kernel sends at most one page-sized batch (or 32 KiB) per datagram.
const RECV_BUFFER: usize = 64 * 1024;

/// Runs one dump request and returns every message of the reply, in order.
pub(super) fn dump(fact: &'static str, request: RouteNetlinkMessage) -> HostResult<Vec<RouteNetlinkMessage>> {
    let io = |what: &str, e: std::io::Error| HostError::io(fact, format!("rtnetlink {what}"), e);
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| io("socket", e))?;
    socket.bind_auto().map_err(|e| io("bind", e))?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(|e| io("connect", e))?;
    // SAFETY: the descriptor belongs to `socket`, which outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(socket.as_raw_fd()) };
    rustix::net::sockopt::set_socket_timeout(fd, rustix::net::sockopt::Timeout::Recv, Some(RECV_TIMEOUT))
        .map_err(|e| io("setsockopt", e.into()))?;

    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::from(request));
    message.finalize();
    let mut out = vec![0; message.buffer_len()];
    message.serialize(&mut out);
    socket.send(&out, 0).map_err(|e| io("send", e))?;

    let mut replies = Vec::new();
    let mut buffer = vec![0u8; RECV_BUFFER];
    loop {
        let received = socket.recv(&mut &mut buffer[..], 0).map_err(|e| io("recv", e))?;
        let mut datagram = &buffer[..received];
        while !datagram.is_empty() {
            let reply: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(datagram)
                .map_err(|e| HostError::malformed(fact, format!("rtnetlink reply: {e}")))?;
            let length = reply.header.length as usize;
            if length == 0 || length > datagram.len() {
                return Err(HostError::malformed(fact, "rtnetlink reply with a bad length"));
            }
            datagram = &datagram[length.next_multiple_of(4).min(datagram.len())..];
            match reply.payload {
                NetlinkPayload::Done(_) => return Ok(replies),
                NetlinkPayload::Error(error) => {
                    let code = error.code.map_or(0, |c| c.get());
                    return Err(io("dump", std::io::Error::from_raw_os_error(-code)));
                }
                NetlinkPayload::InnerMessage(inner) => {
                    if replies.len() == MAX_MESSAGES {
                        return Err(HostError::malformed(fact, "rtnetlink dump too large"));
                    }
                    replies.push(inner);
                }
                _ => {}
            }
        }
    }
}
