//! VirtualService: how requests for a host are routed (first matching rule wins).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Destination, Headers, Percent, StringMatch, gateway_names, v};
use crate::diag::Findings;
use crate::duration::DurationText;
use crate::k8s::meta::validate_labels;
use crate::path::FieldPath;

/// `spec` of a VirtualService.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualServiceSpec {
    /// Hosts the rules apply to. Empty only in a delegate VirtualService.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Gateways (and `mesh` for sidecars) the rules apply to; `mesh` when omitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// HTTP rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    /// TLS passthrough rules (by SNI), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsRoute>,
    /// TCP rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpRoute>,
    /// Namespaces that see this VirtualService (`*` by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

/// An HTTP rule: matches, then one action (route, redirect, direct response or delegate).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRoute {
    /// Name, for logs and stats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Conditions; any may match (none: matches everything).
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    /// Answer with a redirect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<HttpRedirect>,
    /// Answer directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<HttpDirectResponse>,
    /// Continue with another VirtualService's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegate: Option<Delegate>,
    /// Rewrite the path or authority before forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    /// Request timeout; none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationText>,
    /// Retry policy; Istio's default when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    /// Injected delays and aborts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<HttpFaultInjection>,
    /// Send a copy of each request here (fire and forget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination>,
    /// Several mirrors, each with its own percentage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<HttpMirrorPolicy>,
    /// Deprecated integer form of `mirrorPercentage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_percent: Option<u32>,
    /// Share of requests mirrored (100% when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
    /// CORS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<CorsPolicy>,
    /// Header operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// Conditions on a request; all set fields must match.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMatchRequest {
    /// Name, for logs and stats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// `http` or `https`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    /// Method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Host/authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Headers (an empty match means "present").
    #[serde(
        default,
        deserialize_with = "non_null_header_matches",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: BTreeMap<String, StringMatch>,
    /// Destination port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Labels of the calling workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Overrides the VirtualService's `gateways` for this match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Query parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    /// Case-insensitive `uri` exact/prefix matching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_uri_case: Option<bool>,
    /// Headers that must not match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
    /// Namespace of the calling workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
    /// Stats prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stat_prefix: Option<String>,
}

/// `headers:` of a match, where `name: {}` means "present" but `name: null` is refused, as
/// Istio refuses it (`{}` and `null` would otherwise read the same).
fn non_null_header_matches<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, StringMatch>, D::Error> {
    use serde::Deserialize as _;
    use serde::de::Error as _;
    let raw = BTreeMap::<String, Option<StringMatch>>::deserialize(d)?;
    raw.into_iter()
        .map(|(name, m)| match m {
            Some(m) => Ok((name, m)),
            None => Err(D::Error::custom(format!(
                "header match {name} cannot be null"
            ))),
        })
        .collect()
}

impl HttpMatchRequest {
    /// True when no condition is set: the match accepts every request.
    pub fn is_catch_all(&self) -> bool {
        let uri_all = self.uri.as_ref().is_none_or(|u| {
            u.prefix.as_deref() == Some("/") && u.exact.is_none() && u.regex.is_none()
        });
        uri_all
            && self.scheme.is_none()
            && self.method.is_none()
            && self.authority.is_none()
            && self.headers.is_empty()
            && self.port.is_none()
            && self.source_labels.is_empty()
            && self.gateways.is_empty()
            && self.query_params.is_empty()
            && self.without_headers.is_empty()
            && self.source_namespace.is_none()
    }
}

/// A weighted destination.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRouteDestination {
    /// Where.
    pub destination: Option<Destination>,
    /// Relative weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Header operations for requests sent here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// A weighted L4 destination.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDestination {
    /// Where.
    pub destination: Option<Destination>,
    /// Relative weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// A redirect.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRedirect {
    /// Replaces the whole path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Replaces the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Derives the port instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derive_port: Option<RedirectPortSelection>,
    /// Replaces the scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Status code; 301 when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u32>,
    /// Replaces the matched URI prefix (the rule's matches are all prefix matches, or it has
    /// none and its prefix is `/`), keeping the rest of the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
}

/// How a redirect picks its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedirectPortSelection {
    /// 80 for http, 443 for https.
    FromProtocolDefault,
    /// The port of the request.
    FromRequestPort,
}

/// A direct response.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpDirectResponse {
    /// Status code.
    pub status: Option<u32>,
    /// Body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<HttpBody>,
}

/// A response body: text or base64 bytes.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpBody {
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// Base64-encoded bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
}

/// A delegate reference.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delegate {
    /// VirtualService name.
    pub name: Option<String>,
    /// Its namespace; the delegating one's when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A rewrite.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRewrite {
    /// Replaces the matched prefix (for prefix matches) or the whole path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the authority (Host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Regex rewrite of the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// `uriRegexRewrite`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexRewrite {
    /// RE2 regex.
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// Replacement with `\1` capture groups.
    pub rewrite: Option<String>,
}

/// A retry policy.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRetry {
    /// Retries (the request is tried at most 1 + attempts times).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    /// Timeout per try.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<DurationText>,
    /// Comma-separated Envoy retry conditions and status codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    /// Retry in other localities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
    /// Avoid hosts already tried (true by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Base back-off interval (25ms by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<DurationText>,
}

/// Envoy's HTTP retry conditions (`x-envoy-retry-on`) and gRPC ones (`x-envoy-retry-grpc-on`).
pub const RETRY_ON_CONDITIONS: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// CORS.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsPolicy {
    /// Deprecated exact origins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origin: Vec<String>,
    /// Allowed origins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<StringMatch>,
    /// Allowed methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Allowed request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Headers the browser may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Preflight cache time (seconds precision).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<DurationText>,
    /// `Access-Control-Allow-Credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// What to do with preflights that match no origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched_preflights: Option<UnmatchedPreflights>,
}

/// CORS preflights from origins that do not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnmatchedPreflights {
    /// Default: forward.
    Unspecified,
    /// Forward them upstream.
    Forward,
    /// Answer them without CORS headers.
    Ignore,
}

/// Fault injection.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpFaultInjection {
    /// Delay some requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    /// Abort some requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

