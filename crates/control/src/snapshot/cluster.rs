//! Clusters: a service port (optionally narrowed to a subset) with its traffic policy —
//! DestinationRules merged, subset and port overrides applied, Istio's defaults filled in.

use std::collections::BTreeMap;
use std::time::Duration;

use meridian_config::istio::networking as net;
use serde::Serialize;

use super::format;

/// A cluster (Envoy's name: `outbound|<port>|<subset>|<host>`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Envoy-style name.
    pub name: String,
    /// Service host (FQDN).
    pub service: String,
    /// The service's namespace.
    pub namespace: String,
    /// Service port.
    pub port: u16,
    /// Subset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// Where endpoints come from.
    pub endpoints: EndpointSource,
    /// Upstream protocol.
    pub protocol: UpstreamProtocol,
    /// The merged traffic policy.
    pub policy: ClusterPolicy,
}

/// Where a cluster's endpoints come from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointSource {
    /// Replicas from the endpoint table whose labels contain all of `selector` (the
    /// Service's selector plus the subset's labels), on `target_port`.
    Replicas {
        /// Required labels.
        selector: BTreeMap<String, String>,
        /// The replica port.
        target_port: TargetPort,
    },
    /// Fixed addresses (a ServiceEntry's endpoints, or its hosts resolved by DNS).
    Static {
        /// `host:port` strings, resolved at connect time.
        addresses: Vec<String>,
    },
}

/// A Service's `targetPort`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetPort {
    /// A container port number.
    Number(u16),
    /// A named container port.
    Name(String),
}

/// How the proxy speaks to a cluster's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (`http` ports).
    Http1,
    /// HTTP/2 with prior knowledge (`http2`, `grpc` ports, or `h2UpgradePolicy: UPGRADE`).
    Http2,
    /// Whatever the downstream used (`useClientProtocol`, and ports whose protocol Istio
    /// would sniff).
    Client,
}

/// Load balancing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadBalancer {
    /// Power of two choices by active requests (Istio's default).
    LeastRequest,
    /// In turn.
    RoundRobin,
    /// Uniformly random.
    Random,
    /// To the address the client asked for.
    Passthrough,
    /// Session affinity.
    ConsistentHash(ConsistentHash),
}

/// `consistentHash`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistentHash {
    /// What is hashed.
    pub key: HashKey,
    /// How.
    pub algorithm: HashAlgorithm,
}

/// The hash key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HashKey {
    /// A request header.
    Header(String),
    /// A cookie, generated (with this ttl) when missing if `ttl` is set.
    Cookie {
        /// Name.
        name: String,
        /// Path attribute.
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// Lifetime of a generated cookie.
        #[serde(serialize_with = "format::opt_duration")]
        ttl: Option<Duration>,
    },
    /// The client's IP address.
    SourceIp,
    /// A query parameter.
    QueryParameter(String),
}

/// Hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HashAlgorithm {
    /// Ketama ring with at least this many entries (1024 by default).
    RingHash {
        /// Minimum ring size.
        minimum_ring_size: u64,
    },
    /// Maglev lookup table of this prime size (65537 by default).
    Maglev {
        /// Table size.
        table_size: u64,
    },
}

/// Slow start for new endpoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warmup {
    /// Ramp-up window.
    #[serde(serialize_with = "format::duration")]
    pub duration: Duration,
    /// Starting weight in percent (10 by default).
    pub minimum_percent: f64,
    /// Curve (1.0 is linear).
    pub aggression: f64,
}

impl Warmup {
    /// The weight factor (0–1] of an endpoint that has been ready for `age`.
    pub fn factor(&self, age: Duration) -> f64 {
        if age >= self.duration || self.duration.is_zero() {
            return 1.0;
        }
        let t = age.as_secs_f64() / self.duration.as_secs_f64();
        let min = (self.minimum_percent / 100.0).clamp(0.0, 1.0);
        let aggression = if self.aggression > 0.0 {
            self.aggression
        } else {
            1.0
        };
        t.powf(1.0 / aggression).max(min)
    }
}

