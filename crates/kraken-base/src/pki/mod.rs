//! A small PKI for a first deployment: a CA, the base's certificate, one certificate per sentry
//! and the CA's revocation list.
//!
//! `kraken-base pki init DIR` writes `ca.pem`/`ca.key`, `base.pem`/`base.key` (valid for
//! `localhost`, `127.0.0.1`, `::1` and the given names) and an empty `crl.pem`;
//! `pki issue GUID DIR` writes `GUID.pem`/`GUID.key` signed by that CA (refused when they
//! exist), `pki renew GUID DIR` a new pair in their place (the old one kept as `.previous`, and
//! valid until it expires or is revoked), `pki revoke GUID DIR` revokes every certificate issued
//! for GUID ([`revocation`]). A sentry certificate names its GUID as its common name and as a
//! URI `urn:kraken:sentry:GUID`, so either of the base's `sentry_guid_from` rules finds it.
//!
//! Certificates start five minutes in the past so a sentry whose clock is a little behind still
//! accepts them. The CA and the base's certificate last ten years; a sentry's one year unless
//! asked otherwise. Keys are ECDSA P-256 (rcgen's default), written with mode 0600 (an existing
//! file is tightened first) in a folder `init` makes 0700, where the OS has modes. Every certificate issued is noted in `issued.tsv` (serial, GUID, issue time), which
//! is how a revocation finds them all.

mod files;
pub mod revocation;

use files::write;
pub use files::{PkiFiles, sentry_files};

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::access::GUID_URI_PREFIX;

/// How far back certificates start, against clock skew.
const BACKDATE: Duration = Duration::minutes(5);
/// How long the CA and the base's certificate last.
const CA_AND_BASE_VALIDITY: Duration = Duration::days(3650);
/// How long a sentry's certificate lasts unless asked otherwise, in days.
pub const SENTRY_VALIDITY_DAYS: u32 = 365;
/// Longest sentry certificate validity accepted, in days.
const MAX_SENTRY_VALIDITY_DAYS: u32 = 3650;

fn validity(params: &mut CertificateParams, lasting: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + lasting;
}

/// Creates the CA, the base certificate and an empty revocation list in `dir`; refuses to
/// overwrite an existing CA.
pub fn init(dir: &Path, base_names: &[String]) -> anyhow::Result<PkiFiles> {
    let files = PkiFiles::in_dir(dir);
    if files.ca_key.exists() {
        bail!("{} already exists; remove it to make a new CA", files.ca_key.display());
    }
    // The CA's key lives here: the folder is its owner's alone.
    crate::private_files::private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "Kraken Sentry CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca_params, CA_AND_BASE_VALIDITY);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    write(&files.ca_cert, ca_cert.pem().as_bytes(), false)?;
    write(&files.ca_key, ca_key.serialize_pem().as_bytes(), true)?;

    let issuer = Issuer::new(ca_params, ca_key);
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    names.extend(base_names.iter().cloned());
    names.dedup();
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, "kraken-base");
    let (cert, key) = leaf(&issuer, params, ExtendedKeyUsagePurpose::ServerAuth, CA_AND_BASE_VALIDITY)?;
    write(&files.base_cert, cert.as_bytes(), false)?;
    write(&files.base_key, key.as_bytes(), true)?;
    revocation::write_crl(dir)?;
    Ok(files)
}

/// Issues a sentry certificate for `guid` from the CA in `dir`, valid `days` days; refuses when
/// `GUID.pem` exists ([`renew`] replaces it). Returns (certificate, key) paths.
pub fn issue(dir: &Path, guid: &str, days: u32) -> anyhow::Result<(PathBuf, PathBuf)> {
    check_guid(guid)?;
    let (cert_path, _) = sentry_files(dir, guid);
    if cert_path.exists() {
        bail!("{} exists: `kraken-base pki renew {guid} {}` replaces it", cert_path.display(), dir.display());
    }
    write_sentry(dir, guid, days)
}

/// Issues a new certificate and key for `guid` in place of the current ones, which are kept as
/// `GUID.pem.previous` and `GUID.key.previous` (still valid until they expire or are revoked).
pub fn renew(dir: &Path, guid: &str, days: u32) -> anyhow::Result<(PathBuf, PathBuf)> {
    check_guid(guid)?;
    let (cert_path, key_path) = sentry_files(dir, guid);
    if !cert_path.exists() {
        bail!(
            "{} does not exist: `kraken-base pki issue {guid} {}` makes one",
            cert_path.display(),
            dir.display()
        );
    }
    for path in [&cert_path, &key_path] {
        let previous = path.with_extension(format!(
            "{}.previous",
            path.extension().and_then(|e| e.to_str()).unwrap_or_default()
        ));
        if path.exists() {
            fs::rename(path, &previous)
                .with_context(|| format!("cannot move {} to {}", path.display(), previous.display()))?;
        }
    }
    write_sentry(dir, guid, days)
}

