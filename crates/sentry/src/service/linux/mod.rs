//! The service on Linux: the systemd unit.

pub mod systemd;
