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

/// The transport of a cluster whose DestinationRule originates TLS (`SIMPLE`, `MUTUAL`).
/// `ISTIO_MUTUAL` is the mesh's own mTLS (issue 6) and stays plaintext until then.
pub(crate) fn upstream_transport(c: &Cluster) -> Result<Option<Transport>, Error> {
    let files = match &c.policy.tls {
        UpstreamTls::Simple(f) | UpstreamTls::Mutual(f) => f,
        UpstreamTls::Auto | UpstreamTls::Disable | UpstreamTls::IstioMutual => return Ok(None),
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca = files
        .ca_certificates
        .as_deref()
        .ok_or_else(|| tls_error(&c.name, "caCertificates is required to verify the server"))?;
    for cert in load_certs(ca)? {
        roots.add(cert).map_err(|e| tls_error(ca, e))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&c.name, e))?
        .with_root_certificates(roots);
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
