//! Gateway TLS: rustls server configs (aws-lc-rs only) built from a server's certificate
//! files or the Secret its `credentialName` names, one per Gateway server so SNI picks the server and its client-certificate policy.

use std::sync::Arc;

use meridian_control::snapshot::{
    Cluster, ServerTls, ServerTlsMode, TlsVersion, UpstreamProtocol, UpstreamTls,
};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};

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

/// A server config for one Gateway server (ALPN h2 and http/1.1), with every field of the
/// server's TLS settings in force: versions and TLS 1.2 cipher suites, and for MUTUAL and
/// OPTIONAL_MUTUAL the client's chain against `caCertificates`, not revoked by `caCrl`
/// (reread when the file changes), then its SANs, certificate hash and SPKI hash against
/// the lists given.
pub(crate) fn server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, Error> {
    let (certs, key) = match &tls.credential {
        Some(c) => (
            pem_certs(&c.certificate_chain, &tls.server_certificate)?,
            PrivateKeyDer::from_pem_slice(&c.private_key)
                .map_err(|e| tls_error(&tls.private_key, e))?,
        ),
        None => (
            load_certs(&tls.server_certificate)?,
            PrivateKeyDer::from_pem_file(&tls.private_key)
                .map_err(|e| tls_error(&tls.private_key, e))?,
        ),
    };
    if certs.is_empty() {
        return Err(tls_error(&tls.server_certificate, "no certificate in it"));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (tls.min_protocol_version..=tls.max_protocol_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    if versions.is_empty() {
        return Err(tls_error(
            &tls.server_certificate,
            "minProtocolVersion is above maxProtocolVersion",
        ));
    }
    let provider = Arc::new(gateway_provider(
        &tls.cipher_suites,
        &tls.server_certificate,
    )?);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| tls_error(&tls.server_certificate, e))?;
    let builder = match tls.mode {
        ServerTlsMode::Simple => builder.with_no_client_auth(),
        ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual => {
            let verifier = ClientVerifier::new(tls, provider)?;
            builder.with_client_cert_verifier(Arc::new(verifier))
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(&tls.private_key, e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The crypto provider with the TLS 1.2 suites narrowed to `names`, in their order (TLS 1.3
/// suites are not configurable, as in Envoy). Names were checked at validation.
fn gateway_provider(names: &[String], file: &str) -> Result<rustls::crypto::CryptoProvider, Error> {
    use rustls::crypto::aws_lc_rs::cipher_suite as cs;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let mut suites: Vec<rustls::SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .filter(|s| s.tls13().is_some())
        .copied()
        .collect();
    for name in names {
        let suite = match name.as_str() {
            "ECDHE-ECDSA-AES128-GCM-SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-RSA-AES128-GCM-SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-ECDSA-AES256-GCM-SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-RSA-AES256-GCM-SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-ECDSA-CHACHA20-POLY1305" => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-RSA-CHACHA20-POLY1305" => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            other => {
                return Err(tls_error(
                    file,
                    format!("cipher suite {other:?} is not served"),
                ));
            }
        };
        if !suites.iter().any(|s| s.suite() == suite.suite()) {
            suites.push(suite);
        }
    }
    provider.cipher_suites = suites;
    Ok(provider)
}

/// Client certificate verification for MUTUAL gateway servers (see [`server_config`]).
#[derive(Debug)]
struct ClientVerifier {
    /// The chain check (webpki, with the CRLs), rebuilt when the CRL file changes.
    chain: arc_swap::ArcSwap<Arc<dyn ClientCertVerifier>>,
    roots: Arc<rustls::RootCertStore>,
    /// The roots' subjects, sent to clients so they pick a certificate those roots sign.
    hints: Vec<rustls::DistinguishedName>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    optional: bool,
    crl: Option<CrlFile>,
    subject_alt_names: Vec<String>,
    spki: Vec<[u8; 32]>,
    hashes: Vec<[u8; 32]>,
}

/// A CRL file and the modification stamp of what was loaded from it.
#[derive(Debug)]
struct CrlFile {
    path: String,
    loaded: std::sync::Mutex<Option<(std::time::SystemTime, u64)>>,
}

impl CrlFile {
    /// The file's stamp when it differs from what was loaded.
    fn changed(&self) -> Option<(std::time::SystemTime, u64)> {
        let meta = std::fs::metadata(&self.path).ok()?;
        let stamp = (meta.modified().ok()?, meta.len());
        let loaded = self.loaded.lock().ok()?;
        (*loaded != Some(stamp)).then_some(stamp)
    }
}

impl ClientVerifier {
    fn new(
        tls: &ServerTls,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<ClientVerifier, Error> {
        let ca = tls
            .ca_certificates
            .as_deref()
            .ok_or_else(|| tls_error(&tls.server_certificate, "MUTUAL needs caCertificates"))?;
        let mut roots = rustls::RootCertStore::empty();
        let ca_certs = match tls
            .credential
            .as_ref()
            .and_then(|c| c.ca_certificates.as_ref())
        {
            Some(pem) => pem_certs(pem, ca)?,
            None => load_certs(ca)?,
        };
        for c in ca_certs {
            roots.add(c).map_err(|e| tls_error(ca, e))?;
        }
        let roots = Arc::new(roots);
        let optional = tls.mode == ServerTlsMode::OptionalMutual;
        let crl = tls.ca_crl.as_ref().map(|path| CrlFile {
            path: path.clone(),
            loaded: std::sync::Mutex::new(None),
        });
        let chain = chain_verifier(&roots, &provider, optional, crl.as_ref())?;
        Ok(ClientVerifier {
            chain: arc_swap::ArcSwap::from_pointee(chain),
            hints: roots.subjects(),
            roots,
            provider,
            optional,
            crl,
            subject_alt_names: tls.subject_alt_names.clone(),
            spki: tls.verify_certificate_spki.clone(),
            hashes: tls.verify_certificate_hash.clone(),
        })
    }

    /// The chain verifier, rebuilt first when the CRL file changed. A CRL file that no longer
    /// reads keeps the previous lists in force (and says so).
    fn chain(&self) -> Arc<dyn ClientCertVerifier> {
        if let Some(crl) = &self.crl
            && crl.changed().is_some()
        {
            match chain_verifier(&self.roots, &self.provider, self.optional, Some(crl)) {
                Ok(v) => {
                    tracing::info!(crl = %crl.path, "gateway: certificate revocation list reloaded");
                    self.chain.store(Arc::new(v));
                }
                Err(e) => {
                    tracing::warn!(crl = %crl.path, error = %e, "gateway: certificate revocation list refused; the previous one stays in force");
                    if let (Ok(mut loaded), Some(stamp)) = (crl.loaded.lock(), crl.changed()) {
                        *loaded = Some(stamp);
                    }
                }
            }
        }
        Arc::clone(&self.chain.load())
    }

    /// Istio's checks after the chain: a pinned hash or SPKI (either list matching is
    /// enough, as Envoy does), then one of the names.
    fn check_pins_and_names(&self, end_entity: &CertificateDer<'_>) -> Result<(), &'static str> {
        if self.spki.is_empty() && self.hashes.is_empty() && self.subject_alt_names.is_empty() {
            return Ok(());
        }
        let info = meridian_identity::CertInfo::from_der(end_entity)
            .map_err(|_| "certificate does not parse")?;
        if (!self.spki.is_empty() || !self.hashes.is_empty())
            && !self.hashes.contains(&info.sha256)
            && !self.spki.contains(&info.spki_sha256)
        {
            return Err("certificate matches no verifyCertificateHash or verifyCertificateSpki");
        }
        if !self.subject_alt_names.is_empty()
            && !info
                .san_values()
                .any(|v| self.subject_alt_names.iter().any(|want| want == v))
        {
            return Err("certificate has none of the subjectAltNames");
        }
        Ok(())
    }
}

/// webpki's chain check against `roots`, with the CRLs of `crl` when given.
fn chain_verifier(
    roots: &Arc<rustls::RootCertStore>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
    optional: bool,
    crl: Option<&CrlFile>,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let mut builder = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
    if let Some(crl) = crl {
        let stamp = crl.changed();
        let lists = CertificateRevocationListDer::pem_file_iter(&crl.path)
            .map_err(|e| tls_error(&crl.path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error(&crl.path, e))?;
        if lists.is_empty() {
            return Err(tls_error(
                &crl.path,
                "no certificate revocation list in file",
            ));
        }
        builder = builder.with_crls(lists);
        if let (Ok(mut loaded), Some(stamp)) = (crl.loaded.lock(), stamp) {
            *loaded = Some(stamp);
        }
    }
    if optional {
        builder = builder.allow_unauthenticated();
    }
    builder
        .build()
        .map_err(|e| tls_error(crl.map_or("caCertificates", |c| c.path.as_str()), e))
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.optional
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls_pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .chain()
            .verify_client_cert(end_entity, intermediates, now)?;
        if let Err(reason) = self.check_pins_and_names(end_entity) {
            tracing::debug!(reason, "gateway: client certificate refused");
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The certificates of a PEM text held in memory (a Secret's); `source` names it in errors.
fn pem_certs(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(source, e))
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
