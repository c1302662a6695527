//! Routing: the authority a request names ([`Target`]), the virtual host and first matching
//! route it selects ([`route`]), what a route answers itself (an HTTPS redirect, a redirect, a
//! direct response: [`action`]), and the weighted destination and cluster it forwards to
//! ([`destination`]). Reads the snapshot; changes nothing in the request.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode, Uri};
use meridian_control::snapshot::{
    ClusterTarget, HttpRoute, RedirectPort, RequestView, RouteAction, RouteDestination, Snapshot,
    VirtualHost, WeightedDestinations, split_authority,
};
use rand::Rng;

use super::{ListenerCtx, ListenerKind, Passthrough, respond};
use crate::body::ResponseBody;
use crate::error::ProxyError;

/// The request fields routing and forwarding need, extracted once. The authority is a
/// `HeaderValue` so that the common case (a `Host` header) costs a reference count, not a copy.
pub(super) struct Target {
    pub(super) authority: HeaderValue,
    host_end: usize,
    pub(super) port: u16,
}

impl Target {
    /// The authority as the request named it.
    pub(super) fn text(&self) -> &str {
        self.authority.to_str().unwrap_or_default()
    }

    /// The authority's host (empty on a workload's local port, whose listener names it).
    pub(super) fn host(&self) -> &str {
        &self.text()[..self.host_end]
    }
}

/// The authority and port a request is for: the URI's authority, else `Host`; on a
/// workload's local port the service the port stands for when the request names none.
pub(super) fn target_of(
    ctx: &ListenerCtx,
    parts: &http::request::Parts,
) -> Result<Target, ProxyError> {
    let authority = match parts.uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => parts.headers.get(header::HOST).cloned(),
    }
    .filter(|a| a.to_str().is_ok());
    match &ctx.kind {
        ListenerKind::Upstream { host, port } => Ok(Target {
            authority: match authority {
                Some(a) => a,
                None => HeaderValue::from_str(&format!("{host}:{port}"))
                    .map_err(|_| ProxyError::BadRequest("invalid host".to_owned()))?,
            },
            host_end: 0,
            port: *port,
        }),
        _ => {
            let authority =
                authority.ok_or_else(|| ProxyError::BadRequest("no host".to_owned()))?;
            let (host, port) = split_authority(authority.to_str().unwrap_or_default());
            let default_port = if ctx.scheme == "https" { 443 } else { 80 };
            let port = match &ctx.kind {
                ListenerKind::Gateway { port } => *port,
                _ => port.unwrap_or(default_port),
            };
            Ok(Target {
                host_end: host.len(),
                authority,
                port,
            })
        }
    }
}

/// The route a request matched.
pub(super) struct Matched<'a> {
    /// Its virtual host.
    pub(super) host: &'a VirtualHost,
    pub(super) route: &'a HttpRoute,
    /// The index of the match that accepted the request (`None` for a rule without matches).
    pub(super) matched: Option<usize>,
}

/// Where the routing table sends a request.
pub(super) enum Routing<'a> {
    /// To a route of a virtual host.
    Route(Matched<'a>),
    /// No virtual host has the name, and this outbound listener passes unknown hosts
    /// through (`ALLOW_ANY`).
    Passthrough(&'a Passthrough),
    /// The virtual host only redirects to HTTPS.
    Redirect(Response<ResponseBody>),
}

/// Looks the request up in the listener's table (the gateway port's, or the mesh table of
/// the caller's namespace): its virtual host, then the first route that matches.
#[inline(always)]
pub(super) fn route<'a>(
    ctx: &'a ListenerCtx,
    snap: &'a Snapshot,
    target: &Target,
    parts: &http::request::Parts,
) -> Result<Routing<'a>, ProxyError> {
    let table = match &ctx.kind {
        ListenerKind::Gateway { port } => match snap.gateway(*port) {
            Some(g) => &g.routes,
            None => return Err(ProxyError::NoRoute(target.text().to_owned())),
        },
        _ => snap.mesh_table(&ctx.caller.namespace),
    };
    let lookup_host = match &ctx.kind {
        ListenerKind::Upstream { host, .. } => host.as_str(),
        _ => target.host(),
    };
    let Some(vh_index) = table.lookup(lookup_host) else {
        if let (ListenerKind::Outbound, Some(pass)) = (&ctx.kind, &ctx.passthrough) {
            return Ok(Routing::Passthrough(pass));
        }
        return Err(ProxyError::NoRoute(target.text().to_owned()));
    };
    let Some(vh) = snap.virtual_host(vh_index) else {
        return Err(ProxyError::NoRoute(target.text().to_owned()));
    };
    if vh.https_redirect {
        let (host, _) = split_authority(target.text());
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        return Ok(Routing::Redirect(redirect_response(
            301,
            &format!("https://{host}{pq}"),
        )));
    }
    let view = RequestView {
        method: parts.method.as_str(),
        scheme: ctx.scheme,
        authority: target.text(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        port: target.port,
        source_labels: &ctx.caller.labels,
        source_namespace: &ctx.caller.namespace,
    };
    let Some((route, matched)) = snap.route(vh_index, &view) else {
        return Err(ProxyError::NoRoute(target.text().to_owned()));
    };
    Ok(Routing::Route(Matched {
        host: vh,
        route,
        matched,
    }))
}

