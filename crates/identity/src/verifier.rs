//! Peer certificate verification for mesh mTLS: the chain against the trust bundle, then the
//! SPIFFE identity.
//!
//! rustls' own verifiers match DNS names and IP addresses, never URI SANs, so a SPIFFE
//! certificate fails their name check. These verifiers validate the chain only (webpki path
//! building to a root of the bundle, validity, key usage) and then require exactly one
//! `spiffe://` URI SAN. The chain is checked first so that a chain problem is never reported
//! as a name problem. Every refusal is logged with its reason and returned as a rustls error
//! that [`Rejection::from_tls_error`] turns back into the reason.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, OtherError,
    SignatureScheme,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::cert::rfc3339;
use crate::{SpiffeId, TrustBundle, TrustDomain};

/// Why a peer certificate was refused. `as_str()` is the stable label for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The certificate's validity has ended.
    #[error("certificate expired{}", at(" at ", *not_after))]
    Expired {
        /// Its notAfter, when known.
        not_after: Option<SystemTime>,
    },
    /// The certificate's validity has not begun.
    #[error("certificate is not valid yet{}", at(" before ", *not_before))]
    NotYetValid {
        /// Its notBefore, when known.
        not_before: Option<SystemTime>,
    },
    /// The chain does not lead to a root of the trust bundle.
    #[error("certificate chain does not lead to a root of the mesh trust bundle")]
    UnknownRoot,
    /// A signature in the chain does not verify.
    #[error("certificate signature does not verify")]
    BadSignature,
    /// Key usage or extended key usage does not allow this use.
    #[error("certificate is not valid for this use (key usage)")]
    WrongKeyUsage,
    /// The certificate cannot be parsed.
    #[error("certificate cannot be parsed")]
    Malformed,
    /// The chain fails path validation for another reason webpki names.
    #[error("certificate chain is invalid: {detail}")]
    InvalidChain {
        /// webpki's description.
        detail: String,
    },
    /// The leaf has no URI SAN, so no SPIFFE ID.
    #[error("certificate has no uri san; a mesh certificate carries exactly one spiffe id")]
    NoUriSan,
    /// The leaf has several URI SANs, so no single identity.
    #[error("certificate has {count} uri sans; a mesh certificate carries exactly one spiffe id")]
    MultipleUriSans {
        /// How many.
        count: usize,
    },
    /// The URI SAN is not a valid SPIFFE ID.
    #[error("uri san {uri:?} is not a valid spiffe id: {reason}")]
    NotSpiffe {
        /// The URI.
        uri: String,
        /// The SPIFFE rule it breaks.
        reason: &'static str,
    },
    /// The SPIFFE ID belongs to another trust domain.
    #[error("peer identity {presented} is not in trust domain {expected}")]
    WrongTrustDomain {
        /// The peer's identity.
        presented: String,
        /// The trust domain required.
        expected: String,
    },
    /// The SPIFFE ID is not the one expected of this peer.
    #[error("peer identity {presented} is not the expected {expected}")]
    WrongIdentity {
        /// The peer's identity.
        presented: String,
        /// What was expected.
        expected: String,
    },
    /// The client sent no certificate and the server requires one (STRICT).
    #[error("client presented no certificate and this port requires mtls")]
    MissingClientCert,
}