/// Connection pool settings with Istio's defaults (every limit at `u32::MAX`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPool {
    /// `tcp.maxConnections`.
    pub max_connections: u32,
    /// `tcp.connectTimeout` (10 s).
    #[serde(serialize_with = "format::duration")]
    pub connect_timeout: Duration,
    /// `tcp.maxConnectionDuration`.
    #[serde(serialize_with = "format::opt_duration")]
    pub max_connection_duration: Option<Duration>,
    /// `tcp.tcpKeepalive` idle time before probes.
    #[serde(serialize_with = "format::opt_duration")]
    pub tcp_keepalive_time: Option<Duration>,
    /// `tcp.tcpKeepalive.interval`.
    #[serde(serialize_with = "format::opt_duration")]
    pub tcp_keepalive_interval: Option<Duration>,
    /// `tcp.tcpKeepalive.probes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive_probes: Option<u32>,
    /// `http.http1MaxPendingRequests`.
    pub max_pending_requests: u32,
    /// `http.http2MaxRequests`.
    pub max_requests: u32,
    /// `http.maxRequestsPerConnection` (0: unlimited).
    pub max_requests_per_connection: u32,
    /// `http.maxRetries`.
    pub max_retries: u32,
    /// `http.idleTimeout` (1 h; `None` when `0s` disables it).
    #[serde(serialize_with = "format::opt_duration")]
    pub idle_timeout: Option<Duration>,
    /// `http.maxConcurrentStreams`.
    pub max_concurrent_streams: u32,
}

impl Default for ConnectionPool {
    fn default() -> Self {
        ConnectionPool {
            max_connections: u32::MAX,
            connect_timeout: Duration::from_secs(10),
            max_connection_duration: None,
            tcp_keepalive_time: None,
            tcp_keepalive_interval: None,
            tcp_keepalive_probes: None,
            max_pending_requests: u32::MAX,
            max_requests: u32::MAX,
            max_requests_per_connection: 0,
            max_retries: u32::MAX,
            idle_timeout: Some(Duration::from_secs(3600)),
            max_concurrent_streams: i32::MAX as u32,
        }
    }
}

/// Outlier detection with Istio's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    /// Consecutive 5xx before ejection (0 disables).
    pub consecutive_5xx: u32,
    /// Consecutive 502/503/504 before ejection (0 disables).
    pub consecutive_gateway_errors: u32,
    /// Consecutive local-origin failures (with `split_external_local_origin_errors`).
    pub consecutive_local_origin_failures: u32,
    /// Count local-origin failures apart.
    pub split_external_local_origin_errors: bool,
    /// Sweep interval (10 s).
    #[serde(serialize_with = "format::duration")]
    pub interval: Duration,
    /// Base ejection time (30 s), multiplied by the times ejected.
    #[serde(serialize_with = "format::duration")]
    pub base_ejection_time: Duration,
    /// Cap on the ejection time (Envoy's 300 s).
    #[serde(serialize_with = "format::duration")]
    pub max_ejection_time: Duration,
    /// Most hosts ejected, in percent (10).
    pub max_ejection_percent: u32,
    /// Below this share of healthy hosts, balance across all (0: never).
    pub min_health_percent: u32,
}

/// TLS to the upstream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UpstreamTls {
    /// No DestinationRule `tls`: Istio's auto mTLS, i.e. the mesh's mTLS to endpoints that
    /// have a sidecar whose PeerAuthentication accepts it, plaintext otherwise.
    Auto,
    /// Plaintext.
    Disable,
    /// TLS origination, verifying the server.
    Simple(TlsFiles),
    /// mTLS with the given client certificate.
    Mutual(TlsFiles),
    /// mTLS with the mesh identity.
    IstioMutual,
}

/// Certificate files and names for upstream TLS.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsFiles {
    /// Client certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Client key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// SNI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Accepted server names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Skip verification.
    pub insecure_skip_verify: bool,
}