/// `fault.delay`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultDelay {
    /// Deprecated integer percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    /// The delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_delay: Option<DurationText>,
    /// Unsupported by Istio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exponential_delay: Option<DurationText>,
    /// Share of requests delayed (none when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

/// `fault.abort`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultAbort {
    /// HTTP status to answer with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// gRPC status name to answer with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<String>,
    /// Unsupported by Istio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_error: Option<String>,
    /// Share of requests aborted (none when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

/// gRPC status names accepted by `grpcStatus`.
pub const GRPC_STATUS_NAMES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// One of `mirrors`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMirrorPolicy {
    /// Where.
    pub destination: Option<Destination>,
    /// Share mirrored (100% when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

/// A TLS passthrough rule.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsRoute {
    /// Conditions (SNI hosts required).
    #[serde(default, rename = "match")]
    pub matches: Vec<TlsMatchAttributes>,
    /// Destinations.
    #[serde(default)]
    pub route: Vec<RouteDestination>,
}

/// TLS match conditions.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsMatchAttributes {
    /// SNI values.
    #[serde(default)]
    pub sni_hosts: Vec<String>,
    /// Destination IP subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Labels of the calling workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Namespace of the calling workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
}

/// A TCP rule.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpRoute {
    /// Conditions.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<L4MatchAttributes>,
    /// Destinations.
    #[serde(default)]
    pub route: Vec<RouteDestination>,
}

/// L4 match conditions.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L4MatchAttributes {
    /// Destination IP subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Source subnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_subnet: Option<String>,
    /// Labels of the calling workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Namespace of the calling workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
}

const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

impl VirtualServiceSpec {
    /// True when the rules apply to sidecars (`gateways` empty or containing `mesh`).
    pub fn applies_to_mesh(&self) -> bool {
        self.gateways.is_empty() || self.gateways.iter().any(|g| g == "mesh")
    }

    /// True for a delegate (a VirtualService with no hosts, used through `delegate:`).
    pub fn is_delegate(&self) -> bool {
        self.hosts.is_empty()
    }

    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        let delegate = self.is_delegate();
        if delegate {
            if !self.gateways.is_empty() {
                f.error(&at.field("gateways"), "delegate virtual service must have no gateways specified")
                    .hint("a VirtualService without hosts is a delegate; add `hosts` if it should route on its own");
            }
            if !self.tls.is_empty() {
                f.error(
                    &at.field("tls"),
                    "delegate virtual service must have no tls route specified",
                );
            }
            if !self.tcp.is_empty() {
                f.error(
                    &at.field("tcp"),
                    "delegate virtual service must have no tcp route specified",
                );
            }
        }
        let applies_to_mesh = self.applies_to_mesh();
        let applies_to_gateway = self.gateways.iter().any(|g| g != "mesh");
        gateway_names(f, &at.field("gateways"), &self.gateways);
        let mut all_valid = true;
        // As Istio: a VirtualService bound to a gateway that matches on SNI may name the
        // SNI names of AUTO_PASSTHROUGH gateways as hosts.
        let sni_routes = self
            .tls
            .iter()
            .any(|r| r.matches.iter().any(|m| !m.sni_hosts.is_empty()));
        for (i, h) in self.hosts.iter().enumerate() {
            let hp = at.field("hosts").index(i);
            if h.parse::<IpAddr>().is_ok() {
                continue;
            }
            if applies_to_gateway
                && sni_routes
                && let Some(checked) = v::auto_passthrough_sni(h)
            {
                match checked {
                    Ok(()) => auto_passthrough_warning(f, &hp, h),
                    Err(e) => {
                        f.error(&hp, e);
                        all_valid = false;
                    }
                }
                continue;
            }
            if let Err(e) = v::check_wildcard_host(h) {
                f.error(&hp, e);
                all_valid = false;
            } else if applies_to_mesh && h == "*" {
                f.error(
                    &hp,
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                )
                .hint("bind the VirtualService to a Gateway with `gateways:`, or name the hosts");
                all_valid = false;
            }
        }
        if all_valid {
            for i in 0..self.hosts.len() {
                for j in i + 1..self.hosts.len() {
                    if hosts_overlap(&self.hosts[i], &self.hosts[j]) {
                        f.error(
                            &at.field("hosts").index(j),
                            format!(
                                "duplicate hosts in virtual service: {} & {}",
                                self.hosts[i], self.hosts[j]
                            ),
                        );
                    }
                }
            }
        }
        if self.http.is_empty() && self.tcp.is_empty() && self.tls.is_empty() {
            f.error(at, "http, tcp or tls must be provided in virtual service");
        }
        for (i, r) in self.http.iter().enumerate() {
            let rp = at.field("http").index(i);
            if r.delegate.is_some() && !applies_to_gateway {
                f.error(
                    &rp.field("delegate"),
                    "http delegate only applies to gateway",
                );
            }
            r.validate(f, &rp, delegate);
        }
        unreachable_rules(f, at, &self.http);
        unreachable_l4_rules(f, at, "tcp", self.tcp.iter().map(|r| r.matches.as_slice()));
        unreachable_l4_rules(f, at, "tls", self.tls.iter().map(|r| r.matches.as_slice()));
        // Istio checks SNI hosts with its gateway rules unless the VirtualService names the
        // mesh among its gateways.
        let sni_gateway = !self.gateways.iter().any(|g| g == "mesh");
        for (i, r) in self.tls.iter().enumerate() {
            let rp = at.field("tls").index(i);
            if r.matches.is_empty() {
                f.error(
                    &rp.field("match"),
                    "TLS route must have at least one match condition",
                );
            }
            for (j, m) in r.matches.iter().enumerate() {
                let mp = rp.field("match").index(j);
                if m.sni_hosts.is_empty() {
                    f.error(
                        &mp.field("sniHosts"),
                        "TLS match must have at least one SNI host",
                    );
                }
                for (k, sni) in m.sni_hosts.iter().enumerate() {
                    let sp = mp.field("sniHosts").index(k);
                    if sni.parse::<IpAddr>().is_ok() {
                        f.warn(
                            &sp,
                            format!("using an IP address (\"{sni}\") goes against SNI spec and most clients do not support this"),
                        );
                        continue;
                    }
                    let checked = match sni_gateway.then(|| v::auto_passthrough_sni(sni)).flatten()
                    {
                        Some(Ok(())) => {
                            auto_passthrough_warning(f, &sp, sni);
                            Ok(())
                        }
                        Some(Err(e)) => Err(e),
                        None => v::check_wildcard_host(sni),
                    };
                    if let Err(e) = checked {
                        f.error(&sp, e);
                    } else if !self.hosts.iter().any(|h| host_subset_of(sni, h)) {
                        f.error(&sp, format!(
                            "SNI host \"{sni}\" is not a compatible subset of any of the virtual service hosts: [{}]",
                            self.hosts.join(", ")
                        ));
                    }
                }
                l4_match(
                    f,
                    &mp,
                    &m.destination_subnets,
                    m.port,
                    &m.source_labels,
                    &m.gateways,
                );
            }
            if r.route.is_empty() {
                f.error(&rp.field("route"), "TLS route is required");
            }
            route_destinations(
                f,
                &rp.field("route"),
                r.route.iter().map(|d| (d.destination.as_ref(), d.weight)),
            );
        }
        for (i, r) in self.tcp.iter().enumerate() {
            let rp = at.field("tcp").index(i);
            for (j, m) in r.matches.iter().enumerate() {
                let mp = rp.field("match").index(j);
                l4_match(
                    f,
                    &mp,
                    &m.destination_subnets,
                    m.port,
                    &m.source_labels,
                    &m.gateways,
                );
                if let Some(s) = &m.source_subnet
                    && let Err(e) = crate::istio::security::parse_cidr(s)
                {
                    f.error(&mp.field("sourceSubnet"), e);
                }
            }
            if r.route.is_empty() {
                f.error(&rp.field("route"), "TCP route is required");
            }
            route_destinations(
                f,
                &rp.field("route"),
                r.route.iter().map(|d| (d.destination.as_ref(), d.weight)),
            );
        }
        v::export_to(f, &at.field("exportTo"), &self.export_to);
    }
}

