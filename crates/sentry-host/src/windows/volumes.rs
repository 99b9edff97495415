//! Volumes with their space: every drive letter, and every local volume mounted only on a
//! folder (`C:\Data\Archive\`), as on Linux every mount point counts (BUG-38).
//!
//! `GetLogicalDriveStringsW` lists the drive roots (`C:\`, `D:\`...); `FindFirstVolumeW` /
//! `FindNextVolumeW` list the local volumes and `GetVolumePathNamesForVolumeNameW` where each is
//! mounted, so a volume without a drive letter is listed at its first folder (a volume with
//! both is listed once, at its letter). `GetDriveTypeW` says what backs each root, `GetDiskFreeSpaceExW` gives total, free and caller-available bytes (quotas included),
//! `GetVolumeInformationW` the file system and `GetVolumeNameForVolumeMountPointW` the volume
//! GUID path. Probing runs with `SEM_FAILCRITICALERRORS` so an empty card reader or DVD drive
//! never pops up a dialog; a drive whose space cannot be read (no medium, locked, offline
//! share) is left out rather than reported as empty (BUG-38).

use windows_sys::Win32::Foundation::{ERROR_MORE_DATA, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    FindFirstVolumeW, FindNextVolumeW, FindVolumeClose, GetDiskFreeSpaceExW, GetDriveTypeW,
    GetLogicalDriveStringsW, GetVolumeInformationW, GetVolumeNameForVolumeMountPointW,
    GetVolumePathNamesForVolumeNameW,
};
use windows_sys::Win32::System::Diagnostics::Debug::{SEM_FAILCRITICALERRORS, SetThreadErrorMode};

use super::win32::{from_wide, last_error, to_wide, win32_error};
use crate::{HostResult, Volume, VolumeKind};

const FACT: &str = "volumes";

// `GetDriveTypeW` results (winbase.h).
const DRIVE_UNKNOWN: u32 = 0;
const DRIVE_NO_ROOT_DIR: u32 = 1;
const DRIVE_REMOVABLE: u32 = 2;
const DRIVE_FIXED: u32 = 3;
const DRIVE_REMOTE: u32 = 4;
const DRIVE_CDROM: u32 = 5;
const DRIVE_RAMDISK: u32 = 6;

/// Longest file system name and volume GUID path, NUL included (MAX_PATH + 1 is the documented
/// bound for both buffers).
const NAME_CAPACITY: usize = 261;

/// The most volumes and mount paths read (a bound on what the OS can make us allocate).
const MAX_VOLUMES: usize = 4096;
const MAX_PATH_NAMES_UNITS: u32 = 1 << 20;

/// Every volume whose space can be read: the drive letters, then the volumes mounted only on
/// folders.
pub(crate) fn list() -> HostResult<Vec<Volume>> {
    let mut roots = drive_roots()?;
    let _quiet = QuietErrors::new();
    roots.extend(folder_only_roots(&roots, &volume_mount_paths()));
    Ok(roots.iter().filter_map(|root| volume(root)).collect())
}

/// For each volume (by its mount paths): its first mount path, if none of its paths is a drive
/// root (those are listed already) and it has one at all.
fn folder_only_roots(drive_roots: &[String], volumes: &[Vec<String>]) -> Vec<String> {
    volumes
        .iter()
        .filter(|paths| !paths.iter().any(|p| drive_roots.iter().any(|d| d.eq_ignore_ascii_case(p))))
        .filter_map(|paths| paths.first().cloned())
        .collect()
}

