//! The Windows back end: Win32 through `windows-sys`.
//!
//! Each fact is read in its own file, named as in `linux/`; this file only wires them to
//! [`HostFacts`]. Buffers for table APIs are sized by asking first and grown on
//! `ERROR_INSUFFICIENT_BUFFER`, so no table is truncated (BUG-42).

mod adapters;
mod cpu;
mod interfaces;
mod memory;
mod neighbours;
mod processes;
mod routes;
mod sockets;
mod system;
mod volumes;
mod win32;

pub(crate) use system::under_wine;

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