fn l4_match(
    f: &mut Findings,
    at: &FieldPath,
    subnets: &[String],
    port: Option<u32>,
    labels: &BTreeMap<String, String>,
    gateways: &[String],
) {
    for (i, s) in subnets.iter().enumerate() {
        if let Err(e) = crate::istio::security::parse_cidr(s) {
            f.error(&at.field("destinationSubnets").index(i), e);
        }
    }
    v::port(f, &at.field("port"), port.filter(|p| *p != 0));
    validate_labels(f, &at.field("sourceLabels"), labels);
    gateway_names(f, &at.field("gateways"), gateways);
}

/// Whether two VirtualService hosts overlap (`*.foo.com` and `a.foo.com`, or equal).
fn hosts_overlap(a: &str, b: &str) -> bool {
    host_subset_of(a, b) || host_subset_of(b, a)
}

/// Whether every name `a` matches is also matched by `b`.
pub fn host_subset_of(a: &str, b: &str) -> bool {
    if b == "*" || a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (_, Some(b_suffix)) => {
            let a_body = a.strip_prefix('*').unwrap_or(a);
            a_body
                .to_ascii_lowercase()
                .ends_with(&b_suffix.to_ascii_lowercase())
                && a_body.len() > b_suffix.len()
                || (a.starts_with('*') && a_body.eq_ignore_ascii_case(b_suffix))
        }
        _ => false,
    }
}

/// Reports rules that can never match (IST0130) and matches that never apply (IST0131), as
/// Istio's validation does: a rule after one without matches (only the last rule may have
/// none), or after one with a match that accepts every request; a match equal to an earlier
/// one (its `name`, for logs only, aside); and a `uri.prefix` match covered by an earlier
/// one with a shorter prefix and conditions no narrower.
fn unreachable_rules(f: &mut Findings, at: &FieldPath, rules: &[HttpRoute]) {
    let mut no_match_at: Option<usize> = None;
    let mut catch_all_at: Option<usize> = None;
    let mut seen: Vec<(usize, usize, HttpMatchRequest)> = Vec::new();
    let mut prefixed: Vec<(usize, usize, &HttpMatchRequest)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let rp = at.field("http").index(i);
        if r.matches.is_empty() {
            if let Some(first) = no_match_at.or(catch_all_at) {
                f.warn(
                    &rp,
                    format!(
                        "http[{i}] is unreachable: http[{first}] before it matches every request"
                    ),
                )
                .code("IST0130")
                .hint("only the last rule can have no matches; put catch-all rules last");
            }
            no_match_at.get_or_insert(i);
            continue;
        }
        if let Some(first) = no_match_at {
            // Each match of the rule is one that can never apply.
            for j in 0..r.matches.len() {
                f.warn(
                    &rp.field("match").index(j),
                    format!("http[{i}] is unreachable: http[{first}] before it has no match, so it takes every request"),
                )
                .code("IST0130")
                .hint("only the last rule can have no matches; put catch-all rules last");
            }
            continue;
        }
        if let Some(first) = catch_all_at {
            f.warn(
                &rp,
                format!("http[{i}] is unreachable: http[{first}] before it matches every request"),
            )
            .code("IST0130")
            .hint("put catch-all rules last");
            continue;
        }
        let mut repeated = 0;
        for (j, m) in r.matches.iter().enumerate() {
            let unnamed = HttpMatchRequest {
                name: None,
                ..m.clone()
            };
            if let Some((pi, pj, _)) = seen.iter().find(|(_, _, prev)| *prev == unnamed) {
                f.warn(
                    &rp.field("match").index(j),
                    format!("this match is the same as http[{pi}].match[{pj}], which wins over it"),
                )
                .code("IST0131");
                repeated += 1;
                continue;
            }
            seen.push((i, j, unnamed));
            if m.uri
                .as_ref()
                .and_then(|u| u.prefix.as_deref())
                .is_some_and(|p| !p.is_empty())
            {
                prefixed.push((i, j, m));
            }
        }
        if repeated == r.matches.len() {
            f.warn(
                &rp,
                format!("http[{i}] is unreachable: each of its matches repeats an earlier one"),
            )
            .code("IST0130");
        }
        if r.matches.iter().any(HttpMatchRequest::is_catch_all) {
            catch_all_at = Some(i);
        }
    }
    for (k, (bi, bj, b)) in prefixed.iter().enumerate() {
        let covered_by = prefixed[..k]
            .iter()
            .find(|(_, _, a)| prefix_match_covers(a, b));
        if let Some((ai, aj, a)) = covered_by {
            f.warn(
                &at.field("http").index(*bi).field("match").index(*bj),
                format!(
                    "this match never applies: http[{ai}].match[{aj}] before it (prefix \"{}\") takes every request it would",
                    a.uri.as_ref().and_then(|u| u.prefix.as_deref()).unwrap_or_default()
                ),
            )
            .code("IST0131")
            .hint("put the longer prefix first");
        }
    }
}

