//! The admin token: the secret every admin request carries (`Authorization: Bearer TOKEN`),
//! kept in `data_dir/admin.token`.
//!
//! At first start the base makes one (32 random bytes as 64 hex digits) in a file only its
//! user may read (0600 on Unix). At every start the file is checked before it is used: one
//! its group or others may access (Unix), an empty one, or a token shorter than
//! [`MIN_TOKEN_LEN`] characters, longer than [`MAX_TOKEN_LEN`], or with characters outside
//! printable ASCII stops the start with a message saying how to fix it. An operator may write
//! their own token there within those rules.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};

use crate::private_files;

/// The shortest token accepted: 32 characters (128 bits as hex digits).
pub const MIN_TOKEN_LEN: usize = 32;
/// The longest token accepted.
pub const MAX_TOKEN_LEN: usize = 1024;

/// The admin token, compared in constant time.
pub struct AdminToken(String);

impl AdminToken {
    /// Reads the token at `path`, making it at first start; refuses a file others may read and
    /// a token that breaks the rules (see the module documentation).
    pub fn load_or_create(path: &Path) -> anyhow::Result<AdminToken> {
        if !path.exists() {
            return AdminToken::create(path);
        }
        if let Some(problem) = private_files::exposed_secret(path, "the admin token") {
            bail!("refusing to start: {problem}");
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_TOKEN_LEN as u64 + 2).read_to_string(&mut text))
            .with_context(|| format!("cannot read the admin token {}", path.display()))?;
        AdminToken::new(text.trim()).map_err(|problem| {
            anyhow::anyhow!(
                "refusing to start: the admin token {}: {problem}; delete the file and the base makes a \
                 new token at start, or write one of {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} printable ASCII \
                 characters",
                path.display()
            )
        })
    }

    /// A token from its text, if it follows the rules; else what is wrong with it.
    pub fn new(text: &str) -> Result<AdminToken, String> {
        if text.is_empty() {
            return Err("it is empty".into());
        }
        if text.len() < MIN_TOKEN_LEN {
            return Err(format!("it has {} characters, fewer than {MIN_TOKEN_LEN}", text.len()));
        }
        if text.len() > MAX_TOKEN_LEN {
            return Err(format!("it is longer than {MAX_TOKEN_LEN} characters"));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("it has characters other than printable ASCII (no spaces)".into());
        }
        Ok(AdminToken(text.to_owned()))
    }

    /// Makes a new token at `path` (which must not exist).
    fn create(path: &Path) -> anyhow::Result<AdminToken> {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        private_files::create_new_private(path)
            .and_then(|mut file| file.write_all(token.as_bytes()))
            .with_context(|| format!("cannot write the admin token {}", path.display()))?;
        Ok(AdminToken(token))
    }

    /// The token itself, to present to another node of the same base.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token. Every byte is compared whatever the first difference, so
    /// the time taken tells nothing about how much of a guess was right.
    pub fn matches(&self, given: &[u8]) -> bool {
        let token = self.0.as_bytes();
        given.len() == token.len() && given.iter().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kraken-token-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_token_is_made_once_then_read_back() {
        let dir = scratch("made");
        let path = dir.join("admin.token");
        let made = AdminToken::load_or_create(&path).unwrap();
        assert_eq!(made.0.len(), 64);
        assert!(made.0.bytes().all(|b| b.is_ascii_hexdigit()));
        let read = AdminToken::load_or_create(&path).unwrap();
        assert_eq!(read.0, made.0);
        assert!(read.matches(made.0.as_bytes()));
        assert!(!read.matches(&made.0.as_bytes()[1..]));
        assert!(!read.matches(b""));
        let mut wrong = made.0.clone().into_bytes();
        wrong[63] ^= 1;
        assert!(!read.matches(&wrong));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_short_or_odd_token_stops_the_start_with_the_fix() {
        let dir = scratch("rules");
        let path = dir.join("admin.token");
        for (text, why) in [
            ("", "it is empty"),
            ("\n", "it is empty"),
            ("0123456789abcdef", "16 characters, fewer than 32"),
            ("0123456789abcdef 0123456789abcdef", "printable ASCII"),
        ] {
            std::fs::write(&path, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let error = AdminToken::load_or_create(&path).err().unwrap().to_string();
            assert!(error.contains(why) && error.contains("delete the file"), "{text:?}: {error}");
        }
        std::fs::write(&path, "x".repeat(MAX_TOKEN_LEN + 10)).unwrap();
        let error = AdminToken::load_or_create(&path).err().unwrap().to_string();
        assert!(error.contains("longer than 1024"), "{error}");
        // An operator's own token within the rules, with the newline an editor adds.
        std::fs::write(&path, format!("{}\n", "k".repeat(MIN_TOKEN_LEN))).unwrap();
        assert!(AdminToken::load_or_create(&path).unwrap().matches("k".repeat(32).as_bytes()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_token_others_may_read_stops_the_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("mode");
        let path = dir.join("admin.token");
        AdminToken::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = AdminToken::load_or_create(&path).err().unwrap().to_string();
        assert!(error.contains("mode 0644") && error.contains("chmod 600"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
