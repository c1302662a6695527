//! HTTPS to backends (`forwarding_protocol` `HttpsOnly`, or `MatchRequest` for an HTTPS
//! client), and probes with `protocol = "Https"`. Front Door sends the backend's host
//! header as SNI and verifies the backend's certificate chain against trusted roots; with
//! the name check on (classic `enforce_backend_pools_certificate_name_check`, an origin's
//! `certificate_name_check_enabled`) the certificate must also name that host. A backend
//! that fails the handshake fails the request like a refused connection: the next backend
//! gets it, and when none is left the client gets 503.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::upstream::{TlsTransport, Transport};

/// The TLS clients a Front Door reaches its backends with, with and without the name
/// check. Equal only to itself (a new one restarts the Front Door's pools).
#[derive(Clone)]
pub struct BackendTls {
    names_checked: Arc<rustls::ClientConfig>,
    chain_only: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for BackendTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackendTls")
    }
}

impl PartialEq for BackendTls {
    fn eq(&self, other: &BackendTls) -> bool {
        Arc::ptr_eq(&self.names_checked, &other.names_checked)
    }
}

impl Eq for BackendTls {}

impl BackendTls {
    /// Verifies backends against `roots`.
    pub fn new(roots: rustls::RootCertStore) -> Result<BackendTls, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        let config = |check_names: bool| -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainVerifier {
                    inner: webpki.clone(),
                    check_names,
                }))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        };
        Ok(BackendTls {
            names_checked: config(true)?,
            chain_only: config(false)?,
        })
    }

    /// The transport to a backend whose host header is `host` (its SNI, and the name
    /// verified when `check_name`); `None` when `host` is no valid server name.
    pub(crate) fn transport(&self, host: &str, check_name: bool) -> Option<Transport> {
        let host = host
            .rsplit_once(':')
            .filter(|(h, p)| !h.ends_with(']') && p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        let name = ServerName::try_from(host.to_owned()).ok()?;
        let config = if check_name {
            &self.names_checked
        } else {
            &self.chain_only
        };
        Some(Transport::Tls(TlsTransport::new(config.clone(), name)))
    }
}

/// webpki's verification, where a certificate that does not name the host is accepted
/// when the name check is off (its chain, dates and signatures are still verified).
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    check_names: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
