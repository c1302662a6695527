//! DestinationRule: what happens to traffic for a host once routed: subsets, load balancing,
//! connection pools, outlier detection, TLS.

use std::collections::BTreeMap;

use super::{Percent, PortSelector, v};
use crate::diag::Findings;
use crate::duration::DurationText;
use crate::k8s::meta::validate_labels;
use crate::path::FieldPath;

/// `spec` of a DestinationRule.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRuleSpec {
    /// The service host (short name, FQDN or ServiceEntry host; wildcards allowed).
    pub host: Option<String>,
    /// Policy for every port and subset unless overridden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named groups of endpoints, by labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// Namespaces that see this rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Client workloads the rule applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<crate::istio::security::WorkloadSelector>,
}

/// Traffic policy.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicy {
    /// Load balancing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection pool limits (circuit breaking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of failing endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS to the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
    /// Per-port overrides (no inheritance: omitted fields take defaults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// Tunnel to the upstream through a proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelSettings>,
    /// PROXY protocol to the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Limit on concurrent retries as a share of active requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<RetryBudget>,
}

/// A port's own policy.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortTrafficPolicy {
    /// The port.
    pub port: Option<PortSelector>,
    /// Load balancing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Outlier detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

/// `tunnel`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TunnelSettings {
    /// `CONNECT` (default) or `POST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Host of the tunnel proxy.
    pub target_host: Option<String>,
    /// Port of the tunnel proxy.
    pub target_port: Option<u32>,
}

/// `proxyProtocol`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyProtocol {
    /// V1 (default) or V2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<ProxyProtocolVersion>,
}

/// PROXY protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum ProxyProtocolVersion {
    /// Text header.
    V1,
    /// Binary header.
    V2,
}

/// `retryBudget`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryBudget {
    /// Share of active requests that may be retries (20% by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<Percent>,
    /// Retries always allowed regardless of the share (3 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_retry_concurrency: Option<u32>,
}

/// A subset.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subset {
    /// Name, referenced by VirtualService destinations.
    pub name: Option<String>,
    /// Endpoint labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Overrides of the rule's policy (fields set here win; others are inherited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
}

/// Load balancing.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerSettings {
    /// A simple algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simple: Option<SimpleLb>,
    /// Session affinity by hashing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_hash: Option<ConsistentHashLb>,
    /// Locality-aware balancing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality_lb_setting: Option<LocalityLbSetting>,
    /// Zone-aware balancing: region, zone and subzone tiers implicit, cross-region order
    /// configurable (an alternative to `localityLbSetting`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_aware_lb_setting: Option<ZoneAwareLbSetting>,
    /// Deprecated slow-start window (use `warmup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_duration_secs: Option<DurationText>,
    /// Slow start for new endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupConfiguration>,
}

/// Simple algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimpleLb {
    /// Istio's default: LEAST_REQUEST.
    Unspecified,
    /// Deprecated alias of LEAST_REQUEST.
    LeastConn,
    /// Uniformly random.
    Random,
    /// To the original destination address.
    Passthrough,
    /// In turn.
    RoundRobin,
    /// Power of two choices by active requests.
    LeastRequest,
}

/// `consistentHash`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsistentHashLb {
    /// Hash a request header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_header_name: Option<String>,
    /// Hash a cookie (generated when missing and a ttl is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_cookie: Option<HttpCookie>,
    /// Hash the source IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_source_ip: Option<bool>,
    /// Hash a query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_query_parameter_name: Option<String>,
    /// Ring hash (the default algorithm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_hash: Option<RingHash>,
    /// Maglev.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev: Option<MagLev>,
    /// Deprecated; use `ringHash.minimumRingSize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ring_size: Option<u64>,
}

/// `httpCookie`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCookie {
    /// Cookie name.
    pub name: Option<String>,
    /// Cookie path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Lifetime of a generated cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<DurationText>,
    /// Extra cookie attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<CookieAttribute>,
}