impl Rejection {
    /// A stable snake_case label, e.g. `expired`, `unknown_root`, `wrong_identity`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::UnknownRoot => "unknown_root",
            Self::BadSignature => "bad_signature",
            Self::WrongKeyUsage => "wrong_key_usage",
            Self::Malformed => "malformed",
            Self::InvalidChain { .. } => "invalid_chain",
            Self::NoUriSan => "no_uri_san",
            Self::MultipleUriSans { .. } => "multiple_uri_sans",
            Self::NotSpiffe { .. } => "not_spiffe",
            Self::WrongTrustDomain { .. } => "wrong_trust_domain",
            Self::WrongIdentity { .. } => "wrong_identity",
            Self::MissingClientCert => "missing_client_cert",
        }
    }

    /// The reason behind a handshake error, when it is about a certificate.
    ///
    /// On the side that verified, this is the precise reason. On the side whose certificate
    /// was refused only the TLS alert is known, so only `Expired`, `UnknownRoot` and
    /// `MissingClientCert` can be told apart there; other alerts give `None`.
    pub fn from_tls_error(err: &rustls::Error) -> Option<Self> {
        match err {
            rustls::Error::InvalidCertificate(ce) => Some(from_certificate_error(ce)),
            rustls::Error::NoCertificatesPresented => Some(Self::MissingClientCert),
            rustls::Error::AlertReceived(AlertDescription::CertificateExpired) => {
                Some(Self::Expired { not_after: None })
            }
            rustls::Error::AlertReceived(AlertDescription::UnknownCA) => Some(Self::UnknownRoot),
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
                Some(Self::MissingClientCert)
            }
            _ => None,
        }
    }

    /// [`from_tls_error`](Self::from_tls_error) for the `io::Error` tokio-rustls returns.
    pub fn from_io_error(err: &std::io::Error) -> Option<Self> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(Self::from_tls_error)
    }

    fn into_tls_error(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(self))))
    }
}

fn at(prefix: &str, t: Option<SystemTime>) -> String {
    t.map(|t| format!("{prefix}{}", rfc3339(t)))
        .unwrap_or_default()
}

fn unix(t: UnixTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs())
}

fn from_certificate_error(ce: &CertificateError) -> Rejection {
    #[allow(deprecated)] // rustls still produces the context-free variants in places
    match ce {
        CertificateError::Expired => Rejection::Expired { not_after: None },
        CertificateError::ExpiredContext { not_after, .. } => Rejection::Expired {
            not_after: Some(unix(*not_after)),
        },
        CertificateError::NotValidYet => Rejection::NotYetValid { not_before: None },
        CertificateError::NotValidYetContext { not_before, .. } => Rejection::NotYetValid {
            not_before: Some(unix(*not_before)),
        },
        CertificateError::UnknownIssuer => Rejection::UnknownRoot,
        CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            Rejection::BadSignature
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            Rejection::WrongKeyUsage
        }
        CertificateError::BadEncoding => Rejection::Malformed,
        CertificateError::Other(other) => match other.0.downcast_ref::<Rejection>() {
            Some(rejection) => rejection.clone(),
            None => Rejection::InvalidChain {
                detail: other.to_string(),
            },
        },
        other => Rejection::InvalidChain {
            detail: format!("{other:?}"),
        },
    }
}

/// Which server identities a client accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpectedPeer {
    /// Exactly this identity (the upstream service's account).
    Exactly(SpiffeId),
    /// Any of these identities (a service whose endpoints run under several accounts).
    OneOf(Vec<SpiffeId>),
    /// Any identity of this trust domain.
    AnyInTrustDomain(TrustDomain),
}

