//! `listFiles`: the allowed roots (no argument), or one directory's entries (a path).
//!
//! Remote file listing is confined to the roots set in `commands.list_files_roots`; with none
//! set (the default) `listFiles` answers "not allowed" ([`FileRoots`]). A requested path is
//! placed by its text first ([`resolve::place_by_text`]: absolute, `..` resolved, under a
//! root; on Windows no UNC, device or reserved name, [`windows_names`]), then walked down from
//! the root without following any link that leads out of the roots ([`resolve::walk`]).
//!
//! Entries are reported as they are ([`sentry_host::files`]): a link (on Windows any reparse
//! point) is an entry of type `link` with its own date, never followed, so neither its target's
//! size nor its children appear. Each entry is `{name, size, is_dir, modified_at, type}`: the
//! original's keys, plus `type` (`file`, `dir`, `link`, `other`). Roots are listed with their
//! path as `name` (BUG-18). A missing path, a file, or a path outside the roots gives a clear
//! error instead of a null message; a directory with more than [`MAX_ENTRIES`] entries or
//! [`MAX_REPLY_BYTES`] of names is refused rather than sent as a reply too large for one frame.
//! At most [`MAX_LISTINGS`] listings run at once (a listing stuck on a dead mount holds one
//! thread for good; the others, and every other command, go on).

mod resolve;
mod windows_names;

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use kraken_codec::{Value, map};
use sentry_host::files::{DirectoryEntry, EntryKind};
use sentry_protocol::names::sentry_method;

use self::resolve::{Refusal, Root, place_by_text, plain_form, walk};
pub use self::windows_names::windows_path_problem;
use super::context::{CommandContext, FileRoots};
use super::table::{ArgKind, Args, CommandError, Method, Param};

/// The most entries one reply carries.
pub const MAX_ENTRIES: usize = 20_000;
/// The most bytes of names (plus a fixed cost per entry) one reply carries: half a frame.
pub const MAX_REPLY_BYTES: usize = 4 << 20;
/// What one entry costs in a reply besides its name (keys, size, flag, date, type).
const ENTRY_OVERHEAD: usize = 72;
/// The most listings in progress at once, over every base.
pub const MAX_LISTINGS: usize = 8;
/// The longest requested path, in bytes (Windows' longest path is 32,767 characters).
pub const MAX_PATH_BYTES: usize = 32 * 1024;

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
    let configured = configured_roots(context)?;
    let _slot = ListingSlot::take()?;
    let mut listed: Vec<PathBuf> = Vec::new();
    let mut records = Vec::new();
    for root in real_roots(configured) {
        if listed.contains(&root.canonical) {
            continue; // two configured roots, one directory
        }
        let Ok(metadata) = fs::metadata(&root.canonical) else { continue };
        let name = root.canonical.to_string_lossy().into_owned();
        records.push(entry_record(&sentry_host::files::describe(name, &metadata)));
        listed.push(root.canonical);
    }
    Ok(Value::Array(records))
}

fn list_directory(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    let requested = args.str(0);
    let configured = configured_roots(context)?;
    let refused = |refusal: Refusal| refusal_error(requested, refusal);
    if requested.len() > MAX_PATH_BYTES {
        return Err(refused(Refusal::Disallowed(format!("longer than {MAX_PATH_BYTES} bytes"))));
    }
    // By its text, before anything is looked up: a path outside the roots is never touched.
    let (index, names) = place_by_text(requested, configured).map_err(refused)?;
    let _slot = ListingSlot::take()?;
    let roots = real_roots(configured);
    let start = roots
        .iter()
        .find(|root| root.configured == configured[index])
        .ok_or_else(|| refused(Refusal::Missing(std::io::ErrorKind::NotFound.into())))?;
    let directory = walk(start.canonical.clone(), names, &roots).map_err(refused)?;
    let cannot_list =
        |e: std::io::Error| CommandError::failed(format!("cannot list {}: {e}", shown(requested)));
    let mut entries = Vec::new();
    let mut reply_bytes = 0;
    for entry in
        sentry_host::files::read_directory(&directory.root, &directory.beneath).map_err(cannot_list)?
    {
        let entry = entry.map_err(cannot_list)?;
        reply_bytes += entry.name.len() + ENTRY_OVERHEAD;
        let too_much = if entries.len() == MAX_ENTRIES {
            Some(format!("more than {MAX_ENTRIES} entries"))
        } else if reply_bytes > MAX_REPLY_BYTES {
            Some(format!("names longer than a reply may carry ({MAX_REPLY_BYTES} bytes)"))
        } else {
            None
        };
        if let Some(too_much) = too_much {
            return Err(CommandError::failed(format!(
                "{} has {too_much}; list a subdirectory",
                shown(requested)
            )));
        }
        entries.push(entry_record(&entry));
    }
    Ok(Value::Array(entries))
}

