//! Compiled HTTP routes: what a VirtualService rule becomes once its defaults are filled in,
//! its hosts resolved to clusters and its header operations parsed.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde::Serialize;

use super::format;
use super::matcher::{Pattern, RequestMatch, StringMatcher};

/// Where a route came from, for logs and `meridian get`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteOrigin {
    /// `namespace/name` of the VirtualService, or `default` for a service's implicit route.
    pub virtual_service: String,
    /// Index of the rule in `http`.
    pub index: usize,
}

/// A compiled HTTP rule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// The rule's `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it came from.
    pub origin: RouteOrigin,
    /// Conditions, ORed; empty matches every request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<RequestMatch>,
    /// What to do.
    pub action: RouteAction,
    /// Path/authority rewrite before forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
    /// Whole-request timeout (none by default, unlike Envoy's 15 s).
    #[serde(serialize_with = "format::opt_duration")]
    pub timeout: Option<Duration>,
    /// Retry policy (Istio's default when the rule sets none).
    pub retry: RetryPolicy,
    /// Injected faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Shadow traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<Mirror>,
    /// CORS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsPolicy>,
    /// Route-level header operations.
    #[serde(skip_serializing_if = "HeaderRules::is_empty")]
    pub headers: HeaderRules,
}

impl HttpRoute {
    /// The index of the first match that accepts the request (`Some(None)` for a rule without
    /// matches), or `None` when the rule does not apply.
    pub fn find_match(&self, req: &super::RequestView<'_>) -> Option<Option<usize>> {
        if self.matches.is_empty() {
            return Some(None);
        }
        self.matches.iter().position(|m| m.matches(req)).map(Some)
    }
}

/// A rule's action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RouteAction {
    /// Forward to weighted destinations.
    Forward(WeightedDestinations),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer directly.
    DirectResponse(DirectResponse),
}

/// Weighted destinations (weights relative to their sum).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedDestinations {
    /// The destinations.
    pub destinations: Vec<RouteDestination>,
    /// Sum of the weights (at least 1 when there is a destination).
    pub total_weight: u32,
}

impl WeightedDestinations {
    /// Picks a destination from a uniformly drawn `roll` in `0..total_weight`.
    pub fn pick(&self, roll: u32) -> Option<&RouteDestination> {
        let mut acc = 0u32;
        for d in &self.destinations {
            acc = acc.saturating_add(d.weight);
            if roll < acc {
                return Some(d);
            }
        }
        self.destinations.iter().rev().find(|d| d.weight > 0)
    }
}

/// One destination.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    /// Service host (FQDN).
    pub host: String,
    /// Subset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// The cluster(s) it resolves to.
    pub target: ClusterTarget,
    /// Weight.
    pub weight: u32,
    /// Header operations for requests sent here.
    #[serde(skip_serializing_if = "HeaderRules::is_empty")]
    pub headers: HeaderRules,
}

/// Which cluster a destination uses.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ClusterTarget {
    /// One cluster (index into [`super::Snapshot::clusters`]).
    Cluster(usize),
    /// The destination named no port: the cluster of the request's port. When the service
    /// has a single port it is used whatever port the request names.
    ByPort(Vec<(u16, usize)>),
    /// The host or subset is unknown: requests fail with 503 `NC`.
    Missing(String),
    /// A wildcard host (`*.example.com`, as a ServiceEntry with `resolution: NONE` or
    /// `DYNAMIC_DNS` declares it): the request goes to the host it names, resolved by DNS,
    /// at this port (or the request's), as Envoy's original-destination and dynamic
    /// forward proxy clusters send it.
    Dynamic(Option<u16>),
}

impl ClusterTarget {
    /// The cluster for a request to `port`.
    pub fn resolve(&self, port: u16) -> Option<usize> {
        match self {
            ClusterTarget::Cluster(c) => Some(*c),
            ClusterTarget::ByPort(ports) => match ports.as_slice() {
                [(_, only)] => Some(*only),
                _ => ports.iter().find(|(p, _)| *p == port).map(|(_, c)| *c),
            },
            ClusterTarget::Missing(_) | ClusterTarget::Dynamic(_) => None,
        }
    }
}

