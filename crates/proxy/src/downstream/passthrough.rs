//! Hosts outside the registry, under Istio's `ALLOW_ANY` (its PassthroughCluster): an
//! outbound sidecar forwards the request to the address the host resolves to, over HTTP/1.1,
//! retrying a connection failure as Istio's default retry policy does. Routes to a wildcard
//! destination reach the host they name the same way, after the route's own steps
//! ([`wildcard`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, Uri, Version};

use meridian_control::snapshot::{RouteDestination, UpstreamProtocol};

use super::rewrite::{self, UpstreamHead};
use super::route::{Matched, Target};
use super::{Downstream, ListenerCtx, Trace, forward, mirror, policy, tunnel};
use crate::body::{InBody, RequestBody, ResponseBody, UpstreamBody};
use crate::cluster::Resolved;
use crate::error::ProxyError;
use crate::headers::{self as hh, strip_hop_by_hop};
use crate::pool::{Endpoint, Lease, Protocol};
use crate::record::Phase;
use crate::upstream::{self, SendOptions};

/// Endpoints for hosts outside the registry, by address (`ALLOW_ANY`'s PassthroughCluster),
/// and the addresses their names resolved to. Its locks are taken only for requests to such
/// hosts.
#[derive(Debug, Default)]
pub(crate) struct Passthrough {
    endpoints: std::sync::Mutex<std::collections::HashMap<SocketAddr, Arc<Endpoint>>>,
    names: DnsCache,
}

/// How long a name's address is used before it is looked up again: Envoy's dynamic forward
/// proxy refreshes its DNS cache at this rate by default (`dns_refresh_rate`).
const DNS_REFRESH: Duration = Duration::from_secs(60);

/// Names resolved, with when: a request to a wildcard or passthrough host does not wait for
/// a lookup (a thread of the blocking pool each time) while its address is fresh. Failed
/// lookups are not kept, so a name that starts resolving is reached at once.
#[derive(Debug, Default)]
struct DnsCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl DnsCache {
    /// The fresh address of `host:port` at `now`, if one is known.
    fn fresh(&self, host: &str, port: u16, now: Instant) -> Option<SocketAddr> {
        let entries = self.entries.lock().ok()?;
        let (addr, at) = entries.get(&(host.to_owned(), port))?;
        (now.saturating_duration_since(*at) < DNS_REFRESH).then_some(*addr)
    }

    fn remember(&self, host: &str, port: u16, addr: SocketAddr, now: Instant) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= 4096 {
                entries.retain(|_, (_, at)| now.saturating_duration_since(*at) < DNS_REFRESH);
                if entries.len() >= 4096 {
                    entries.clear();
                }
            }
            entries.insert((host.to_owned(), port), (addr, now));
        }
    }

    /// The address of `host:port`: the cached one while fresh, otherwise looked up.
    async fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        let now = Instant::now();
        if let Some(addr) = self.fresh(host, port, now) {
            return Some(addr);
        }
        let addr = tokio::net::lookup_host((host, port)).await.ok()?.next()?;
        self.remember(host, port, addr, now);
        Some(addr)
    }
}

impl Passthrough {
    fn endpoint(&self, addr: SocketAddr) -> Option<Arc<Endpoint>> {
        let mut map = self.endpoints.lock().ok()?;
        if map.len() > 4096 {
            map.clear();
        }
        Some(
            map.entry(addr)
                .or_insert_with(|| {
                    Endpoint::standalone(addr, addr.to_string(), crate::upstream::Transport::Plain)
                })
                .clone(),
        )
    }

    /// The endpoint of the first address `host` resolves to, at `port` (`what` names the
    /// route kind in the error).
    async fn resolve(
        &self,
        what: &str,
        host: &str,
        port: u16,
        trace: &mut Trace,
    ) -> Result<Arc<Endpoint>, ProxyError> {
        trace.phase = Phase::Balance;
        let no_upstream = || ProxyError::NoHealthyUpstream(format!("{what} {host}"));
        let addr = self
            .names
            .resolve(host, port)
            .await
            .ok_or_else(no_upstream)?;
        let ep = self.endpoint(addr).ok_or_else(no_upstream)?;
        trace.upstream = Some(ep.addr);
        trace.attempts = 1;
        Ok(ep)
    }
}

/// How hosts outside the registry are reached: HTTP/1.1 with Envoy's default timeouts.
const HTTP1: SendOptions = SendOptions {
    protocol: Protocol::Http1,
    connect_timeout: Duration::from_secs(10),
    idle_timeout: Some(Duration::from_secs(3600)),
    max_requests_per_connection: 0,
};

/// Sends `req` over HTTP/1.1, trying twice more when the connection fails, as Istio's
/// default retry policy does.
async fn send(
    ep: &Arc<Endpoint>,
    req: Request<RequestBody>,
    trace: &mut Trace,
) -> Result<(Response<UpstreamBody>, Lease), ProxyError> {
    let opts = HTTP1;
    trace.phase = Phase::UpstreamRequest;
    let mut outcome = upstream::send(ep, req, opts).await;
    for attempt in 2..=3 {
        match outcome {
            Err((ProxyError::ConnectFailure { .. }, Some(unsent))) => {
                trace.attempts = attempt;
                outcome = upstream::send(ep, unsent, opts).await;
            }
            _ => break,
        }
    }
    outcome.map_err(|(e, _)| e)
}