impl ExpectedPeer {
    fn check(&self, presented: &SpiffeId) -> Result<(), Rejection> {
        let wrong = |expected: String| Rejection::WrongIdentity {
            presented: presented.to_string(),
            expected,
        };
        match self {
            Self::Exactly(id) if id == presented => Ok(()),
            Self::Exactly(id) => Err(wrong(id.to_string())),
            Self::OneOf(ids) if ids.contains(presented) => Ok(()),
            Self::OneOf(ids) => Err(wrong(format!(
                "one of [{}]",
                ids.iter()
                    .map(SpiffeId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            Self::AnyInTrustDomain(td) if presented.is_in(td) => Ok(()),
            Self::AnyInTrustDomain(td) => Err(Rejection::WrongTrustDomain {
                presented: presented.to_string(),
                expected: td.to_string(),
            }),
        }
    }
}

/// The SPIFFE ID of a leaf certificate: its one and only URI SAN, validated.
///
/// ```no_run
/// # use meridian_identity::spiffe_id_of;
/// # fn f(leaf: &rustls_pki_types::CertificateDer<'_>) {
/// match spiffe_id_of(leaf) {
///     Ok(id) => println!("peer is {id}"),
///     Err(why) => println!("refused: {why} ({})", why.as_str()),
/// }
/// # }
/// ```
pub fn spiffe_id_of(leaf: &CertificateDer<'_>) -> Result<SpiffeId, Rejection> {
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| Rejection::Malformed)?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|_| Rejection::Malformed)?;
    let mut uris = sans
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        });
    let uri = match (uris.next(), uris.next()) {
        (None, _) => return Err(Rejection::NoUriSan),
        (Some(uri), None) => uri,
        (Some(_), Some(_)) => {
            return Err(Rejection::MultipleUriSans {
                count: 2 + uris.count(),
            });
        }
    };
    SpiffeId::parse(uri).map_err(|e| Rejection::NotSpiffe {
        uri: uri.to_owned(),
        reason: match e {
            crate::Error::InvalidSpiffeId { reason, .. } => reason,
            _ => "invalid",
        },
    })
}

/// Logs a refusal with its reason, naming the peer's identity when the certificate has one.
fn log_refusal(side: &'static str, leaf: &CertificateDer<'_>, rejection: &Rejection) {
    let peer = spiffe_id_of(leaf)
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "-".to_owned());
    tracing::warn!(
        reason = rejection.as_str(),
        peer_identity = %peer,
        verifying = side,
        "refused peer certificate: {rejection}"
    );
}

/// Logs a refusal and turns it into the rustls error for the handshake.
fn refuse(side: &'static str, leaf: &CertificateDer<'_>, rejection: Rejection) -> rustls::Error {
    log_refusal(side, leaf, &rejection);
    rejection.into_tls_error()
}

/// Logs a failed chain check and keeps rustls' error, which already names the reason and
/// makes rustls send the matching alert (certificate_expired, unknown_ca) to the peer.
fn chain_result(
    side: &'static str,
    leaf: &CertificateDer<'_>,
    result: Result<(), rustls::Error>,
) -> Result<(), rustls::Error> {
    result.inspect_err(|err| {
        let rejection = Rejection::from_tls_error(err).unwrap_or(Rejection::Malformed);
        log_refusal(side, leaf, &rejection);
    })
}

/// Client-side verifier: the server's chain against the trust bundle (no DNS name check), then
/// its SPIFFE ID against what the client expects.
pub struct SpiffeServerVerifier {
    bundle: TrustBundle,
    expected: ExpectedPeer,
    algs: WebPkiSupportedAlgorithms,
}

impl SpiffeServerVerifier {
    /// A verifier accepting servers whose identity matches `expected`.
    pub fn new(bundle: TrustBundle, expected: ExpectedPeer) -> Self {
        Self {
            bundle,
            expected,
            algs: crate::tls::provider().signature_verification_algorithms,
        }
    }

