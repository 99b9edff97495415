//! TCP and UDP sockets of both families, from `/proc/net/{tcp,tcp6,udp,udp6}`, with owners.
//!
//! The tables give each socket's inode; the owning pid is found the way `ss -p` and `netstat -p`
//! find it: by reading the `socket:[inode]` links in every `/proc/<pid>/fd` (BUG-45 guessed it
//! from the uid). Directories this user may not read leave those sockets without a pid. A
//! socket shared by several processes is attributed to the lowest pid that holds it.

use std::collections::HashMap;

use procfs::net::{TcpNetEntry, TcpState as ProcTcpState, UdpNetEntry};
use rustix::fs::{Dir, Mode, OFlags, openat, readlinkat};

use crate::{HostError, HostResult, Socket, SocketProtocol, TcpState};

const FACT: &str = "sockets";

pub(crate) fn list() -> HostResult<Vec<Socket>> {
    let tcp = [table(procfs::net::tcp())?, table(procfs::net::tcp6())?].concat();
    let udp = [table(procfs::net::udp())?, table(procfs::net::udp6())?].concat();
    let mut owners: HashMap<u64, Option<u32>> =
        tcp.iter().map(|e| (e.inode, None)).chain(udp.iter().map(|e| (e.inode, None))).collect();
    owners.remove(&0); // sockets in TIME_WAIT have no inode
    find_owners(&mut owners);
    let owner = |inode: u64| owners.get(&inode).copied().flatten();
    let mut sockets = Vec::with_capacity(tcp.len() + udp.len());
    sockets.extend(tcp.iter().map(|e| tcp_socket(e, owner(e.inode))));
    sockets.extend(udp.iter().map(|e| udp_socket(e, owner(e.inode))));
    Ok(sockets)
}

/// A table that does not exist (IPv6 disabled) is empty, not an error.
fn table<T>(read: procfs::ProcResult<Vec<T>>) -> HostResult<Vec<T>> {
    match read {
        Ok(rows) => Ok(rows),
        Err(procfs::ProcError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(HostError::malformed(FACT, e.to_string())),
    }
}

fn tcp_socket(entry: &TcpNetEntry, pid: Option<u32>) -> Socket {
    Socket {
        protocol: SocketProtocol::Tcp,
        local: entry.local_address,
        remote: Some(entry.remote_address),
        state: Some(tcp_state(&entry.state)),
        pid,
    }
}

fn udp_socket(entry: &UdpNetEntry, pid: Option<u32>) -> Socket {
    Socket { protocol: SocketProtocol::Udp, local: entry.local_address, remote: None, state: None, pid }
}

/// Linux TCP states in Windows' vocabulary.
fn tcp_state(state: &ProcTcpState) -> TcpState {
    match state {
        ProcTcpState::Established => TcpState::Established,
        ProcTcpState::SynSent => TcpState::SynSent,
        ProcTcpState::SynRecv | ProcTcpState::NewSynRecv => TcpState::SynReceived,
        ProcTcpState::FinWait1 => TcpState::FinWait1,
        ProcTcpState::FinWait2 => TcpState::FinWait2,
        ProcTcpState::TimeWait => TcpState::TimeWait,
        ProcTcpState::Close => TcpState::Closed,
        ProcTcpState::CloseWait => TcpState::CloseWait,
        ProcTcpState::LastAck => TcpState::LastAck,
        ProcTcpState::Listen => TcpState::Listen,
        ProcTcpState::Closing => TcpState::Closing,
    }
}

/// Fills `owners` (socket inode → pid) from every readable `/proc/<pid>/fd`.
fn find_owners(owners: &mut HashMap<u64, Option<u32>>) {
    if owners.is_empty() {
        return;
    }
    let Ok(proc_dir) =
        openat(rustix::fs::CWD, "/proc", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
    else {
        return;
    };
    let Ok(pids) = Dir::read_from(&proc_dir) else { return };
    let mut pid_list: Vec<u32> =
        pids.flatten().filter_map(|entry| entry.file_name().to_str().ok()?.parse().ok()).collect();
    pid_list.sort_unstable();
    let mut link = Vec::with_capacity(64);
    for pid in pid_list {
        let path = format!("{pid}/fd");
        let Ok(fd_dir) = openat(
            &proc_dir,
            path.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue; // gone, or not ours to read
        };
        let Ok(fds) = Dir::read_from(&fd_dir) else { continue };
        for entry in fds.flatten() {
            let name = entry.file_name();
            if name.to_bytes().first().is_none_or(|b| !b.is_ascii_digit()) {
                continue;
            }
            link.clear();
            let Ok(target) = readlinkat(&fd_dir, name, std::mem::take(&mut link)) else { continue };
            if let Some(inode) = socket_inode(target.as_bytes())
                && let Some(slot @ None) = owners.get_mut(&inode)
            {
                *slot = Some(pid);
            }
            link = target.into_bytes();
        }
    }
}

/// The inode of an fd link `socket:[12345]`.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn linux_states_use_the_windows_vocabulary() {
        assert_eq!(tcp_state(&ProcTcpState::SynRecv), TcpState::SynReceived);
        assert_eq!(tcp_state(&ProcTcpState::NewSynRecv), TcpState::SynReceived);
        assert_eq!(tcp_state(&ProcTcpState::Close), TcpState::Closed);
        assert_eq!(tcp_state(&ProcTcpState::Listen), TcpState::Listen);
    }
}
