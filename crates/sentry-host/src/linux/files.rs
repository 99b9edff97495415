//! Directory listings on Linux: each directory below the root opened relative to the one
//! before with `O_NOFOLLOW`, entries read from that descriptor and described with
//! `fstatat(AT_SYMLINK_NOFOLLOW)`: nothing is reached through a link.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, Stat, openat, statat};

use crate::model::{DirectoryEntry, EntryKind};

/// The entry `name` described by `metadata` (read without following links).
pub fn describe(name: String, metadata: &Metadata) -> DirectoryEntry {
    let kind = kind_of_metadata(metadata);
    let size = if kind == EntryKind::File { metadata.len() } else { 0 };
    DirectoryEntry { name, kind, size, modified: metadata.modified().ok() }
}

/// What metadata read without following links says the entry is.
pub fn kind_of_metadata(metadata: &Metadata) -> EntryKind {
    let file_type = metadata.file_type();
    if file_type.is_symlink() {
        EntryKind::Link
    } else if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

/// The entries of `root`/`beneath...`; a component of `beneath` that is a link fails (`ELOOP`
/// or `ENOTDIR`).
pub fn read_directory(root: &Path, beneath: &[OsString]) -> io::Result<Entries> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut directory = openat(CWD, root, flags, Mode::empty())?;
    for component in beneath {
        directory = openat(&directory, component.as_os_str(), flags | OFlags::NOFOLLOW, Mode::empty())?;
    }
    Ok(Entries { directory: Dir::new(directory)? })
}

/// The entries of one open directory.
pub struct Entries {
    directory: Dir,
}

impl Iterator for Entries {
    type Item = io::Result<DirectoryEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.directory.next()? {
                Ok(entry) => entry,
                Err(error) => return Some(Err(error.into())),
            };
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let fd = match self.directory.fd() {
                Ok(fd) => fd,
                Err(error) => return Some(Err(error.into())),
            };
            match statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => {
                    let name = std::ffi::OsStr::from_bytes(name.to_bytes()).to_string_lossy().into_owned();
                    return Some(Ok(entry_of(name, &stat)));
                }
                // Removed since the directory was read: not an entry any more.
                Err(rustix::io::Errno::NOENT) => continue,
                Err(error) => return Some(Err(error.into())),
            }
        }
    }
}

fn entry_of(name: String, stat: &Stat) -> DirectoryEntry {
    let file_type = FileType::from_raw_mode(stat.st_mode);
    let kind = match file_type {
        FileType::Symlink => EntryKind::Link,
        FileType::Directory => EntryKind::Directory,
        FileType::RegularFile => EntryKind::File,
        _ => EntryKind::Other,
    };
    let size = if kind == EntryKind::File { u64::try_from(stat.st_size).unwrap_or(0) } else { 0 };
    // `st_mtime` is an i64 here, a C long elsewhere.
    #[allow(clippy::useless_conversion)]
    let seconds = i64::from(stat.st_mtime);
    let nanos = u32::try_from(stat.st_mtime_nsec).unwrap_or(0).min(999_999_999);
    let modified = if seconds >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(seconds.unsigned_abs(), nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(seconds.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
    };
    DirectoryEntry { name, kind, size, modified }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_other_and_sizes_are_the_files_own() {
        let mut entries: Vec<DirectoryEntry> =
            read_directory(Path::new("/dev"), &[]).unwrap().map(Result::unwrap).collect();
        entries.retain(|e| e.name == "null");
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].kind, entries[0].size), (EntryKind::Other, 0));
        assert!(entries[0].modified.unwrap() > UNIX_EPOCH);
    }
}
