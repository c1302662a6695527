//! Hosts outside the registry, under Istio's `ALLOW_ANY` (its PassthroughCluster): an
//! outbound sidecar forwards the request to the address the host resolves to, over HTTP/1.1,
//! retrying a connection failure as Istio's default retry policy does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, Uri, Version};

use super::Trace;
use crate::body::{InBody, ResponseBody};
use crate::error::ProxyError;
use crate::headers::{self as hh, strip_hop_by_hop};
use crate::pool::{Endpoint, Protocol};
use crate::record::Phase;
use crate::upstream::{self, SendOptions};

/// Endpoints for hosts outside the registry, by address (`ALLOW_ANY`'s PassthroughCluster).
/// Its lock is taken only for requests to such hosts.
#[derive(Debug, Default)]
pub(crate) struct Passthrough {
    endpoints: std::sync::Mutex<std::collections::HashMap<SocketAddr, Arc<Endpoint>>>,
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
    trace.phase = Phase::Balance;
    let addr = tokio::net::lookup_host((host, port))
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ProxyError::NoHealthyUpstream(format!("PassthroughCluster {host}")))?;
    let ep = pass
        .endpoint(addr)
        .ok_or_else(|| ProxyError::NoHealthyUpstream("PassthroughCluster".to_owned()))?;
    trace.upstream = Some(ep.addr);
    trace.attempts = 1;
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
    let body = body.into_request_body();
    let opts = SendOptions {
        protocol: Protocol::Http1,
        connect_timeout: Duration::from_secs(10),
        idle_timeout: Some(Duration::from_secs(3600)),
        max_requests_per_connection: 0,
    };
    trace.phase = Phase::UpstreamRequest;
    let mut req = Request::from_parts(parts, body);
    let mut outcome = upstream::send(&ep, req, opts).await;
    for attempt in 2..=3 {
        match outcome {
            Err((ProxyError::ConnectFailure { .. }, Some(unsent))) => {
                trace.attempts = attempt;
                req = unsent;
                outcome = upstream::send(&ep, req, opts).await;
            }
            _ => break,
        }
    }
    let (resp, lease) = outcome.map_err(|(e, _)| e)?;
    let (mut rparts, rbody) = resp.into_parts();
    strip_hop_by_hop(&mut rparts.headers, false);
    Ok(Response::from_parts(
        rparts,
        ResponseBody::upstream(rbody, lease, None),
    ))
}
