//! Host facts for kraken-sentry, behind one trait.
//!
//! [`HostFacts`] is the only door to the operating system: processes, ARP/neighbour caches,
//! routes, sockets with their owning pids, CPU and memory counters, network interfaces, volumes,
//! host name and OS identity. It returns the plain structs of [`model`]. [`SystemHost`] is the
//! implementation for the platform being built: `windows/` calls Win32 (through `windows-sys`),
//! `linux/` reads procfs, sysfs and rtnetlink. The two folders mirror each other file for file
//! (`processes.rs`, `neighbours.rs`, `routes.rs`, `sockets.rs`, `cpu.rs`, `memory.rs`,
//! `interfaces.rs`, `volumes.rs`, `system.rs`), so a fact is read in one obvious place per OS.
//!
//! Computations that need two readings (per-process CPU percent) live above the trait in
//! [`sampling`], so they are written once and tested on any platform. [`files`] lists
//! directories without passing through links (`files.rs` in each folder).

mod error;
pub mod eventlog;
pub mod files;
pub mod model;
pub mod sampling;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(windows)]
mod windows;

pub use error::{HostError, HostResult};
pub use model::*;

/// Every host fact the sentry reads. Each call reads the OS afresh; nothing is cached.
pub trait HostFacts: Send + Sync {
    /// Every process the OS lists, including those that cannot be opened.
    fn processes(&self) -> HostResult<Vec<ProcessSnapshot>>;
    /// The ARP cache (IPv4) and IPv6 neighbour cache, in one list.
    fn neighbours(&self) -> HostResult<Vec<Neighbour>>;
    /// IPv4 and IPv6 routes of the main routing table.
    fn routes(&self) -> HostResult<Vec<Route>>;
    /// TCP and UDP sockets of both families, with owning pids where the OS tells.
    fn sockets(&self) -> HostResult<Vec<Socket>>;
    /// Cumulative whole-machine CPU times.
    fn cpu_times(&self) -> HostResult<CpuTimes>;
    /// Number of logical processors the OS schedules on (all processor groups).
    fn cpu_count(&self) -> usize;
    /// Physical and virtual memory.
    fn memory(&self) -> HostResult<MemoryStatus>;
    /// Network interfaces with addresses and counters.
    fn interfaces(&self) -> HostResult<Vec<Interface>>;
    /// Mounted volumes with their space. Pseudo file systems are left out.
    fn volumes(&self) -> HostResult<Vec<Volume>>;
    /// This host's name.
    fn host_name(&self) -> HostResult<String>;
    /// The OS product name, version and architecture.
    fn os_info(&self) -> HostResult<OsInfo>;
}

/// True when this Windows build runs under Wine rather than Windows (always false elsewhere).
/// Wine shows less than Windows (no socket owners, no IPv6 routes, no link speed); tests and
/// diagnostics use this to say which one they saw.
pub fn running_under_wine() -> bool {
    #[cfg(windows)]
    return windows::under_wine();
    #[cfg(not(windows))]
    return false;
}

/// Windows' `ProgramData` folder, as the shell knows it (`None` elsewhere, or if the shell
/// cannot say).
pub fn program_data_dir() -> Option<std::path::PathBuf> {
    #[cfg(windows)]
    return windows::folders::program_data();
    #[cfg(not(windows))]
    return None;
}

#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(windows)]
use windows as platform;

/// The host this process runs on, read through the platform's back end.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemHost;

impl HostFacts for SystemHost {
    fn processes(&self) -> HostResult<Vec<ProcessSnapshot>> {
        platform::processes::list()
    }

    fn neighbours(&self) -> HostResult<Vec<Neighbour>> {
        platform::neighbours::list()
    }

    fn routes(&self) -> HostResult<Vec<Route>> {
        platform::routes::list()
    }

    fn sockets(&self) -> HostResult<Vec<Socket>> {
        platform::sockets::list()
    }

    fn cpu_times(&self) -> HostResult<CpuTimes> {
        platform::cpu::times()
    }

    fn cpu_count(&self) -> usize {
        platform::cpu::count()
    }

    fn memory(&self) -> HostResult<MemoryStatus> {
        platform::memory::status()
    }

    fn interfaces(&self) -> HostResult<Vec<Interface>> {
        platform::interfaces::list()
    }

    fn volumes(&self) -> HostResult<Vec<Volume>> {
        platform::volumes::list()
    }

    fn host_name(&self) -> HostResult<String> {
        platform::system::host_name()
    }

    fn os_info(&self) -> HostResult<OsInfo> {
        platform::system::os_info()
    }
}
