//! The Windows back end: Win32 through `windows-sys`.
//!
//! Each fact is read in its own file, named as in `linux/`; `lib.rs` wires them to
//! [`crate::HostFacts`]. Buffers for table APIs are sized by asking first and grown on
//! `ERROR_INSUFFICIENT_BUFFER`, so no table is truncated (BUG-42).

mod adapters;
pub(crate) mod cpu;
pub(crate) mod eventlog;
pub(crate) mod files;
pub(crate) mod folders;
pub(crate) mod interfaces;
pub(crate) mod memory;
pub(crate) mod neighbours;
pub(crate) mod processes;
pub(crate) mod routes;
pub(crate) mod sockets;
pub(crate) mod system;
pub(crate) mod volumes;
mod win32;

pub(crate) use system::under_wine;