/// The mount paths of every local volume (`C:\`, `C:\Data\Archive\`), one list per volume.
/// Best effort: a volume or call that fails is left out (the drive letters still stand).
fn volume_mount_paths() -> Vec<Vec<String>> {
    let mut name = [0u16; NAME_CAPACITY];
    // SAFETY: `name` holds NAME_CAPACITY writable units.
    let find = unsafe { FindFirstVolumeW(name.as_mut_ptr(), NAME_CAPACITY as u32) };
    if find == INVALID_HANDLE_VALUE {
        return Vec::new();
    }
    let mut volumes = Vec::new();
    loop {
        volumes.push(mount_paths(&name));
        // SAFETY: `find` is the open search handle; `name` holds NAME_CAPACITY writable units.
        if volumes.len() >= MAX_VOLUMES
            || unsafe { FindNextVolumeW(find, name.as_mut_ptr(), NAME_CAPACITY as u32) } == 0
        {
            break;
        }
    }
    // SAFETY: `find` came from FindFirstVolumeW and is closed once.
    unsafe { FindVolumeClose(find) };
    volumes
}

/// Where one volume (`\\?\Volume{GUID}\`, NUL-terminated in `volume`) is mounted.
fn mount_paths(volume: &[u16]) -> Vec<String> {
    let mut capacity = NAME_CAPACITY as u32;
    loop {
        let mut buf = vec![0u16; capacity as usize];
        let mut needed = 0u32;
        // SAFETY: `volume` is NUL-terminated; `buf` holds `capacity` writable units and
        // `needed` is writable.
        let ok = unsafe {
            GetVolumePathNamesForVolumeNameW(volume.as_ptr(), buf.as_mut_ptr(), capacity, &mut needed)
        };
        if ok != 0 {
            return split_multi_sz(&buf[..(needed as usize).min(buf.len())]);
        }
        if last_error() != ERROR_MORE_DATA || needed <= capacity || needed > MAX_PATH_NAMES_UNITS {
            return Vec::new();
        }
        capacity = needed;
    }
}

/// The drive roots, `C:\` style, from `GetLogicalDriveStringsW`.
fn drive_roots() -> HostResult<Vec<String>> {
    // SAFETY: a zero-length null buffer asks for the length needed, NUL included.
    let mut needed = unsafe { GetLogicalDriveStringsW(0, std::ptr::null_mut()) };
    for _ in 0..4 {
        if needed == 0 {
            return Err(win32_error(FACT, "GetLogicalDriveStringsW", last_error()));
        }
        let mut buf = vec![0u16; needed as usize + 1];
        // SAFETY: `buf` holds `buf.len()` writable units.
        let written = unsafe { GetLogicalDriveStringsW(buf.len() as u32, buf.as_mut_ptr()) };
        if written != 0 && (written as usize) < buf.len() {
            return Ok(split_multi_sz(&buf[..written as usize]));
        }
        needed = written; // A drive appeared meanwhile: the new length needed, or 0 on error.
    }
    Err(win32_error(FACT, "GetLogicalDriveStringsW", last_error()))
}

/// The strings of a NUL-separated list.
fn split_multi_sz(buf: &[u16]) -> Vec<String> {
    buf.split(|&c| c == 0).filter(|s| !s.is_empty()).map(String::from_utf16_lossy).collect()
}

/// One root's volume, or `None` if it has no usable medium.
fn volume(root: &str) -> Option<Volume> {
    let wide = to_wide(root);
    // SAFETY: `wide` is NUL-terminated.
    let kind = drive_kind(unsafe { GetDriveTypeW(wide.as_ptr()) })?;
    let (mut available, mut total, mut free) = (0u64, 0u64, 0u64);
    // SAFETY: `wide` is NUL-terminated and the three outputs are writable.
    if unsafe { GetDiskFreeSpaceExW(wide.as_ptr(), &mut available, &mut total, &mut free) } == 0 {
        return None;
    }
    let device = if kind == VolumeKind::Network { None } else { volume_guid_path(&wide) };
    Some(Volume { root: root.to_string(), device, fs_type: fs_type(&wide), kind, total, free, available })
}

