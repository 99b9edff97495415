//! What a server checks of a client's certificate, inside the TLS handshake: the chain to its
//! client CA (rustls' WebPKI verifier), the revocation lists of a [`CrlWatch`] when given (the
//! verifier is rebuilt when they change), then the application's own admission
//! ([`ClientAdmission`]: for a base, the GUID the certificate names and its allow-list). A
//! client refused here never gets to send a single frame.

use std::sync::{Arc, PoisonError, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::crl::CrlWatch;
use super::error::TlsError;
use crate::peer::CertificateIdentity;

/// The application's check of a client certificate the CA signed and no list revokes.
pub trait ClientAdmission: Send + Sync + std::fmt::Debug {
    /// `Err(why)` refuses the handshake.
    fn admit(&self, certificate: &CertificateIdentity) -> Result<(), String>;
}

/// What a server checks beyond its client CA's signature.
#[derive(Debug, Clone, Default)]
pub struct ClientPolicy {
    /// Revoked certificates are refused.
    pub revocations: Option<Arc<CrlWatch>>,
    /// Checked last, on the certificate's identity.
    pub admission: Option<Arc<dyn ClientAdmission>>,
}

/// The verifier a server configuration is built with; see the module documentation.
#[derive(Debug)]
pub(super) struct PolicyVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    policy: ClientPolicy,
    /// The CA names a client is told to pick its certificate by.
    hints: Vec<DistinguishedName>,
    /// The WebPKI verifier and the generation of the lists it was built with.
    webpki: RwLock<(u64, Arc<dyn ClientCertVerifier>)>,
}

impl PolicyVerifier {
    pub(super) fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
        policy: ClientPolicy,
    ) -> Result<PolicyVerifier, TlsError> {
        let (generation, webpki) = build(&roots, &provider, policy.revocations.as_deref())?;
        let hints = roots.subjects();
        Ok(PolicyVerifier { roots, provider, policy, hints, webpki: RwLock::new((generation, webpki)) })
    }

    /// The WebPKI verifier for the lists in force, rebuilt when they changed.
    fn webpki(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let (built, current) = self.webpki.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(watch) = &self.policy.revocations else { return Ok(current) };
        if watch.current().0 == built {
            return Ok(current);
        }
        let (generation, rebuilt) = build(&self.roots, &self.provider, Some(watch))
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        *self.webpki.write().unwrap_or_else(PoisonError::into_inner) = (generation, rebuilt.clone());
        Ok(rebuilt)
    }
}

fn build(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    revocations: Option<&CrlWatch>,
) -> Result<(u64, Arc<dyn ClientCertVerifier>), TlsError> {
    let mut builder = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
    let mut generation = 0;
    if let Some(watch) = revocations {
        let (current, lists) = watch.current();
        generation = current;
        builder = builder.with_crls(lists.iter().cloned());
    }
    let verifier = builder.build().map_err(|e| TlsError(format!("client verifier: {e}")))?;
    Ok((generation, verifier))
}

impl ClientCertVerifier for PolicyVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.webpki()?.verify_client_cert(end_entity, intermediates, now)?;
        if let Some(admission) = &self.policy.admission {
            let identity = CertificateIdentity::from_der(end_entity).map_err(rustls::Error::General)?;
            admission.admit(&identity).map_err(rustls::Error::General)?;
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
