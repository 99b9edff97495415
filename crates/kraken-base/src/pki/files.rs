//! The files of a PKI folder and how they are written: what `pki` and its `revocation` both
//! use, in a module of its own so that neither imports the other for it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{Issuer, KeyPair};

/// The files of a PKI directory.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub base_cert: PathBuf,
    pub base_key: PathBuf,
    /// The CA's revocation list (PEM), for the base's `sentry_crl`.
    pub crl: PathBuf,
}

impl PkiFiles {
    pub fn in_dir(dir: &Path) -> Self {
        PkiFiles {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            base_cert: dir.join("base.pem"),
            base_key: dir.join("base.key"),
            crl: dir.join("crl.pem"),
        }
    }
}

/// `GUID.pem` and `GUID.key` in `dir`.
pub fn sentry_files(dir: &Path, guid: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{guid}.pem")), dir.join(format!("{guid}.key")))
}

/// Writes `bytes` to `path` (mode 0600 for a `secret` where the OS has modes).
pub(super) fn write(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    if secret {
        // A file that existed keeps its mode through the open: tighten it.
        crate::private_files::tighten_if_present(path)?;
    }
    file.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The CA of the PKI folder `dir`, to sign with.
pub(super) fn ca_issuer(dir: &Path) -> anyhow::Result<Issuer<'static, KeyPair>> {
    let files = PkiFiles::in_dir(dir);
    let ca_pem = fs::read_to_string(&files.ca_cert)
        .with_context(|| format!("cannot read {}", files.ca_cert.display()))?;
    let key_pem = fs::read_to_string(&files.ca_key)
        .with_context(|| format!("cannot read {}", files.ca_key.display()))?;
    Ok(Issuer::from_ca_cert_pem(&ca_pem, KeyPair::from_pem(&key_pem)?)?)
}
