//! Revoking sentry certificates: the ledger of issued certificates (`issued.tsv`), the list of
//! revoked ones (`revoked.tsv`) and the CA's revocation list made from it (`crl.pem`), which the
//! base reads again within a second of a change (its `sentry_crl` key).
//!
//! `pki revoke GUID DIR` revokes every certificate the ledger holds for GUID, and those of
//! `GUID.pem` and `GUID.pem.previous` (certificates issued before the ledger existed). The list
//! is written to a temporary file and renamed over `crl.pem`, so the base never reads half of
//! it. Its next-update time is ten years on: the base does not expire lists, and a list is
//! rewritten at every revocation anyway.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use kraken_rpc::tls::certificate_identity_from_pem_file;
use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::{Duration, OffsetDateTime};

use super::files::{PkiFiles, ca_issuer, sentry_files, write};

/// The ledger of issued sentry certificates: serial, GUID, issue time (Unix seconds).
const ISSUED: &str = "issued.tsv";
/// Revoked certificates: serial, GUID, revocation time (Unix seconds).
const REVOKED: &str = "revoked.tsv";
/// How long a revocation list says it is good for.
const CRL_VALIDITY: Duration = Duration::days(3650);

/// Notes a certificate just issued for `guid` in the ledger.
pub(super) fn note_issued(dir: &Path, guid: &str, cert: &Path) -> anyhow::Result<()> {
    let identity = certificate_identity_from_pem_file(cert)?;
    let issued_at = OffsetDateTime::now_utc().unix_timestamp();
    append(&dir.join(ISSUED), &format!("{}\t{guid}\t{issued_at}\n", identity.serial_hex))
}

/// Revokes every certificate known for `guid` and rewrites the revocation list; returns the
/// serials revoked now (those revoked before are not counted again).
pub fn revoke(dir: &Path, guid: &str) -> anyhow::Result<Vec<String>> {
    let mut serials: BTreeSet<String> = rows(&dir.join(ISSUED))?
        .into_iter()
        .filter(|row| row.get(1).is_some_and(|g| g == guid))
        .map(|row| row[0].clone())
        .collect();
    let (cert, _) = sentry_files(dir, guid);
    for file in [cert.clone(), cert.with_extension("pem.previous")] {
        if file.exists() {
            serials.insert(certificate_identity_from_pem_file(&file)?.serial_hex);
        }
    }
    if serials.is_empty() {
        bail!("no certificate issued for {guid} is known in {} ({ISSUED}, {guid}.pem)", dir.display());
    }
    let already: BTreeSet<String> = rows(&dir.join(REVOKED))?.into_iter().map(|row| row[0].clone()).collect();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let fresh: Vec<String> = serials.difference(&already).cloned().collect();
    for serial in &fresh {
        append(&dir.join(REVOKED), &format!("{serial}\t{guid}\t{now}\n"))?;
    }
    write_crl(dir)?;
    Ok(fresh)
}

/// Writes `crl.pem` from `revoked.tsv`, signed by the CA in `dir`; returns how many it lists.
pub fn write_crl(dir: &Path) -> anyhow::Result<usize> {
    let files = PkiFiles::in_dir(dir);
    let issuer = ca_issuer(dir)?;
    let now = OffsetDateTime::now_utc();
    let mut revoked_certs = Vec::new();
    for row in rows(&dir.join(REVOKED))? {
        let serial = hex::decode(&row[0]).with_context(|| format!("{REVOKED}: bad serial {:?}", row[0]))?;
        let at = row.get(2).and_then(|t| t.parse::<i64>().ok()).unwrap_or(now.unix_timestamp());
        revoked_certs.push(RevokedCertParams {
            serial_number: SerialNumber::from(serial),
            revocation_time: OffsetDateTime::from_unix_timestamp(at).unwrap_or(now),
            reason_code: None,
            invalidity_date: None,
        });
    }
    let count = revoked_certs.len();
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + CRL_VALIDITY,
        // Later lists have larger numbers.
        crl_number: SerialNumber::from(now.unix_timestamp_nanos().max(0) as u64),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let pem = params.signed_by(&issuer)?.pem()?;
    let temporary = files.crl.with_extension("pem.new");
    write(&temporary, pem.as_bytes(), false)?;
    fs::rename(&temporary, &files.crl)
        .with_context(|| format!("cannot move {} to {}", temporary.display(), files.crl.display()))?;
    Ok(count)
}

/// The tab-separated rows of `path` (none when it does not exist).
fn rows(path: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect())
}

fn append(path: &Path, line: &str) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(line.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::{init, issue, renew};
    use super::*;
    use kraken_rpc::tls::CrlWatch;

    #[test]
    fn revoking_a_guid_lists_every_certificate_it_was_issued() {
        let dir = std::env::temp_dir().join(format!("kraken-pki-revoke-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let files = init(&dir, &[]).unwrap();
        let (cert, _) = issue(&dir, "sentry-1", 365).unwrap();
        let first = certificate_identity_from_pem_file(&cert).unwrap().serial_hex;
        renew(&dir, "sentry-1", 365).unwrap();
        let second = certificate_identity_from_pem_file(&cert).unwrap().serial_hex;
        let (other, _) = issue(&dir, "sentry-2", 365).unwrap();
        let other = certificate_identity_from_pem_file(&other).unwrap().serial_hex;

        let revoked = revoke(&dir, "sentry-1").unwrap();
        assert_eq!(revoked.len(), 2);
        let lists = CrlWatch::load(&files.crl).unwrap();
        assert!(lists.is_revoked(&first) && lists.is_revoked(&second));
        assert!(!lists.is_revoked(&other));
        assert_eq!(revoke(&dir, "sentry-1").unwrap(), Vec::<String>::new(), "nothing new");
        assert!(revoke(&dir, "nobody").unwrap_err().to_string().contains("no certificate"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
