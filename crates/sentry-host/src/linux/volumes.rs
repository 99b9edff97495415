//! Mounted file systems from `/proc/self/mountinfo`, with space from `statvfs(3)`.
//!
//! A volume is a file system of a real type (kernel pseudo file systems and tmpfs are left out),
//! listed once however many times it is mounted (one device, one `major:minor`): at the mount of
//! its own root (mountinfo `root` is `/`) if there is one, else at its first mount of a
//! directory. So bind mounts of a sub-tree are not counted again, and a file system mounted only
//! through a sub-tree still counts: a btrfs root on subvolume `/@` (Ubuntu, Fedora) has root
//! `/@`, and its other subvolumes (`/home` on `/@home`) share its space, so the one entry holds
//! them all. Network file systems (NFS, CIFS...) are
//! left out: `statvfs` on a hard-mounted share whose server is gone blocks forever, and a
//! host-facts read must never hang. A mount whose `statvfs` fails is skipped rather than
//! failing the list.

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
    let candidates: Vec<MountInfo> = mounts
        .into_iter()
        .filter(|mount| !PSEUDO.contains(&mount.fs_type.as_str()))
        .filter(|mount| !NETWORK.contains(&mount.fs_type.as_str()))
        .collect();
    let mut volumes = Vec::new();
    for mount in one_mount_per_device(&candidates, |path| path.is_dir()) {
        let kind = kind(mount);
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

/// For each device, in mountinfo order: the mount of the file system's root, else its first
/// mount whose mount point `is_dir` (a bind mount of one file, such as a container's
/// `/etc/hosts`, is no place to show a volume).
fn one_mount_per_device(mounts: &[MountInfo], is_dir: impl Fn(&Path) -> bool) -> Vec<&MountInfo> {
    let mut chosen: Vec<&MountInfo> = Vec::new();
    for mount in mounts {
        let at_root = mount.root == "/";
        if !at_root && !is_dir(&mount.mount_point) {
            continue;
        }
        match chosen.iter().position(|other| other.majmin == mount.majmin) {
            None => chosen.push(mount),
            Some(i) if at_root && chosen[i].root != "/" => chosen[i] = mount,
            Some(_) => {}
        }
    }
    chosen
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(line: &str) -> MountInfo {
        MountInfo::from_line(line).expect("a mountinfo line")
    }

    fn points(mounts: &[MountInfo]) -> Vec<String> {
        one_mount_per_device(mounts, |path| path != Path::new("/etc/hosts"))
            .iter()
            .map(|m| m.mount_point.display().to_string())
            .collect()
    }

    #[test]
    fn a_btrfs_root_on_a_subvolume_is_listed_once_at_slash() {
        let mounts = [
            mount("26 1 0:24 /@ / rw,relatime shared:1 - btrfs /dev/vda2 rw,subvol=/@"),
            mount("27 26 0:24 /@home /home rw,relatime shared:2 - btrfs /dev/vda2 rw,subvol=/@home"),
            mount("28 26 253:1 / /boot rw,relatime shared:3 - ext4 /dev/vda1 rw"),
        ];
        assert_eq!(points(&mounts), ["/", "/boot"]);
    }

    #[test]
    fn a_bind_mount_of_a_sub_tree_gives_way_to_the_root_mount() {
        let mounts = [
            mount("30 1 8:1 /srv/data /data rw shared:1 - ext4 /dev/sda1 rw"),
            mount("31 1 8:1 / /mnt/disk rw shared:2 - ext4 /dev/sda1 rw"),
            mount("32 1 8:1 /srv/other /other rw shared:3 - ext4 /dev/sda1 rw"),
        ];
        assert_eq!(points(&mounts), ["/mnt/disk"]);
    }

    #[test]
    fn a_file_bind_mount_is_not_a_volume() {
        let mounts = [
            mount("40 1 0:50 / / rw shared:1 - overlay overlay rw"),
            mount("41 40 254:1 /docker/containers/x/hosts /etc/hosts rw - ext4 /dev/vda1 rw"),
        ];
        assert_eq!(points(&mounts), ["/"]);
    }
}
