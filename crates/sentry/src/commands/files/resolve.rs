//! Where a requested path really is, decided without ever passing through a link that leads
//! out of the roots.
//!
//! First by its text ([`place_by_text`]): absolute, `.` and `..` resolved, under a configured
//! root (on Windows also free of UNC, device and reserved names). Then [`walk`] goes down from
//! the root's real (canonical) path one component at a time, looking at each without following
//! it: a directory is entered; a link (on Windows any reparse point) is read, and its target,
//! by its text again, must lie under a root before the walk goes on from there. So the sentry
//! never looks anything up outside the roots, and the result is a root plus plain directory
//! names, which [`sentry_host::files::read_directory`] lists without following links either.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use sentry_host::files::{EntryKind, kind_of};

use super::windows_names::windows_path_problem;

/// The most links one requested path may pass through (as Linux's `ELOOP` limit).
pub const MAX_LINKS: usize = 40;

/// Why a requested path is not listed.
#[derive(Debug)]
pub enum Refusal {
    /// Outside the roots, or not a plain path; the reason says which.
    Disallowed(String),
    Missing(io::Error),
    NotADirectory,
}

/// A directory inside the roots: a root's canonical path and the plain directory names below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub root: PathBuf,
    pub beneath: Vec<OsString>,
}

/// By its text alone, nothing looked up: which of `configured` holds `requested` (the deepest
/// one that does), and the names below it.
pub fn place_by_text(requested: &str, configured: &[PathBuf]) -> Result<(usize, Vec<OsString>), Refusal> {
    if cfg!(windows)
        && let Some(problem) = windows_path_problem(requested)
    {
        return Err(Refusal::Disallowed(problem));
    }
    let outside = || Refusal::Disallowed("outside the configured roots".into());
    let path = lexically_resolved(Path::new(requested)).ok_or_else(outside)?;
    configured
        .iter()
        .enumerate()
        .filter_map(|(index, root)| Some((index, root.components().count(), names_below(&path, root)?)))
        .max_by_key(|(_, depth, _)| *depth)
        .map(|(index, _, names)| (index, names))
        .ok_or_else(outside)
}

/// A root, as configured and as it really is (canonical, as [`plain_form`] writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub configured: PathBuf,
    pub canonical: PathBuf,
}

/// Goes down from `root` (canonical) through `names`, following links only to targets inside
/// `roots`; see the module doc.
pub fn walk(root: PathBuf, names: Vec<OsString>, roots: &[Root]) -> Result<Resolved, Refusal> {
    let mut here = Resolved { root, beneath: Vec::new() };
    let mut pending: VecDeque<OsString> = names.into();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        let parent = here.path();
        let candidate = parent.join(&name);
        match kind_of(&candidate).map_err(Refusal::Missing)? {
            EntryKind::Directory => here.beneath.push(name),
            EntryKind::Link => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Refusal::Disallowed(format!("more than {MAX_LINKS} links")));
                }
                let target = std::fs::read_link(&candidate).map_err(Refusal::Missing)?;
                let (next_root, below) = place_link_target(&parent.join(target), roots)?;
                here = Resolved { root: next_root, beneath: Vec::new() };
                pending = below.into_iter().chain(pending).collect();
            }
            EntryKind::File | EntryKind::Other if pending.is_empty() => return Err(Refusal::NotADirectory),
            EntryKind::File | EntryKind::Other => {
                return Err(Refusal::Missing(io::Error::from(io::ErrorKind::NotADirectory)));
            }
        }
    }
    Ok(here)
}

impl Resolved {
    /// The directory's path.
    pub fn path(&self) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(&self.beneath);
        path
    }
}

/// Where a link's target lies, by its text: the canonical root holding it (as configured or
/// as it really is) and the names below.
fn place_link_target(target: &Path, roots: &[Root]) -> Result<(PathBuf, Vec<OsString>), Refusal> {
    let target = plain_form(target);
    let leads_out = || Refusal::Disallowed("a link in it leads outside the configured roots".into());
    if cfg!(windows)
        && let Some(problem) = windows_path_problem(&target.to_string_lossy())
    {
        return Err(Refusal::Disallowed(format!("a link in it leads to {problem}")));
    }
    let target = lexically_resolved(&target).ok_or_else(leads_out)?;
    roots
        .iter()
        .flat_map(|root| [(root, &root.canonical), (root, &root.configured)])
        .filter_map(|(root, form)| Some((root, form.components().count(), names_below(&target, form)?)))
        .max_by_key(|(_, depth, _)| *depth)
        .map(|(root, _, names)| (root.canonical.clone(), names))
        .ok_or_else(leads_out)
}