fn check_guid(guid: &str) -> anyhow::Result<()> {
    if guid.is_empty()
        || guid.len() > 64
        || !guid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("GUID {guid:?}: use 1 to 64 of a-z, A-Z, 0-9, - and _");
    }
    Ok(())
}

fn write_sentry(dir: &Path, guid: &str, days: u32) -> anyhow::Result<(PathBuf, PathBuf)> {
    if !(1..=MAX_SENTRY_VALIDITY_DAYS).contains(&days) {
        bail!("a sentry certificate lasts 1 to {MAX_SENTRY_VALIDITY_DAYS} days, not {days}");
    }
    let issuer = files::ca_issuer(dir)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, guid);
    params.subject_alt_names = vec![SanType::URI(Ia5String::try_from(format!("{GUID_URI_PREFIX}{guid}"))?)];
    let lasting = Duration::days(i64::from(days));
    let (cert, key) = leaf(&issuer, params, ExtendedKeyUsagePurpose::ClientAuth, lasting)?;
    let (cert_path, key_path) = sentry_files(dir, guid);
    write(&cert_path, cert.as_bytes(), false)?;
    write(&key_path, key.as_bytes(), true)?;
    revocation::note_issued(dir, guid, &cert_path)?;
    Ok((cert_path, key_path))
}

/// A leaf certificate made of `params`, signed by `issuer`: (certificate PEM, key PEM).
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    mut params: CertificateParams,
    usage: ExtendedKeyUsagePurpose,
    lasting: Duration,
) -> anyhow::Result<(String, String)> {
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    validity(&mut params, lasting);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraken_rpc::tls::{TlsIdentity, TrustedCas, certificate_identity_from_pem_file};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kraken-pki-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn init_then_issue_gives_usable_certificates() {
        let dir = temp_dir("init");
        let files = init(&dir, &["base.example.org".into()]).unwrap();
        assert!(init(&dir, &[]).unwrap_err().to_string().contains("already exists"));
        let (cert, key) = issue(&dir, "sentry-1", SENTRY_VALIDITY_DAYS).unwrap();
        TrustedCas::from_pem_file(&files.ca_cert).unwrap();
        TlsIdentity::from_pem_files(&files.base_cert, &files.base_key).unwrap();
        TlsIdentity::from_pem_files(&cert, &key).unwrap();
        let identity = certificate_identity_from_pem_file(&cert).unwrap();
        assert_eq!(identity.common_names, ["sentry-1"]);
        assert_eq!(identity.uris, ["urn:kraken:sentry:sentry-1"]);
        assert!(kraken_rpc::tls::CrlWatch::load(&files.crl).unwrap().revoked_count() == 0);
        assert!(issue(&dir, "bad guid", 365).is_err());
        assert!(issue(&dir, "sentry-1", 365).unwrap_err().to_string().contains("pki renew"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn renew_keeps_the_previous_pair_and_changes_the_serial() {
        let dir = temp_dir("renew");
        init(&dir, &[]).unwrap();
        assert!(renew(&dir, "sentry-1", 365).unwrap_err().to_string().contains("pki issue"));
        let (cert, _) = issue(&dir, "sentry-1", 30).unwrap();
        let first = certificate_identity_from_pem_file(&cert).unwrap().serial_hex;
        renew(&dir, "sentry-1", 365).unwrap();
        let second = certificate_identity_from_pem_file(&cert).unwrap().serial_hex;
        assert_ne!(first, second);
        let previous = certificate_identity_from_pem_file(&dir.join("sentry-1.pem.previous")).unwrap();
        assert_eq!(previous.serial_hex, first);
        assert!(dir.join("sentry-1.key.previous").exists());
        assert!(issue(&dir, "sentry-2", 0).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sentry_certificate_lasts_the_days_asked() {
        let dir = temp_dir("days");
        init(&dir, &[]).unwrap();
        let (cert, _) = issue(&dir, "sentry-1", SENTRY_VALIDITY_DAYS).unwrap();
        let identity = certificate_identity_from_pem_file(&cert).unwrap();
        let lasting = identity.not_after - identity.not_before;
        assert_eq!(lasting, (Duration::days(365) + BACKDATE).whole_seconds());
        fs::remove_dir_all(&dir).unwrap();
    }
}