/// A cluster's complete policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPolicy {
    /// Load balancing.
    pub load_balancer: LoadBalancer,
    /// Slow start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Warmup>,
    /// Connection pool limits.
    pub connection_pool: ConnectionPool,
    /// Outlier detection (off unless a DestinationRule sets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// Upstream TLS.
    pub tls: UpstreamTls,
    /// `h2UpgradePolicy: UPGRADE`.
    pub h2_upgrade: bool,
    /// `useClientProtocol`.
    pub use_client_protocol: bool,
}

impl Default for ClusterPolicy {
    fn default() -> Self {
        ClusterPolicy {
            load_balancer: LoadBalancer::LeastRequest,
            warmup: None,
            connection_pool: ConnectionPool::default(),
            outlier_detection: None,
            tls: UpstreamTls::Auto,
            h2_upgrade: false,
            use_client_protocol: false,
        }
    }
}

/// The four fields of a traffic policy that override as a whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyLayers {
    pub(crate) load_balancer: Option<net::LoadBalancerSettings>,
    pub(crate) connection_pool: Option<net::ConnectionPoolSettings>,
    pub(crate) outlier_detection: Option<net::OutlierDetection>,
    pub(crate) tls: Option<net::ClientTlsSettings>,
}

impl PolicyLayers {
    /// Overlays a traffic policy (subset level over rule level), then its settings for
    /// `port`: each set field replaces the one below it whole, unset fields are inherited.
    pub(crate) fn overlay(&mut self, tp: &net::TrafficPolicy, port: u16) {
        self.overlay_fields(
            tp.load_balancer.as_ref(),
            tp.connection_pool.as_ref(),
            tp.outlier_detection.as_ref(),
            tp.tls.as_ref(),
        );
        if let Some(pl) = tp
            .port_level_settings
            .iter()
            .find(|p| p.port.and_then(|p| p.number) == Some(u32::from(port)))
        {
            self.overlay_fields(
                pl.load_balancer.as_ref(),
                pl.connection_pool.as_ref(),
                pl.outlier_detection.as_ref(),
                pl.tls.as_ref(),
            );
        }
    }

    fn overlay_fields(
        &mut self,
        lb: Option<&net::LoadBalancerSettings>,
        pool: Option<&net::ConnectionPoolSettings>,
        outlier: Option<&net::OutlierDetection>,
        tls: Option<&net::ClientTlsSettings>,
    ) {
        if let Some(v) = lb {
            self.load_balancer = Some(v.clone());
        }
        if let Some(v) = pool {
            self.connection_pool = Some(v.clone());
        }
        if let Some(v) = outlier {
            self.outlier_detection = Some(v.clone());
        }
        if let Some(v) = tls {
            self.tls = Some(v.clone());
        }
    }