/// A cookie attribute.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CookieAttribute {
    /// Name.
    pub name: Option<String>,
    /// Value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `ringHash`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RingHash {
    /// Minimum ring size (1024 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ring_size: Option<u64>,
}

/// `maglev`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MagLev {
    /// Table size, a prime (65537 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size: Option<u64>,
}

/// `warmup`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WarmupConfiguration {
    /// Window during which a new endpoint's weight ramps up.
    pub duration: Option<DurationText>,
    /// Starting weight in percent (10 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_percent: Option<f64>,
    /// Ramp curve (1.0 linear by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggression: Option<f64>,
}

/// `localityLbSetting`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityLbSetting {
    /// Weighted distribution between localities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribute: Vec<LocalityDistribute>,
    /// Failover order between regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityFailover>,
    /// Labels that rank endpoints for failover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Enable or disable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `zoneAwareLbSetting`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneAwareLbSetting {
    /// Enable or disable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Failover order between regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<ZoneAwareFailover>,
    /// Labels that rank endpoints for failover (topology labels excluded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
}

/// A zone-aware `failover`: regions only.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneAwareFailover {
    /// Origin region.
    pub from: Option<String>,
    /// Region to fail over to.
    pub to: Option<String>,
}

/// The topology labels a zone-aware `failoverPriority` may not name: those tiers are
/// implicit.
const TOPOLOGY_LABELS: [&str; 3] = [
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

/// `distribute`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityDistribute {
    /// Origin locality (`region/zone/subzone`, wildcards allowed).
    pub from: Option<String>,
    /// Destination localities and weights (summing to 100).
    #[serde(default)]
    pub to: BTreeMap<String, u32>,
}

/// `failover`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityFailover {
    /// Origin region.
    pub from: Option<String>,
    /// Region to fail over to.
    pub to: Option<String>,
}

/// `connectionPool`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPoolSettings {
    /// TCP limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSettings>,
    /// HTTP limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
}

/// `connectionPool.tcp`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpSettings {
    /// Maximum connections per upstream host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i32>,
    /// Connect timeout (10s by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<DurationText>,
    /// TCP keep-alive probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Longest a connection may live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connection_duration: Option<DurationText>,
    /// Idle TCP connections close after this (1h by default; 0s disables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<DurationText>,
}

/// `tcpKeepalive`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpKeepalive {
    /// Probes before the connection is dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// Idle time before probing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<DurationText>,
    /// Time between probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationText>,
}

/// `connectionPool.http`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpSettings {
    /// Requests waiting for a connection (per host; HTTP/1.1 and HTTP/2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http1_max_pending_requests: Option<i32>,
    /// Active requests to a host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<i32>,
    /// Requests per connection (0 unlimited, 1 disables keep-alive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<i32>,
    /// Concurrent retries to a host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    /// Idle upstream connections close after this (1h by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<DurationText>,
    /// Upgrade HTTP/1.1 upstream connections to HTTP/2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
    /// Use the downstream's protocol upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_client_protocol: Option<bool>,
    /// Streams per HTTP/2 connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<i32>,
    /// HTTP/2 PING keep-alive on upstream connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_keep_alive: Option<Http2KeepAlive>,
}

/// `connectionPool.http.http2KeepAlive`: how often upstream HTTP/2 connections are pinged
/// and how long a PING may go unanswered.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Http2KeepAlive {
    /// Time between PINGs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationText>,
    /// How long to wait for a PING's answer before closing the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationText>,
}

/// `h2UpgradePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum H2UpgradePolicy {
    /// The mesh default.
    Default,
    /// Keep HTTP/1.1.
    DoNotUpgrade,
    /// Upgrade to HTTP/2.
    Upgrade,
}