/// Whether every request `b` matches is matched by `a`, both `uri.prefix` matches with
/// different prefixes: `a`'s prefix starts `b`'s, and each other condition of `a` is one `b`
/// has too, no wider.
fn prefix_match_covers(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    let prefix = |m: &HttpMatchRequest| {
        m.uri
            .as_ref()
            .and_then(|u| u.prefix.clone())
            .unwrap_or_default()
    };
    let (pa, pb) = (prefix(a), prefix(b));
    let same_case = a.ignore_uri_case == b.ignore_uri_case;
    let one = |x: &Option<StringMatch>, y: &Option<StringMatch>| match (x, y) {
        (None, _) => true,
        (Some(x), Some(y)) => string_match_covers(x, y),
        (Some(_), None) => false,
    };
    let map = |x: &BTreeMap<String, StringMatch>, y: &BTreeMap<String, StringMatch>| {
        x.iter()
            .all(|(k, xm)| y.get(k).is_some_and(|ym| string_match_covers(xm, ym)))
    };
    pa != pb
        && pb.starts_with(&pa)
        && same_case
        && (a.port.is_none() || a.port == b.port)
        && one(&a.method, &b.method)
        && one(&a.authority, &b.authority)
        && one(&a.scheme, &b.scheme)
        && map(&a.headers, &b.headers)
        && map(&a.query_params, &b.query_params)
        // A header `b` refuses is one `a` may accept: only the same refusals compare.
        && a.without_headers == b.without_headers
        && a.source_labels.iter().all(|(k, v)| b.source_labels.get(k) == Some(v))
        && (a.gateways.is_empty() || a.gateways == b.gateways)
        && (a.source_namespace.is_none() || a.source_namespace == b.source_namespace)
}

/// Whether every value `b` accepts, `a` accepts (an empty match means "present").
fn string_match_covers(a: &StringMatch, b: &StringMatch) -> bool {
    match (a.exact.as_deref(), a.prefix.as_deref(), a.regex.as_deref()) {
        (None, None, None) => true,
        (Some(x), _, _) => b.exact.as_deref() == Some(x),
        (_, Some(p), _) => b
            .exact
            .as_deref()
            .or(b.prefix.as_deref())
            .is_some_and(|v| v.starts_with(p)),
        (_, _, Some(r)) => b.regex.as_deref() == Some(r),
    }
}

/// TCP and TLS rules: as for HTTP, without prefixes: a rule after one without matches, a
/// match equal to an earlier one.
fn unreachable_l4_rules<'a, M: PartialEq + 'a>(
    f: &mut Findings,
    at: &FieldPath,
    kind: &'static str,
    rules: impl Iterator<Item = &'a [M]>,
) {
    let mut no_match_at: Option<usize> = None;
    let mut seen: Vec<(usize, usize, &M)> = Vec::new();
    for (i, matches) in rules.enumerate() {
        let rp = at.field(kind).index(i);
        if matches.is_empty() {
            if let Some(first) = no_match_at {
                f.warn(
                    &rp,
                    format!("{kind}[{i}] is unreachable: {kind}[{first}] before it has no match, so it takes every connection"),
                )
                .code("IST0130")
                .hint("only the last rule can have no matches");
            }
            no_match_at.get_or_insert(i);
            continue;
        }
        if let Some(first) = no_match_at {
            for j in 0..matches.len() {
                f.warn(
                    &rp.field("match").index(j),
                    format!("{kind}[{i}] is unreachable: {kind}[{first}] before it has no match, so it takes every connection"),
                )
                .code("IST0130")
                .hint("only the last rule can have no matches");
            }
            continue;
        }
        let mut repeated = 0;
        for (j, m) in matches.iter().enumerate() {
            if let Some((pi, pj, _)) = seen.iter().find(|(_, _, prev)| *prev == m) {
                f.warn(
                    &rp.field("match").index(j),
                    format!(
                        "this match is the same as {kind}[{pi}].match[{pj}], which wins over it"
                    ),
                )
                .code("IST0131");
                repeated += 1;
            } else {
                seen.push((i, j, m));
            }
        }
        if repeated == matches.len() {
            f.warn(
                &rp,
                format!("{kind}[{i}] is unreachable: each of its matches repeats an earlier one"),
            )
            .code("IST0130");
        }
    }
}

fn route_destinations<'a>(
    f: &mut Findings,
    at: &FieldPath,
    routes: impl Iterator<Item = (Option<&'a Destination>, Option<i32>)>,
) {
    let mut total: i64 = 0;
    let mut count = 0;
    let mut any_weight = false;
    for (i, (dest, weight)) in routes.enumerate() {
        count += 1;
        let p = at.index(i);
        match dest {
            None => {
                f.error(&p.field("destination"), "destination is required");
            }
            Some(d) => d.validate(f, &p.field("destination")),
        }
        if let Some(w) = weight {
            any_weight = true;
            if w < 0 {
                f.error(&p.field("weight"), format!("weight {w} < 0"));
            }
            total += i64::from(w.max(0));
        }
    }
    if total > i64::from(u32::MAX) {
        f.error(
            at,
            format!("total destination weight {total} is more than {}", u32::MAX),
        );
    }
    if count > 1 {
        if total == 0 {
            f.error(at, "total destination weight = 0")
                .hint("give each destination a weight; they are split in proportion");
        } else if any_weight && total != 100 {
            f.warn(at, format!("total destination weight {total} != 100; traffic is split in proportion to the weights"))
                .hint("make the weights add up to 100 so each one reads as a percentage");
        }
    }
}

