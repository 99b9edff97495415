//! `listFiles`: the allowed roots (no argument), or one directory's entries (a path).
//!
//! Remote file listing is confined to an allow-list of roots ([`FileRoots`]; by default every
//! fixed volume, as the original listed every root). A path is canonicalised first, so `..` and
//! symbolic links cannot step outside a root. Roots are listed with their path as `name`
//! (BUG-18). A missing path, a file, or a path outside the roots gives a clear error instead of
//! a null message; a directory with more than [`MAX_ENTRIES`] entries is refused rather than
//! sent as a reply too large for one frame.

use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use kraken_codec::{Value, map};
use sentry_host::VolumeKind;

use super::table::{ArgKind, Args, CommandError, Method, Param};
use super::{CommandContext, host_error};

/// The most entries one reply carries.
pub const MAX_ENTRIES: usize = 20_000;

pub const METHODS: &[Method] = &[
    Method { name: "listFiles", params: &[], handler: list_roots },
    Method {
        name: "listFiles",
        params: &[Param { name: "path", kind: ArgKind::Str }],
        handler: list_directory,
    },
];

/// Where `listFiles` may look.
#[derive(Debug, Clone, Default)]
pub enum FileRoots {
    /// Every fixed volume of the host, read at each call.
    #[default]
    FixedVolumes,
    /// Exactly these directories.
    Only(Vec<PathBuf>),
    /// `listFiles` is switched off.
    Disabled,
}

fn list_roots(context: &CommandContext, _: &Args<'_>) -> Result<Value, CommandError> {
    let roots = allowed_roots(context)?;
    Ok(roots
        .iter()
        .filter_map(|root| Some(entry_record(&display_path(root), &fs::metadata(root).ok()?)))
        .collect())
}

fn list_directory(context: &CommandContext, args: &Args<'_>) -> Result<Value, CommandError> {
    let requested = args.str(0);
    let roots = allowed_roots(context)?;
    let path = fs::canonicalize(requested)
        .map_err(|e| CommandError::failed(format!("path not found: {requested} ({e})")))?;
    if !roots.iter().any(|root| path.starts_with(root)) {
        return Err(CommandError::failed(format!("path not allowed: {requested}")));
    }
    if !path.is_dir() {
        return Err(CommandError::failed(format!("not a directory: {requested}")));
    }
    let reader =
        fs::read_dir(&path).map_err(|e| CommandError::failed(format!("cannot list {requested}: {e}")))?;
    let mut entries = Vec::new();
    for entry in reader.flatten() {
        if entries.len() == MAX_ENTRIES {
            return Err(CommandError::failed(format!(
                "{requested} has more than {MAX_ENTRIES} entries; list a subdirectory"
            )));
        }
        // Follow symbolic links as Java's File does; a dangling link still shows as itself.
        let Ok(metadata) = fs::metadata(entry.path()).or_else(|_| entry.metadata()) else { continue };
        entries.push(entry_record(&entry.file_name().to_string_lossy(), &metadata));
    }
    Ok(Value::Array(entries))
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

/// The canonical allowed roots.
fn allowed_roots(context: &CommandContext) -> Result<Vec<PathBuf>, CommandError> {
    let configured: Vec<PathBuf> = match &context.file_roots {
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
    };
    let mut roots: Vec<PathBuf> = configured.iter().filter_map(|root| canonical(root)).collect();
    roots.dedup();
    Ok(roots)
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
    fn verbatim_prefixes_are_dropped_for_display() {
        assert_eq!(display_path(Path::new(r"\\?\C:\")), r"C:\");
        assert_eq!(display_path(Path::new(r"\\?\UNC\srv\share")), r"\\srv\share");
        assert_eq!(display_path(Path::new("/home")), "/home");
    }
}