/// `HTTPRewrite`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rewrite {
    /// Replaces the matched prefix (prefix matches) or the whole path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Regex rewrite: every match in the path replaced (`\1` became `${1}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_regex: Option<RegexRewrite>,
    /// New authority (Host).
    #[serde(serialize_with = "format::opt_header_value")]
    pub authority: Option<HeaderValue>,
}

/// `uriRegexRewrite`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegexRewrite {
    /// The pattern.
    pub pattern: Pattern,
    /// The replacement, in the regex crate's syntax.
    pub replacement: String,
}

/// How a redirect picks the port of its location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RedirectPort {
    /// Keep the request's authority as it is.
    Keep,
    /// This port.
    Port(u16),
    /// The scheme's default (no port in the location).
    ProtocolDefault,
    /// The port the request arrived on.
    RequestPort,
}

/// `HTTPRedirect`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redirect {
    /// New path (query kept unless this has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the matched URI prefix (`/` for a rule without matches), keeping the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
    /// New host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// New scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Port choice.
    pub port: RedirectPort,
    /// Status (301 by default).
    pub code: u16,
}

/// `HTTPDirectResponse`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectResponse {
    /// Status.
    pub status: u16,
    /// Body (empty when none).
    #[serde(serialize_with = "format::bytes")]
    pub body: Bytes,
}

/// Envoy's retry conditions, as a bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOn(u32);

macro_rules! retry_conditions {
    ($($name:ident = $bit:expr, $text:expr;)*) => {
        impl RetryOn {
            $(
                #[doc = concat!("`", $text, "`.")]
                pub const $name: RetryOn = RetryOn(1 << $bit);
            )*
            const TABLE: &'static [(RetryOn, &'static str)] = &[$((RetryOn::$name, $text),)*];
        }
    };
}

retry_conditions! {
    FIVE_XX = 0, "5xx";
    GATEWAY_ERROR = 1, "gateway-error";
    RESET = 2, "reset";
    RESET_BEFORE_REQUEST = 3, "reset-before-request";
    CONNECT_FAILURE = 4, "connect-failure";
    ENVOY_RATELIMITED = 5, "envoy-ratelimited";
    RETRIABLE_4XX = 6, "retriable-4xx";
    REFUSED_STREAM = 7, "refused-stream";
    RETRIABLE_STATUS_CODES = 8, "retriable-status-codes";
    RETRIABLE_HEADERS = 9, "retriable-headers";
    HTTP3_POST_CONNECT_FAILURE = 10, "http3-post-connect-failure";
    CANCELLED = 11, "cancelled";
    DEADLINE_EXCEEDED = 12, "deadline-exceeded";
    INTERNAL = 13, "internal";
    RESOURCE_EXHAUSTED = 14, "resource-exhausted";
    UNAVAILABLE = 15, "unavailable";
}

impl RetryOn {
    /// No condition.
    pub const NONE: RetryOn = RetryOn(0);

    /// Whether every condition of `other` is set.
    pub const fn contains(self, other: RetryOn) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any condition of `other` is set.
    pub const fn intersects(self, other: RetryOn) -> bool {
        self.0 & other.0 != 0
    }

    /// Adds conditions.
    pub fn insert(&mut self, other: RetryOn) {
        self.0 |= other.0;
    }

    /// Both sets of conditions.
    pub const fn union(self, other: RetryOn) -> RetryOn {
        RetryOn(self.0 | other.0)
    }

    /// A condition by its Envoy name.
    pub fn from_name(name: &str) -> Option<RetryOn> {
        Self::TABLE
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(c, _)| *c)
    }

    /// Parses Istio's `retryOn`: Envoy condition names and bare status codes, comma
    /// separated. Status codes turn on `retriable-status-codes`.
    pub fn parse(text: &str) -> (RetryOn, Vec<u16>) {
        let mut on = RetryOn::NONE;
        let mut codes = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(code) = item.parse::<u16>() {
                codes.push(code);
                on.insert(RetryOn::RETRIABLE_STATUS_CODES);
            } else if let Some(c) = RetryOn::from_name(item) {
                on.insert(c);
            }
        }
        (on, codes)
    }

    /// The conditions' names.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::TABLE
            .iter()
            .filter(move |(c, _)| self.contains(*c))
            .map(|(_, n)| *n)
    }
}