impl HttpRoute {
    fn validate(&self, f: &mut Findings, at: &FieldPath, in_delegate: bool) {
        if let Some(d) = &self.delegate {
            let dp = at.field("delegate");
            if in_delegate {
                f.error(&dp, "delegate virtual service cannot have delegate");
            }
            if !self.route.is_empty() {
                f.error(&dp, "HTTP route cannot contain both route and delegate");
            }
            if self.redirect.is_some() {
                f.error(&dp, "HTTP route cannot contain both redirect and delegate");
            }
            if self.direct_response.is_some() {
                f.error(
                    &dp,
                    "HTTP route cannot contain both directResponse and delegate",
                );
            }
            match d.name.as_deref() {
                None | Some("") => {
                    f.error(&dp.field("name"), "delegate name is required");
                }
                Some(n) => {
                    if let Err(e) = crate::k8s::meta::NameRule::Subdomain.check(n) {
                        f.error(
                            &dp.field("name"),
                            format!("invalid delegate name \"{n}\": {e}"),
                        );
                    }
                }
            }
            if let Some(ns) = &d.namespace
                && let Err(e) = crate::k8s::meta::NameRule::Label.check(ns)
            {
                f.error(
                    &dp.field("namespace"),
                    format!("invalid delegate namespace \"{ns}\": {e}"),
                );
            }
        } else {
            // A redirect or a direct response answers by itself: nothing may forward,
            // fault or rewrite the request as well (Istio's messages, word for word).
            let action = [
                ("redirect", self.redirect.is_some()),
                ("directResponse", self.direct_response.is_some()),
            ]
            .into_iter()
            .find_map(|(name, set)| set.then_some(name));
            if let Some(action) = action {
                if !self.route.is_empty() {
                    f.error(
                        &at.field(action),
                        format!("HTTP route cannot contain both route and {action}"),
                    );
                }
                for (other, set, rule) in [
                    ("fault", self.fault.is_some(), "HTTP route"),
                    ("rewrite", self.rewrite.is_some(), "HTTP route rule"),
                    (
                        "directResponse",
                        action == "redirect" && self.direct_response.is_some(),
                        "HTTP route",
                    ),
                ] {
                    if set {
                        let msg = if other == "directResponse" {
                            format!("{rule} cannot contain both {action} and {other}")
                        } else {
                            format!("{rule} cannot contain both {other} and {action}")
                        };
                        f.error(&at.field(other), msg);
                    }
                }
            } else if self.route.is_empty() {
                f.error(at, "HTTP route, redirect or direct_response is required")
                    .hint("add `route:` with at least one destination");
            }
        }
        if let Some(h) = &self.headers {
            h.validate(f, &at.field("headers"));
        }
        self.authority_set_once(f, at);
        if let Some(c) = &self.cors_policy {
            c.validate(f, &at.field("corsPolicy"));
        }
        if let Some(fault) = &self.fault {
            fault.validate(f, &at.field("fault"));
        }
        for (i, m) in self.matches.iter().enumerate() {
            m.validate(f, &at.field("match").index(i));
        }
        if let Some(p) = self.mirror_percent
            && p > 100
        {
            f.error(
                &at.field("mirrorPercent"),
                format!("mirror_percent must have a max value of 100 (it has {p})"),
            );
        }
        if let Some(p) = &self.mirror_percentage {
            if p.value > 100.0 {
                f.error(
                    &at.field("mirrorPercentage").field("value"),
                    format!(
                        "mirror_percentage must have a max value of 100 (it has {})",
                        p.value
                    ),
                );
            } else if p.value < 0.0 {
                f.error(
                    &at.field("mirrorPercentage").field("value"),
                    format!("percentage {} is not in range 0..100", p.value),
                );
            }
        }
        if self.mirror.is_some() && !self.mirrors.is_empty() {
            f.error(
                &at.field("mirrors"),
                "cannot specify both mirror and mirrors",
            );
        }
        if let Some(m) = &self.mirror {
            m.validate(f, &at.field("mirror"));
        }
        for (i, m) in self.mirrors.iter().enumerate() {
            let mp = at.field("mirrors").index(i);
            match &m.destination {
                None => {
                    f.error(
                        &mp.field("destination"),
                        "destination is required for mirrors",
                    );
                }
                Some(d) => d.validate(f, &mp.field("destination")),
            }
            if let Some(p) = &m.percentage {
                v::percent(f, &mp.field("percentage").field("value"), p.value);
            }
        }
        if let Some(r) = &self.redirect {
            r.validate(f, &at.field("redirect"), &self.matches);
        }
        if let Some(d) = &self.direct_response {
            d.validate(f, &at.field("directResponse"));
        }
        if let Some(r) = &self.retries {
            r.validate(f, &at.field("retries"));
        }
        if let Some(r) = &self.rewrite {
            r.validate(f, &at.field("rewrite"), &self.matches);
        }
        route_destinations(
            f,
            &at.field("route"),
            self.route
                .iter()
                .map(|d| (d.destination.as_ref(), d.weight)),
        );
        for (i, d) in self.route.iter().enumerate() {
            if let Some(h) = &d.headers {
                h.validate(f, &at.field("route").index(i).field("headers"));
            }
        }
        v::duration_or_zero(f, &at.field("timeout"), self.timeout.as_ref());
    }
}

impl HttpRoute {
    /// The authority is rewritten in one place: `rewrite.authority` or one `:authority`/`host`
    /// request header operation.
    fn authority_set_once(&self, f: &mut Findings, at: &FieldPath) {
        let mut current = self
            .rewrite
            .as_ref()
            .and_then(|r| r.authority.as_deref())
            .filter(|a| !a.is_empty());
        let Some(ops) = self.headers.as_ref().and_then(|h| h.request.as_ref()) else {
            return;
        };
        for (kind, map) in [("set", &ops.set), ("add", &ops.add)] {
            for (name, value) in map {
                if !name.eq_ignore_ascii_case(":authority") && !name.eq_ignore_ascii_case("host") {
                    continue;
                }
                if let Some(have) = current {
                    f.error(
                        &at.field("headers").field("request").field(kind).key(name.clone()),
                        format!("authority header cannot be set multiple times: have \"{have}\", attempting to set \"{value}\""),
                    )
                    .at_key();
                    return;
                }
                current = Some(value);
            }
        }
    }
}

