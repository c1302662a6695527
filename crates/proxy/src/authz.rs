//! AuthorizationPolicy at an inbound sidecar (and at the ingress gateway): the request's
//! attributes — the peer's principal from the mTLS handshake, addresses, the workload port,
//! host, method, path, headers — evaluated against the snapshot's policies for the workload.
//! A denied request gets Envoy's RBAC reply: 403 with the body `RBAC: access denied`, and
//! `rbac_access_denied_matched_policy[...]` as its response code details. Envoy sets no
//! response flag for RBAC denials (its flag table has none; `UAEX` is ext_authz's), so
//! neither does Meridian.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use meridian_control::snapshot::{AuthzDecision, AuthzRequest, Snapshot};

use crate::Caller;
use crate::body::ResponseBody;
use crate::connection::Connection;

/// Envoy's RBAC denial body.
const DENIED_BODY: &str = "RBAC: access denied";

/// The addresses a request's rules see.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addresses {
    /// The connection's peer (`source.ip`).
    pub(crate) source: SocketAddr,
    /// The trusted client address (`remote.ip`, [`crate::forwarded`]).
    pub(crate) client: IpAddr,
    /// The declared port the request arrived on (`destination.port`).
    pub(crate) port: u16,
}

/// Checks a request; `Err(details)` when a policy denies it.
pub(crate) fn check<B>(
    snapshot: &Snapshot,
    workload: &Caller,
    conn: &Connection,
    at: Addresses,
    req: &Request<B>,
) -> Result<(), String> {
    if snapshot.authorization.is_empty() {
        return Ok(());
    }
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or_default();
    let view = AuthzRequest {
        principal: conn.authz_principal(),
        source_ip: at.source.ip(),
        remote_ip: at.client,
        // Every listener that checks policies knows the address it was reached at.
        destination_ip: conn.local.map_or(at.source.ip(), |l| l.ip()),
        destination_port: at.port,
        sni: conn.sni.as_deref(),
        host,
        method: req.method().as_str(),
        path: req.uri().path(),
        headers: req.headers(),
    };
    let outcome = snapshot
        .authorization
        .evaluate(&workload.namespace, &workload.labels, &view);
    for audit in &outcome.audited {
        tracing::info!(workload = %workload.workload, policy = %audit, method = view.method,
            path = view.path, principal = view.principal.unwrap_or("-"), "authorization audit");
    }
    match outcome.decision {
        AuthzDecision::Allow => Ok(()),
        AuthzDecision::Deny { details, custom } => {
            tracing::debug!(workload = %workload.workload, %details, custom, method = view.method,
                path = view.path, principal = view.principal.unwrap_or("-"), "authorization denied");
            Err(details)
        }
    }
}

/// Envoy's RBAC reply.
pub(crate) fn denied() -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(Bytes::from_static(
        DENIED_BODY.as_bytes(),
    )));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}
