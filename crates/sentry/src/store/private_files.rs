//! The agent's files kept from other accounts: on Unix the data directory is the owner's alone
//! (0700) and the state store, with its `-wal` and `-shm` files, is 0600; it holds the spooled
//! records, which may be security events.
//!
//! A new data directory is made 0700 and a new store file 0600 before SQLite opens it (SQLite
//! gives `-wal` and `-shm` the store's mode). Files an older version made with looser modes
//! are tightened at open: group and other bits are taken away, and the change is logged. A data
//! directory the agent cannot tell is its own (it holds other files but no store) is never
//! changed: if others may enter it, the open is refused with the fix. On Windows the data
//! folder's DACL is set at install (`service::windows::acl`) and inherited; nothing is done
//! here.

use std::path::Path;

/// The suffixes of the files SQLite keeps beside the store.
pub const STORE_COMPANIONS: [&str; 2] = ["-wal", "-shm"];

/// Creates `data_dir` if needed and makes it and the store's files (`store`, and its
/// companions if present) the owner's alone; the error says what to fix.
pub fn prepare(data_dir: &Path, store: &Path) -> Result<(), String> {
    platform::prepare(data_dir, store)
}

/// Takes group and other access away from the store's companions (`-wal`, `-shm`), once SQLite
/// has made them.
pub fn tighten_companions(store: &Path) -> Result<(), String> {
    platform::tighten_companions(store)
}

#[cfg(unix)]
mod platform {
    use std::fs::{self, DirBuilder, OpenOptions, Permissions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

    use super::*;

    /// `store` with `suffix` added to its name (`state.sqlite3-wal`).
    pub fn companion(store: &Path, suffix: &str) -> std::path::PathBuf {
        let mut name = store.as_os_str().to_owned();
        name.push(suffix);
        name.into()
    }

    pub fn prepare(data_dir: &Path, store: &Path) -> Result<(), String> {
        match fs::metadata(data_dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(|e| format!("cannot create the data directory {}: {e}", data_dir.display()))?,
            Err(e) => return Err(format!("cannot read the data directory {}: {e}", data_dir.display())),
            Ok(_) if is_own_directory(data_dir, store)? => restrict(data_dir, "the data directory")?,
            Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => {
                return Err(format!(
                    "the data directory {dir} holds other files and its mode {mode:04o} lets other \
                     accounts in: give the agent a directory of its own (`data_dir`), or `chmod 700 {dir}`",
                    dir = data_dir.display(),
                    mode = metadata.permissions().mode() & 0o7777,
                ));
            }
            Ok(_) => {}
        }
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(store) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => restrict(store, "the state store")?,
            Err(e) => return Err(format!("cannot create {}: {e}", store.display())),
        }
        tighten_companions(store)
    }

    pub fn tighten_companions(store: &Path) -> Result<(), String> {
        for suffix in STORE_COMPANIONS {
            restrict(&companion(store, suffix), "the state store's journal")?;
        }
        Ok(())
    }

    /// Whether `dir` is the agent's: empty, or holding the store.
    fn is_own_directory(dir: &Path, store: &Path) -> Result<bool, String> {
        let unreadable = |e: io::Error| format!("cannot read the data directory {}: {e}", dir.display());
        Ok(store.exists() || fs::read_dir(dir).map_err(unreadable)?.next().is_none())
    }

    /// Takes group and other bits away from `path` (if it exists), saying so.
    fn restrict(path: &Path, what: &str) -> Result<(), String> {
        let mode = match fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode() & 0o7777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        if mode & 0o077 == 0 {
            return Ok(());
        }
        let tightened = mode & !0o077;
        fs::set_permissions(path, Permissions::from_mode(tightened)).map_err(|e| {
            format!(
                "{} has mode {mode:04o} and cannot be made the owner's alone: {e}; fix with `chmod go-rwx {}`",
                path.display(),
                path.display()
            )
        })?;
        tracing::warn!(
            path = %path.display(),
            from = format_args!("{mode:04o}"),
            to = format_args!("{tightened:04o}"),
            "{what} was open to other accounts: group and other access taken away"
        );
        Ok(())
    }
}

#[cfg(not(unix))]
mod platform {
    use super::*;

    pub fn prepare(data_dir: &Path, _store: &Path) -> Result<(), String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create the data directory {}: {e}", data_dir.display()))
    }

    pub fn tighten_companions(_store: &Path) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::platform::companion;
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn new_files_are_the_owners_and_old_loose_ones_are_tightened() {
        let base = std::env::temp_dir().join(format!("kraken-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("data");
        let store = dir.join("state.sqlite3");
        prepare(&dir, &store).unwrap();
        assert_eq!((mode(&dir), mode(&store)), (0o700, 0o600));

        // As an older version left them under umask 022, with a journal open to all.
        set_mode(&dir, 0o755);
        set_mode(&store, 0o644);
        std::fs::write(companion(&store, "-wal"), b"").unwrap();
        set_mode(&companion(&store, "-wal"), 0o666);
        prepare(&dir, &store).unwrap();
        assert_eq!((mode(&dir), mode(&store), mode(&companion(&store, "-wal"))), (0o700, 0o600, 0o600));
        set_mode(&dir, 0o500); // owner bits are left as they are
        prepare(&dir, &store).unwrap();
        assert_eq!(mode(&dir), 0o500);
        set_mode(&dir, 0o700);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_shared_directory_is_refused_not_changed() {
        let dir = std::env::temp_dir().join(format!("kraken-private-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("someone-elses.txt"), b"x").unwrap();
        set_mode(&dir, 0o1777);
        let error = prepare(&dir, &dir.join("state.sqlite3")).unwrap_err();
        assert!(error.contains("holds other files") && error.contains("chmod 700"), "{error}");
        assert_eq!(mode(&dir), 0o1777, "a directory that is not the agent's is never changed");
        assert!(!dir.join("state.sqlite3").exists());
        set_mode(&dir, 0o700);
        prepare(&dir, &dir.join("state.sqlite3")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
