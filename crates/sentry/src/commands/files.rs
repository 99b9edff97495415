//! `listFiles`: the allowed roots (no argument), or one directory's entries (a path).
//!
//! Remote file listing is confined to an allow-list of roots ([`FileRoots`]; by default every
//! fixed volume, as the original listed every root: set `commands.list_files_roots` to confine
//! it). A requested path is checked twice:
//! - by its text first, before anything touches the file system: it must be absolute and, with
//!   `.` and `..` resolved, lie under a configured root. So a path outside the roots is never
//!   looked up: no UNC path makes the sentry dial out (and offer its account's credentials),
//!   and "not found" versus "not allowed" tells nothing about files outside;
//! - then canonicalised, so symbolic links cannot step outside a root either.
//!
//! An entry that is a symbolic link shows its target (as Java's `File` did) only if the target
//! is inside the roots too; otherwise the link itself. Roots are listed with their path as
//! `name` (BUG-18). A missing path, a file, or a path outside the roots gives a clear error
//! instead of a null message; a directory with more than [`MAX_ENTRIES`] entries or
//! [`MAX_REPLY_BYTES`] of names is refused rather than sent as a reply too large for one frame.
//! At most [`MAX_LISTINGS`] listings run at once (a listing stuck on a dead mount holds one
//! thread for good; the others, and every other command, go on).

use std::fs::{self, Metadata};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use kraken_codec::{Value, map};
use sentry_host::VolumeKind;
use sentry_protocol::names::sentry_method;

use super::context::{CommandContext, FileRoots};
use super::table::{ArgKind, Args, CommandError, Method, Param, host_error};

/// The most entries one reply carries.
pub const MAX_ENTRIES: usize = 20_000;
/// The most bytes of names (plus a fixed cost per entry) one reply carries: half a frame.
pub const MAX_REPLY_BYTES: usize = 4 << 20;
/// What one entry costs in a reply besides its name (keys, size, flag, date).
const ENTRY_OVERHEAD: usize = 64;
/// The most directory listings in progress at once, over every base.
pub const MAX_LISTINGS: usize = 8;

