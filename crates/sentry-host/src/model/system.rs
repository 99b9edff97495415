//! Operating system identity.

/// What the OS says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsInfo {
    /// Product name: `Windows 10 Pro`, `Debian GNU/Linux 12 (bookworm)`.
    pub name: String,
    /// Version: `10.0.19045` on Windows, the kernel release on Linux.
    pub version: String,
    /// CPU architecture of the OS (`x86_64`, `aarch64`...).
    pub arch: String,
}