/// Forwards a request for a host outside the registry to the address it names, as Istio's
/// PassthroughCluster does under `ALLOW_ANY` (HTTP/1.1, Istio's default retry on connect
/// failure).
pub(super) async fn forward(
    pass: &Passthrough,
    host: &str,
    port: u16,
    mut parts: http::request::Parts,
    body: InBody,
    trace: &mut Trace,
) -> Result<Response<ResponseBody>, ProxyError> {
    let ep = pass
        .resolve("PassthroughCluster", host, port, trace)
        .await?;
    strip_hop_by_hop(&mut parts.headers, false);
    if !parts.headers.contains_key(&hh::X_REQUEST_ID) {
        parts
            .headers
            .insert(hh::X_REQUEST_ID.clone(), hh::new_request_id());
    }
    if let Some(a) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        parts.headers.insert(header::HOST, v);
    }
    parts.uri = Uri::from(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    parts.version = Version::HTTP_11;
    let req = Request::from_parts(parts, body.into_request_body());
    let (resp, lease) = send(&ep, req, trace).await?;
    let (mut rparts, rbody) = resp.into_parts();
    strip_hop_by_hop(&mut rparts.headers, false);
    Ok(Response::from_parts(
        rparts,
        ResponseBody::upstream(rbody, lease, None),
    ))
}

/// Sends a request a route sends to a wildcard destination (`*.example.com`) to the host it
/// names after the route's rewrites and header rules, resolved by DNS, at `port`, as Envoy's
/// dynamic forward proxy does. The route's fault, rewrite, header rules, mirrors, timeout
/// and retry policy apply as on any route, and an upgrade (WebSocket) is tunnelled.
#[allow(clippy::too_many_arguments)]
pub(super) async fn wildcard(
    ctx: &ListenerCtx,
    state: &Arc<Resolved>,
    from: Downstream,
    matched: &Matched<'_>,
    dest: &RouteDestination,
    target: &Target,
    port: u16,
    parts: http::request::Parts,
    body: InBody,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    cors_origin: Option<HeaderValue>,
    trace: &mut Trace,
) -> Result<Response<ResponseBody>, ProxyError> {
    let route = matched.route;
    trace.phase = Phase::Fault;
    if let Some(fault) = &route.fault
        && let Some(resp) = policy::inject(fault, trace).await?
    {
        return Ok(resp);
    }
    let UpstreamHead {
        template,
        authority,
        ..
    } = rewrite::upstream_head(
        ctx,
        from,
        matched,
        dest,
        target,
        UpstreamProtocol::Http1,
        on_upgrade.is_some(),
        parts,
    )?;
    let body = forward::replayable(body).await?;
    mirror::spawn_all(state, route, &template, &authority, &body, target.port);

    let host = authority
        .to_str()
        .ok()
        .and_then(|a| a.parse::<http::uri::Authority>().ok())
        .map(|a| {
            a.host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned()
        })
        .ok_or_else(|| ProxyError::NoHealthyUpstream("no host to resolve".to_owned()))?;
    let ep = ctx
        .dynamic
        .resolve("wildcard destination", &host, port, trace)
        .await?;
    if let Some(on_upgrade) = on_upgrade {
        // A WebSocket or other upgrade: the connection is handed over once the host agrees.
        return tunnel::forward(
            &ep,
            template.request(1, body),
            on_upgrade,
            HTTP1.connect_timeout,
            trace,
        )
        .await;
    }
    // The route timeout covers the whole response, tries and back-offs included, as on
    // any route; the route's retry policy applies, every try going to the address resolved.
    let deadline = route.timeout.map(|t| tokio::time::Instant::now() + t);
    let (resp, lease) = forward::forward(
        route,
        forward::Upstreams::Host(&ep),
        &format!("wildcard destination {host}"),
        template,
        body,
        HTTP1,
        forward::Affinity::default(),
        deadline,
        trace,
    )
    .await?;
    Ok(super::routed_response(
        resp,
        lease,
        dest,
        route,
        cors_origin,
        deadline,
        trace,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolved_name_is_used_until_the_refresh_interval_and_then_looked_up_again() {
        let cache = DnsCache::default();
        let t0 = Instant::now();
        let addr: SocketAddr = "192.0.2.7:80".parse().unwrap();
        assert_eq!(cache.fresh("api.example.com", 80, t0), None);
        cache.remember("api.example.com", 80, addr, t0);
        assert_eq!(cache.fresh("api.example.com", 80, t0), Some(addr));
        let later = t0 + DNS_REFRESH - Duration::from_millis(1);
        assert_eq!(cache.fresh("api.example.com", 80, later), Some(addr));
        // Another port of the same name is another entry.
        assert_eq!(cache.fresh("api.example.com", 8080, t0), None);
        assert_eq!(cache.fresh("api.example.com", 80, t0 + DNS_REFRESH), None);
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_not_remembered() {
        let cache = DnsCache::default();
        assert_eq!(cache.resolve("nothing.invalid", 80).await, None);
        assert!(cache.entries.lock().unwrap().is_empty());
        let addr = cache
            .resolve("localhost", 80)
            .await
            .expect("localhost resolves");
        assert!(addr.ip().is_loopback());
        assert_eq!(cache.fresh("localhost", 80, Instant::now()), Some(addr));
    }
}
