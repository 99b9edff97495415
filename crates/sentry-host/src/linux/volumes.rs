//! Mounted file systems from `/proc/self/mountinfo`, with space from `statvfs(3)`.
//!
//! A volume is a whole file system (mountinfo `root` is `/`, so bind mounts of a sub-tree are
//! not counted again) of a real type: kernel pseudo file systems and tmpfs are left out. Each
//! device is listed once, at its first mount point. Network file systems (NFS, CIFS...) are
//! left out: `statvfs` on a hard-mounted share whose server is gone blocks forever, and a
//! host-facts read must never hang. A mount whose `statvfs` fails is skipped rather than
//! failing the list.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use procfs::process::MountInfo;

use crate::{HostError, HostResult, Volume, VolumeKind};

/// File system types that hold no user data.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "ramfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "nsfs",
    "rpc_pipefs",
    "selinuxfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "overlay.lower",
];
/// File system types served over the network.
const NETWORK: &[&str] =
    &["nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "fuse.sshfs", "afs"];

pub(crate) fn list() -> HostResult<Vec<Volume>> {
    let mounts = procfs::process::Process::myself()
        .and_then(|me| me.mountinfo())
        .map_err(|e| HostError::malformed("volumes", e.to_string()))?;
    let mut seen_devices = HashSet::new();
    let mut volumes = Vec::new();
    for mount in mounts.into_iter().filter(is_volume) {
        let kind = kind(&mount);
        if kind == VolumeKind::Network {
            continue;
        }
        if !seen_devices.insert(mount.majmin.clone()) {
            continue;
        }
        let Ok(space) = rustix::fs::statvfs(&mount.mount_point) else { continue };
        let block = space.f_frsize.max(1);
        volumes.push(Volume {
            root: mount.mount_point.to_string_lossy().into_owned(),
            kind,
            device: mount.mount_source.clone(),
            fs_type: mount.fs_type.clone(),
            total: space.f_blocks.saturating_mul(block),
            free: space.f_bfree.saturating_mul(block),
            available: space.f_bavail.saturating_mul(block),
        });
    }
    Ok(volumes)
}

fn is_volume(mount: &MountInfo) -> bool {
    mount.root == "/" && !PSEUDO.contains(&mount.fs_type.as_str())
}

fn kind(mount: &MountInfo) -> VolumeKind {
    let fs_type = mount.fs_type.as_str();
    if NETWORK.contains(&fs_type) {
        return VolumeKind::Network;
    }
    if fs_type == "iso9660" || fs_type == "udf" {
        return VolumeKind::CdRom;
    }
    match mount.mount_source.as_deref().and_then(|source| source.strip_prefix("/dev/")) {
        Some(device) if is_removable(device) => VolumeKind::Removable,
        _ => VolumeKind::Fixed,
    }
}

/// Whether the block device (or, for a partition, its disk) says it is removable.
fn is_removable(device: &str) -> bool {
    let block = Path::new("/sys/class/block").join(device);
    let flag = |path: &Path| fs::read_to_string(path).is_ok_and(|text| text.trim() == "1");
    flag(&block.join("removable")) || flag(&block.join("../removable"))
}