/// `path` with `.` and `..` resolved by its text alone; `None` if it is not absolute or a
/// `..` would climb above its root.
pub fn lexically_resolved(path: &Path) -> Option<PathBuf> {
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

/// The names of `path` below `root` if `path` lies under `root`, by their components' text
/// (ignoring case on Windows, as its file systems do). Neither is looked up.
pub fn names_below(path: &Path, root: &Path) -> Option<Vec<OsString>> {
    let key = |component: Component<'_>| {
        let text = component.as_os_str().to_string_lossy();
        if cfg!(windows) { text.to_lowercase() } else { text.into_owned() }
    };
    let root = lexically_resolved(root)?;
    let mut components = path.components();
    if !root.components().all(|part| components.next().is_some_and(|own| key(own) == key(part))) {
        return None;
    }
    components
        .map(|component| match component {
            Component::Normal(name) => Some(name.to_os_string()),
            _ => None,
        })
        .collect()
}

/// A path as people write it: Windows' verbatim prefix is dropped (`\\?\C:\` is `C:\`,
/// `\\?\UNC\server\share` is `\\server\share`); other paths are returned as they are.
pub fn plain_form(path: &Path) -> PathBuf {
    if !cfg!(windows) {
        return path.to_path_buf();
    }
    let text = path.to_string_lossy();
    if let Some(unc) = text.strip_prefix(r"\\?\UNC\") {
        PathBuf::from(format!(r"\\{unc}"))
    } else if let Some(local) =
        text.strip_prefix(r"\\?\").filter(|rest| rest.as_bytes().get(1) == Some(&b':'))
    {
        PathBuf::from(local)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_placed_by_their_text_before_any_lookup() {
        let (root, other) = if cfg!(windows) { (r"C:\srv", r"C:\srv\logs") } else { ("/srv", "/srv/logs") };
        let roots = [PathBuf::from(root), PathBuf::from(other)];
        let placed = |text: &str| place_by_text(text, &roots).ok();
        let names = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        if cfg!(windows) {
            assert_eq!(placed(r"C:\srv\data"), Some((0, names(&["data"]))));
            assert_eq!(placed(r"c:\SRV\logs\.\x\.."), Some((1, names(&[]))), "case, dots, deepest root");
            assert_eq!(placed(r"C:\srv\logs\a"), Some((1, names(&["a"]))));
            for refused in
                [r"C:\srv\..\Windows", r"C:\srvx", r"\\attacker\share\srv", r"C:srv\logs", r"\\?\C:\srv"]
            {
                assert!(placed(refused).is_none(), "{refused}");
            }
        } else {
            assert_eq!(placed("/srv/data"), Some((0, names(&["data"]))));
            assert_eq!(placed("/srv/logs/./x/.."), Some((1, names(&[]))), "dots, deepest root");
            assert_eq!(placed("/srv/logs/a"), Some((1, names(&["a"]))));
            for refused in ["/srv/../etc", "/srvx", "srv/logs", "/srv/../../srv/x", "/"] {
                assert!(placed(refused).is_none(), "{refused}");
            }
        }
    }

    #[test]
    fn verbatim_prefixes_are_dropped_on_windows_only() {
        let plain = |text: &str| plain_form(Path::new(text)).to_string_lossy().into_owned();
        if cfg!(windows) {
            assert_eq!(plain(r"\\?\C:\srv"), r"C:\srv");
            assert_eq!(plain(r"\\?\UNC\host\share"), r"\\host\share");
            assert_eq!(plain(r"\\?\Volume{1234}\x"), r"\\?\Volume{1234}\x", "kept: a device path");
        } else {
            assert_eq!(plain(r"/srv/\\?\C:"), r"/srv/\\?\C:");
        }
    }

    /// Links inside the roots are walked through; one whose target lies outside is refused
    /// before its target is looked at, and a loop ends at the link limit.
    #[cfg(unix)]
    #[test]
    fn the_walk_follows_links_only_into_the_roots() {
        use std::os::unix::fs::symlink;
        let base = std::env::temp_dir().join(format!("kraken-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("a").join("b")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        symlink("a/b", root.join("to-b")).unwrap();
        symlink(&outside, root.join("out")).unwrap();
        symlink("../..", root.join("a").join("up")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        let canonical = std::fs::canonicalize(&root).unwrap();
        let roots = [Root { configured: root.clone(), canonical: canonical.clone() }];
        let walked =
            |names: &[&str]| walk(canonical.clone(), names.iter().map(OsString::from).collect(), &roots);

        let inside = walked(&["to-b"]).unwrap();
        assert_eq!(inside.path(), canonical.join("a").join("b"));
        assert!(matches!(walked(&["out"]), Err(Refusal::Disallowed(reason)) if reason.contains("outside")));
        assert!(matches!(walked(&["a", "up"]), Err(Refusal::Disallowed(_))), "../.. climbs out");
        assert!(matches!(walked(&["loop1"]), Err(Refusal::Disallowed(reason)) if reason.contains("links")));
        assert!(matches!(walked(&["file"]), Err(Refusal::NotADirectory)));
        assert!(matches!(walked(&["file", "x"]), Err(Refusal::Missing(_))));
        assert!(matches!(walked(&["missing"]), Err(Refusal::Missing(_))));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