/// What a matched route does with the request.
pub(super) enum Action<'a> {
    /// Forwards it to one of these destinations.
    Forward(&'a WeightedDestinations),
    /// Answers it: a redirect or a direct response.
    Reply(Response<ResponseBody>),
}

/// The route's action; a redirect's `Location` is built from the request as it arrived.
/// `matched_prefix` is the URI prefix of the match that selected the route, if a prefix
/// match did.
#[inline(always)]
pub(super) fn action<'a>(
    route: &'a HttpRoute,
    scheme: &str,
    target: &Target,
    uri: &Uri,
    matched_prefix: Option<&str>,
) -> Action<'a> {
    match &route.action {
        RouteAction::Redirect(r) => {
            let (host, port) = split_authority(target.text());
            let scheme = r.scheme.as_deref().unwrap_or(scheme);
            let host = r.authority.as_deref().unwrap_or(host);
            let port = match r.port {
                RedirectPort::Keep => port,
                RedirectPort::Port(p) => Some(p),
                RedirectPort::ProtocolDefault => None,
                RedirectPort::RequestPort => Some(target.port),
            };
            let port = port.filter(|p| !matches!((scheme, p), ("http", 80) | ("https", 443)));
            let rewritten;
            let path = match (&r.uri, &r.prefix_rewrite) {
                (Some(u), _) => u.as_str(),
                (None, Some(p)) => {
                    // A rule without a URI match matches the prefix `/`, as in Envoy.
                    let path = uri.path();
                    let prefix = matched_prefix.unwrap_or("/");
                    rewritten = match path.strip_prefix(prefix) {
                        Some(rest) => format!("{p}{rest}"),
                        None => p.clone(),
                    };
                    rewritten.as_str()
                }
                (None, None) => uri.path(),
            };
            let query = match (
                r.uri.as_deref().is_some_and(|u| u.contains('?')),
                uri.query(),
            ) {
                (false, Some(q)) => format!("?{q}"),
                _ => String::new(),
            };
            let location = match port {
                Some(p) => format!("{scheme}://{host}:{p}{path}{query}"),
                None => format!("{scheme}://{host}{path}{query}"),
            };
            Action::Reply(redirect_response(r.code, &location))
        }
        RouteAction::DirectResponse(d) => {
            let mut resp = respond(
                StatusCode::from_u16(d.status).unwrap_or(StatusCode::OK),
                d.body.clone(),
            );
            if !d.body.is_empty() {
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            }
            route.headers.response.apply(resp.headers_mut());
            Action::Reply(resp)
        }
        RouteAction::Forward(w) => Action::Forward(w),
    }
}

/// The destination a request goes to.
pub(super) enum Picked<'a> {
    /// A cluster (index into the snapshot's clusters).
    Cluster(&'a RouteDestination, usize),
    /// A wildcard host: the host the request names, at this port.
    Dynamic(&'a RouteDestination, u16),
}

/// The destination the request goes to, drawn by weight, and its cluster for the request's
/// port.
#[inline(always)]
pub(super) fn destination<'a>(
    host: &VirtualHost,
    forward: &'a WeightedDestinations,
    port: u16,
) -> Result<Picked<'a>, ProxyError> {
    let dest = if forward.destinations.len() == 1 {
        forward.destinations.first()
    } else {
        let roll = rand::rng().random_range(0..forward.total_weight.max(1));
        forward.pick(roll)
    };
    let Some(dest) = dest else {
        return Err(ProxyError::NoCluster(format!(
            "{}: no destination",
            host.name
        )));
    };
    if let ClusterTarget::Dynamic(p) = &dest.target {
        return Ok(Picked::Dynamic(dest, p.unwrap_or(port)));
    }
    match dest.target.resolve(port) {
        Some(c) => Ok(Picked::Cluster(dest, c)),
        None => Err(ProxyError::NoCluster(match &dest.target {
            ClusterTarget::Missing(m) => m.clone(),
            _ => format!("{} has no port {port}", dest.host),
        })),
    }
}

fn redirect_response(code: u16, location: &str) -> Response<ResponseBody> {
    let mut resp = respond(
        StatusCode::from_u16(code).unwrap_or(StatusCode::MOVED_PERMANENTLY),
        Bytes::new(),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
