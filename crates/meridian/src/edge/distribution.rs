//! A Terraform distribution in the edge's terms: each cache behaviour's key and TTLs (its
//! `forwarded_values`, or the cache policy its `cache_policy_id` names), each custom
//! origin's address on this machine and how it is reached, and the notes for what the
//! distribution declares that the edge does not serve.

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use http::header::{HeaderName, HeaderValue};
use meridian_config::terraform::resources::Spec;
use meridian_config::terraform::resources::aws_cdn::{
    Behavior as TfBehavior, CachePolicy, CustomOrigin, Distribution, Origin as TfOrigin,
};
use meridian_proxy::cache::{
    Behavior, CookieKeys, KeyPolicy, OriginConfig, OriginProtocol, QueryKeys, Ttls, ViewerProtocol,
};

/// The mesh's ingress listeners: declared port, bound address and the hosts its servers
/// answer (Istio's `namespace/host` patterns, `*` wildcards).
pub(crate) type Gateways = Vec<(u16, SocketAddr, Vec<String>)>;

/// The ingress listeners of a proxy's snapshot, for [`EdgePlane::apply`]. The node's own
/// gateways for the functions answer every host, but as origins they stand for what they
/// serve: function URLs (`*.lambda-url.<region>.on.aws`) on the Lambda functions' port,
/// function apps (`*.azurewebsites.net`) on the Azure one.
pub(crate) fn gateways(proxy: &meridian_proxy::Proxy) -> Gateways {
    let bound = proxy.gateway_addresses();
    proxy
        .snapshot()
        .gateways
        .iter()
        .filter_map(|g| {
            let addr = *bound.get(&g.port)?;
            let hosts = match g.port {
                crate::node::FUNCTIONS_PORT => {
                    vec![format!("*.lambda-url.{}.on.aws", crate::node::AWS_REGION)]
                }
                crate::node::AZURE_FUNCTIONS_PORT => vec!["*.azurewebsites.net".to_owned()],
                _ => g
                    .servers
                    .iter()
                    .flat_map(|s| s.hosts.iter().cloned())
                    .collect(),
            };
            Some((g.port, addr, hosts))
        })
        .collect()
}

/// Whether a gateway host pattern (`ns/host`, `*.suffix`, `*`) answers `host`.
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.rsplit_once('/').map_or(pattern, |(_, h)| h);
    pattern == "*"
        || pattern.eq_ignore_ascii_case(host)
        || pattern.strip_prefix('*').is_some_and(|suffix| {
            // Bytes, not characters: a name from a file may hold any text.
            let (host, suffix) = (host.as_bytes(), suffix.as_bytes());
            host.len() > suffix.len()
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        })
}

/// Seconds from Terraform, `default` when out of range.
pub(super) fn seconds(value: i64, default: u64) -> Duration {
    Duration::from_secs(
        u64::try_from(value)
            .ok()
            .filter(|s| *s > 0)
            .unwrap_or(default),
    )
}

/// An origin's `custom_header`s (names CloudFront would refuse never reach here: the
/// Terraform schema checks them).
pub(super) fn origin_headers(o: &TfOrigin) -> Vec<(HeaderName, HeaderValue)> {
    o.custom_headers
        .iter()
        .filter_map(|(n, v)| {
            Some((
                HeaderName::from_bytes(n.as_bytes()).ok()?,
                HeaderValue::from_str(v).ok()?,
            ))
        })
        .collect()
}