impl HttpMatchRequest {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        for (field, sm) in [
            ("uri", &self.uri),
            ("scheme", &self.scheme),
            ("method", &self.method),
            ("authority", &self.authority),
        ] {
            if let Some(sm) = sm {
                sm.validate(f, &at.field(field), false);
            }
        }
        for (field, map) in [
            ("headers", &self.headers),
            ("withoutHeaders", &self.without_headers),
        ] {
            for (name, sm) in map {
                let hp = at.field(field).key(name.clone());
                if let Err(e) = v::check_header_name(name) {
                    f.error(&hp, e).at_key();
                } else if name.chars().any(|c| c.is_ascii_uppercase()) {
                    f.warn(
                        &hp,
                        format!(
                            "header names are matched lower-case: write \"{}\"",
                            name.to_ascii_lowercase()
                        ),
                    )
                    .at_key();
                }
                sm.validate(f, &hp, true);
            }
        }
        for (name, sm) in &self.query_params {
            sm.validate(f, &at.field("queryParams").key(name.clone()), true);
        }
        v::port(f, &at.field("port"), self.port.filter(|p| *p != 0));
        validate_labels(f, &at.field("sourceLabels"), &self.source_labels);
        gateway_names(f, &at.field("gateways"), &self.gateways);
        if self.ignore_uri_case == Some(true)
            && self.uri.as_ref().is_some_and(|u| u.regex.is_some())
        {
            f.warn(
                &at.field("ignoreUriCase"),
                "ignoreUriCase applies to exact and prefix matches only; use (?i) in the regex",
            );
        }
        if let Some(m) = &self.method
            && let Some(e) = &m.exact
            && !HTTP_METHODS.contains(&e.as_str())
            && e.chars().any(|c| c.is_ascii_lowercase())
        {
            f.warn(
                &at.field("method").field("exact"),
                format!(
                    "methods are case-sensitive: \"{e}\" never matches \"{}\"",
                    e.to_ascii_uppercase()
                ),
            );
        }
    }
}

impl HttpRedirect {
    fn validate(&self, f: &mut Findings, at: &FieldPath, matches: &[HttpMatchRequest]) {
        let uri = self.uri.as_deref().filter(|u| !u.is_empty());
        let prefix_rewrite = self.prefix_rewrite.as_deref().filter(|p| !p.is_empty());
        if uri.is_some() && prefix_rewrite.is_some() {
            f.error(
                &at.field("prefixRewrite"),
                "redirect may only specify one of uri or prefix_rewrite",
            );
        }
        if prefix_rewrite.is_some()
            && let Some(i) = matches
                .iter()
                .position(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_none()))
        {
            f.error(
                &at.field("prefixRewrite"),
                format!("redirect prefix_rewrite requires all URI matches to use prefix match type (match[{i}].uri is not a prefix match)"),
            );
        }
        if uri.is_none()
            && prefix_rewrite.is_none()
            && self.authority.as_deref().is_none_or(str::is_empty)
            && self.scheme.is_none()
            && self.port.is_none()
            && self.derive_port.is_none()
        {
            f.error(at, "redirect must specify URI, authority, scheme, or port");
        }
        if let Some(code) = self.redirect_code
            && !(300..=399).contains(&code)
        {
            f.error(
                &at.field("redirectCode"),
                format!("{code} is not a valid redirect code, must be 3xx"),
            );
        }
        if let Some(s) = &self.scheme
            && s != "http"
            && s != "https"
        {
            f.error(
                &at.field("scheme"),
                format!("unsupported redirect scheme \"{s}\""),
            )
            .hint("one of: http, https");
        }
        if self.port.is_some() && self.derive_port.is_some() {
            f.error(
                &at.field("derivePort"),
                "only one of port or derivePort may be set",
            );
        }
        v::port(f, &at.field("port"), self.port);
        if let Some(a) = &self.authority
            && !a.is_empty()
            && a.contains(['/', ' '])
        {
            f.error(&at.field("authority"), format!("invalid authority \"{a}\""));
        }
    }
}

impl HttpDirectResponse {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        match self.status {
            None => {
                f.error(&at.field("status"), "required field \"status\" is missing");
            }
            Some(s) if !(200..=600).contains(&s) => {
                f.error(
                    &at.field("status"),
                    format!("status {s} is not in range 200-600"),
                );
            }
            _ => {}
        }
        if let Some(b) = &self.body {
            let bp = at.field("body");
            if b.string.is_some() && b.bytes.is_some() {
                f.error(&bp, "only one of string or bytes may be set");
            }
            let len = match (&b.string, &b.bytes) {
                (Some(s), _) => s.len(),
                (None, Some(bytes)) => {
                    use base64::Engine;
                    match base64::engine::general_purpose::STANDARD.decode(bytes) {
                        Ok(d) => d.len(),
                        Err(e) => {
                            f.error(
                                &bp.field("bytes"),
                                format!("body bytes are not valid base64: {e}"),
                            );
                            0
                        }
                    }
                }
                _ => 0,
            };
            if len > 1024 * 1024 {
                f.error(&bp, format!("large direct_responses may impact control plane performance, must be less than 1MB (this one is {len} bytes)"));
            } else if len > 100 * 1024 {
                f.warn(&bp, format!("large direct_responses may impact control plane performance (this one is {len} bytes)"));
            }
        }
    }
}