/// The kind of a `GetDriveTypeW` result; `None` for no root directory or unknown.
fn drive_kind(drive_type: u32) -> Option<VolumeKind> {
    match drive_type {
        DRIVE_UNKNOWN | DRIVE_NO_ROOT_DIR => None,
        DRIVE_FIXED => Some(VolumeKind::Fixed),
        DRIVE_REMOVABLE => Some(VolumeKind::Removable),
        DRIVE_REMOTE => Some(VolumeKind::Network),
        DRIVE_CDROM => Some(VolumeKind::CdRom),
        DRIVE_RAMDISK => Some(VolumeKind::RamDisk),
        _ => Some(VolumeKind::Other),
    }
}

/// The file system name (`NTFS`, `FAT32`...), empty if unreadable.
fn fs_type(root: &[u16]) -> String {
    let mut name = [0u16; NAME_CAPACITY];
    // SAFETY: `root` is NUL-terminated; `name` holds NAME_CAPACITY writable units; the other
    // outputs are optional and passed as null.
    let ok = unsafe {
        GetVolumeInformationW(
            root.as_ptr(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            name.as_mut_ptr(),
            NAME_CAPACITY as u32,
        )
    };
    if ok != 0 { from_wide(&name) } else { String::new() }
}

/// `\\?\Volume{GUID}\` for a local root, if the OS has one.
fn volume_guid_path(root: &[u16]) -> Option<String> {
    let mut name = [0u16; NAME_CAPACITY];
    // SAFETY: `root` is NUL-terminated and ends with a backslash; `name` holds NAME_CAPACITY
    // writable units.
    let ok =
        unsafe { GetVolumeNameForVolumeMountPointW(root.as_ptr(), name.as_mut_ptr(), NAME_CAPACITY as u32) };
    (ok != 0).then(|| from_wide(&name)).filter(|n| !n.is_empty())
}

/// Turns off the critical-error dialog ("There is no disk in the drive") for this thread while
/// alive; restores the previous mode on drop.
struct QuietErrors(Option<u32>);

impl QuietErrors {
    fn new() -> Self {
        let mut old = 0;
        // SAFETY: plain call with a writable out-parameter.
        let ok = unsafe { SetThreadErrorMode(SEM_FAILCRITICALERRORS, &mut old) } != 0;
        QuietErrors(ok.then_some(old))
    }
}

impl Drop for QuietErrors {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            // SAFETY: restores the mode saved by `new`; the old-mode output is optional.
            unsafe { SetThreadErrorMode(old, std::ptr::null_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_types() {
        assert_eq!(drive_kind(0), None);
        assert_eq!(drive_kind(1), None);
        assert_eq!(drive_kind(2), Some(VolumeKind::Removable));
        assert_eq!(drive_kind(3), Some(VolumeKind::Fixed));
        assert_eq!(drive_kind(4), Some(VolumeKind::Network));
        assert_eq!(drive_kind(5), Some(VolumeKind::CdRom));
        assert_eq!(drive_kind(6), Some(VolumeKind::RamDisk));
        assert_eq!(drive_kind(7), Some(VolumeKind::Other));
    }

    #[test]
    fn a_volume_is_listed_at_a_folder_only_without_a_drive_letter() {
        let drives = vec!["C:\\".to_owned(), "D:\\".to_owned()];
        let paths = |list: &[&str]| list.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let volumes = vec![
            paths(&["C:\\"]),
            paths(&["d:\\", "C:\\Mirror\\"]),
            paths(&["C:\\Data\\Archive\\", "C:\\Other\\"]),
            paths(&[]),
        ];
        assert_eq!(folder_only_roots(&drives, &volumes), ["C:\\Data\\Archive\\"]);
    }

    #[test]
    fn drive_lists_split_on_nul() {
        let list: Vec<u16> = "C:\\\0D:\\\0".encode_utf16().collect();
        assert_eq!(split_multi_sz(&list), vec!["C:\\", "D:\\"]);
        assert!(split_multi_sz(&[]).is_empty());
    }
}
