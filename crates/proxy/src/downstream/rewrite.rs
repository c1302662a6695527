//! The request head as it goes upstream: hop-by-hop headers stripped, a request id, the
//! forwarding headers (`X-Forwarded-For`, `X-Envoy-External-Address` and the trusted
//! `X-Forwarded-Proto` at the gateway; `X-Forwarded-Proto` at a sidecar), the route's and the
//! destination's header rules, the route's rewrite (authority, URI prefix or regex), and the
//! protocol, URI form and `Host` the cluster is spoken to with.

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Uri, Version};
use meridian_control::snapshot::{RouteDestination, UpstreamProtocol};

use super::forward::Template;
use super::route::{Matched, Target};
use super::{Downstream, ListenerCtx, ListenerKind};
use crate::error::ProxyError;
use crate::headers::{self as hh, strip_hop_by_hop};
use crate::pool::Protocol;

/// The upstream request head, with what forwarding needs to know of it.
pub(super) struct UpstreamHead {
    pub(super) template: Template,
    /// The authority the request goes to (after header rules and rewrites).
    pub(super) authority: HeaderValue,
    pub(super) protocol: Protocol,
}

/// Turns the downstream request head into the upstream one. An upgrade keeps its
/// `Connection`/`Upgrade` headers and goes over HTTP/1.1.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn upstream_head(
    ctx: &ListenerCtx,
    from: Downstream,
    matched: &Matched<'_>,
    dest: &RouteDestination,
    target: &Target,
    cluster_protocol: UpstreamProtocol,
    upgrade: bool,
    mut parts: http::request::Parts,
) -> Result<UpstreamHead, ProxyError> {
    let route = matched.route;
    strip_hop_by_hop(&mut parts.headers, upgrade);
    if !parts.headers.contains_key(&hh::X_REQUEST_ID) {
        parts
            .headers
            .insert(hh::X_REQUEST_ID.clone(), hh::new_request_id());
    }
    if let ListenerKind::Gateway { .. } = ctx.kind {
        crate::forwarded::append(&mut parts.headers, from.remote);
        if let Ok(v) = HeaderValue::from_str(&from.client.to_string()) {
            parts
                .headers
                .insert(hh::X_ENVOY_EXTERNAL_ADDRESS.clone(), v);
        }
        // Only proxies the topology trusts may say which scheme the client used.
        if ctx.topology.num_trusted_proxies == 0
            || !parts.headers.contains_key(&hh::X_FORWARDED_PROTO)
        {
            parts.headers.insert(
                hh::X_FORWARDED_PROTO.clone(),
                HeaderValue::from_static(ctx.scheme),
            );
        }
    } else if !parts.headers.contains_key(&hh::X_FORWARDED_PROTO) {
        parts.headers.insert(
            hh::X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(ctx.scheme),
        );
    }
    route.headers.request.apply(&mut parts.headers);
    dest.headers.request.apply(&mut parts.headers);
    let mut authority: Option<HeaderValue> = dest
        .headers
        .request
        .authority
        .clone()
        .or_else(|| route.headers.request.authority.clone());
    let mut new_path: Option<String> = None;
    if let Some(rw) = &route.rewrite {
        if let Some(a) = &rw.authority {
            authority = Some(a.clone());
        }
        let path = parts.uri.path();
        if let Some(uri) = &rw.uri {
            let prefix = matched
                .matched
                .and_then(|m| route.matches.get(m))
                .and_then(|m| m.uri.as_ref())
                .and_then(|u| u.matcher.prefix());
            new_path = Some(match prefix {
                Some(p) if path.len() >= p.len() => format!("{uri}{}", &path[p.len()..]),
                _ => uri.clone(),
            });
        } else if let Some(rr) = &rw.uri_regex {
            new_path = Some(
                rr.pattern
                    .regex()
                    .replace_all(path, rr.replacement.as_str())
                    .into_owned(),
            );
        }
    }
    let authority = match authority {
        Some(a) => a,
        None => target.authority.clone(),
    };
    // Unchanged paths reuse the request's bytes.
    let path_and_query = match (&new_path, parts.uri.query()) {
        (Some(p), Some(q)) => PathAndQuery::try_from(format!("{p}?{q}")),
        (Some(p), None) => PathAndQuery::try_from(p.as_str()),
        (None, _) => Ok(parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"))),
    }
    .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let protocol = match cluster_protocol {
        UpstreamProtocol::Http1 => Protocol::Http1,
        UpstreamProtocol::Http2 => Protocol::Http2,
        UpstreamProtocol::Client if parts.version == Version::HTTP_2 => Protocol::Http2,
        UpstreamProtocol::Client => Protocol::Http1,
    };
    let protocol = if upgrade { Protocol::Http1 } else { protocol };
    let uri = match protocol {
        Protocol::Http1 => Uri::from(path_and_query),
        Protocol::Http2 => {
            let mut p = http::uri::Parts::default();
            p.scheme = Some(http::uri::Scheme::HTTP);
            p.authority = Some(
                http::uri::Authority::try_from(authority.as_bytes())
                    .map_err(|e| ProxyError::BadRequest(e.to_string()))?,
            );
            p.path_and_query = Some(path_and_query);
            Uri::from_parts(p).map_err(|e| ProxyError::BadRequest(e.to_string()))?
        }
    };
    match protocol {
        Protocol::Http1 => {
            parts.headers.insert(header::HOST, authority.clone());
        }
        Protocol::Http2 => {
            parts.headers.remove(header::HOST);
        }
    }
    let template = Template {
        method: parts.method,
        uri,
        version: match protocol {
            Protocol::Http1 => Version::HTTP_11,
            Protocol::Http2 => Version::HTTP_2,
        },
        headers: parts.headers,
    };
    Ok(UpstreamHead {
        template,
        authority,
        protocol,
    })
}