/// `outlierDetection`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierDetection {
    /// Deprecated; use `consecutive5xxErrors`/`consecutiveGatewayErrors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_errors: Option<i32>,
    /// Count local-origin failures (connect errors, timeouts) separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_external_local_origin_errors: Option<bool>,
    /// Local-origin failures before ejection (5 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_local_origin_failures: Option<u32>,
    /// 502/503/504s before ejection (off by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_errors: Option<u32>,
    /// 5xx before ejection (5 by default; 0 disables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx_errors: Option<u32>,
    /// Time between ejection sweeps (10s by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationText>,
    /// Base ejection time (30s by default), multiplied by the times ejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<DurationText>,
    /// Most hosts ejected at once, in percent (10 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<i32>,
    /// Below this share of healthy hosts, ejection stops (panic mode; 0 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_health_percent: Option<i32>,
}

/// TLS to an upstream.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// Mode.
    #[serde(default)]
    pub mode: ClientTlsMode,
    /// Client certificate file (MUTUAL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Client key file (MUTUAL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA bundle file to verify the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// A named credential (Kubernetes secret in Istio; a file set under the state dir here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Names the server certificate must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// SNI to send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Skip server verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    /// Certificate revocation list file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
}

/// Client TLS modes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    /// Plaintext.
    #[default]
    Disable,
    /// TLS, server verified.
    Simple,
    /// mTLS with the given client certificate.
    Mutual,
    /// mTLS with the mesh identity.
    IstioMutual,
}

impl DestinationRuleSpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        match self.host.as_deref() {
            None | Some("") => {
                f.error(&at.field("host"), "host is required");
            }
            Some(h) => {
                if let Err(e) = v::check_wildcard_host(h) {
                    f.error(&at.field("host"), e);
                }
            }
        }
        if let Some(tp) = &self.traffic_policy {
            tp.validate(f, &at.field("trafficPolicy"));
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, s) in self.subsets.iter().enumerate() {
            let sp = at.field("subsets").index(i);
            match s.name.as_deref() {
                None | Some("") => {
                    f.error(&sp.field("name"), "subset name is required");
                }
                Some(n) => {
                    if let Err(e) = crate::k8s::meta::NameRule::Label.check(n) {
                        f.error(
                            &sp.field("name"),
                            format!("subset name \"{n}\" is invalid: {e}"),
                        );
                    }
                    if names.contains(&n) {
                        f.error(&sp.field("name"), format!("duplicate subset names: {n}"));
                    }
                    names.push(n);
                }
            }
            validate_labels(f, &sp.field("labels"), &s.labels);
            if let Some(tp) = &s.traffic_policy {
                tp.validate(f, &sp.field("trafficPolicy"));
            }
        }
        v::export_to(f, &at.field("exportTo"), &self.export_to);
        if let Some(ws) = &self.workload_selector {
            ws.validate(f, &at.field("workloadSelector"));
        }
    }
}

