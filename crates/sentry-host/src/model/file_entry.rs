//! A directory entry as it is itself: what `sentry_host::files` lists.

use std::time::SystemTime;

/// What a directory entry is, judged without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    /// A symbolic link, or on Windows any reparse point (junction, mount point...).
    Link,
    /// Anything else: a device, a FIFO, a socket.
    Other,
}

impl EntryKind {
    /// The word used in replies: `file`, `dir`, `link` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Directory => "dir",
            EntryKind::Link => "link",
            EntryKind::Other => "other",
        }
    }
}

/// One entry of a directory, as it is itself (a link's own size and date, not its target's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The entry's name (lossy UTF-8).
    pub name: String,
    pub kind: EntryKind,
    /// Bytes; 0 for anything but a file.
    pub size: u64,
    pub modified: Option<SystemTime>,
}
