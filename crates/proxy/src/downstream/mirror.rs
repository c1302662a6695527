//! Mirrors (Istio's `mirror`/`mirrors`): a copy of the request, drawn by each mirror's
//! percentage, goes to the mirror's cluster with `-shadow` on its host. Fire and forget, but
//! bounded: the response is read and dropped, never delays or changes the client's, and at
//! most [`MIRRORS_IN_FLIGHT`] copies are in flight across the proxy.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Uri, Version};
use http_body_util::BodyExt;
use meridian_control::snapshot::{HttpRoute, RouteDestination, UpstreamProtocol, split_authority};

use super::forward::Template;
use super::{absolute_uri, roll_percent};
use crate::balancer::PickContext;
use crate::body::{RequestBody, ResponseBody};
use crate::cluster::Resolved;
use crate::error::ProxyError;
use crate::pool::Protocol;
use crate::upstream::{self, SendOptions};

/// Sends a copy of the request to each of the route's mirrors its percentage draws, when the
/// body can be copied (buffered).
#[inline(always)]
pub(super) fn spawn_all(
    state: &Arc<Resolved>,
    route: &HttpRoute,
    template: &Template,
    authority: &HeaderValue,
    body: &RequestBody,
    port: u16,
) {
    for mirror in &route.mirrors {
        if roll_percent(mirror.percentage)
            && let Some(copy) = body.try_clone()
        {
            spawn_mirror(
                state,
                &mirror.destination,
                template,
                authority.to_str().unwrap_or_default(),
                copy,
                port,
                route.timeout,
            );
        }
    }
}

/// Fire and forget: the copy goes to the mirror's cluster with `-shadow` on its host; the
/// response is read and dropped, and never delays or changes the client's.
fn spawn_mirror(
    state: &Arc<Resolved>,
    dest: &RouteDestination,
    template: &Template,
    authority: &str,
    body: RequestBody,
    port: u16,
    timeout: Option<Duration>,
) {
    let Some(ci) = dest.target.resolve(port) else {
        return;
    };
    let (Some(cluster), Some(runtime)) = (state.snapshot.cluster(ci), state.clusters.get(ci))
    else {
        return;
    };
    let Some(ep) = runtime.balancer.pick(PickContext::default()).cloned() else {
        return;
    };
    let (host, port_part) = split_authority(authority);
    let shadow = match port_part {
        Some(p) => format!("{host}-shadow:{p}"),
        None => format!("{host}-shadow"),
    };
    let Ok(shadow) = HeaderValue::from_str(&shadow) else {
        return;
    };
    let protocol = match cluster.protocol {
        UpstreamProtocol::Http2 => Protocol::Http2,
        _ => Protocol::Http1,
    };
    let mut req = template.request(1, body);
    *req.version_mut() = match protocol {
        Protocol::Http1 => Version::HTTP_11,
        Protocol::Http2 => Version::HTTP_2,
    };
    match protocol {
        Protocol::Http1 => {
            let pq = template
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            if let Ok(u) = Uri::try_from(pq) {
                *req.uri_mut() = u;
            }
            req.headers_mut().insert(header::HOST, shadow);
        }
        Protocol::Http2 => {
            let pq = template.uri.path_and_query().map_or("/", |p| p.as_str());
            if let Ok(u) = absolute_uri(
                "http",
                shadow.to_str().unwrap_or_default(),
                &Uri::from_static("/"),
            )
            .and_then(|u| {
                Uri::builder()
                    .scheme("http")
                    .authority(u.authority().map_or("", |a| a.as_str()))
                    .path_and_query(pq)
                    .build()
                    .map_err(|e| ProxyError::BadRequest(e.to_string()))
            }) {
                *req.uri_mut() = u;
            }
            req.headers_mut().remove(header::HOST);
        }
    }
    let opts = SendOptions {
        protocol,
        connect_timeout: cluster.policy.connection_pool.connect_timeout,
        idle_timeout: cluster.policy.connection_pool.idle_timeout,
        max_requests_per_connection: cluster.policy.connection_pool.max_requests_per_connection,
    };
    // Fire and forget, but bounded: at most MIRRORS_IN_FLIGHT at once across the proxy
    // (more are dropped), each cut at the route's timeout (Envoy's default of 15 s when the
    // route has none), so a slow shadow cluster cannot pile up tasks and connections.
    let Some(slot) = MirrorSlot::take() else {
        tracing::debug!(cluster = %cluster.name, "mirror dropped: too many in flight");
        return;
    };
    let deadline = timeout.unwrap_or(DEFAULT_MIRROR_TIMEOUT);
    tokio::spawn(async move {
        let _slot = slot;
        let _ = tokio::time::timeout(deadline, async move {
            if let Ok((resp, lease)) = upstream::send(&ep, req, opts).await {
                let mut body = ResponseBody::upstream(resp.into_body(), lease, None);
                while let Some(Ok(_)) = body.frame().await {}
            }
        })
        .await;
    });
}

/// Mirrored requests in flight at most, proxy-wide.
const MIRRORS_IN_FLIGHT: usize = 1024;

/// A mirrored request's deadline when its route has no timeout (Envoy's default route
/// timeout).
const DEFAULT_MIRROR_TIMEOUT: Duration = Duration::from_secs(15);

static MIRRORS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One of the [`MIRRORS_IN_FLIGHT`] slots, given back when dropped.
struct MirrorSlot;

impl MirrorSlot {
    fn take() -> Option<MirrorSlot> {
        use std::sync::atomic::Ordering;
        MIRRORS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MIRRORS_IN_FLIGHT).then_some(n + 1)
            })
            .ok()
            .map(|_| MirrorSlot)
    }
}

impl Drop for MirrorSlot {
    fn drop(&mut self) {
        MIRRORS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}
