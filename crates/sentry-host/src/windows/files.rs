//! Directory listings on Windows: any reparse point (`FILE_ATTRIBUTE_REPARSE_POINT`: symbolic
//! link, junction, mount point) is a link; entries are described from the directory's own
//! listing (`FindNextFileW` data), so no entry is opened.

use std::ffi::OsString;
use std::fs::{Metadata, ReadDir};
use std::io;
use std::os::windows::fs::MetadataExt;
use std::path::Path;

use windows_sys::Win32::Storage::FileSystem::FILE_ATTRIBUTE_REPARSE_POINT;

use crate::model::{DirectoryEntry, EntryKind};

/// The entry `name` described by `metadata` (read without following links).
pub fn describe(name: String, metadata: &Metadata) -> DirectoryEntry {
    let kind = kind_of_metadata(metadata);
    let size = if kind == EntryKind::File { metadata.len() } else { 0 };
    DirectoryEntry { name, kind, size, modified: metadata.modified().ok() }
}

/// What metadata read without following links says the entry is.
pub fn kind_of_metadata(metadata: &Metadata) -> EntryKind {
    if metadata.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        EntryKind::Link
    } else if metadata.is_dir() {
        EntryKind::Directory
    } else if metadata.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

/// The entries of `root`\`beneath...`; a component of `beneath` that is a reparse point fails.
/// (Checked just before the listing opens the path: unlike Linux, not held while it does.)
pub fn read_directory(root: &Path, beneath: &[OsString]) -> io::Result<Entries> {
    let mut path = root.to_path_buf();
    for component in beneath {
        path.push(component);
        if kind_of_metadata(&std::fs::symlink_metadata(&path)?) == EntryKind::Link {
            return Err(io::Error::other(format!("{} is a link or reparse point", path.display())));
        }
    }
    Ok(Entries { listing: std::fs::read_dir(&path)? })
}

/// The entries of one directory.
pub struct Entries {
    listing: ReadDir,
}

impl Iterator for Entries {
    type Item = io::Result<DirectoryEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = match self.listing.next()? {
            Ok(entry) => entry,
            Err(error) => return Some(Err(error)),
        };
        // On Windows a DirEntry's metadata is the listing's own data: nothing is opened or followed.
        Some(
            entry
                .metadata()
                .map(|metadata| describe(entry.file_name().to_string_lossy().into_owned(), &metadata)),
        )
    }
}
