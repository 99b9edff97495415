//! A small PKI for a first deployment: a CA, the base's certificate, and one certificate per
//! sentry whose common name is the sentry's GUID (the base checks it, BUG-1).
//!
//! `kraken-base pki init DIR` writes `ca.pem`/`ca.key` and `base.pem`/`base.key` (valid for
//! `localhost`, `127.0.0.1`, `::1` and the host name); `kraken-base pki issue GUID DIR` writes
//! `GUID.pem`/`GUID.key`, signed by that CA. Certificates start five minutes in the past so a
//! sentry whose clock is a little behind still accepts them, and last ten years. Keys are ECDSA
//! P-256 (rcgen's default), written with mode 0600 where the OS has modes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// How far back certificates start, against clock skew.
const BACKDATE: Duration = Duration::minutes(5);
/// How long certificates last.
const VALIDITY: Duration = Duration::days(3650);

/// The files of a PKI directory.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub base_cert: PathBuf,
    pub base_key: PathBuf,
}

impl PkiFiles {
    pub fn in_dir(dir: &Path) -> Self {
        PkiFiles {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            base_cert: dir.join("base.pem"),
            base_key: dir.join("base.key"),
        }
    }
}

fn validity(params: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + VALIDITY;
}

/// Creates the CA and the base certificate in `dir`; refuses to overwrite an existing CA.
pub fn init(dir: &Path, base_names: &[String]) -> anyhow::Result<PkiFiles> {
    let files = PkiFiles::in_dir(dir);
    if files.ca_key.exists() {
        bail!("{} already exists; remove it to make a new CA", files.ca_key.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "Kraken Sentry CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca_params);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    write(&files.ca_cert, ca_cert.pem().as_bytes(), false)?;
    write(&files.ca_key, ca_key.serialize_pem().as_bytes(), true)?;

    let issuer = Issuer::new(ca_params, ca_key);
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    names.extend(base_names.iter().cloned());
    names.dedup();
    let (cert, key) = leaf(&issuer, "kraken-base", names, ExtendedKeyUsagePurpose::ServerAuth)?;
    write(&files.base_cert, cert.as_bytes(), false)?;
    write(&files.base_key, key.as_bytes(), true)?;
    Ok(files)
}

/// Issues a sentry certificate for `guid` from the CA in `dir`; returns (certificate, key) paths.
pub fn issue(dir: &Path, guid: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    if guid.is_empty()
        || guid.len() > 64
        || !guid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("GUID {guid:?}: use 1 to 64 of a-z, A-Z, 0-9, - and _");
    }
    let files = PkiFiles::in_dir(dir);
    let ca_pem = fs::read_to_string(&files.ca_cert)
        .with_context(|| format!("cannot read {}", files.ca_cert.display()))?;
    let key_pem = fs::read_to_string(&files.ca_key)
        .with_context(|| format!("cannot read {}", files.ca_key.display()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, KeyPair::from_pem(&key_pem)?)?;
    let (cert, key) = leaf(&issuer, guid, vec![guid.to_owned()], ExtendedKeyUsagePurpose::ClientAuth)?;
    let (cert_path, key_path) = (dir.join(format!("{guid}.pem")), dir.join(format!("{guid}.key")));
    write(&cert_path, cert.as_bytes(), false)?;
    write(&key_path, key.as_bytes(), true)?;
    Ok((cert_path, key_path))
}

/// A leaf certificate signed by `issuer`: (certificate PEM, key PEM).
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    alt_names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<(String, String)> {
    let mut params = CertificateParams::new(alt_names)?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    validity(&mut params);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
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
    file.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraken_rpc::tls::{TlsIdentity, TrustedCas};

    #[test]
    fn init_then_issue_gives_usable_certificates() {
        let dir = std::env::temp_dir().join(format!("kraken-pki-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let files = init(&dir, &["base.example.org".into()]).unwrap();
        assert!(init(&dir, &[]).unwrap_err().to_string().contains("already exists"));
        let (cert, key) = issue(&dir, "sentry-1").unwrap();
        TrustedCas::from_pem_file(&files.ca_cert).unwrap();
        TlsIdentity::from_pem_files(&files.base_cert, &files.base_key).unwrap();
        TlsIdentity::from_pem_files(&cert, &key).unwrap();
        // The sentry certificate's CN is checked by the base in the TLS tests (tests/identity.rs).
        assert!(issue(&dir, "bad guid").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
