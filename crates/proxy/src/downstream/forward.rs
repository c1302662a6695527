//! Forwarding to a cluster: the request head every try re-uses ([`Template`]), the
//! consistent-hash key that ties a request to an endpoint ([`hash_key`]), the body kept
//! replayable when it is small ([`replayable`]), and the tries themselves under the route's
//! retry policy, per-try timeout and deadline, with Envoy's jittered back-off ([`forward`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use meridian_control::snapshot::{HashKey, HttpRoute, LoadBalancer, RetryOn};
use rand::Rng;

use super::{BUFFER_LIMIT, Trace};
use crate::balancer::{PickContext, hash64};
use crate::body::{InBody, RequestBody, UpstreamBody};
use crate::cluster::ClusterRuntime;
use crate::error::ProxyError;
use crate::headers as hh;
use crate::pool::{Endpoint, Lease, Protocol, RetryGuard};
use crate::record::{Phase, ResponseFlags};
use crate::upstream::{self, SendOptions};

/// What ties a request to an endpoint: its consistent-hash key, and the address it named
/// (PASSTHROUGH).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Affinity {
    pub(super) hash: Option<u64>,
    pub(super) original: Option<SocketAddr>,
}

/// The upstream request head, re-used by every try.
pub(super) struct Template {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
}

impl Template {
    pub(super) fn from_parts(p: http::request::Parts) -> Template {
        Template {
            method: p.method,
            uri: p.uri,
            version: p.version,
            headers: p.headers,
        }
    }

    /// The request for a try that is the last one possible: the head moves, no copy.
    pub(super) fn into_request(self, attempt: u32, body: RequestBody) -> Request<RequestBody> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers;
        req.headers_mut().insert(
            hh::X_ENVOY_ATTEMPT_COUNT.clone(),
            hh::attempt_value(attempt),
        );
        req
    }

    /// A copy for a try that may be followed by another.
    pub(super) fn request(&self, attempt: u32, body: RequestBody) -> Request<RequestBody> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        let mut headers = self.headers.clone();
        headers.insert(
            hh::X_ENVOY_ATTEMPT_COUNT.clone(),
            hh::attempt_value(attempt),
        );
        *req.headers_mut() = headers;
        req
    }
}

/// The consistent-hash key of a request when its cluster balances by one, with the cookie to
/// set on the response when the key is a cookie generated here.
#[inline(always)]
pub(super) fn hash_key(
    runtime: &ClusterRuntime,
    template: &Template,
    client: std::net::IpAddr,
) -> (Option<u64>, Option<HeaderValue>) {
    let mut set_cookie: Option<HeaderValue> = None;
    let hash = match runtime.balancer.algorithm() {
        LoadBalancer::ConsistentHash(ch) => hash_of(
            &ch.key,
            &template.headers,
            &template.uri,
            client,
            &mut set_cookie,
        ),
        _ => None,
    };
    (hash, set_cookie)
}

/// The body as forwarded: small ones are buffered so retries and mirrors can replay them.
pub(super) async fn replayable(body: InBody) -> Result<RequestBody, ProxyError> {
    Ok(match body {
        InBody::Incoming(b)
            if !b.is_end_stream() && b.size_hint().upper().is_some_and(|n| n <= BUFFER_LIMIT) =>
        {
            let bytes = b
                .collect()
                .await
                .map_err(|e| ProxyError::BadRequest(e.to_string()))?
                .to_bytes();
            RequestBody::Full(Some(bytes))
        }
        other => other.into_request_body(),
    })
}

/// Where a route's tries go.
pub(super) enum Upstreams<'a> {
    /// A cluster's endpoints, picked by its balancer for each try.
    Cluster(&'a ClusterRuntime),
    /// The one address a host name resolved to (a wildcard destination): every try goes
    /// there, as through Envoy's dynamic forward proxy.
    Host(&'a Arc<Endpoint>),
}

impl Upstreams<'_> {
    fn pick(&self, cx: PickContext<'_>) -> Option<Arc<Endpoint>> {
        match self {
            Upstreams::Cluster(runtime) => runtime.balancer.pick(cx).cloned(),
            Upstreams::Host(ep) => Some(Arc::clone(ep)),
        }
    }

    /// A slot of the cluster's `maxRetries` breaker, held by the retry in flight.
    fn try_retry(&self) -> Option<RetryGuard> {
        match self {
            Upstreams::Cluster(runtime) => runtime.state.limits.try_retry(),
            Upstreams::Host(ep) => ep.cluster().limits.try_retry(),
        }
    }
}

