//! Which sentries may connect, decided from the client certificate inside the TLS handshake
//! (and again at `hello` and `setLogChannel`): the one GUID the certificate names, the
//! allow-list, and the revocation lists.
//!
//! The GUID comes from the subject's common name (the default) or, when configured, from a URI
//! subject alternative name `urn:kraken:sentry:<guid>`; nothing else in a certificate (DNS
//! names, e-mail addresses) speaks for a sentry. A certificate that names more than one GUID
//! (two common names, two such URIs, or a URI that disagrees with the common name) is refused,
//! so one certificate of a shared enterprise CA cannot speak for several sentries.

use std::collections::HashSet;
use std::sync::Arc;

use kraken_rpc::CertificateIdentity;
use kraken_rpc::tls::{ClientAdmission, CrlWatch};
use serde::Deserialize;

/// The prefix of a URI subject alternative name that names a sentry.
pub const GUID_URI_PREFIX: &str = "urn:kraken:sentry:";
/// Longest GUID accepted from a certificate, in bytes.
const MAX_GUID_LEN: usize = 128;

/// Where a sentry's GUID is read from in its certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuidSource {
    /// The subject's common name.
    #[default]
    CommonName,
    /// A URI subject alternative name `urn:kraken:sentry:<guid>`.
    UriSan,
}

/// The rules a sentry's certificate must pass.
#[derive(Debug, Clone, Default)]
pub struct SentryAccess {
    pub guid_from: GuidSource,
    /// GUIDs allowed to connect; `None`: any GUID with a certificate from the CA.
    pub allowed: Option<Arc<HashSet<String>>>,
    /// Revoked certificates (also checked by the TLS verifier, which has the lists too).
    pub revocations: Option<Arc<CrlWatch>>,
}

impl SentryAccess {
    /// The GUID `certificate` names, or why it names none (or several).
    pub fn guid_of(&self, certificate: &CertificateIdentity) -> Result<String, String> {
        let from_uris: HashSet<&str> =
            certificate.uris.iter().filter_map(|uri| uri.strip_prefix(GUID_URI_PREFIX)).collect();
        let guid = match self.guid_from {
            GuidSource::CommonName => {
                let [common_name] = certificate.common_names.as_slice() else {
                    return Err(match certificate.common_names.len() {
                        0 => "the certificate has no common name".to_owned(),
                        n => format!("the certificate has {n} common names: it must name one sentry"),
                    });
                };
                if from_uris.iter().any(|other| other != common_name) {
                    return Err(format!(
                        "the certificate names sentry {common_name} and, in a {GUID_URI_PREFIX} URI, another"
                    ));
                }
                common_name.clone()
            }
            GuidSource::UriSan => {
                let mut guids = from_uris.into_iter();
                match (guids.next(), guids.next()) {
                    (Some(guid), None) => guid.to_owned(),
                    (None, _) => return Err(format!("the certificate has no {GUID_URI_PREFIX} URI")),
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "the certificate has several {GUID_URI_PREFIX} URIs: it must name one sentry"
                        ));
                    }
                }
            }
        };
        if guid.is_empty() || guid.len() > MAX_GUID_LEN || guid.chars().any(char::is_control) {
            return Err(format!(
                "{guid:?} is not a sentry GUID (1 to {MAX_GUID_LEN} bytes, no control characters)"
            ));
        }
        Ok(guid)
    }

    /// The GUID `certificate` names, if it is allowed and not revoked.
    pub fn check(&self, certificate: &CertificateIdentity) -> Result<String, String> {
        let guid = self.guid_of(certificate)?;
        if self.revocations.as_ref().is_some_and(|lists| lists.is_revoked(&certificate.serial_hex)) {
            return Err(format!("the certificate of sentry {guid} is revoked"));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(&guid)
        {
            return Err(format!("sentry {guid} is not allowed on this base"));
        }
        Ok(guid)
    }
}

impl ClientAdmission for SentryAccess {
    fn admit(&self, certificate: &CertificateIdentity) -> Result<(), String> {
        self.check(certificate).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(common_names: &[&str], uris: &[&str]) -> CertificateIdentity {
        let uris: Vec<String> = uris.iter().map(|u| u.to_string()).collect();
        CertificateIdentity {
            common_name: common_names.first().map(|c| c.to_string()),
            common_names: common_names.iter().map(|c| c.to_string()).collect(),
            alt_names: uris.clone(),
            uris,
            serial_hex: "01".into(),
            not_before: 0,
            not_after: 0,
            fingerprint_sha256: String::new(),
        }
    }

    #[test]
    fn the_common_name_is_the_guid_and_other_names_speak_for_nobody() {
        let access = SentryAccess::default();
        let mut cert = certificate(&["sentry-1"], &[]);
        cert.alt_names.push("sentry-2".into()); // a DNS name: ignored
        assert_eq!(access.guid_of(&cert).unwrap(), "sentry-1");
        let agreeing = certificate(&["sentry-1"], &["urn:kraken:sentry:sentry-1", "https://x"]);
        assert_eq!(access.guid_of(&agreeing).unwrap(), "sentry-1");
    }

    #[test]
    fn a_certificate_naming_two_sentries_is_refused() {
        let access = SentryAccess::default();
        for cert in [
            certificate(&["sentry-1", "sentry-2"], &[]),
            certificate(&["sentry-1"], &["urn:kraken:sentry:sentry-2"]),
            certificate(&[], &["urn:kraken:sentry:sentry-1"]),
        ] {
            assert!(access.guid_of(&cert).is_err(), "{cert:?}");
        }
        let by_uri = SentryAccess { guid_from: GuidSource::UriSan, ..Default::default() };
        let two = certificate(&["x"], &["urn:kraken:sentry:a", "urn:kraken:sentry:b"]);
        assert!(by_uri.guid_of(&two).unwrap_err().contains("several"));
        assert!(by_uri.guid_of(&certificate(&["a"], &[])).unwrap_err().contains("no urn:kraken:sentry:"));
        let one = certificate(&["host.example.org"], &["urn:kraken:sentry:a", "urn:kraken:sentry:a"]);
        assert_eq!(by_uri.guid_of(&one).unwrap(), "a");
    }

    #[test]
    fn odd_guids_are_refused() {
        let access = SentryAccess::default();
        let long = "x".repeat(MAX_GUID_LEN + 1);
        for name in ["", "a\u{0}b", long.as_str()] {
            assert!(access.guid_of(&certificate(&[name], &[])).is_err(), "{name:?}");
        }
    }

    #[test]
    fn the_allow_list_is_applied_to_the_certificate_guid() {
        let access = SentryAccess {
            allowed: Some(Arc::new(["sentry-1".to_owned()].into_iter().collect())),
            ..Default::default()
        };
        assert_eq!(access.check(&certificate(&["sentry-1"], &[])).unwrap(), "sentry-1");
        assert!(access.check(&certificate(&["sentry-9"], &[])).unwrap_err().contains("not allowed"));
    }
}
