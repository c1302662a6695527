//! PeerAuthentication at an inbound sidecar: each connection is classified by its first byte
//! (a TLS record starts with 0x16, an HTTP request with a letter), held against the mode the
//! snapshot gives the workload port, and, when it is TLS, terminated with the workload's
//! identity. STRICT refuses plaintext and certificate-less TLS at the connection; PERMISSIVE
//! accepts both on the same port; DISABLE accepts plaintext only. Every refusal is logged with
//! its reason. [`accept`] returns the stream with what its handshake proved (the peer's SPIFFE
//! ID, as a [`Connection`]) to the listener, which serves it ([`crate::server`]).

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderValue;
use meridian_control::snapshot::MtlsMode;
use meridian_identity::{Rejection, fingerprint_sha256, peer_identity};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::connection::Connection;
use crate::downstream::{ListenerCtx, ListenerKind};
use crate::mtls::InboundTls;
use crate::record::ConnectionSecurity;

/// Refused connections are logged at most every ten seconds with how many were not (a port
/// scan or a misconfigured client repeats them at will); each is logged at debug.
static REFUSALS: std::sync::LazyLock<crate::limits::LogThrottle> =
    std::sync::LazyLock::new(crate::limits::LogThrottle::new);

macro_rules! refused {
    ($($arg:tt)*) => {
        match REFUSALS.due() {
            Some(not_logged) => tracing::warn!(not_logged, $($arg)*),
            None => tracing::debug!($($arg)*),
        }
    };
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A connection PeerAuthentication let in, with what its handshake proved.
// Returned once per connection and matched at once: boxing the TLS stream would cost an
// allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Accepted {
    /// Plaintext, on a port that accepts it.
    Plaintext(TcpStream, Arc<Connection>),
    /// TLS terminated with the workload's identity; mutual when the peer sent a certificate.
    Tls(TlsStream<TcpStream>, Arc<Connection>),
}

/// Accepts one connection on an inbound listener under the port's PeerAuthentication;
/// `None` when it is refused (and logged) or closes first.
pub(crate) async fn accept(
    tcp: TcpStream,
    ctx: &ListenerCtx,
    peer: SocketAddr,
) -> Option<Accepted> {
    let ListenerKind::Inbound { port, tls, .. } = &ctx.kind else {
        return None;
    };
    let port = *port;
    let local = tcp.local_addr().ok();
    let mode = {
        let state = ctx.state.load();
        let effective = state.snapshot.peer_authentication.mode(
            &ctx.caller.namespace,
            &ctx.caller.labels,
            port,
        );
        (effective.mode, effective.policy.map(str::to_owned))
    };
    let (mode, policy) = mode;
    let policy = policy.as_deref().unwrap_or("default");
    let mut first = [0u8; 1];
    let is_tls =
        match tokio::time::timeout(ctx.limits.tls_handshake_timeout, tcp.peek(&mut first)).await {
            Ok(Ok(1)) => first[0] == TLS_HANDSHAKE_RECORD,
            // Closed before a byte, an error, or silence: nothing to serve.
            _ => return None,
        };
    let workload = &ctx.caller.workload;
    match (mode, is_tls) {
        (MtlsMode::Strict, false) => {
            refused!(%peer, %workload, port, policy, reason = "plaintext_on_strict",
                "refused connection: plaintext on a port whose PeerAuthentication is STRICT requires mtls");
            None
        }
        (MtlsMode::Disable, true) => {
            refused!(%peer, %workload, port, policy, reason = "tls_on_disable",
                "refused connection: tls on a port whose PeerAuthentication is DISABLE accepts plaintext only");
            None
        }
        (_, false) => {
            let conn = Arc::new(Connection {
                security: ConnectionSecurity::None,
                local,
                ..Connection::default()
            });
            Some(Accepted::Plaintext(tcp, conn))
        }
        (_, true) => {
            let Some(tls) = tls else {
                refused!(%peer, %workload, port, reason = "no_mesh_identity",
                    "refused tls connection: this node runs without a mesh certificate authority");
                return None;
            };
            let strict = mode == MtlsMode::Strict;
            terminate(tcp, ctx, peer, local, tls, strict).await
        }
    }
}

/// Terminates TLS with the workload's identity (a client certificate required when
/// `strict`), and reads the peer's SPIFFE ID from the verified chain.
async fn terminate(
    tcp: TcpStream,
    ctx: &ListenerCtx,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    tls: &InboundTls,
    strict: bool,
) -> Option<Accepted> {
    let config = if strict {
        Arc::clone(&tls.strict)
    } else {
        Arc::clone(&tls.permissive)
    };
    let workload = &ctx.caller.workload;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let stream =
        match tokio::time::timeout(ctx.limits.tls_handshake_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let reason = Rejection::from_io_error(&e);
                let label = reason
                    .as_ref()
                    .map_or("handshake_failed", Rejection::as_str);
                let why = reason.map_or_else(|| e.to_string(), |r| r.to_string());
                refused!(%peer, %workload, reason = label, "refused mtls connection: {why}");
                return None;
            }
            Err(_) => {
                refused!(%peer, %workload, reason = "handshake_timeout",
                "refused mtls connection: the handshake did not finish in time");
                return None;
            }
        };
    let (_, server) = stream.get_ref();
    let identity = match peer_identity(server) {
        Ok(id) => id,
        Err(r) => {
            // The verifier accepted the chain, so this is a resumed session whose
            // certificate no longer reads as one identity; refuse rather than guess.
            refused!(%peer, %workload, reason = r.as_str(), "refused mtls connection: {r}");
            return None;
        }
    };
    let xfcc = match (
        &identity,
        server.peer_certificates().and_then(|c| c.first()),
    ) {
        (Some(id), Some(leaf)) => {
            let hash = fingerprint_sha256(leaf)
                .replace(':', "")
                .to_ascii_lowercase();
            HeaderValue::from_str(&format!("By={};Hash={hash};Subject=\"\";URI={id}", tls.id)).ok()
        }
        _ => None,
    };
    let conn = Arc::new(Connection {
        principal: identity.as_ref().map(|id| Arc::from(id.as_str())),
        security: if identity.is_some() {
            ConnectionSecurity::MutualTls
        } else {
            ConnectionSecurity::None
        },
        sni: server.server_name().map(str::to_owned),
        peer: identity,
        local,
        proxied: None,
        xfcc,
    });
    Some(Accepted::Tls(stream, conn))
}