impl Serialize for RetryOn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.names().collect::<Vec<_>>().join(","))
    }
}

/// A retry policy with Istio's defaults applied.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Retries after the first try (0 disables retries).
    pub attempts: u32,
    /// Timeout of each try.
    #[serde(serialize_with = "format::opt_duration")]
    pub per_try_timeout: Option<Duration>,
    /// Conditions.
    pub retry_on: RetryOn,
    /// Status codes retried under `retriable-status-codes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retriable_status_codes: Vec<u16>,
    /// Prefer hosts not tried yet (Envoy's `previous_hosts` predicate).
    pub previous_hosts: bool,
    /// How many times host selection is retried to find a new host.
    pub host_selection_attempts: u32,
    /// Base of the exponential back-off.
    #[serde(serialize_with = "format::duration")]
    pub backoff_base: Duration,
    /// Cap of the back-off (10 × base, as Envoy).
    #[serde(serialize_with = "format::duration")]
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// Istio's default policy (since 1.24): 2 retries on connect-failure, refused-stream,
    /// unavailable, cancelled and retriable-status-codes (none listed), preferring other
    /// hosts, back-off from 25 ms.
    pub fn istio_default() -> RetryPolicy {
        let mut on = RetryOn::CONNECT_FAILURE;
        on.insert(RetryOn::REFUSED_STREAM);
        on.insert(RetryOn::UNAVAILABLE);
        on.insert(RetryOn::CANCELLED);
        on.insert(RetryOn::RETRIABLE_STATUS_CODES);
        RetryPolicy {
            attempts: 2,
            per_try_timeout: None,
            retry_on: on,
            retriable_status_codes: Vec::new(),
            previous_hosts: true,
            host_selection_attempts: 5,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
        }
    }

    /// No retries.
    pub fn disabled() -> RetryPolicy {
        RetryPolicy {
            attempts: 0,
            ..RetryPolicy::istio_default()
        }
    }

    /// Whether a response status asks for a retry under this policy.
    pub fn retries_status(&self, status: u16) -> bool {
        let on = self.retry_on;
        (on.contains(RetryOn::FIVE_XX) && (500..600).contains(&status))
            || (on.contains(RetryOn::GATEWAY_ERROR) && matches!(status, 502..=504))
            || (on.contains(RetryOn::RETRIABLE_4XX) && status == 409)
            || (on.contains(RetryOn::RETRIABLE_STATUS_CODES)
                && self.retriable_status_codes.contains(&status))
    }

    /// Whether a gRPC status (from `grpc-status`) asks for a retry.
    pub fn retries_grpc(&self, code: u32) -> bool {
        let on = self.retry_on;
        match code {
            1 => on.contains(RetryOn::CANCELLED),
            4 => on.contains(RetryOn::DEADLINE_EXCEEDED),
            8 => on.contains(RetryOn::RESOURCE_EXHAUSTED),
            13 => on.contains(RetryOn::INTERNAL),
            14 => on.contains(RetryOn::UNAVAILABLE),
            _ => false,
        }
    }
}

/// `fault`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    /// Abort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

/// `fault.delay`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    /// The delay.
    #[serde(serialize_with = "format::duration")]
    pub duration: Duration,
    /// Share of requests, 0–100.
    pub percentage: f64,
}

/// What an abort answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AbortStatus {
    /// An HTTP status.
    Http(u16),
    /// A gRPC status code (answered as HTTP 200 with `grpc-status`).
    Grpc(u32),
}

/// `fault.abort`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    /// Status.
    pub status: AbortStatus,
    /// Share of requests, 0–100.
    pub percentage: f64,
}

/// A mirror.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirror {
    /// Destination.
    pub destination: RouteDestination,
    /// Share of requests mirrored, 0–100.
    pub percentage: f64,
}

/// What to do with preflights from origins that do not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UnmatchedPreflights {
    /// Forward them upstream (the default).
    Forward,
    /// Answer them without CORS headers.
    Ignore,
}

