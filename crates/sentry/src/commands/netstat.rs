//! `getNetStat`: TCP and UDP sockets of both families with their owning pid.
//!
//! The reply is the seed's map of four lists, `tcp`, `tcp6`, `udp`, `udp6` (all four keys are
//! always present), with Windows' state vocabulary on every OS. A pid the OS does not reveal
//! is 0.

use kraken_codec::{Map, Value, map};
use sentry_host::{Socket, SocketProtocol};
use sentry_protocol::names::sentry_method;

use super::context::CommandContext;
use super::table::{Args, CommandError, Method, host_error};
use crate::host_text;

pub const METHODS: &[Method] =
    &[Method { name: sentry_method::GET_NET_STAT, params: &[], handler: get_net_stat }];

fn get_net_stat(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let sockets = context.host.sockets().map_err(host_error)?;
    Ok(netstat_record(&sockets))
}

/// The four lists, from any mix of sockets.
pub fn netstat_record(sockets: &[Socket]) -> Value {
    let mut lists: [Vec<Value>; 4] = Default::default();
    for socket in sockets {
        let slot = match (socket.protocol, socket.local.is_ipv6()) {
            (SocketProtocol::Tcp, false) => 0,
            (SocketProtocol::Tcp, true) => 1,
            (SocketProtocol::Udp, false) => 2,
            (SocketProtocol::Udp, true) => 3,
        };
        lists[slot].push(socket_record(socket));
    }
    let mut reply = Map::with_capacity(4);
    for (key, list) in ["tcp", "tcp6", "udp", "udp6"].into_iter().zip(lists) {
        reply.insert(key, Value::Array(list));
    }
    Value::Map(reply)
}

fn socket_record(socket: &Socket) -> Value {
    let pid = socket.pid.map_or(0, |p| i32::try_from(p).unwrap_or(i32::MAX));
    let local_ip = host_text::ip(&socket.local.ip());
    let local_port = i32::from(socket.local.port());
    match socket.protocol {
        SocketProtocol::Tcp => {
            let remote = socket.remote.unwrap_or_else(|| (socket.local.ip(), 0).into());
            map! {
                "local_ip" => local_ip,
                "local_port" => local_port,
                "remote_ip" => host_text::ip(&remote.ip()),
                "remote_port" => i32::from(remote.port()),
                "state" => host_text::tcp_state(socket.state.unwrap_or(sentry_host::TcpState::Unknown)),
                "pid" => pid,
            }
        }
        SocketProtocol::Udp => map! {
            "local_ip" => local_ip,
            "local_port" => local_port,
            "state" => host_text::UDP_STATE,
            "pid" => pid,
        },
    }
}