impl HttpRetry {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if let Some(a) = self.attempts
            && a < 0
        {
            f.error(&at.field("attempts"), "attempts cannot be negative");
        }
        if self.attempts.unwrap_or(0) == 0 {
            for (field, set) in [
                ("perTryTimeout", self.per_try_timeout.is_some()),
                (
                    "retryOn",
                    self.retry_on.as_deref().is_some_and(|r| !r.is_empty()),
                ),
                (
                    "retryRemoteLocalities",
                    self.retry_remote_localities.is_some(),
                ),
            ] {
                if set {
                    f.error(
                        &at.field(field),
                        "http retry policy configured when attempts are set to 0 (disabled)",
                    )
                    .hint("set `attempts` to the number of retries, or remove the retry policy");
                    break;
                }
            }
        }
        v::duration(f, &at.field("perTryTimeout"), self.per_try_timeout.as_ref());
        v::duration(f, &at.field("backoff"), self.backoff.as_ref());
        if let Some(on) = &self.retry_on {
            for cond in on.split(',').map(str::trim) {
                if cond.is_empty() {
                    continue;
                }
                if let Ok(code) = cond.parse::<u32>() {
                    if !(100..=599).contains(&code) {
                        f.error(
                            &at.field("retryOn"),
                            format!("{code} is not a valid HTTP status code for retryOn"),
                        );
                    }
                    continue;
                }
                if !RETRY_ON_CONDITIONS.contains(&cond) {
                    let hint = crate::diag::did_you_mean(cond, RETRY_ON_CONDITIONS.iter().copied())
                        .map(|c| format!("did you mean \"{c}\"?"))
                        .unwrap_or_else(|| {
                            format!(
                                "one of: {}, or an HTTP status code",
                                RETRY_ON_CONDITIONS.join(", ")
                            )
                        });
                    f.error(
                        &at.field("retryOn"),
                        format!("{cond} is not a valid retryOn policy"),
                    )
                    .hint(hint);
                }
            }
        }
    }
}

impl HttpRewrite {
    fn validate(&self, f: &mut Findings, at: &FieldPath, matches: &[HttpMatchRequest]) {
        if self.uri.is_none() && self.authority.is_none() && self.uri_regex_rewrite.is_none() {
            f.error(
                at,
                "rewrite must specify at least one of URI, authority, or uriRegexRewrite",
            );
        }
        if self.uri.is_some() && self.uri_regex_rewrite.is_some() {
            f.error(
                &at.field("uriRegexRewrite"),
                "rewrite may only contain one of URI or uriRegexRewrite",
            );
        }
        if let Some(r) = &self.uri_regex_rewrite {
            let rp = at.field("uriRegexRewrite");
            match &r.pattern {
                None => {
                    f.error(
                        &rp.field("match"),
                        "uriRegexRewrite requires both match and rewrite",
                    );
                }
                Some(p) => v::regex(f, &rp.field("match"), p),
            }
            if r.rewrite.is_none() {
                f.error(
                    &rp.field("rewrite"),
                    "uriRegexRewrite requires both match and rewrite",
                );
            }
        }
        if let Some(u) = &self.uri
            && u.is_empty()
            && matches
                .iter()
                .any(|m| m.uri.as_ref().is_some_and(|x| x.prefix.is_none()))
        {
            f.error(
                &at.field("uri"),
                "rewrite uri must not be empty unless the match is a prefix",
            );
        }
    }
}

impl HttpFaultInjection {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.delay.is_none() && self.abort.is_none() {
            f.error(at, "HTTP fault injection must have an abort and/or a delay");
        }
        if let Some(a) = &self.abort {
            let ap = at.field("abort");
            let set = [
                a.http_status.is_some(),
                a.grpc_status.is_some(),
                a.http2_error.is_some(),
            ]
            .into_iter()
            .filter(|b| *b)
            .count();
            if set > 1 {
                f.error(
                    &ap,
                    "only one of httpStatus, grpcStatus or http2Error may be set",
                );
            }
            if set == 0 {
                f.error(&ap, "abort must specify httpStatus or grpcStatus");
            }
            if let Some(s) = a.http_status
                && !(200..=600).contains(&s)
            {
                f.error(
                    &ap.field("httpStatus"),
                    format!("HTTP status {s} is not in range 200-600"),
                );
            }
            if let Some(g) = &a.grpc_status
                && !GRPC_STATUS_NAMES.contains(&g.as_str())
            {
                let hint = crate::diag::did_you_mean(g, GRPC_STATUS_NAMES.iter().copied())
                    .map(|c| format!("did you mean \"{c}\"?"))
                    .unwrap_or_else(|| "use a gRPC status name such as UNAVAILABLE".into());
                f.error(
                    &ap.field("grpcStatus"),
                    format!("invalid gRPC status \"{g}\""),
                )
                .hint(hint);
            }
            if a.http2_error.is_some() {
                f.error(
                    &ap.field("http2Error"),
                    "HTTP/2 abort fault injection not supported yet",
                );
            }
            if let Some(p) = &a.percentage {
                v::percent(f, &ap.field("percentage").field("value"), p.value);
            } else {
                f.warn(&ap, "abort has no percentage: no request is aborted")
                    .hint("add `percentage: {value: 100}`");
            }
        }
        if let Some(d) = &self.delay {
            let dp = at.field("delay");
            if d.exponential_delay.is_some() {
                f.error(
                    &dp.field("exponentialDelay"),
                    "exponentialDelay not supported yet",
                );
            }
            if d.fixed_delay.is_some() && d.exponential_delay.is_some() {
                f.error(&dp, "only one of fixedDelay or exponentialDelay may be set");
            }
            if d.fixed_delay.is_none() && d.exponential_delay.is_none() {
                f.error(&dp.field("fixedDelay"), "delay must specify fixedDelay");
            }
            v::duration(f, &dp.field("fixedDelay"), d.fixed_delay.as_ref());
            if let Some(p) = d.percent
                && !(0..=100).contains(&p)
            {
                f.error(
                    &dp.field("percent"),
                    format!("percentage {p} is not in range 0..100"),
                );
            }
            if let Some(p) = &d.percentage {
                v::percent(f, &dp.field("percentage").field("value"), p.value);
            } else if d.percent.is_none() {
                f.warn(&dp, "delay has no percentage: no request is delayed")
                    .hint("add `percentage: {value: 100}`");
            }
        }
    }
}