    /// The policy with Istio's defaults for everything unset.
    pub(crate) fn resolve(&self) -> ClusterPolicy {
        let mut p = ClusterPolicy::default();
        if let Some(lb) = &self.load_balancer {
            if let Some(ch) = &lb.consistent_hash {
                if let Some(key) = hash_key(ch) {
                    let algorithm = match (&ch.maglev, &ch.ring_hash) {
                        (Some(m), _) => HashAlgorithm::Maglev {
                            table_size: m.table_size.unwrap_or(65537),
                        },
                        (None, Some(r)) => HashAlgorithm::RingHash {
                            minimum_ring_size: r.minimum_ring_size.unwrap_or(1024),
                        },
                        (None, None) => HashAlgorithm::RingHash {
                            minimum_ring_size: ch.minimum_ring_size.unwrap_or(1024),
                        },
                    };
                    p.load_balancer =
                        LoadBalancer::ConsistentHash(ConsistentHash { key, algorithm });
                }
            } else if let Some(simple) = lb.simple {
                p.load_balancer = match simple {
                    net::SimpleLb::Unspecified
                    | net::SimpleLb::LeastConn
                    | net::SimpleLb::LeastRequest => LoadBalancer::LeastRequest,
                    net::SimpleLb::Random => LoadBalancer::Random,
                    net::SimpleLb::Passthrough => LoadBalancer::Passthrough,
                    net::SimpleLb::RoundRobin => LoadBalancer::RoundRobin,
                };
            }
            let warmup = lb
                .warmup
                .as_ref()
                .and_then(|w| {
                    Some(Warmup {
                        duration: w.duration.as_ref()?.parse().ok()?,
                        minimum_percent: w.minimum_percent.unwrap_or(10.0),
                        aggression: w.aggression.unwrap_or(1.0),
                    })
                })
                .or_else(|| {
                    Some(Warmup {
                        duration: lb.warmup_duration_secs.as_ref()?.parse().ok()?,
                        minimum_percent: 10.0,
                        aggression: 1.0,
                    })
                });
            if matches!(
                p.load_balancer,
                LoadBalancer::LeastRequest | LoadBalancer::RoundRobin
            ) {
                p.warmup = warmup;
            }
        }
        if let Some(pool) = &self.connection_pool {
            let cp = &mut p.connection_pool;
            if let Some(tcp) = &pool.tcp {
                set_limit(&mut cp.max_connections, tcp.max_connections);
                if let Some(d) = parse(&tcp.connect_timeout) {
                    cp.connect_timeout = d;
                }
                cp.max_connection_duration = parse(&tcp.max_connection_duration);
                if let Some(ka) = &tcp.tcp_keepalive {
                    cp.tcp_keepalive_time = parse(&ka.time);
                    cp.tcp_keepalive_interval = parse(&ka.interval);
                    cp.tcp_keepalive_probes = ka.probes;
                }
            }
            if let Some(http) = &pool.http {
                set_limit(
                    &mut cp.max_pending_requests,
                    http.http1_max_pending_requests,
                );
                set_limit(&mut cp.max_requests, http.http2_max_requests);
                if let Some(n) = http.max_requests_per_connection {
                    cp.max_requests_per_connection = u32::try_from(n.max(0)).unwrap_or(0);
                }
                set_limit(&mut cp.max_retries, http.max_retries);
                if let Some(d) = parse(&http.idle_timeout) {
                    cp.idle_timeout = (!d.is_zero()).then_some(d);
                }
                set_limit(&mut cp.max_concurrent_streams, http.max_concurrent_streams);
                p.h2_upgrade = http.h2_upgrade_policy == Some(net::H2UpgradePolicy::Upgrade);
                p.use_client_protocol = http.use_client_protocol.unwrap_or(false);
            }
        }
        if let Some(od) = &self.outlier_detection {
            // Istio maps the deprecated `consecutiveErrors` to gateway errors only (and turns
            // 5xx ejection off), as istio/api#617 redefined it.
            let legacy = od
                .consecutive_errors
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0);
            let consecutive_5xx =
                od.consecutive_5xx_errors
                    .unwrap_or(if legacy.is_some() { 0 } else { 5 });
            p.outlier_detection = Some(OutlierDetection {
                consecutive_5xx,
                consecutive_gateway_errors: od.consecutive_gateway_errors.or(legacy).unwrap_or(0),
                consecutive_local_origin_failures: od
                    .consecutive_local_origin_failures
                    .unwrap_or(5),
                split_external_local_origin_errors: od
                    .split_external_local_origin_errors
                    .unwrap_or(false),
                interval: parse(&od.interval).unwrap_or(Duration::from_secs(10)),
                base_ejection_time: parse(&od.base_ejection_time)
                    .unwrap_or(Duration::from_secs(30)),
                max_ejection_time: Duration::from_secs(300),
                max_ejection_percent: od
                    .max_ejection_percent
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(10),
                min_health_percent: od
                    .min_health_percent
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
            });
        }
        if let Some(tls) = &self.tls {
            let files = || TlsFiles {
                client_certificate: tls.client_certificate.clone(),
                private_key: tls.private_key.clone(),
                ca_certificates: tls.ca_certificates.clone(),
                sni: tls.sni.clone(),
                subject_alt_names: tls.subject_alt_names.clone(),
                insecure_skip_verify: tls.insecure_skip_verify.unwrap_or(false),
            };
            p.tls = match tls.mode {
                net::ClientTlsMode::Disable => UpstreamTls::Disable,
                net::ClientTlsMode::Simple => UpstreamTls::Simple(files()),
                net::ClientTlsMode::Mutual => UpstreamTls::Mutual(files()),
                net::ClientTlsMode::IstioMutual => UpstreamTls::IstioMutual,
            };
        }
        p
    }
}

