//! [`CrlWatch`]: a file of certificate revocation lists (PEM, `X509 CRL`), read at start and
//! read again whenever it changes, so a revocation takes effect without a restart.
//!
//! A change is noticed by [`CrlWatch::refresh`] (the file's modification time and size). A file
//! that cannot be read or parsed at start is an error; one that turns bad later is reported
//! and the lists last read stay in force, so a half-written file never lifts a revocation.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::PemObject;

use super::error::TlsError;
use crate::peer::serial_hex;

/// The lists of one file, with what changed when.
#[derive(Debug)]
pub struct CrlWatch {
    path: PathBuf,
    state: RwLock<Loaded>,
}

#[derive(Debug, Clone)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    /// Counts the loads: a verifier built from an older load is rebuilt.
    generation: u64,
    lists: Arc<Vec<CertificateRevocationListDer<'static>>>,
    /// Serial numbers of every revoked certificate, as [`serial_hex`] writes them.
    revoked: Arc<HashSet<String>>,
}

impl CrlWatch {
    /// Reads `path`; an unreadable file, or one without a valid CRL, is an error.
    pub fn load(path: &Path) -> Result<Arc<CrlWatch>, TlsError> {
        let (stamp, lists, revoked) = read(path)?;
        let loaded = Loaded { stamp, generation: 1, lists: Arc::new(lists), revoked: Arc::new(revoked) };
        Ok(Arc::new(CrlWatch { path: path.to_owned(), state: RwLock::new(loaded) }))
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again if it changed since the last read. `Ok(true)` when new lists are in
    /// force; an error leaves the previous lists in force.
    pub fn refresh(&self) -> Result<bool, TlsError> {
        let stamp = stamp_of(&self.path).map_err(|e| TlsError(format!("{}: {e}", self.path.display())))?;
        if self.state.read().unwrap_or_else(PoisonError::into_inner).stamp == Some(stamp) {
            return Ok(false);
        }
        let (stamp, lists, revoked) = read(&self.path)?;
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        *state = Loaded {
            stamp,
            generation: state.generation + 1,
            lists: Arc::new(lists),
            revoked: Arc::new(revoked),
        };
        Ok(true)
    }

    /// True when a certificate with this serial ([`serial_hex`]) is revoked.
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        self.state.read().unwrap_or_else(PoisonError::into_inner).revoked.contains(serial_hex)
    }

    /// How many certificates the lists revoke.
    pub fn revoked_count(&self) -> usize {
        self.state.read().unwrap_or_else(PoisonError::into_inner).revoked.len()
    }

    /// The current lists and their generation.
    pub(super) fn current(&self) -> (u64, Arc<Vec<CertificateRevocationListDer<'static>>>) {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        (state.generation, state.lists.clone())
    }
}

type Read = (Option<(SystemTime, u64)>, Vec<CertificateRevocationListDer<'static>>, HashSet<String>);

fn read(path: &Path) -> Result<Read, TlsError> {
    let shown = path.display();
    // The stamp is taken first: a write that lands during the read shows as a later change.
    let stamp = stamp_of(path).ok();
    let pem = std::fs::read(path).map_err(|e| TlsError(format!("{shown}: {e}")))?;
    let lists = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("{shown}: unreadable PEM ({e})")))?;
    if lists.is_empty() {
        return Err(TlsError(format!("{shown}: no certificate revocation list (X509 CRL) in the PEM")));
    }
    let mut revoked = HashSet::new();
    for list in &lists {
        let (_, parsed) = x509_parser::parse_x509_crl(list.as_ref())
            .map_err(|e| TlsError(format!("{shown}: not a valid certificate revocation list ({e})")))?;
        revoked.extend(parsed.iter_revoked_certificates().map(|entry| serial_hex(entry.raw_serial())));
    }
    Ok((stamp, lists, revoked))
}

fn stamp_of(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}