/// A `custom_origin_config` origin as the edge reaches it on this machine, what `cdn ls`
/// calls it, and a note when it is not reached as declared. Its domain name is reached
/// directly when it is an address or `localhost` (`*.localhost`), through the mesh's
/// ingress gateway when a Gateway serves that host (the gateway's port equal to
/// `http_port` first; a function URL's or function app's host through the functions'
/// gateways); any other name has no address here, and its behaviours answer 502 as
/// CloudFront does when it cannot connect.
pub(super) fn custom_origin(
    o: &TfOrigin,
    custom: &CustomOrigin,
    gateways: &Gateways,
    tls: Option<&meridian_proxy::frontdoor::BackendTls>,
) -> (OriginConfig, String, Option<String>) {
    let host = o.domain_name.trim_end_matches('.').to_ascii_lowercase();
    let http_port = u16::try_from(custom.http_port).unwrap_or(80);
    let https_port = u16::try_from(custom.https_port).unwrap_or(443);
    let mut protocol = match custom.protocol_policy.as_str() {
        "https-only" => OriginProtocol::HttpsOnly,
        "match-viewer" => OriginProtocol::MatchViewer,
        _ => OriginProtocol::HttpOnly,
    };
    let direct = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) if host == "localhost" || host.ends_with(".localhost") => {
            Some(std::net::IpAddr::from([127, 0, 0, 1]))
        }
        Err(_) => None,
    };
    let mut note = None;
    let (addr, https, description) = match direct {
        Some(ip) => {
            let https = tls.map(|t| (SocketAddr::new(ip, https_port), t.clone()));
            if https.is_none() && protocol != OriginProtocol::HttpOnly {
                note = Some("no TLS client for origins; reached over HTTP".to_owned());
                protocol = OriginProtocol::HttpOnly;
            }
            let scheme = match protocol {
                OriginProtocol::HttpOnly => format!("http://{host}:{http_port}"),
                OriginProtocol::HttpsOnly => format!("https://{host}:{https_port}"),
                OriginProtocol::MatchViewer => {
                    format!("http://{host}:{http_port} and https://{host}:{https_port}")
                }
            };
            (SocketAddr::new(ip, http_port), https, scheme)
        }
        None => {
            let serving = gateways
                .iter()
                .filter(|(_, _, hosts)| hosts.iter().any(|p| host_matches(p, &host)));
            let gateway = serving
                .clone()
                .find(|(port, _, _)| *port == http_port)
                .or_else(|| serving.clone().next());
            match gateway {
                Some((port, addr, _)) => {
                    if protocol != OriginProtocol::HttpOnly {
                        note = Some(format!(
                            "{host} is the mesh's gateway on port {port}, reached over HTTP (origin_protocol_policy {:?} asks for HTTPS)",
                            custom.protocol_policy
                        ));
                        protocol = OriginProtocol::HttpOnly;
                    }
                    (*addr, None, format!("http://{host} -> gateway {addr}"))
                }
                None => {
                    note = Some(format!(
                        "no address on this machine answers {host} (an address, localhost, or a host a Gateway serves); its behaviours answer 502"
                    ));
                    // No HTTPS address: every request fails as a refused connection.
                    protocol = OriginProtocol::HttpsOnly;
                    (
                        SocketAddr::from(([127, 0, 0, 1], http_port)),
                        None,
                        format!("{host} (unreachable)"),
                    )
                }
            }
        }
    };
    let config = OriginConfig {
        path: o.path.clone(),
        timeout: seconds(custom.read_timeout, 30),
        connect_timeout: seconds(o.connection_timeout, 10),
        connection_attempts: u32::try_from(o.connection_attempts.clamp(1, 3)).unwrap_or(3),
        keepalive: seconds(custom.keepalive_timeout, 5),
        protocol,
        https,
        headers: origin_headers(o),
        ..OriginConfig::new(addr, host)
    };
    (config, description, note)
}

/// What a distribution declares that the edge does not serve, one note each.
pub(super) fn unserved(d: &Distribution) -> Vec<String> {
    let mut notes = Vec::new();
    let mut note = |what: String| notes.push(format!("cdn: {}: {what}", d.id));
    if d.geo_restriction.0 != "none" {
        note(format!(
            "restrictions.geo_restriction ({}) is not enforced: every viewer is served",
            d.geo_restriction.0
        ));
    }
    for b in std::iter::once(&d.default_behavior).chain(&d.ordered_behaviors) {
        let name = b.path_pattern.as_deref().unwrap_or("default");
        if !b.functions.is_empty() {
            note(format!(
                "behavior {name}: function_association is not run (no CloudFront Functions runtime)"
            ));
        }
        if !b.lambdas.is_empty() {
            note(format!(
                "behavior {name}: lambda_function_association (Lambda@Edge) is not run"
            ));
        }
        if b.response_headers_policy_id.is_some() {
            note(format!(
                "behavior {name}: response_headers_policy_id is not applied"
            ));
        }
        if b.origin_request_policy_id.is_some() {
            note(format!(
                "behavior {name}: origin_request_policy_id is not applied: the origin gets what the cache key names"
            ));
        }
    }
    for o in &d.origins {
        if o.shield_region.is_some() {
            note(format!(
                "origin {}: origin_shield has no effect on one node",
                o.id
            ));
        }
    }
    notes
}

/// A CloudFront managed cache policy: none of them keys on headers, cookies or query
/// strings.
struct ManagedPolicy {
    id: &'static str,
    /// Min, default and max TTL.
    ttls: (u64, u64, u64),
    /// The normalised `Accept-Encoding` (gzip, Brotli) is in the key.
    encodings: bool,
}

/// The managed cache policies the edge knows by id (CachingOptimized, CachingDisabled,
/// CachingOptimizedForUncompressedObjects).
const MANAGED_CACHE_POLICIES: &[ManagedPolicy] = &[
    ManagedPolicy {
        id: "658327ea-f89d-4fab-a63d-7e88639e58f6",
        ttls: (1, 86_400, 31_536_000),
        encodings: true,
    },
    ManagedPolicy {
        id: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        ttls: (0, 0, 0),
        encodings: false,
    },
    ManagedPolicy {
        id: "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
        ttls: (1, 86_400, 31_536_000),
        encodings: false,
    },
];