impl TrafficPolicy {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.load_balancer.is_none()
            && self.connection_pool.is_none()
            && self.outlier_detection.is_none()
            && self.tls.is_none()
            && self.port_level_settings.is_empty()
            && self.tunnel.is_none()
            && self.proxy_protocol.is_none()
            && self.retry_budget.is_none()
        {
            f.error(at, "traffic policy must have at least one field");
        }
        if let Some(lb) = &self.load_balancer {
            lb.validate(f, &at.field("loadBalancer"));
        }
        if let Some(cp) = &self.connection_pool {
            cp.validate(f, &at.field("connectionPool"));
        }
        if let Some(od) = &self.outlier_detection {
            od.validate(f, &at.field("outlierDetection"));
        }
        if let Some(tls) = &self.tls {
            tls.validate(f, &at.field("tls"));
        }
        let mut ports: Vec<u32> = Vec::new();
        for (i, p) in self.port_level_settings.iter().enumerate() {
            let pp = at.field("portLevelSettings").index(i);
            match p.port.and_then(|p| p.number) {
                None | Some(0) => {
                    f.error(&pp.field("port"), "portTrafficPolicy must have valid port");
                }
                Some(n) => {
                    v::port(f, &pp.field("port").field("number"), Some(n));
                    if ports.contains(&n) {
                        f.error(
                            &pp.field("port"),
                            format!("duplicate port {n} in portLevelSettings"),
                        );
                    }
                    ports.push(n);
                }
            }
            if p.load_balancer.is_none()
                && p.connection_pool.is_none()
                && p.outlier_detection.is_none()
                && p.tls.is_none()
            {
                f.error(&pp, "port traffic policy must have at least one field");
            }
            if let Some(lb) = &p.load_balancer {
                lb.validate(f, &pp.field("loadBalancer"));
            }
            if let Some(cp) = &p.connection_pool {
                cp.validate(f, &pp.field("connectionPool"));
            }
            if let Some(od) = &p.outlier_detection {
                od.validate(f, &pp.field("outlierDetection"));
            }
            if let Some(tls) = &p.tls {
                tls.validate(f, &pp.field("tls"));
            }
        }
        if let Some(t) = &self.tunnel {
            let tp = at.field("tunnel");
            if let Some(p) = &t.protocol
                && p != "CONNECT"
                && p != "POST"
            {
                f.error(
                    &tp.field("protocol"),
                    format!("tunnel protocol must be \"CONNECT\" or \"POST\", got \"{p}\""),
                );
            }
            match t.target_host.as_deref() {
                None | Some("") => {
                    f.error(
                        &tp.field("targetHost"),
                        "tunnel target host must be specified",
                    );
                }
                Some(h) => {
                    if h.parse::<std::net::IpAddr>().is_err()
                        && let Err(e) = v::check_dns_name(h)
                    {
                        f.error(&tp.field("targetHost"), e);
                    }
                }
            }
            match t.target_port {
                None => {
                    f.error(
                        &tp.field("targetPort"),
                        "tunnel target port must be specified",
                    );
                }
                p => v::port(f, &tp.field("targetPort"), p),
            }
        }
        if let Some(rb) = &self.retry_budget
            && let Some(p) = &rb.percent
        {
            v::percent(
                f,
                &at.field("retryBudget").field("percent").field("value"),
                p.value,
            );
        }
    }
}