impl CorsPolicy {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        for (i, o) in self.allow_origins.iter().enumerate() {
            o.validate(f, &at.field("allowOrigins").index(i), false);
        }
        for (i, m) in self.allow_methods.iter().enumerate() {
            if m != "*" && !HTTP_METHODS.contains(&m.as_str()) {
                f.error(
                    &at.field("allowMethods").index(i),
                    format!("{m} is not a valid HTTP method"),
                );
            }
        }
        for (field, list) in [
            ("allowHeaders", &self.allow_headers),
            ("exposeHeaders", &self.expose_headers),
        ] {
            for (i, h) in list.iter().enumerate() {
                if h != "*"
                    && let Err(e) = v::check_header_name(h)
                {
                    f.error(&at.field(field).index(i), e);
                }
            }
        }
        if let Some(age) = &self.max_age {
            match age.parse() {
                Err(e) => {
                    f.error(&at.field("maxAge"), e.to_string());
                }
                Ok(d) if d.subsec_nanos() != 0 => {
                    f.error(
                        &at.field("maxAge"),
                        "max_age duration is accurate only to seconds precision",
                    );
                }
                Ok(_) => {}
            }
        }
    }
}

/// An AUTO_PASSTHROUGH SNI name (`outbound_.<PORT>_._.<HOSTNAME>`) Istio accepts: Meridian
/// runs no AUTO_PASSTHROUGH gateway (such a server is not served), so nothing carries it.
fn auto_passthrough_warning(f: &mut Findings, at: &FieldPath, name: &str) {
    f.warn(
        at,
        format!("\"{name}\" is the SNI name of Istio's AUTO_PASSTHROUGH (multi-network east-west) gateways, accepted as Istio accepts it, but not served: Meridian runs no AUTO_PASSTHROUGH gateway, so no connection carries this name"),
    );
}

#[cfg(test)]
mod tests {
    /// `(code, field)` of every IST0130/IST0131 finding of a VirtualService with this spec,
    /// in file order.
    fn rule_findings(spec: &str) -> Vec<(&'static str, String)> {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: shop}}\nspec:\n{spec}"
        );
        let bundle = crate::load::load_str(
            std::path::Path::new("vs.yaml"),
            &yaml,
            crate::LoadOptions::default(),
        );
        bundle
            .diagnostics()
            .filter_map(|d| {
                let code = d.code.filter(|c| matches!(*c, "IST0130" | "IST0131"))?;
                Some((code, d.field.to_string()))
            })
            .collect()
    }

    fn pairs(list: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        list.iter().map(|(c, f)| (*c, (*f).to_owned())).collect()
    }

    #[test]
    fn a_match_that_repeats_an_earlier_one_but_for_its_name_never_applies() {
        let found = rule_findings(
            "  hosts: [shop]
  http:
  - name: orders to v1
    match:
    - name: orders
      uri: {prefix: /api/orders}
    route: [{destination: {host: shop}}]
  - match:
    - uri: {prefix: /api/orders}
    route: [{destination: {host: shop}}]
  - match:
    - uri: {prefix: /api/orders}
    - uri: {prefix: /api/carts}
    route: [{destination: {host: shop}}]
",
        );
        assert_eq!(
            found,
            pairs(&[
                ("IST0130", "spec.http[1]"),
                ("IST0131", "spec.http[1].match[0]"),
                // One of two matches repeated: the rule still serves the other.
                ("IST0131", "spec.http[2].match[0]"),
            ])
        );
    }

    #[test]
    fn rules_after_one_without_matches_never_apply() {
        let found = rule_findings(
            "  hosts: [shop]
  http:
  - route: [{destination: {host: shop}}]
  - route: [{destination: {host: shop}}]
  - match:
    - uri: {prefix: /a}
    - uri: {prefix: /b}
    route: [{destination: {host: shop}}]
",
        );
        assert_eq!(
            found,
            pairs(&[
                ("IST0130", "spec.http[1]"),
                ("IST0130", "spec.http[2].match[0]"),
                ("IST0130", "spec.http[2].match[1]"),
            ])
        );
    }

    #[test]
    fn a_longer_prefix_after_a_shorter_one_with_conditions_no_narrower_never_applies() {
        let found = rule_findings(
            "  hosts: [shop]
  http:
  - match:
    - uri: {prefix: /api/prod}
      method: {exact: GET}
    - uri: {prefix: /beta}
      headers: {x-beta: {exact: \"1\"}}
    route: [{destination: {host: shop}}]
  - match:
    - uri: {prefix: /api/product}
      method: {exact: GET}
    - uri: {prefix: /api/products}
      method: {exact: POST}
    - uri: {exact: /api/prod}
    - uri: {prefix: /beta/new}
    - uri: {prefix: /beta/old}
      headers: {x-beta: {exact: \"1\"}, x-user: {prefix: a}}
    route: [{destination: {host: shop}}]
  - match:
    - uri: {prefix: /v1/item}
    - uri: {prefix: /v1/items}
      method: {exact: GET}
    route: [{destination: {host: shop}}]
",
        );
        assert_eq!(
            found,
            pairs(&[
                // GET /api/prod... before GET /api/product...
                ("IST0131", "spec.http[1].match[0]"),
                // The header the earlier rule needs, and one more.
                ("IST0131", "spec.http[1].match[4]"),
                // Within one rule too; no method means every method.
                ("IST0131", "spec.http[2].match[1]"),
            ]),
            "a POST, an exact path, and a request without the header are not taken earlier"
        );
    }

    #[test]
    fn tcp_and_tls_rules_are_checked_like_http_ones() {
        let found = rule_findings(
            "  hosts: [shop.example.com]
  gateways: [edge]
  tcp:
  - match: [{port: 31400}]
    route: [{destination: {host: shop, port: {number: 9000}}}]
  - match: [{port: 31400}, {port: 31401}]
    route: [{destination: {host: shop, port: {number: 9001}}}]
  - route: [{destination: {host: shop, port: {number: 9000}}}]
  - route: [{destination: {host: shop, port: {number: 9001}}}]
  tls:
  - match: [{port: 443, sniHosts: [shop.example.com]}]
    route: [{destination: {host: shop}}]
  - match: [{port: 443, sniHosts: [shop.example.com]}]
    route: [{destination: {host: shop}}]
",
        );
        assert_eq!(
            found,
            pairs(&[
                ("IST0131", "spec.tcp[1].match[0]"),
                ("IST0130", "spec.tcp[3]"),
                ("IST0130", "spec.tls[1]"),
                ("IST0131", "spec.tls[1].match[0]"),
            ])
        );
    }
}
