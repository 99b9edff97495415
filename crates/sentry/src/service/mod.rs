//! The agent as a service: an NT service on Windows (`windows/`, with the `windows-service`
//! crate), a systemd unit on Linux (`linux/`). Both are driven through one trait
//! ([`manager::ServiceManager`]); the life the Windows service reports ([`lifecycle`]) and the
//! restarts on failure ([`recovery`]) are plain code, tested everywhere.

pub mod lifecycle;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod manager;
pub mod recovery;
#[cfg(windows)]
pub mod windows;

/// This platform's service manager, where there is one.
pub fn platform_manager() -> anyhow::Result<Box<dyn manager::ServiceManager>> {
    #[cfg(windows)]
    return Ok(Box::new(windows::scm::WindowsServices));
    #[cfg(target_os = "linux")]
    return Ok(Box::new(linux::systemd::Systemd));
    #[cfg(not(any(windows, target_os = "linux")))]
    anyhow::bail!("no service manager is supported on this platform")
}