/// `corsPolicy`, with its headers pre-joined.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    /// Allowed origins.
    pub allow_origins: Vec<StringMatcher>,
    /// `Access-Control-Allow-Methods`.
    #[serde(serialize_with = "format::opt_header_value")]
    pub allow_methods: Option<HeaderValue>,
    /// `Access-Control-Allow-Headers`.
    #[serde(serialize_with = "format::opt_header_value")]
    pub allow_headers: Option<HeaderValue>,
    /// `Access-Control-Expose-Headers`.
    #[serde(serialize_with = "format::opt_header_value")]
    pub expose_headers: Option<HeaderValue>,
    /// `Access-Control-Max-Age`.
    #[serde(serialize_with = "format::opt_header_value")]
    pub max_age: Option<HeaderValue>,
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
    /// Unmatched preflights.
    pub unmatched_preflights: UnmatchedPreflights,
}

impl CorsPolicy {
    /// Whether an `Origin` is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|m| m.matches(origin))
    }
}

/// Header operations on one direction.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderOps {
    /// Overwrite.
    #[serde(
        serialize_with = "format::header_pairs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Append.
    #[serde(
        serialize_with = "format::header_pairs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// Remove.
    #[serde(
        serialize_with = "format::header_names",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub remove: Vec<HeaderName>,
    /// A `host`/`:authority` set: rewrites the authority.
    #[serde(
        serialize_with = "format::opt_header_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub authority: Option<HeaderValue>,
}

impl HeaderOps {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.add.is_empty()
            && self.remove.is_empty()
            && self.authority.is_none()
    }

    /// Applies remove, then set, then add (Envoy's order) to a header map.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for n in &self.remove {
            headers.remove(n);
        }
        for (n, v) in &self.set {
            headers.insert(n.clone(), v.clone());
        }
        for (n, v) in &self.add {
            headers.append(n.clone(), v.clone());
        }
    }
}

/// Header operations on requests and responses.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRules {
    /// On the request sent upstream.
    #[serde(skip_serializing_if = "HeaderOps::is_empty")]
    pub request: HeaderOps,
    /// On the response sent downstream.
    #[serde(skip_serializing_if = "HeaderOps::is_empty")]
    pub response: HeaderOps,
}

impl HeaderRules {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("5xx,connect-failure", &["5xx", "connect-failure"], &[]; "names")]
    #[test_case("503, 429", &["retriable-status-codes"], &[503, 429]; "codes")]
    #[test_case("gateway-error,bogus", &["gateway-error"], &[]; "unknown ignored")]
    fn retry_on_parses(text: &str, names: &[&str], codes: &[u16]) {
        let (on, parsed) = RetryOn::parse(text);
        assert_eq!(on.names().collect::<Vec<_>>(), names);
        assert_eq!(parsed, codes);
    }

    #[test_case("5xx", 503, true; "5xx retries 503")]
    #[test_case("5xx", 404, false; "5xx ignores 404")]
    #[test_case("gateway-error", 500, false; "gateway-error ignores 500")]
    #[test_case("gateway-error", 504, true; "gateway-error retries 504")]
    #[test_case("retriable-4xx", 409, true; "retriable-4xx is 409")]
    #[test_case("418", 418, true; "listed code")]
    fn statuses(retry_on: &str, status: u16, expected: bool) {
        let (on, codes) = RetryOn::parse(retry_on);
        let p = RetryPolicy {
            retry_on: on,
            retriable_status_codes: codes,
            ..RetryPolicy::istio_default()
        };
        assert_eq!(p.retries_status(status), expected);
    }

    #[test]
    fn default_policy_retries_unavailable_grpc_but_not_503() {
        let p = RetryPolicy::istio_default();
        assert!(p.retries_grpc(14));
        assert!(!p.retries_status(503));
        assert_eq!(p.attempts, 2);
    }

    #[test]
    fn weighted_pick_follows_cumulative_weights() {
        let dest = |w| RouteDestination {
            host: "h".into(),
            subset: None,
            target: ClusterTarget::Cluster(0),
            weight: w,
            headers: HeaderRules::default(),
        };
        let wd = WeightedDestinations {
            destinations: vec![dest(90), dest(10)],
            total_weight: 100,
        };
        assert_eq!(wd.pick(0).map(|d| d.weight), Some(90));
        assert_eq!(wd.pick(89).map(|d| d.weight), Some(90));
        assert_eq!(wd.pick(90).map(|d| d.weight), Some(10));
        assert_eq!(wd.pick(99).map(|d| d.weight), Some(10));
    }
}