/// The most bytes of a requested path an error repeats.
const SHOWN_PATH_BYTES: usize = 256;

/// The requested path as errors repeat it: cut after [`SHOWN_PATH_BYTES`].
fn shown(requested: &str) -> String {
    if requested.len() <= SHOWN_PATH_BYTES {
        return requested.to_owned();
    }
    let end = (0..=SHOWN_PATH_BYTES).rev().find(|&i| requested.is_char_boundary(i)).unwrap_or(0);
    format!("{}... ({} bytes)", &requested[..end], requested.len())
}

/// The error a refusal gives, naming the path as it was asked.
fn refusal_error(requested: &str, refusal: Refusal) -> CommandError {
    let requested = shown(requested);
    CommandError::failed(match refusal {
        Refusal::Disallowed(why) => format!("path not allowed: {requested} ({why})"),
        Refusal::Missing(error) => format!("path not found: {requested} ({error})"),
        Refusal::NotADirectory => format!("not a directory: {requested}"),
    })
}

/// `{name, size (i64 bytes), is_dir, modified_at (date), type}`.
fn entry_record(entry: &DirectoryEntry) -> Value {
    map! {
        "name" => entry.name.as_str(),
        "size" => i64::try_from(entry.size).unwrap_or(i64::MAX),
        "is_dir" => entry.kind == EntryKind::Directory,
        "modified_at" => entry.modified.map(Value::from).unwrap_or(Value::Date(0)),
        "type" => entry.kind.as_str(),
    }
}

/// The allowed roots as configured, not looked up; an error if there are none.
fn configured_roots(context: &CommandContext) -> Result<&[PathBuf], CommandError> {
    match &context.file_roots {
        FileRoots::Only(roots) if !roots.is_empty() => Ok(roots),
        FileRoots::Disabled => Err(CommandError::failed("listFiles is disabled on this sentry")),
        FileRoots::Only(_) | FileRoots::NotConfigured => Err(CommandError::failed(
            "listFiles is not allowed on this sentry: no roots are configured \
             (commands.list_files_roots in sentry.toml)",
        )),
    }
}

/// The configured roots that exist, each with its real path (as people write it: no `\\?\`).
fn real_roots(configured: &[PathBuf]) -> Vec<Root> {
    configured
        .iter()
        .filter_map(|root| {
            let canonical = plain_form(&fs::canonicalize(root).ok()?);
            Some(Root { configured: root.clone(), canonical })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_repeat_at_most_the_start_of_a_long_path() {
        let long = format!("/srv/{}", "é".repeat(40_000));
        let text = shown(&long);
        assert!(text.len() < SHOWN_PATH_BYTES + 32 && text.ends_with("... (80005 bytes)"), "{text}");
        assert_eq!(shown("/srv/logs"), "/srv/logs");
    }

    #[test]
    fn listings_beyond_the_limit_are_refused_until_a_slot_is_free() {
        let slots: Vec<ListingSlot> = (0..MAX_LISTINGS).map_while(|_| ListingSlot::take().ok()).collect();
        // Other tests may hold slots meanwhile; at least this test's last one was refused.
        assert!(ListingSlot::take().is_err() || slots.len() < MAX_LISTINGS);
        drop(slots);
        assert!(ListingSlot::take().is_ok());
    }
}
