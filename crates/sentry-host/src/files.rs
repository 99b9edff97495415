//! Directory listings that never pass through a link, for the sentry's `listFiles`.
//!
//! An entry is described by what it is itself ([`EntryKind`]): a symbolic link, or on Windows
//! any reparse point (junction, volume mount point, symbolic link), is a [`EntryKind::Link`]
//! and is never followed, so no listing stats or opens what a link points to (on Windows a
//! link to `\\host\share` would make the sentry dial out over SMB).
//!
//! [`read_directory`] lists `root` joined with components that must each be a plain
//! directory: on Linux each one is opened relative to the one before with `O_NOFOLLOW`, so a
//! component swapped for a link while the listing starts fails instead of being followed; on
//! Windows each one is checked for a reparse point just before the listing opens the path.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::path::Path;

pub use crate::model::{DirectoryEntry, EntryKind};

#[cfg(target_os = "linux")]
use crate::linux::files as platform_files;
#[cfg(windows)]
use crate::windows::files as platform_files;

/// The entry `name` described by `metadata`, which must not come from following a link.
pub fn describe(name: String, metadata: &Metadata) -> DirectoryEntry {
    platform_files::describe(name, metadata)
}

/// What `path`'s last component is, without following it (its parents are followed).
pub fn kind_of(path: &Path) -> io::Result<EntryKind> {
    Ok(kind_of_metadata(&std::fs::symlink_metadata(path)?))
}

/// What metadata read without following links says the entry is.
pub fn kind_of_metadata(metadata: &Metadata) -> EntryKind {
    platform_files::kind_of_metadata(metadata)
}

/// The entries of `root` joined with `beneath` (plain names, none of which may be a link or be
/// `.` or `..`), in the order the file system gives them. `root` itself is followed.
pub fn read_directory(
    root: &Path,
    beneath: &[OsString],
) -> io::Result<impl Iterator<Item = io::Result<DirectoryEntry>>> {
    if let Some(bad) = beneath.iter().find(|c| !is_plain_name(c)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a plain file name", Path::new(bad).display()),
        ));
    }
    platform_files::read_directory(root, beneath)
}

/// A name that is one component: not empty, not `.` or `..`, without a separator.
fn is_plain_name(name: &OsString) -> bool {
    let mut components = Path::new(name).components();
    matches!(
        (components.next(), components.next()),
        (Some(std::path::Component::Normal(only)), None) if only == name.as_os_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_plain_names_may_be_walked() {
        for good in ["a", "a b", "..."] {
            assert!(is_plain_name(&good.into()), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "/a", "a/"] {
            assert!(!is_plain_name(&bad.into()), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_are_listed_as_links_and_never_followed() {
        let dir = std::env::temp_dir().join(format!("kraken-host-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        std::fs::write(dir.join("inner").join("big"), vec![0u8; 4096]).unwrap();
        std::os::unix::fs::symlink(dir.join("inner").join("big"), dir.join("inner").join("to-big")).unwrap();
        std::os::unix::fs::symlink(dir.join("inner"), dir.join("to-inner")).unwrap();

        let mut entries: Vec<DirectoryEntry> =
            read_directory(&dir, &["inner".into()]).unwrap().map(Result::unwrap).collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let kinds: Vec<(&str, EntryKind, u64)> =
            entries.iter().map(|e| (e.name.as_str(), e.kind, e.size)).collect();
        assert_eq!(kinds, [("big", EntryKind::File, 4096), ("to-big", EntryKind::Link, 0)]);
        assert_eq!(kind_of(&dir.join("to-inner")).unwrap(), EntryKind::Link);

        // A component that is a link is refused, not followed.
        let through_link = read_directory(&dir, &["to-inner".into()]).err().expect("followed a link");
        assert!(through_link.raw_os_error().is_some(), "{through_link}");
        let dotted = read_directory(&dir, &["..".into()]).err().expect("walked `..`");
        assert_eq!(dotted.kind(), io::ErrorKind::InvalidInput);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
