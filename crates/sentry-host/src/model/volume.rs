//! Disk volumes and mount points with their space.

/// What kind of drive backs a volume (Windows `GetDriveTypeW`; Linux guesses from the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolumeKind {
    Fixed,
    Removable,
    Network,
    CdRom,
    RamDisk,
    Other,
}

/// One mounted volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Root path: `C:\`, `/`, `/home`.
    pub root: String,
    /// Backing device or volume name (`/dev/sda1`, `\\?\Volume{...}\`), where known.
    pub device: Option<String>,
    /// File system type (`NTFS`, `ext4`).
    pub fs_type: String,
    pub kind: VolumeKind,
    /// Size in bytes.
    pub total: u64,
    /// Free bytes.
    pub free: u64,
    /// Free bytes available to the calling user (quotas, root reserve).
    pub available: u64,
}
