//! The Linux back end: procfs, sysfs and rtnetlink.
//!
//! Each fact is read in its own file, named as in `windows/`; this file only wires them to
//! [`HostFacts`]. Facts that need root to be complete (other users' socket owners) are read
//! as far as the caller's rights go, never failing the whole list.

mod cpu;
mod interfaces;
mod memory;
mod names;
mod neighbours;
mod netlink;
mod processes;
mod routes;
mod sockets;
mod system;
mod volumes;

use crate::{
    CpuTimes, HostFacts, HostResult, Interface, MemoryStatus, Neighbour, OsInfo, ProcessSnapshot, Route,
    Socket, Volume,
};

/// The host this process runs on.
#[derive(Debug, Default, Clone, Copy)]
pub struct Host;

impl HostFacts for Host {
    fn processes(&self) -> HostResult<Vec<ProcessSnapshot>> {
        processes::list()
    }

    fn neighbours(&self) -> HostResult<Vec<Neighbour>> {
        neighbours::list()
    }

    fn routes(&self) -> HostResult<Vec<Route>> {
        routes::list()
    }

    fn sockets(&self) -> HostResult<Vec<Socket>> {
        sockets::list()
    }

    fn cpu_times(&self) -> HostResult<CpuTimes> {
        cpu::times()
    }

    fn cpu_count(&self) -> usize {
        cpu::count()
    }

    fn memory(&self) -> HostResult<MemoryStatus> {
        memory::status()
    }

    fn interfaces(&self) -> HostResult<Vec<Interface>> {
        interfaces::list()
    }

    fn volumes(&self) -> HostResult<Vec<Volume>> {
        volumes::list()
    }

    fn host_name(&self) -> HostResult<String> {
        system::host_name()
    }

    fn os_info(&self) -> HostResult<OsInfo> {
        system::os_info()
    }
}