/// The cache policies of a bundle's Terraform modules.
pub(crate) fn cache_policies(bundle: &meridian_config::Bundle) -> Vec<CachePolicy> {
    bundle
        .terraform_modules()
        .flat_map(|m| m.instances.iter())
        .filter_map(|i| match &i.spec {
            Spec::CachePolicy(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// A cache policy's key and TTLs over a behaviour's (headers, cookies and query strings in
/// the key are the ones forwarded, as CloudFront forwards them); `None` when the id is no
/// policy the edge knows.
fn apply_cache_policy(id: &str, policies: &[CachePolicy], b: &mut Behavior) -> Option<()> {
    let ttls = |(min, default, max): (u64, u64, u64)| Ttls {
        min,
        default: Some(default),
        max,
        error_min: 10,
    };
    if let Some(m) = MANAGED_CACHE_POLICIES.iter().find(|m| m.id == id) {
        b.ttls = ttls(m.ttls);
        b.key = KeyPolicy {
            gzip: m.encodings,
            brotli: m.encodings,
            ..KeyPolicy::default()
        };
        return Some(());
    }
    let p = policies.iter().find(|p| p.id == id)?;
    let (min, default, max) = p.ttls;
    b.ttls = ttls((
        u64::try_from(min).unwrap_or(0),
        u64::try_from(default).unwrap_or(0),
        u64::try_from(max).unwrap_or(0),
    ));
    let names = |list: &[String]| -> Vec<HeaderName> {
        list.iter()
            .filter_map(|h| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok())
            .collect()
    };
    b.key = KeyPolicy {
        query: match p.query_strings.0.as_str() {
            "all" => QueryKeys::All,
            "whitelist" => QueryKeys::Whitelist(p.query_strings.1.clone()),
            "allExcept" => QueryKeys::Except(p.query_strings.1.clone()),
            _ => QueryKeys::None,
        },
        headers: match p.headers.0.as_str() {
            "whitelist" => names(&p.headers.1),
            _ => Vec::new(),
        },
        cookies: match p.cookies.0.as_str() {
            "all" => CookieKeys::All,
            "whitelist" => CookieKeys::Whitelist(p.cookies.1.clone()),
            _ => CookieKeys::None,
        },
        gzip: p.gzip,
        brotli: p.brotli,
        forward_keyed_query_only: true,
        ..KeyPolicy::default()
    };
    Some(())
}

/// A Terraform cache behaviour as the edge applies it: its `cache_policy_id` when it names
/// a policy the edge knows, its `forwarded_values` and TTLs otherwise.
pub(super) fn behavior_with(
    b: &TfBehavior,
    policies: &[CachePolicy],
    notes: &mut Vec<String>,
    id: &str,
) -> Behavior {
    let mut out = behavior(b);
    if let Some(policy) = &b.cache_policy_id
        && apply_cache_policy(policy, policies, &mut out).is_none()
    {
        notes.push(format!(
            "cdn: {id}: behavior {}: cache_policy_id {policy} is no aws_cloudfront_cache_policy of the configuration nor a managed policy Meridian knows (CachingOptimized, CachingDisabled, CachingOptimizedForUncompressedObjects); the object's own headers and CloudFront's default TTLs apply",
            b.path_pattern.as_deref().unwrap_or("default")
        ));
    }
    out
}

/// A Terraform cache behaviour as the edge applies it, without its cache policy.
fn behavior(b: &TfBehavior) -> Behavior {
    let methods: Vec<Method> = b
        .allowed_methods
        .iter()
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .collect();
    let mut key = KeyPolicy::default();
    if let Some(f) = &b.forwarded_values {
        key.query = match (f.query_string, f.query_string_cache_keys.is_empty()) {
            (false, _) => QueryKeys::None,
            (true, true) => QueryKeys::All,
            (true, false) => QueryKeys::Whitelist(f.query_string_cache_keys.clone()),
        };
        key.headers = f
            .headers
            .iter()
            .filter(|h| *h != "*")
            .filter_map(|h| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok())
            .collect();
        key.cookies = match f.cookies.as_str() {
            "all" => CookieKeys::All,
            "whitelist" => CookieKeys::Whitelist(f.cookie_names.clone()),
            _ => CookieKeys::None,
        };
    }
    Behavior {
        allowed_methods: if methods.is_empty() {
            vec![Method::GET, Method::HEAD]
        } else {
            methods
        },
        cache_options: b.cached_methods.iter().any(|m| m == "OPTIONS"),
        key,
        ttls: Ttls {
            min: u64::try_from(b.min_ttl).unwrap_or(0),
            default: Some(u64::try_from(b.default_ttl).unwrap_or(0)),
            max: u64::try_from(b.max_ttl).unwrap_or(0),
            error_min: 10,
        },
        viewer_protocol: match b.viewer_protocol_policy.as_str() {
            "redirect-to-https" => ViewerProtocol::RedirectToHttps,
            "https-only" => ViewerProtocol::HttpsOnly,
            _ => ViewerProtocol::AllowAll,
        },
        compress: b.compress,
        target: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_host_patterns_match_as_istio_writes_them() {
        assert!(host_matches("*", "api.example.com"));
        assert!(host_matches("prod/api.example.com", "API.example.com"));
        assert!(host_matches(
            "*.lambda-url.us-east-1.on.aws",
            "abc.lambda-url.us-east-1.on.aws"
        ));
        assert!(!host_matches("*.example.com", "example.com"));
        // Any text, split anywhere, never panics.
        assert!(!host_matches("*.com", "ñandú.cóm"));
        assert!(!host_matches("*é.com", "xé.co"));
    }
}