/// Tries, retries and back-off under the route's policy.
#[allow(clippy::too_many_arguments)]
pub(super) async fn forward(
    route: &HttpRoute,
    upstreams: Upstreams<'_>,
    cluster: &str,
    template: Template,
    body: RequestBody,
    send: SendOptions,
    affinity: Affinity,
    deadline: Option<tokio::time::Instant>,
    trace: &mut Trace,
) -> Result<(Response<UpstreamBody>, Lease), ProxyError> {
    let policy = &route.retry;
    let max_tries = 1 + policy.attempts;
    // The head is copied for a try only when a retry could follow a request that was sent;
    // a request never sent (connection failure) comes back whole from the pool.
    let grpc = template
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let keep_copy = retries_after_send(policy, send.protocol, grpc);
    let mut head: Option<Template> = Some(template);
    let mut spare: Option<RequestBody> = Some(body);
    let mut tried: Vec<SocketAddr> = Vec::new();
    // The retry in flight holds a slot of the cluster's `maxRetries` breaker.
    let mut _retry_slot: Option<crate::pool::RetryGuard> = None;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        trace.attempts = attempt;
        trace.phase = Phase::Balance;
        let Some(ep) = upstreams.pick(PickContext {
            hash: affinity.hash,
            avoid: &tried,
            attempts: if policy.previous_hosts {
                policy.host_selection_attempts
            } else {
                0
            },
            original: affinity.original,
        }) else {
            return Err(ProxyError::NoHealthyUpstream(cluster.to_owned()));
        };
        trace.upstream = Some(ep.addr);
        // Keep a copy for the next try when the body can be replayed.
        let body = match spare.take() {
            Some(b) => {
                if let Some(copy) = b.try_clone()
                    && attempt < max_tries
                {
                    spare = Some(copy);
                }
                b
            }
            None => {
                return Err(ProxyError::UpstreamReset(
                    "request body already sent".to_owned(),
                ));
            }
        };
        // A sidecar may answer that its replica was unreachable after the request went out:
        // keep the head so the connect-failure retry can happen.
        let copy =
            keep_copy || (ep.is_sidecar() && policy.retry_on.contains(RetryOn::CONNECT_FAILURE));
        let req = match head.take() {
            Some(t) if copy && attempt < max_tries => {
                let r = t.request(attempt, body);
                head = Some(t);
                r
            }
            Some(t) => t.into_request(attempt, body),
            None => {
                return Err(ProxyError::UpstreamReset("request already sent".to_owned()));
            }
        };
        trace.phase = Phase::UpstreamRequest;
        let try_deadline = policy
            .per_try_timeout
            .map(|t| tokio::time::Instant::now() + t);
        let limit = match (try_deadline, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let outcome = match limit {
            Some(at) => match tokio::time::timeout_at(at, upstream::send(&ep, req, send)).await {
                Ok(r) => r,
                // The route's own timeout: the response is late, whatever tries are left.
                Err(_) if deadline.is_some_and(|d| d <= at) => return Err(ProxyError::Timeout),
                Err(_) => {
                    ep.cluster()
                        .detector
                        .record(&ep, crate::outlier::Outcome::Timeout);
                    Err((ProxyError::Timeout, None))
                }
            },
            None => upstream::send(&ep, req, send).await,
        };
        let can_retry = attempt < max_tries;
        match outcome {
            Ok((resp, lease)) => {
                let status = resp.status().as_u16();
                let grpc_retry = resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|c| policy.retries_grpc(c));
                let wants = policy.retries_status(status) || grpc_retry;
                if wants
                    && can_retry
                    && spare.is_some()
                    && head.is_some()
                    && let Some(g) = upstreams.try_retry()
                {
                    _retry_slot = Some(g);
                    drop(resp);
                    drop(lease);
                    tried.push(ep.addr);
                    backoff(policy, attempt, deadline, trace).await?;
                    continue;
                }
                if wants && attempt > 1 {
                    trace
                        .flags
                        .insert(ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED);
                }
                return Ok((resp, lease));
            }
            Err((e, unsent)) => {
                if let Some(r) = unsent
                    && can_retry
                {
                    let (parts, body) = r.into_parts();
                    if head.is_none() {
                        head = Some(Template::from_parts(parts));
                    }
                    if spare.is_none() {
                        spare = Some(body);
                    }
                }
                let retriable = policy.retry_on.intersects(e.retried_on());
                if retriable
                    && can_retry
                    && spare.is_some()
                    && head.is_some()
                    && let Some(g) = upstreams.try_retry()
                {
                    _retry_slot = Some(g);
                    tried.push(ep.addr);
                    backoff(policy, attempt, deadline, trace).await?;
                    continue;
                }
                if retriable && attempt > 1 {
                    trace
                        .flags
                        .insert(ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED);
                }
                return Err(e);
            }
        }
    }
}

