//! rustls configurations for mTLS between sidecars: TLS 1.3 only, hybrid post-quantum key
//! exchange first (as Linkerd), ALPN chosen by the caller, session resumption on both sides, and
//! the SPIFFE verifiers of [`verifier`](crate::verifier).
//!
//! Resumption: the server issues stateless tickets (rotating keys, AES-256 + HMAC); the client
//! keeps them per server name in its configuration's memory cache. A resumed handshake does not
//! re-run certificate verification: the ticket carries the peer certificate already verified,
//! which [`peer_identity`] reads back. Hence:
//!
//! * every server configuration gets ticket keys of its own. rustls does not re-check client
//!   authentication on resumption, so a ticket from a PERMISSIVE session without a client
//!   certificate must never be accepted on a STRICT port, nor a ticket of one workload by
//!   another. Rebuilding a server configuration therefore starts its resumption afresh;
//! * build one client configuration per expected peer, and connect with a server name per
//!   upstream (its IP address or service host), so a ticket is only offered to the peer it came
//!   from;
//! * a ticket lives as long as its keys (at most 12 h), which can be longer than what was left
//!   of a root's overlap or of the certificate it was made with; Envoy's sessions behave the
//!   same.

use std::sync::{Arc, OnceLock};

use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::{ClientConfig, CommonState, ServerConfig, SupportedCipherSuite};

use crate::verifier::{ExpectedPeer, Rejection, SpiffeClientVerifier, SpiffeServerVerifier};
use crate::{Error, SpiffeId, WorkloadIdentity, spiffe_id_of};

/// ALPN id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Sessions a client configuration remembers for resumption (one per upstream server name).
const CLIENT_SESSIONS: usize = 1024;

/// Whether a server demands a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// A client certificate is required and verified (PeerAuthentication STRICT).
    Required,
    /// A client certificate is verified when offered; a TLS client without one is let through
    /// for the layer above to decide (PERMISSIVE).
    Optional,
}

/// The one crypto provider of the mesh: aws-lc-rs, TLS 1.3 suites only, X25519MLKEM768 first.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| {
        let mut provider = aws_lc_rs::default_provider();
        provider
            .cipher_suites
            .retain(|suite| matches!(suite, SupportedCipherSuite::Tls13(_)));
        provider.kx_groups = vec![
            aws_lc_rs::kx_group::X25519MLKEM768,
            aws_lc_rs::kx_group::X25519,
            aws_lc_rs::kx_group::SECP256R1,
        ];
        Arc::new(provider)
    }))
}

impl WorkloadIdentity {
    /// The inbound (server) configuration for this workload.
    ///
    /// ```no_run
    /// # use meridian_identity::{WorkloadIdentity, ClientAuth, ALPN_H2, ALPN_HTTP11};
    /// # fn f(identity: &WorkloadIdentity) -> Result<(), meridian_identity::Error> {
    /// let config = identity.server_config(ClientAuth::Required, &[ALPN_H2, ALPN_HTTP11])?;
    /// let acceptor = tokio_rustls::TlsAcceptor::from(config);
    /// # Ok(()) }
    /// ```
    pub fn server_config(
        &self,
        client_auth: ClientAuth,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, Error> {
        let verifier = SpiffeClientVerifier::new(
            self.trust_bundle().clone(),
            client_auth == ClientAuth::Required,
        );
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_cert_resolver(self.resolver());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // Keys of its own: see the module documentation.
        config.ticketer = aws_lc_rs::Ticketer::new()?;
        Ok(Arc::new(config))
    }

    /// The outbound (client) configuration for calls to servers matching `expected`.
    ///
    /// ```no_run
    /// # use meridian_identity::{WorkloadIdentity, ExpectedPeer, SpiffeId, ALPN_H2};
    /// # fn f(identity: &WorkloadIdentity) -> Result<(), Box<dyn std::error::Error>> {
    /// let upstream = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/ratings")?;
    /// let config = identity.client_config(ExpectedPeer::Exactly(upstream), &[ALPN_H2])?;
    /// let connector = tokio_rustls::TlsConnector::from(config);
    /// # Ok(()) }
    /// ```
    pub fn client_config(
        &self,
        expected: ExpectedPeer,
        alpn: &[&[u8]],
    ) -> Result<Arc<ClientConfig>, Error> {
        let verifier = SpiffeServerVerifier::new(self.trust_bundle().clone(), expected);
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_cert_resolver(self.resolver());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config.resumption = Resumption::in_memory_sessions(CLIENT_SESSIONS);
        Ok(Arc::new(config))
    }
}

/// The verified SPIFFE ID of the peer of an established connection (either side), for
/// authorization policy and metrics. `Ok(None)` when the peer sent no certificate (a
/// PERMISSIVE server's TLS client without one).
///
/// ```no_run
/// # async fn f(stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
/// let (_, conn) = stream.get_ref();
/// if let Ok(Some(peer)) = meridian_identity::peer_identity(conn) {
///     println!("source.principal = {}", peer.principal());
/// }
/// # }
/// ```
pub fn peer_identity(conn: &CommonState) -> Result<Option<SpiffeId>, Rejection> {
    match conn.peer_certificates().and_then(|chain| chain.first()) {
        Some(leaf) => spiffe_id_of(leaf).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_is_tls13_only_and_post_quantum_first() {
        let p = provider();
        assert!(!p.cipher_suites.is_empty());
        assert!(
            p.cipher_suites
                .iter()
                .all(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        );
        assert_eq!(p.kx_groups[0].name(), rustls::NamedGroup::X25519MLKEM768);
    }
}
