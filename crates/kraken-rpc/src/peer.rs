//! What is known of the peer of a connection: its address, its TLS certificate (subject common
//! name, subject alternative names, SHA-256 fingerprint) and the GUID it announced when peering.
//! The base binds a sentry's GUID to these facts.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The identity in a peer's TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// The subject's common name (the first CN), if any.
    pub common_name: Option<String>,
    /// Subject alternative names: DNS names, URIs, e-mail addresses and IP addresses, as text.
    pub alt_names: Vec<String>,
    /// Lowercase hex SHA-256 of the certificate's DER bytes.
    pub fingerprint_sha256: String,
}

impl CertificateIdentity {
    /// Reads the identity out of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("unreadable peer certificate: {e}"))?;
        let common_name =
            cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned);
        let mut alt_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) | GeneralName::URI(n) | GeneralName::RFC822Name(n) => {
                        alt_names.push((*n).to_owned())
                    }
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
            common_name,
            alt_names,
            fingerprint_sha256: hex::encode(Sha256::digest(der)),
        })
    }

    /// True when `name` is the common name or one of the alternative names.
    pub fn names(&self, name: &str) -> bool {
        self.common_name.as_deref() == Some(name) || self.alt_names.iter().any(|n| n == name)
    }
}

/// What a connection knows of its peer.
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    /// The peer's socket address, when the transport has one.
    pub address: Option<SocketAddr>,
    /// The peer's certificate identity, on TLS connections.
    pub certificate: Option<CertificateIdentity>,
}
