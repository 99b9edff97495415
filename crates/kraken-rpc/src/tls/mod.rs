//! Mutual TLS for Kraken RPC, on rustls with the `ring` provider, TLS 1.2 and 1.3.
//!
//! * The server (a base) requires a client certificate signed by its client CA.
//! * The client (a sentry) presents its own certificate and verifies the server's chain against
//!   its CA. Like the original, it checks no host name by default (bases are reached by IP
//!   address and certificates rarely name them); where configured it also pins the server's
//!   name ([`ServerPin::Name`]) or its certificate's SHA-256 fingerprint
//!   ([`ServerPin::Fingerprint`]), which the original could not (BUG-3).
//!
//! A server may also check revocation lists, reloaded when their file changes ([`CrlWatch`]),
//! and its own admission rule on the client's certificate ([`ClientPolicy`]), both inside the
//! handshake.
//!
//! Keys, certificates and revocation lists are read from PEM.

mod client_policy;
mod crl;
mod error;

pub use client_policy::{ClientAdmission, ClientPolicy};
pub use crl::CrlWatch;
pub use error::TlsError;

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity { chain: self.chain.clone(), key: self.key.clone_key() }
    }
}

impl TlsIdentity {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain = certificates_from_pem(cert_pem, "certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError(format!("private key: {e}")))?;
        Ok(TlsIdentity { chain, key })
    }

    /// [`TlsIdentity::from_pem`] from two files; errors name the file.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let cert_pem = read(cert)?;
        let key_pem = read(key)?;
        let chain = certificates_from_pem(&cert_pem, &cert.display().to_string())?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| TlsError(format!("{}: no usable private key ({e})", key.display())))?;
        Ok(TlsIdentity { chain, key })
    }
}

/// CA certificates trusted to sign the peer's certificate.
#[derive(Debug, Clone)]
pub struct TrustedCas(Arc<RootCertStore>);

impl TrustedCas {
    /// Reads one or more PEM CA certificates.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_certificates(certificates_from_pem(pem, "CA certificate")?, "CA certificate")
    }

    /// [`TrustedCas::from_pem`] from a file.
    pub fn from_pem_file(path: &Path) -> Result<Self, TlsError> {
        let what = path.display().to_string();
        Self::from_certificates(certificates_from_pem(&read(path)?, &what)?, &what)
    }

    fn from_certificates(certs: Vec<CertificateDer<'static>>, what: &str) -> Result<Self, TlsError> {
        let mut store = RootCertStore::empty();
        for cert in certs {
            store.add(cert).map_err(|e| TlsError(format!("{what}: not a usable CA certificate ({e})")))?;
        }
        Ok(TrustedCas(Arc::new(store)))
    }
}

/// How a client identifies the server beyond "signed by the CA".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ServerPin {
    /// The CA signature is enough (the original's behaviour).
    #[default]
    None,
    /// The certificate must be valid for this DNS name or IP address.
    Name(String),
    /// The end-entity certificate's SHA-256 must be this (32 bytes).
    Fingerprint([u8; 32]),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side: present `identity`, require a client certificate signed by `client_cas`.
pub fn server_config(identity: &TlsIdentity, client_cas: &TrustedCas) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with_policy(identity, client_cas, ClientPolicy::default())
}

/// [`server_config`], and the client certificate must also pass `policy` (revocation lists,
/// the application's admission) during the handshake.
pub fn server_config_with_policy(
    identity: &TlsIdentity,
    client_cas: &TrustedCas,
    policy: ClientPolicy,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = client_policy::PolicyVerifier::new(client_cas.0.clone(), provider.clone(), policy)?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| TlsError(format!("server certificate/key: {e}")))?;
    Ok(Arc::new(config))
}

/// A server that asks for no client certificate (an HTTPS API whose clients bring a token):
/// present `identity`, ring provider, TLS 1.2 and 1.3.
pub fn server_config_without_client_auth(identity: &TlsIdentity) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| TlsError(format!("server certificate/key: {e}")))?;
    Ok(Arc::new(config))
}

/// The client side: present `identity`, accept a server certificate signed by `server_cas`
/// and matching `pin`.
pub fn client_config(
    identity: &TlsIdentity,
    server_cas: &TrustedCas,
    pin: ServerPin,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(CaVerifier {
        roots: server_cas.0.clone(),
        pin,
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| TlsError(format!("client certificate/key: {e}")))?;
    Ok(Arc::new(config))
}

/// The server name to hand rustls for a connection: the pinned name, else the address (our
/// verifier ignores it unless pinned; an IP address also keeps SNI off the wire).
pub fn server_name_for(pin: &ServerPin, ip: std::net::IpAddr) -> ServerName<'static> {
    match pin {
        ServerPin::Name(name) => {
            ServerName::try_from(name.clone()).unwrap_or(ServerName::IpAddress(ip.into()))
        }
        _ => ServerName::IpAddress(ip.into()),
    }
}

/// Verifies the server's chain against the CA, then the pin; see the module documentation.
#[derive(Debug)]
struct CaVerifier {
    roots: Arc<RootCertStore>,
    pin: ServerPin,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        match &self.pin {
            ServerPin::None => {}
            ServerPin::Name(name) => {
                let name = ServerName::try_from(name.as_str()).map_err(|_| {
                    rustls::Error::General(format!("pinned server name {name:?} is not valid"))
                })?;
                rustls::client::verify_server_name(&cert, &name)?;
            }
            ServerPin::Fingerprint(expected) => {
                if Sha256::digest(end_entity.as_ref()).as_slice() != expected {
                    return Err(rustls::Error::General(
                        "server certificate fingerprint does not match the pin".into(),
                    ));
                }
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The identity of the first certificate in a PEM file (to learn its serial number, say).
pub fn certificate_identity_from_pem_file(path: &Path) -> Result<crate::peer::CertificateIdentity, TlsError> {
    let what = path.display().to_string();
    let certs = certificates_from_pem(&read(path)?, &what)?;
    crate::peer::CertificateIdentity::from_der(&certs[0]).map_err(|e| TlsError(format!("{what}: {e}")))
}

fn certificates_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("{what}: unreadable PEM ({e})")))?;
    if certs.is_empty() {
        return Err(TlsError(format!("{what}: no certificate found in the PEM")));
    }
    Ok(certs)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("{}: {e}", path.display())))
}
