//! The Linux back end: procfs, sysfs and rtnetlink.
//!
//! Each fact is read in its own file, named as in `windows/`; `lib.rs` wires them to
//! [`crate::HostFacts`]. Facts that need root to be complete (other users' socket owners) are read
//! as far as the caller's rights go, never failing the whole list.

pub(crate) mod cpu;
pub(crate) mod files;
pub(crate) mod interfaces;
pub(crate) mod memory;
mod names;
pub(crate) mod neighbours;
mod netlink;
pub(crate) mod processes;
pub(crate) mod routes;
pub(crate) mod sockets;
pub(crate) mod system;
pub(crate) mod volumes;
