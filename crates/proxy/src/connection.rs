//! What a connection's handshake established, carried with each of its requests: the peer's
//! verified SPIFFE ID (mTLS), Istio's connection security policy, the SNI, the addresses it
//! came from and to (the PROXY protocol's included), and the `X-Forwarded-Client-Cert` an
//! inbound sidecar hands its workload. The listener's handshakes ([`crate::listener`],
//! [`crate::authn`]) fill it in; authorization, the request lifecycle and the records read it.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderValue;
use meridian_identity::SpiffeId;

use crate::record::ConnectionSecurity;

/// Envoy's header describing the client certificate to the workload.
pub(crate) static X_FORWARDED_CLIENT_CERT: http::HeaderName =
    http::HeaderName::from_static("x-forwarded-client-cert");

/// What the connection a request arrived on established.
#[derive(Debug, Default)]
pub(crate) struct Connection {
    /// The peer's verified SPIFFE ID (mTLS only).
    pub(crate) peer: Option<SpiffeId>,
    /// The same, shared for records (`spiffe://…`).
    pub(crate) principal: Option<Arc<str>>,
    /// Istio's `connection_security_policy`.
    pub(crate) security: ConnectionSecurity,
    /// SNI the client asked for.
    pub(crate) sni: Option<String>,
    /// The address the client connected to.
    pub(crate) local: Option<SocketAddr>,
    /// The client's address as a PROXY protocol header named it (gateway listeners that
    /// expect one).
    pub(crate) proxied: Option<SocketAddr>,
    /// `X-Forwarded-Client-Cert` to hand the workload (mTLS only).
    pub(crate) xfcc: Option<HeaderValue>,
}

impl Connection {
    /// A connection with nothing proven (outbound listeners, the gateway, plaintext).
    pub(crate) fn plain(security: ConnectionSecurity) -> Arc<Connection> {
        Arc::new(Connection {
            security,
            ..Connection::default()
        })
    }

    /// The principal as AuthorizationPolicy writes it (without `spiffe://`).
    pub(crate) fn authz_principal(&self) -> Option<&str> {
        self.peer
            .as_ref()
            .map(|p| p.as_str().trim_start_matches("spiffe://"))
    }
}
