//! Gateway TLS: rustls server configs (aws-lc-rs only) built from a server's certificate
//! files, one per Gateway server so SNI picks the server and its client-certificate policy.

use std::sync::Arc;

use meridian_control::snapshot::{
    Cluster, ServerTls, ServerTlsMode, UpstreamProtocol, UpstreamTls,
};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::upstream::{TlsTransport, Transport};

use crate::error::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_error(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// A server config for one Gateway server (ALPN h2 and http/1.1).
pub(crate) fn server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&tls.server_certificate)
            .map_err(|e| tls_error(&tls.server_certificate, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| tls_error(&tls.server_certificate, e))?;
    if certs.is_empty() {
        return Err(tls_error(&tls.server_certificate, "no certificate in file"));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.private_key)
        .map_err(|e| tls_error(&tls.private_key, e))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_protocol_version.as_deref() {
        Some("Tlsv13") => &[&rustls::version::TLS13],
        _ => rustls::ALL_VERSIONS,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| tls_error(&tls.server_certificate, e))?;
    let builder = match tls.mode {
        ServerTlsMode::Simple => builder.with_no_client_auth(),
        ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual => {
            let ca = tls
                .ca_certificates
                .as_deref()
                .ok_or_else(|| tls_error(&tls.server_certificate, "MUTUAL needs caCertificates"))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| tls_error(ca, e))? {
                roots
                    .add(c.map_err(|e| tls_error(ca, e))?)
                    .map_err(|e| tls_error(ca, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if tls.mode == ServerTlsMode::OptionalMutual {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| tls_error(ca, e))?)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(&tls.private_key, e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(path, e))
}

/// Where Debian and most distributions keep the system's trusted roots, used when a
/// DestinationRule names no `caCertificates` (Istio verifies against the OS roots then).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The transport of a cluster whose DestinationRule originates TLS (`SIMPLE`, `MUTUAL`):
/// the server is verified against `caCertificates` (or the system roots), by the names in
/// `subjectAltNames` when given (DNS names, IP addresses or `spiffe://` URIs), else by the
/// SNI (`sni`, else the service host); `insecureSkipVerify` verifies nothing but the
/// handshake. `ISTIO_MUTUAL` and auto mTLS are the mesh's own (see `mtls`).
pub(crate) fn upstream_transport(c: &Cluster) -> Result<Option<Transport>, Error> {
    let files = match &c.policy.tls {
        UpstreamTls::Simple(f) | UpstreamTls::Mutual(f) => f,
        UpstreamTls::Auto | UpstreamTls::Disable | UpstreamTls::IstioMutual => return Ok(None),
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca = files.ca_certificates.as_deref().unwrap_or(SYSTEM_ROOTS);
    if !files.insecure_skip_verify {
        for cert in load_certs(ca)? {
            roots.add(cert).map_err(|e| tls_error(ca, e))?;
        }
    }
    let roots = Arc::new(roots);
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&c.name, e))?;
    let builder = if files.insecure_skip_verify || !files.subject_alt_names.is_empty() {
        let verifier =
            SanVerifier::new(roots, &files.subject_alt_names, files.insecure_skip_verify)
                .map_err(|e| tls_error(ca, e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        builder.with_root_certificates(roots)
    };
    let mut config = match (&c.policy.tls, &files.client_certificate, &files.private_key) {
        (UpstreamTls::Mutual(_), Some(cert), Some(key)) => builder
            .with_client_auth_cert(
                load_certs(cert)?,
                PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e))?,
            )
            .map_err(|e| tls_error(cert, e))?,
        (UpstreamTls::Mutual(_), _, _) => {
            return Err(tls_error(
                &c.name,
                "MUTUAL needs clientCertificate and privateKey",
            ));
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match c.protocol {
        UpstreamProtocol::Http1 => vec![b"http/1.1".to_vec()],
        UpstreamProtocol::Http2 => vec![b"h2".to_vec()],
        UpstreamProtocol::Client => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    let sni = files.sni.clone().unwrap_or_else(|| c.service.clone());
    let name = ServerName::try_from(sni.clone()).map_err(|e| tls_error(&sni, e))?;
    Ok(Some(Transport::Tls(TlsTransport::new(
        Arc::new(config),
        name,
    ))))
}

/// Server verification for `subjectAltNames` and `insecureSkipVerify`: the chain against the
/// roots, then any one of the listed names instead of the SNI.
#[derive(Debug)]
struct SanVerifier {
    /// `None` only with `insecureSkipVerify`.
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    roots: Arc<rustls::RootCertStore>,
    names: Vec<ServerName<'static>>,
    uris: Vec<String>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl SanVerifier {
    fn new(
        roots: Arc<rustls::RootCertStore>,
        sans: &[String],
        insecure: bool,
    ) -> Result<SanVerifier, String> {
        let provider = provider();
        let inner = if insecure {
            None
        } else {
            Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots.clone(),
                    provider.clone(),
                )
                .build()
                .map_err(|e| e.to_string())?,
            )
        };
        let (uris, names): (Vec<&String>, Vec<&String>) =
            sans.iter().partition(|s| s.contains("://"));
        Ok(SanVerifier {
            inner,
            roots,
            names: names
                .into_iter()
                .filter_map(|n| ServerName::try_from(n.clone()).ok())
                .collect(),
            uris: uris.into_iter().cloned().collect(),
            algs: provider.signature_verification_algorithms,
        })
    }
}

impl rustls::client::danger::ServerCertVerifier for SanVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        let mut last = None;
        for name in &self.names {
            match inner.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        if !self.uris.is_empty() {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &parsed,
                &self.roots,
                intermediates,
                now,
                self.algs.all,
            )?;
            match meridian_identity::spiffe_id_of(end_entity) {
                Ok(id) if self.uris.iter().any(|u| u == id.as_str()) => {
                    return Ok(rustls::client::danger::ServerCertVerified::assertion());
                }
                _ => {}
            }
        }
        if self.names.is_empty() && self.uris.is_empty() {
            return inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        }
        Err(last.unwrap_or(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}