fn hash_key(ch: &net::ConsistentHashLb) -> Option<HashKey> {
    if let Some(h) = &ch.http_header_name {
        return Some(HashKey::Header(h.to_ascii_lowercase()));
    }
    if let Some(c) = &ch.http_cookie {
        return Some(HashKey::Cookie {
            name: c.name.clone()?,
            path: c.path.clone(),
            ttl: parse(&c.ttl),
        });
    }
    if ch.use_source_ip == Some(true) {
        return Some(HashKey::SourceIp);
    }
    ch.http_query_parameter_name
        .as_ref()
        .map(|q| HashKey::QueryParameter(q.clone()))
}

fn set_limit(slot: &mut u32, value: Option<i32>) {
    if let Some(v) = value
        && v > 0
    {
        *slot = u32::try_from(v).unwrap_or(u32::MAX);
    }
}

fn parse(d: &Option<meridian_config::duration::DurationText>) -> Option<Duration> {
    d.as_ref().and_then(|d| d.parse().ok())
}

/// Envoy's cluster name.
pub(crate) fn cluster_name(service: &str, port: u16, subset: Option<&str>) -> String {
    format!("outbound|{port}|{}|{service}", subset.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case(None, None, None, 5, 0; "istio's defaults: 5 consecutive 5xx, no gateway errors")]
    #[test_case(Some(3), None, None, 3, 0; "consecutive5xxErrors")]
    #[test_case(Some(0), Some(2), None, 0, 2; "5xx off, gateway errors on")]
    #[test_case(None, None, Some(4), 0, 4; "deprecated consecutiveErrors means gateway errors only")]
    fn outlier_thresholds_follow_istio(
        five_xx: Option<u32>,
        gateway: Option<u32>,
        legacy: Option<i32>,
        want_5xx: u32,
        want_gateway: u32,
    ) {
        let layers = PolicyLayers {
            outlier_detection: Some(net::OutlierDetection {
                consecutive_5xx_errors: five_xx,
                consecutive_gateway_errors: gateway,
                consecutive_errors: legacy,
                ..net::OutlierDetection::default()
            }),
            ..PolicyLayers::default()
        };
        let od = layers
            .resolve()
            .outlier_detection
            .expect("outlier detection");
        assert_eq!(
            (od.consecutive_5xx, od.consecutive_gateway_errors),
            (want_5xx, want_gateway)
        );
        assert_eq!(od.max_ejection_percent, 10);
        assert_eq!(od.min_health_percent, 0);
        assert_eq!(od.interval, Duration::from_secs(10));
        assert_eq!(od.base_ejection_time, Duration::from_secs(30));
        assert_eq!(od.max_ejection_time, Duration::from_secs(300));
        assert_eq!(od.consecutive_local_origin_failures, 5);
    }

    #[test_case(0, 1.0, 10.0, 0.1; "starts at the minimum")]
    #[test_case(50, 1.0, 10.0, 0.5; "linear halfway")]
    #[test_case(100, 1.0, 10.0, 1.0; "done")]
    #[test_case(25, 2.0, 10.0, 0.5; "aggression bends the curve")]
    fn warmup_factor(percent_elapsed: u64, aggression: f64, min: f64, expected: f64) {
        let w = Warmup {
            duration: Duration::from_secs(100),
            minimum_percent: min,
            aggression,
        };
        let f = w.factor(Duration::from_secs(percent_elapsed));
        assert!((f - expected).abs() < 1e-9, "{f} != {expected}");
    }
}