impl LoadBalancerSettings {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.simple.is_some() && self.consistent_hash.is_some() {
            f.error(at, "only one of simple or consistentHash may be set");
        }
        if let Some(ch) = &self.consistent_hash {
            let cp = at.field("consistentHash");
            let keys = [
                ch.http_header_name.is_some(),
                ch.http_cookie.is_some(),
                ch.use_source_ip.is_some(),
                ch.http_query_parameter_name.is_some(),
            ]
            .into_iter()
            .filter(|b| *b)
            .count();
            if keys > 1 {
                f.error(&cp, "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set");
            }
            if keys == 0 {
                f.error(&cp, "consistentHash must specify httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName");
            }
            if let Some(h) = &ch.http_header_name
                && let Err(e) = v::check_header_name(h)
            {
                f.error(&cp.field("httpHeaderName"), e);
            }
            if let Some(c) = &ch.http_cookie {
                let kp = cp.field("httpCookie");
                if c.name.as_deref().is_none_or(str::is_empty) {
                    f.error(&kp.field("name"), "name required for HttpCookie");
                }
                if let Some(ttl) = &c.ttl
                    && let Err(e) = ttl.parse()
                {
                    f.error(&kp.field("ttl"), e.to_string());
                }
                let mut names: Vec<&str> = Vec::new();
                for (i, a) in c.attributes.iter().enumerate() {
                    let ap = kp.field("attributes").index(i);
                    match a.name.as_deref() {
                        None | Some("") => {
                            f.error(&ap, "cookie attribute name cannot be empty");
                        }
                        Some(n) if names.contains(&n) => {
                            f.error(
                                &ap.field("name"),
                                format!("duplicate cookie attribute name: {n}"),
                            );
                        }
                        Some(n) => names.push(n),
                    }
                }
            }
            if ch.ring_hash.is_some() && ch.maglev.is_some() {
                f.error(&cp, "only one of ringHash or maglev may be set");
            }
            if ch.minimum_ring_size.is_some() && (ch.ring_hash.is_some() || ch.maglev.is_some()) {
                f.error(
                    &cp.field("minimumRingSize"),
                    "minimumRingSize is deprecated; it cannot be combined with ringHash or maglev",
                );
            }
            if let Some(m) = &ch.maglev
                && let Some(t) = m.table_size
            {
                // Envoy's bound (MaglevLbConfig.table_size): each endpoint change builds a
                // table of this many entries, so it bounds memory and time per change.
                if t > MAX_MAGLEV_TABLE_SIZE {
                    f.error(
                        &cp.field("maglev").field("tableSize"),
                        format!(
                            "table size {t} is too large: value must be less than or equal to {MAX_MAGLEV_TABLE_SIZE}"
                        ),
                    );
                } else if !is_prime(t) {
                    f.error(
                        &cp.field("maglev").field("tableSize"),
                        format!("table size {t} must be a prime number"),
                    );
                }
            }
            let ring_sizes = [
                (cp.field("minimumRingSize"), ch.minimum_ring_size),
                (
                    cp.field("ringHash").field("minimumRingSize"),
                    ch.ring_hash.as_ref().and_then(|r| r.minimum_ring_size),
                ),
            ];
            for (field, size) in ring_sizes {
                if let Some(n) = size
                    && n > MAX_RING_SIZE
                {
                    // Envoy's bound (RingHashLbConfig.minimum_ring_size).
                    f.error(
                        &field,
                        format!("ring size {n} is too large: value must be less than or equal to {MAX_RING_SIZE}"),
                    );
                }
            }
        }
        if self.warmup_duration_secs.is_some() && self.warmup.is_some() {
            f.error(at, "only one of warmupDurationSecs or warmup can be set");
        }
        v::duration(
            f,
            &at.field("warmupDurationSecs"),
            self.warmup_duration_secs.as_ref(),
        );
        if let Some(w) = &self.warmup {
            let wp = at.field("warmup");
            match &w.duration {
                None => {
                    f.error(
                        &wp.field("duration"),
                        "required field \"duration\" is missing",
                    );
                }
                Some(d) => {
                    v::duration(f, &wp.field("duration"), Some(d));
                }
            }
            if let Some(p) = w.minimum_percent
                && !(0.0..=100.0).contains(&p)
            {
                f.error(
                    &wp.field("minimumPercent"),
                    format!("minimumPercent {p} must be between 0 and 100"),
                );
            }
            if let Some(a) = w.aggression
                && a < 1.0
            {
                f.error(
                    &wp.field("aggression"),
                    format!("aggression {a} must be at least 1"),
                );
            }
        }
        let warmup = self.warmup_duration_secs.is_some() || self.warmup.is_some();
        if warmup && matches!(self.simple, Some(SimpleLb::Random | SimpleLb::Passthrough)) {
            f.error(
                at,
                "warmup is only supported with ROUND_ROBIN and LEAST_REQUEST load balancers",
            );
        }
        if let Some(l) = &self.locality_lb_setting {
            let lp = at.field("localityLbSetting");
            if !l.distribute.is_empty() && !l.failover.is_empty() {
                f.error(
                    &lp,
                    "can not simultaneously specify 'distribute' and 'failover'",
                );
            }
            for (i, d) in l.distribute.iter().enumerate() {
                let dp = lp.field("distribute").index(i);
                let total: u64 = d.to.values().map(|w| u64::from(*w)).sum();
                if total != 100 {
                    f.error(
                        &dp.field("to"),
                        format!("total weight {total} != 100 in locality distribute"),
                    );
                }
                if d.from.as_deref().is_none_or(str::is_empty) {
                    f.error(&dp.field("from"), "locality distribute must have a 'from'");
                }
            }
            for (i, fo) in l.failover.iter().enumerate() {
                let fp = lp.field("failover").index(i);
                if fo.from == fo.to {
                    f.error(
                        &fp,
                        "locality lb failover settings must specify different regions",
                    );
                }
                for (field, v) in [("from", &fo.from), ("to", &fo.to)] {
                    if v.as_deref()
                        .is_some_and(|s| s.contains('/') || s.contains('*'))
                    {
                        f.error(
                            &fp.field(field),
                            "locality lb failover only specifies region",
                        );
                    }
                }
            }
        }
        if let Some(z) = &self.zone_aware_lb_setting {
            let zp = at.field("zoneAwareLbSetting");
            if self.locality_lb_setting.is_some() {
                f.error(
                    &zp,
                    "only one of localityLbSetting and zoneAwareLbSetting can be set",
                );
            }
            for (i, label) in z.failover_priority.iter().enumerate() {
                if TOPOLOGY_LABELS.contains(&label.as_str()) {
                    f.error(
                        &zp.field("failoverPriority").index(i),
                        format!("'failover_priority' for zone aware lb must not use topology label '{label}'; region- and zone-level routing are handled automatically"),
                    );
                }
            }
            for (i, fo) in z.failover.iter().enumerate() {
                let fp = zp.field("failover").index(i);
                if fo.from == fo.to {
                    f.error(
                        &fp,
                        "zone aware lb failover settings must specify different regions",
                    );
                }
                for (field, v) in [("from", &fo.from), ("to", &fo.to)] {
                    let Some(v) = v.as_deref() else { continue };
                    if v.contains('/') {
                        f.error(
                            &fp.field(field),
                            "zone aware lb failover only specifies region; zone and subzone failover are handled automatically",
                        );
                    }
                    if v.contains('*') {
                        f.error(
                            &fp.field(field),
                            "zone aware lb failover region should not contain '*' wildcard",
                        );
                    }
                }
            }
        }
    }
}