static LISTINGS: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_LISTINGS`] listing slots, given back on drop.
struct ListingSlot;

impl ListingSlot {
    fn take() -> Result<ListingSlot, CommandError> {
        let taken = LISTINGS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_LISTINGS).then_some(n + 1));
        match taken {
            Ok(_) => Ok(ListingSlot),
            Err(_) => Err(CommandError::failed(format!(
                "{MAX_LISTINGS} file listings are already in progress; try again later"
            ))),
        }
    }
}

impl Drop for ListingSlot {
    fn drop(&mut self) {
        LISTINGS.fetch_sub(1, Ordering::AcqRel);
    }
}

pub const METHODS: &[Method] = &[
    Method { name: sentry_method::LIST_FILES, params: &[], handler: list_roots },
    Method {
        name: sentry_method::LIST_FILES,
        params: &[Param { name: "path", kind: ArgKind::Str }],
        handler: list_directory,
    },
];

fn list_roots(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let roots = canonical_roots(&configured_roots(context)?);
    Ok(roots
        .iter()
        .filter_map(|root| Some(entry_record(&display_path(root), &fs::metadata(root).ok()?)))
        .collect())
}

fn list_directory(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    let requested = args.str(0);
    let configured = configured_roots(context)?;
    let not_allowed = || CommandError::failed(format!("path not allowed: {requested}"));
    let by_text = lexically_resolved(Path::new(requested)).ok_or_else(not_allowed)?;
    if !configured.iter().any(|root| lexically_under(&by_text, root)) {
        return Err(not_allowed());
    }
    let _slot = ListingSlot::take()?;
    let roots = canonical_roots(&configured);
    let path = fs::canonicalize(requested)
        .map_err(|e| CommandError::failed(format!("path not found: {requested} ({e})")))?;
    if !roots.iter().any(|root| path.starts_with(root)) {
        return Err(not_allowed());
    }
    if !path.is_dir() {
        return Err(CommandError::failed(format!("not a directory: {requested}")));
    }
    let reader =
        fs::read_dir(&path).map_err(|e| CommandError::failed(format!("cannot list {requested}: {e}")))?;
    let mut entries = Vec::new();
    let mut reply_bytes = 0;
    for entry in reader.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        reply_bytes += name.len() + ENTRY_OVERHEAD;
        let too_much = if entries.len() == MAX_ENTRIES {
            Some(format!("more than {MAX_ENTRIES} entries"))
        } else if reply_bytes > MAX_REPLY_BYTES {
            Some(format!("names longer than a reply may carry ({MAX_REPLY_BYTES} bytes)"))
        } else {
            None
        };
        if let Some(too_much) = too_much {
            return Err(CommandError::failed(format!("{requested} has {too_much}; list a subdirectory")));
        }
        let Ok(metadata) = entry_metadata(&entry, &roots) else { continue };
        entries.push(entry_record(&name, &metadata));
    }
    Ok(Value::Array(entries))
}

/// An entry's metadata: a symbolic link's target's if the target is inside the roots (as
/// Java's `File` followed links), else the link's own (a dangling link, or one pointing
/// outside, shows as itself and tells nothing of its target).
fn entry_metadata(entry: &fs::DirEntry, roots: &[PathBuf]) -> std::io::Result<Metadata> {
    if entry.file_type()?.is_symlink()
        && let Ok(target) = fs::canonicalize(entry.path())
        && roots.iter().any(|root| target.starts_with(root))
    {
        return fs::metadata(&target);
    }
    entry.metadata()
}

/// `path` with `.` and `..` resolved by its text alone; `None` if it is not absolute or a
/// `..` would climb above its root.
fn lexically_resolved(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut resolved = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(resolved.components().next_back(), Some(Component::Normal(_))) {
                    return None;
                }
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    Some(resolved)
}

/// Whether `path` lies under `root`, by their components' text (ignoring case on Windows, as
/// its file systems do). Neither is looked up.
fn lexically_under(path: &Path, root: &Path) -> bool {
    let key = |component: Component<'_>| {
        let text = component.as_os_str().to_string_lossy();
        if cfg!(windows) { text.to_lowercase() } else { text.into_owned() }
    };
    let Some(root) = lexically_resolved(root) else { return false };
    let mut components = path.components();
    root.components().all(|part| components.next().is_some_and(|own| key(own) == key(part)))
}

/// `{name, size (i64 bytes), is_dir, modified_at (date)}`.
fn entry_record(name: &str, metadata: &Metadata) -> Value {
    let modified = metadata.modified().map(Value::from).unwrap_or(Value::Date(0));
    map! {
        "name" => name,
        "size" => if metadata.is_dir() { 0 } else { i64::try_from(metadata.len()).unwrap_or(i64::MAX) },
        "is_dir" => metadata.is_dir(),
        "modified_at" => modified,
    }
}

/// The allowed roots as configured (or the fixed volumes' roots), not looked up.
fn configured_roots(context: &CommandContext) -> Result<Vec<PathBuf>, CommandError> {
    Ok(match &context.file_roots {
        FileRoots::Disabled => return Err(CommandError::failed("listFiles is disabled on this sentry")),
        FileRoots::Only(roots) => roots.clone(),
        FileRoots::FixedVolumes => {
            let volumes = context.host.volumes().map_err(host_error)?;
            volumes
                .into_iter()
                .filter(|v| v.kind == VolumeKind::Fixed)
                .map(|v| PathBuf::from(v.root))
                .collect()
        }
    })
}

/// The allowed roots, canonical (those that exist).
fn canonical_roots(configured: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = configured.iter().filter_map(|root| canonical(root)).collect();
    roots.dedup();
    roots
}

fn canonical(path: &Path) -> Option<PathBuf> {
    fs::canonicalize(path).ok()
}

/// A canonical path as people write it: Windows' verbatim prefix is dropped (`\\?\C:\` is
/// shown as `C:\`, `\\?\UNC\server\share` as `\\server\share`).
fn display_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if let Some(unc) = text.strip_prefix(r"\\?\UNC\") {
        format!(r"\\{unc}")
    } else if let Some(local) = text.strip_prefix(r"\\?\") {
        local.to_owned()
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_judged_by_their_text_before_any_lookup() {
        let root = if cfg!(windows) { Path::new(r"C:\srv") } else { Path::new("/srv") };
        let allowed =
            |text: &str| lexically_resolved(Path::new(text)).is_some_and(|p| lexically_under(&p, root));
        if cfg!(windows) {
            assert!(allowed(r"C:\srv\logs"));
            assert!(allowed(r"c:\SRV\logs\.\x\.."), "case and dots");
            assert!(!allowed(r"C:\srv\..\Windows"));
            assert!(!allowed(r"C:\srvx"));
            assert!(!allowed(r"\\attacker\share\srv"), "UNC");
            assert!(!allowed(r"C:srv\logs"), "drive-relative");
            assert!(!allowed(r"\\?\C:\Windows"));
        } else {
            assert!(allowed("/srv/logs"));
            assert!(allowed("/srv/logs/./x/.."));
            assert!(!allowed("/srv/../etc"));
            assert!(!allowed("/srvx"));
            assert!(!allowed("srv/logs"), "relative");
            assert!(!allowed("/srv/../../srv/x"), "climbs above the root");
        }
    }

    #[test]
    fn listings_beyond_the_limit_are_refused_until_a_slot_is_free() {
        let slots: Vec<ListingSlot> = (0..MAX_LISTINGS).map_while(|_| ListingSlot::take().ok()).collect();
        // Other tests may hold slots meanwhile; at least this test's last one was refused.
        assert!(ListingSlot::take().is_err() || slots.len() < MAX_LISTINGS);
        drop(slots);
        assert!(ListingSlot::take().is_ok());
    }

    #[test]
    fn verbatim_prefixes_are_dropped_for_display() {
        assert_eq!(display_path(Path::new(r"\\?\C:\")), r"C:\");
        assert_eq!(display_path(Path::new(r"\\?\UNC\srv\share")), r"\\srv\share");
        assert_eq!(display_path(Path::new("/home")), "/home");
    }
}
