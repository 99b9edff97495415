//! Files only the base's own user may open. On Unix: the data directory is 0700, the storage
//! (`base.sqlite3` with its `-wal` and `-shm`) and the admin token 0600. They are made so, and
//! at every start a data directory or storage file an older version left open to its group or
//! to others is tightened (and the change logged). Secrets the base is given (its private key,
//! the admin token) are not tightened but checked: one that its group or others may access
//! stops the start, with the fix in the message, since it may already have been read.
//!
//! On Windows the modes do not exist; the data folder's DACL is set up by the installer, and
//! these functions only create what is missing.

use std::io;
use std::path::Path;

/// Mode of a private directory.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;
/// Mode of a private file.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) for the base's user alone; an existing `dir` that its
/// group or others may access is tightened to 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir).map_err(|e| with_path(dir, e))?;
    #[cfg(unix)]
    tighten(dir, DIR_MODE)?;
    Ok(())
}

/// Creates the file `path` empty, for the base's user alone, if it does not exist; an existing
/// one that its group or others may access is tightened to 0600.
pub fn private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options.open(path).map_err(|e| with_path(path, e))?;
    tighten_if_present(path)
}

/// Tightens the file `path` to 0600 if it exists and its group or others may access it.
pub fn tighten_if_present(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if path.exists() {
        tighten(path, FILE_MODE)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens a new file `path` for writing, for the base's user alone; fails if it exists.
pub fn create_new_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options.open(path).map_err(|e| with_path(path, e))
}

/// Why the secret `path` (what it is: `what`) must not be used, with the fix: its group or
/// others may access it. `None` when only its owner may, or it is missing (reading it reports
/// that).
pub fn exposed_secret(path: &Path, what: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{what} {} has mode {mode:04o}: its group or other users may read it; \
                 fix with `chmod 600 {}` (and replace it if others may have read it)",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, what);
        None
    }
}

/// Sets `path` to `mode` if its group or others have any access; logs the change.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let before = std::fs::metadata(path).map_err(|e| with_path(path, e))?.permissions().mode() & 0o777;
    if before & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{} has mode {before:04o} and cannot be restricted to {mode:04o}: {e}", path.display()),
        )
    })?;
    tracing::warn!(path = %path.display(), from = %format!("{before:04o}"), to = %format!("{mode:04o}"), "access restricted to the base's user");
    Ok(())
}

fn with_path(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kraken-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn directories_and_files_are_made_for_the_owner_alone_and_open_ones_tightened() {
        let dir = scratch("make");
        let data = dir.join("a/b");
        private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        let file = data.join("base.sqlite3");
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);

        // As an older version left them.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(data.join("base.sqlite3-wal"), "").unwrap();
        std::fs::set_permissions(data.join("base.sqlite3-wal"), std::fs::Permissions::from_mode(0o664))
            .unwrap();
        private_dir(&data).unwrap();
        private_file(&file).unwrap();
        tighten_if_present(&data.join("base.sqlite3-wal")).unwrap();
        tighten_if_present(&data.join("base.sqlite3-shm")).unwrap();
        assert_eq!((mode(&data), mode(&file), mode(&data.join("base.sqlite3-wal"))), (0o700, 0o600, 0o600));
        assert!(!data.join("base.sqlite3-shm").exists(), "a missing file is not made");
        // Stricter than needed stays as it is.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o400);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_others_may_access_is_refused_with_the_fix() {
        let dir = scratch("secret");
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("base.key");
        std::fs::write(&key, "secret").unwrap();
        for (bits, exposed) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true), (0o602, true)] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(bits)).unwrap();
            let problem = exposed_secret(&key, "the key");
            assert_eq!(problem.is_some(), exposed, "mode {bits:o}: {problem:?}");
            if let Some(problem) = problem {
                assert!(problem.contains(&format!("chmod 600 {}", key.display())), "{problem}");
            }
        }
        assert_eq!(exposed_secret(&dir.join("missing"), "the key"), None);
        let made = dir.join("admin.token");
        create_new_private(&made).unwrap();
        assert_eq!(mode(&made), 0o600);
        assert!(create_new_private(&made).is_err(), "never over an existing file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