/// Whether a try may be retried after the request went out (so its head must be copied).
fn retries_after_send(
    policy: &meridian_control::snapshot::RetryPolicy,
    protocol: Protocol,
    grpc: bool,
) -> bool {
    if policy.attempts == 0 {
        return false;
    }
    let on = policy.retry_on;
    policy.per_try_timeout.is_some()
        || on.intersects(retry_set(&[
            RetryOn::FIVE_XX,
            RetryOn::GATEWAY_ERROR,
            RetryOn::RESET,
            RetryOn::RETRIABLE_4XX,
        ]))
        || (on.contains(RetryOn::RETRIABLE_STATUS_CODES)
            && !policy.retriable_status_codes.is_empty())
        || (protocol == Protocol::Http2 && on.contains(RetryOn::REFUSED_STREAM))
        || (grpc
            && on.intersects(retry_set(&[
                RetryOn::CANCELLED,
                RetryOn::DEADLINE_EXCEEDED,
                RetryOn::INTERNAL,
                RetryOn::RESOURCE_EXHAUSTED,
                RetryOn::UNAVAILABLE,
            ])))
}

fn retry_set(items: &[RetryOn]) -> RetryOn {
    let mut on = RetryOn::NONE;
    for i in items {
        on.insert(*i);
    }
    on
}

/// Envoy's fully jittered exponential back-off: a random wait up to base × 2^(n-1), capped.
/// Fails with the route's timeout when its deadline comes first.
async fn backoff(
    policy: &meridian_control::snapshot::RetryPolicy,
    attempt: u32,
    deadline: Option<tokio::time::Instant>,
    trace: &mut Trace,
) -> Result<(), ProxyError> {
    trace.phase = Phase::RetryBackoff;
    let ceiling = policy
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(policy.backoff_max);
    let wait = rand::rng().random_range(0..=ceiling.as_micros().min(u128::from(u64::MAX)) as u64);
    let until = tokio::time::Instant::now() + Duration::from_micros(wait);
    match deadline {
        Some(d) if d <= until => {
            tokio::time::sleep_until(d).await;
            Err(ProxyError::Timeout)
        }
        _ => {
            tokio::time::sleep_until(until).await;
            Ok(())
        }
    }
}

/// The consistent-hash key of a request; a missing cookie with a ttl is generated (and set
/// on the response) as Envoy does.
fn hash_of(
    key: &HashKey,
    headers: &HeaderMap,
    uri: &Uri,
    client: std::net::IpAddr,
    set_cookie: &mut Option<HeaderValue>,
) -> Option<u64> {
    match key {
        HashKey::Header(name) => headers.get(name.as_str()).map(|v| hash64(v.as_bytes())),
        // Envoy's `use_source_ip` hashes the downstream remote address, the trusted client.
        HashKey::SourceIp => Some(hash64(client.to_string().as_bytes())),
        HashKey::QueryParameter(name) => uri.query().and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then(|| hash64(v.as_bytes()))
            })
        }),
        HashKey::Cookie { name, path, ttl } => {
            let found = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .find_map(|c| {
                    let (k, v) = c.trim().split_once('=')?;
                    (k == name).then(|| hash64(v.as_bytes()))
                });
            if found.is_some() {
                return found;
            }
            let ttl = (*ttl)?;
            let value = format!("{:016x}", rand::random::<u64>());
            let mut cookie = format!("{name}=\"{value}\"; Max-Age={}", ttl.as_secs());
            if let Some(p) = path {
                cookie.push_str("; Path=");
                cookie.push_str(p);
            }
            cookie.push_str("; HttpOnly");
            *set_cookie = HeaderValue::from_str(&cookie).ok();
            // Envoy hashes the value it will set (quoted in the header, bare in the hash).
            Some(hash64(format!("\"{value}\"").as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use meridian_control::snapshot::{RetryOn, RetryPolicy};
    use test_case::test_case;

    use super::*;

    #[test_case("", Protocol::Http1, false, false; "default policy, plain request: no copy")]
    #[test_case("", Protocol::Http1, true, true; "default policy, grpc: unavailable needs a copy")]
    #[test_case("", Protocol::Http2, false, true; "default policy over h2: refused stream")]
    #[test_case("5xx", Protocol::Http1, false, true; "5xx")]
    #[test_case("connect-failure", Protocol::Http1, false, false; "connect failures come back unsent")]
    #[test_case("503", Protocol::Http1, false, true; "listed status codes")]
    fn head_copies_only_when_a_sent_request_may_be_retried(
        retry_on: &str,
        protocol: Protocol,
        grpc: bool,
        expected: bool,
    ) {
        let mut policy = RetryPolicy::istio_default();
        if !retry_on.is_empty() {
            let (on, codes) = RetryOn::parse(retry_on);
            policy.retry_on = on;
            policy.retriable_status_codes = codes;
        }
        assert_eq!(retries_after_send(&policy, protocol, grpc), expected);
        assert!(!retries_after_send(
            &RetryPolicy::disabled(),
            protocol,
            grpc
        ));
    }
}