/// Envoy's largest Maglev table.
pub const MAX_MAGLEV_TABLE_SIZE: u64 = 5_000_011;

/// Envoy's largest hash ring.
pub const MAX_RING_SIZE: u64 = 8_388_608;

/// Trial division: callers bound `n` first (at most [`MAX_MAGLEV_TABLE_SIZE`], so at most
/// about 2,200 divisions).
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut i = 2u64;
    while i.saturating_mul(i) <= n {
        if n.is_multiple_of(i) {
            return false;
        }
        i += 1;
    }
    true
}

impl ConnectionPoolSettings {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.tcp.is_none() && self.http.is_none() {
            f.error(at, "connection pool must have at least one field");
        }
        if let Some(h) = &self.http {
            let hp = at.field("http");
            for (field, v) in [
                ("http1MaxPendingRequests", h.http1_max_pending_requests),
                ("http2MaxRequests", h.http2_max_requests),
                ("maxRequestsPerConnection", h.max_requests_per_connection),
                ("maxRetries", h.max_retries),
                ("maxConcurrentStreams", h.max_concurrent_streams),
            ] {
                if let Some(v) = v
                    && v < 0
                {
                    f.error(&hp.field(field), format!("{field} must be non-negative"));
                }
            }
            v::duration_or_zero(f, &hp.field("idleTimeout"), h.idle_timeout.as_ref());
            if h.use_client_protocol == Some(true)
                && h.h2_upgrade_policy == Some(H2UpgradePolicy::Upgrade)
            {
                f.error(
                    &hp.field("useClientProtocol"),
                    "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
                );
            }
            if let Some(k) = &h.http2_keep_alive {
                let kp = hp.field("http2KeepAlive");
                for (field, d) in [("interval", &k.interval), ("timeout", &k.timeout)] {
                    match d {
                        None => {
                            f.error(
                                &kp.field(field),
                                format!("http2 keepalive {field} is required"),
                            );
                        }
                        Some(d) => {
                            v::duration(f, &kp.field(field), Some(d));
                        }
                    }
                }
            }
        }
        if let Some(t) = &self.tcp {
            let tp = at.field("tcp");
            if let Some(m) = t.max_connections
                && m < 0
            {
                f.error(
                    &tp.field("maxConnections"),
                    "max connections must be non-negative",
                );
            }
            v::duration(f, &tp.field("connectTimeout"), t.connect_timeout.as_ref());
            v::duration(
                f,
                &tp.field("maxConnectionDuration"),
                t.max_connection_duration.as_ref(),
            );
            v::duration_or_zero(f, &tp.field("idleTimeout"), t.idle_timeout.as_ref());
            if let Some(k) = &t.tcp_keepalive {
                let kp = tp.field("tcpKeepalive");
                v::duration(f, &kp.field("time"), k.time.as_ref());
                v::duration(f, &kp.field("interval"), k.interval.as_ref());
            }
        }
    }
}

