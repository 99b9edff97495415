//! What is known of the peer of a connection: its address, its TLS certificate (subject common
//! names, subject alternative names, serial number, SHA-256 fingerprint) and the GUID it
//! announced when peering. The base binds a sentry's GUID to these facts.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The identity in a peer's TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// The subject's common name (the first CN), if any.
    pub common_name: Option<String>,
    /// Every common name of the subject, in order (a certificate may carry several); one that
    /// is not text shows as `"(unreadable)"`.
    pub common_names: Vec<String>,
    /// Subject alternative names: DNS names, URIs, e-mail addresses and IP addresses, as text.
    pub alt_names: Vec<String>,
    /// The URIs among the subject alternative names.
    pub uris: Vec<String>,
    /// The serial number, as [`serial_hex`] writes it.
    pub serial_hex: String,
    /// Validity, in Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Lowercase hex SHA-256 of the certificate's DER bytes.
    pub fingerprint_sha256: String,
}

impl CertificateIdentity {
    /// Reads the identity out of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("unreadable peer certificate: {e}"))?;
        let common_names: Vec<String> = cert
            .subject()
            .iter_common_name()
            .map(|cn| cn.as_str().map(str::to_owned).unwrap_or_else(|_| "(unreadable)".into()))
            .collect();
        let mut alt_names = Vec::new();
        let mut uris = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::URI(n) => {
                        alt_names.push((*n).to_owned());
                        uris.push((*n).to_owned());
                    }
                    GeneralName::DNSName(n) | GeneralName::RFC822Name(n) => alt_names.push((*n).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            alt_names.push(std::net::Ipv4Addr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            alt_names.push(std::net::Ipv6Addr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(CertificateIdentity {
            common_name: common_names.first().cloned(),
            common_names,
            alt_names,
            uris,
            serial_hex: serial_hex(cert.raw_serial()),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            fingerprint_sha256: hex::encode(Sha256::digest(der)),
        })
    }
}

/// A certificate serial number as text: lowercase hex of its big-endian bytes without leading
/// zero bytes, so a certificate and a revocation list that encode it differently still agree.
pub fn serial_hex(raw: &[u8]) -> String {
    let first = raw.iter().position(|&b| b != 0).unwrap_or(raw.len().saturating_sub(1));
    hex::encode(&raw[first.min(raw.len())..])
}

/// What a connection knows of its peer.
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    /// The peer's socket address, when the transport has one.
    pub address: Option<SocketAddr>,
    /// The peer's certificate identity, on TLS connections.
    pub certificate: Option<CertificateIdentity>,
}
