//! Plain structs for every host fact, the same on every platform.
//!
//! The platform back ends (`linux/`, `windows/`) fill these in; everything above the trait
//! (commands, loggers) works on them and never on OS types. Units are fixed here, once:
//! bytes for memory and disks, [`std::time::Duration`] for CPU time, bits per second for link
//! speed. Turning them into the seed's maps and strings happens in the `sentry` crate.

mod cpu;
mod file_entry;
mod interface;
mod memory;
mod neighbour;
mod process;
mod route;
mod socket;
mod system;
mod volume;

pub use cpu::CpuTimes;
pub use file_entry::{DirectoryEntry, EntryKind};
pub use interface::{Interface, InterfaceCounters, OperStatus};
pub use memory::MemoryStatus;
pub use neighbour::{Neighbour, NeighbourKind};
pub use process::ProcessSnapshot;
pub use route::{Route, RouteKind, RouteProtocol};
pub use socket::{Socket, SocketProtocol, TcpState};
pub use system::OsInfo;
pub use volume::{Volume, VolumeKind};
