//! A private key's mode on Linux: any access for its group or for others makes it exposed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Why `key` is exposed, with the fix; `None` when its mode is owner-only or it is missing.
pub fn key_exposure(key: &Path) -> Option<String> {
    let mode = std::fs::metadata(key).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} has mode {mode:04o}: its group or other users have access to it; fix with `chmod 600 {}`",
            key.display(),
            key.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_readable_by_group_or_others_is_exposed_and_the_fix_is_named() {
        let dir = std::env::temp_dir().join(format!("kraken-key-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("sentry.key");
        std::fs::write(&key, "secret").unwrap();
        for (mode, exposed) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true), (0o660, true)] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let problem = key_exposure(&key);
            assert_eq!(problem.is_some(), exposed, "mode {mode:o}: {problem:?}");
            if let Some(problem) = problem {
                assert!(problem.contains("chmod 600"), "{problem}");
            }
        }
        assert_eq!(key_exposure(&dir.join("missing.key")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