    /// Checks a server certificate chain at `now`, as the handshake does, returning the
    /// server's identity. Useful for self-checks and tests.
    pub fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        now: SystemTime,
    ) -> Result<SpiffeId, Rejection> {
        let (leaf, intermediates) = chain.split_first().ok_or(Rejection::Malformed)?;
        let now = UnixTime::since_unix_epoch(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        self.check(leaf, intermediates, now)
            .map_err(|e| Rejection::from_tls_error(&e).unwrap_or(Rejection::Malformed))
    }

    fn check(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<SpiffeId, rustls::Error> {
        let snapshot = self.bundle.snapshot(unix(now));
        let parsed = ParsedCertificate::try_from(leaf)?;
        chain_result(
            "server",
            leaf,
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &parsed,
                snapshot.store(),
                intermediates,
                now,
                self.algs.all,
            ),
        )?;
        let id = spiffe_id_of(leaf).map_err(|r| refuse("server", leaf, r))?;
        self.expected
            .check(&id)
            .map_err(|r| refuse("server", leaf, r))?;
        Ok(id)
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, now)
            .map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

impl fmt::Debug for SpiffeServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeServerVerifier")
            .field("bundle", &self.bundle)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

/// Server-side verifier: the client's chain against the trust bundle (client-auth usage), then
/// a SPIFFE ID of the bundle's trust domain. Which identities may call what is
/// AuthorizationPolicy's business, above this layer; read the identity with
/// [`peer_identity`](crate::peer_identity).
pub struct SpiffeClientVerifier {
    bundle: TrustBundle,
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl SpiffeClientVerifier {
    /// A verifier that requires a client certificate (`mandatory`, PeerAuthentication STRICT)
    /// or verifies one only when offered.
    pub fn new(bundle: TrustBundle, mandatory: bool) -> Self {
        Self {
            bundle,
            mandatory,
            algs: crate::tls::provider().signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // A sidecar has exactly one certificate; hints would only leak the bundle.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let snapshot = self.bundle.snapshot(unix(now));
        let result = match snapshot.client_verifier() {
            Some(verifier) => verifier
                .verify_client_cert(end_entity, intermediates, now)
                .map(|_| ()),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        chain_result("client", end_entity, result)?;
        let id = spiffe_id_of(end_entity).map_err(|r| refuse("client", end_entity, r))?;
        ExpectedPeer::AnyInTrustDomain(self.bundle.trust_domain().clone())
            .check(&id)
            .map_err(|r| refuse("client", end_entity, r))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

impl fmt::Debug for SpiffeClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeClientVerifier")
            .field("bundle", &self.bundle)
            .field("mandatory", &self.mandatory)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_stable() {
        assert_eq!(Rejection::UnknownRoot.as_str(), "unknown_root");
        assert_eq!(
            Rejection::Expired { not_after: None }.to_string(),
            "certificate expired"
        );
        assert_eq!(
            Rejection::Expired {
                not_after: Some(SystemTime::UNIX_EPOCH)
            }
            .to_string(),
            "certificate expired at 1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn round_trips_through_rustls_error() {
        let r = Rejection::WrongIdentity {
            presented: "spiffe://td/ns/a/sa/b".into(),
            expected: "spiffe://td/ns/a/sa/c".into(),
        };
        let err = r.clone().into_tls_error();
        assert_eq!(Rejection::from_tls_error(&err), Some(r));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        assert_eq!(
            Rejection::from_io_error(&io).map(|r| r.as_str()),
            Some("wrong_identity")
        );
        assert_eq!(
            Rejection::from_tls_error(&rustls::Error::NoCertificatesPresented),
            Some(Rejection::MissingClientCert)
        );
    }

    #[test]
    fn expected_peer_matching() {
        let a = SpiffeId::parse("spiffe://td/ns/a/sa/x").unwrap();
        let b = SpiffeId::parse("spiffe://td/ns/b/sa/y").unwrap();
        let other = SpiffeId::parse("spiffe://elsewhere/ns/a/sa/x").unwrap();
        assert!(ExpectedPeer::Exactly(a.clone()).check(&a).is_ok());
        assert!(matches!(
            ExpectedPeer::Exactly(a.clone()).check(&b),
            Err(Rejection::WrongIdentity { .. })
        ));
        assert!(
            ExpectedPeer::OneOf(vec![a.clone(), b.clone()])
                .check(&b)
                .is_ok()
        );
        let td = TrustDomain::new("td").unwrap();
        assert!(ExpectedPeer::AnyInTrustDomain(td.clone()).check(&b).is_ok());
        assert!(matches!(
            ExpectedPeer::AnyInTrustDomain(td).check(&other),
            Err(Rejection::WrongTrustDomain { .. })
        ));
    }
}