impl OutlierDetection {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if let Some(c) = self.consecutive_errors {
            if c < 0 {
                f.error(
                    &at.field("consecutiveErrors"),
                    "outlier detection consecutive errors cannot be negative",
                );
            }
            f.warn(&at.field("consecutiveErrors"), "consecutiveErrors is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors")
                .at_key();
        }
        v::duration(f, &at.field("interval"), self.interval.as_ref());
        v::duration(
            f,
            &at.field("baseEjectionTime"),
            self.base_ejection_time.as_ref(),
        );
        for (field, v) in [
            ("maxEjectionPercent", self.max_ejection_percent),
            ("minHealthPercent", self.min_health_percent),
        ] {
            if let Some(v) = v
                && !(0..=100).contains(&v)
            {
                let name = if field == "maxEjectionPercent" {
                    "max ejection percent"
                } else {
                    "minimum health percent"
                };
                f.error(
                    &at.field(field),
                    format!("outlier detection {name} must be in range [0, 100]"),
                );
            }
        }
        if let (Some(g), Some(x)) = (self.consecutive_gateway_errors, self.consecutive_5xx_errors)
            && x > 0
            && g >= x
        {
            f.warn(&at.field("consecutiveGatewayErrors"), "consecutiveGatewayErrors has no effect when it is not lower than consecutive5xxErrors (gateway errors are 5xx)");
        }
        if self.consecutive_local_origin_failures.unwrap_or(0) > 0
            && self.split_external_local_origin_errors != Some(true)
        {
            f.error(&at.field("consecutiveLocalOriginFailures"), "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false")
                .hint("set splitExternalLocalOriginErrors: true");
        }
    }
}

impl ClientTlsSettings {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        let files = self.client_certificate.is_some()
            || self.private_key.is_some()
            || self.ca_certificates.is_some();
        match self.mode {
            ClientTlsMode::IstioMutual if files || self.credential_name.is_some() => {
                f.error(at, "cannot specify client certificates or CA certificate If the mode is ISTIO_MUTUAL");
            }
            ClientTlsMode::Mutual if self.credential_name.is_none() => {
                if self.client_certificate.is_none() {
                    f.error(
                        &at.field("clientCertificate"),
                        "client certificate required for mutual tls",
                    );
                }
                if self.private_key.is_none() {
                    f.error(
                        &at.field("privateKey"),
                        "private key required for mutual tls",
                    );
                }
            }
            ClientTlsMode::Disable if files => {
                f.warn(at, "certificates are ignored when the mode is DISABLE");
            }
            _ => {}
        }
        if self.credential_name.is_some()
            && (self.client_certificate.is_some()
                || self.private_key.is_some()
                || self.ca_certificates.is_some())
        {
            f.error(&at.field("credentialName"), "credentialName cannot be combined with clientCertificate, privateKey or caCertificates");
        }
        if self.insecure_skip_verify == Some(true)
            && self.mode == ClientTlsMode::Simple
            && self.credential_name.is_some()
        {
            f.error(
                &at.field("insecureSkipVerify"),
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
            );
        } else if self.insecure_skip_verify == Some(true)
            && (self.ca_certificates.is_some() || !self.subject_alt_names.is_empty())
        {
            f.error(
                &at.field("insecureSkipVerify"),
                "cannot set caCertificates or subjectAltNames when insecureSkipVerify is true",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_prime;

    #[test]
    fn primes() {
        assert!(is_prime(65537));
        assert!(!is_prime(65536));
        assert!(!is_prime(1));
    }
}
