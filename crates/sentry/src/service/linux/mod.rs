//! The service on Linux: the systemd unit, and the private keys' mode check.

pub mod key_mode;
pub mod systemd;
