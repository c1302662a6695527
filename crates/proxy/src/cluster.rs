//! The routing state one request reads with a single atomic load: the snapshot, a balancer
//! per cluster over the endpoints that match it now, and the gateway's TLS configs. Rebuilt
//! when the snapshot or the endpoint table changes. What must outlive a rebuild is kept in the
//! [`Registry`]: each cluster's [`ClusterState`] (circuit breakers, pool settings, outlier
//! detector) and its endpoints with their pools and passive-health state, by address, so a
//! swap drops no connection and forgets no ejection. Endpoints that leave a cluster (a
//! replica draining) stop getting requests and close their connections once idle.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Weak};
use std::time::Duration;

use meridian_control::endpoints::{EndpointState, EndpointTable, ReplicaEndpoint};
use meridian_control::snapshot::{Cluster, EndpointSource, Snapshot, TargetPort, UpstreamTls};

use crate::balancer::Balancer;
use crate::mtls::{EndpointTls, MeshClient, ReplicaTarget};
use crate::pool::{ClusterState, Endpoint};
use crate::upstream::Transport;

/// How often idle connections are looked at (idle timeouts are accurate to this).
const REAP_PERIOD: Duration = Duration::from_secs(1);

/// A cluster at run time.
#[derive(Debug)]
pub(crate) struct ClusterRuntime {
    /// Its balancer.
    pub(crate) balancer: Balancer,
    /// What outlives rebuilds: breakers, settings, outlier detector.
    pub(crate) state: Arc<ClusterState>,
}

/// Everything a request reads.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The config.
    pub(crate) snapshot: Arc<Snapshot>,
    /// Per snapshot cluster, by index.
    pub(crate) clusters: Vec<ClusterRuntime>,
    /// Gateway TLS server configs by (declared port, server index).
    pub(crate) gateway_tls: HashMap<(u16, usize), Arc<rustls::ServerConfig>>,
}

/// An endpoint's identity in the registry: its cluster, address, and whether it speaks TLS.
type EndpointKey = (String, SocketAddr, bool);

/// Clusters and their endpoints, kept across rebuilds.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    clusters: HashMap<String, Arc<ClusterState>>,
    endpoints: HashMap<EndpointKey, Arc<Endpoint>>,
    /// Upstream TLS transports by cluster name, for the snapshot version they were built for.
    tls: HashMap<String, (u64, Option<Transport>)>,
}

/// A cluster's circuit breakers, outlier detection and endpoints, as the admin API and
/// `meridian ps` show them.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Envoy-style name.
    pub name: String,
    /// The calling sidecar's identity whose pools and breakers these are (with mesh mTLS each
    /// caller has its own, as each Istio sidecar does); absent for the shared plaintext state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// Circuit breakers: gauges, thresholds, overflow counts.
    pub limits: crate::pool::LimitsStatus,
    /// Outlier detection counters.
    pub outlier: crate::outlier::DetectorStatus,
    /// Its endpoints now.
    pub endpoints: Vec<EndpointStatus>,
}

/// One endpoint of a cluster.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    /// Address the proxy connects to (a sidecar's inbound listener for replicas).
    pub address: SocketAddr,
    /// Replica and port (`myapp-7d4f-0:3000`).
    pub replica: String,
    /// Requests in flight.
    pub active_requests: u32,
    /// Open connections.
    pub connections: u32,
    /// Idle HTTP/1.1 connections.
    pub idle_connections: usize,
    /// Passive health.
    pub health: crate::outlier::HealthStatus,
}

impl ClusterStatus {
    /// Whether nothing ever went through it (no connection, request, ejection or overflow).
    pub fn is_unused(&self) -> bool {
        let l = &self.limits;
        l.connections == 0
            && l.requests == 0
            && l.pending_overflows + l.request_overflows + l.retry_overflows == 0
            && self.outlier.ejections_total == 0
            && self.endpoints.iter().all(|e| e.connections == 0)
    }

    pub(crate) fn of(state: &ClusterState, endpoints: &[Arc<Endpoint>]) -> ClusterStatus {
        let now = tokio::time::Instant::now();
        ClusterStatus {
            name: state.name.clone(),
            caller: None,
            limits: state.limits.status(),
            outlier: state.detector.status(),
            endpoints: endpoints
                .iter()
                .map(|e| EndpointStatus {
                    address: e.addr,
                    replica: e.key.clone(),
                    active_requests: e.active(),
                    connections: e.connections(),
                    idle_connections: e.idle_connections(),
                    health: state.detector.endpoint_status(e, now),
                })
                .collect(),
        }
    }
}

/// Where inbound listeners sit in front of replicas: `(replica, declared port)` → address.
pub(crate) type InboundMap = BTreeMap<(String, u16), SocketAddr>;

impl Registry {
    fn endpoint(
        &mut self,
        cluster: &Arc<ClusterState>,
        addr: SocketAddr,
        key: String,
        tls: Option<&Transport>,
    ) -> Arc<Endpoint> {
        self.endpoints
            .entry((cluster.name.clone(), addr, tls.is_some()))
            .or_insert_with(|| {
                let transport = tls.cloned().unwrap_or(Transport::Plain);
                Endpoint::in_cluster(addr, key, transport, cluster.clone())
            })
            .clone()
    }

    /// A cluster's lasting state, created (with its sweeper) on first sight and updated to
    /// the policy of this snapshot.
    fn cluster_state(&mut self, c: &Cluster) -> Arc<ClusterState> {
        let state = self
            .clusters
            .entry(c.name.clone())
            .or_insert_with(|| {
                let state = Arc::new(ClusterState::new(c.name.clone(), &c.policy.connection_pool));
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(sweep(Arc::downgrade(&state)));
                }
                state
            })
            .clone();
        state.update(&c.policy.connection_pool);
        state
            .detector
            .configure(c.policy.outlier_detection.as_ref());
        state
    }

    /// Every cluster's breakers, outlier state and endpoints.
    pub(crate) fn status(&self, caller: Option<&str>) -> Vec<ClusterStatus> {
        let mut out: Vec<ClusterStatus> = self
            .clusters
            .values()
            .map(|c| ClusterStatus {
                caller: caller.map(str::to_owned),
                ..ClusterStatus::of(c, &c.detector.live_members())
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The TLS transport of a cluster that originates TLS (built once per snapshot version).
    fn transport(&mut self, c: &Cluster, version: u64) -> Option<Transport> {
        match self.tls.get(&c.name) {
            Some((v, t)) if *v == version => return t.clone(),
            _ => {}
        }
        let t = match crate::tls::upstream_transport(c) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(cluster = %c.name, error = %e, "upstream TLS not configured; requests fail with UF");
                None
            }
        };
        self.tls.insert(c.name.clone(), (version, t.clone()));
        t
    }

    /// Builds the routing state. Endpoints no cluster uses any more leave the registry and
    /// drain: no new request, idle connections close, busy ones close when their exchange
    /// ends. Clusters gone from the snapshot are forgotten.
    pub(crate) fn resolve(
        &mut self,
        snapshot: Arc<Snapshot>,
        table: &EndpointTable,
        inbound: &InboundMap,
        gateway_tls: HashMap<(u16, usize), Arc<rustls::ServerConfig>>,
        mesh: Option<&MeshClient>,
    ) -> Resolved {
        let mut used: HashSet<EndpointKey> = HashSet::new();
        let mut clusters = Vec::with_capacity(snapshot.clusters.len());
        for c in &snapshot.clusters {
            let tls = if c.policy.tls == UpstreamTls::Disable {
                None
            } else {
                self.transport(c, snapshot.version)
            };
            let state = self.cluster_state(c);
            let endpoints: Vec<Arc<Endpoint>> = self
                .targets(c, table, inbound)
                .into_iter()
                .filter_map(|(addr, key, replica)| {
                    // With mesh mTLS, the caller's transport to this endpoint (auto mTLS).
                    let mesh_tls = match mesh.map(|m| m.endpoint(&snapshot, c, replica)) {
                        Some(EndpointTls::Skip) => return None,
                        Some(EndpointTls::Mesh(t)) => Some(t),
                        _ => None,
                    };
                    let tls = mesh_tls.as_ref().or(tls.as_ref());
                    let sidecar = replica.is_some_and(|r| r.fronted);
                    used.insert((c.name.clone(), addr, tls.is_some()));
                    let e = self.endpoint(&state, addr, key, tls);
                    e.set_sidecar(sidecar);
                    Some(e)
                })
                .collect();
            state.detector.set_members(&endpoints);
            clusters.push(ClusterRuntime {
                balancer: Balancer::new(
                    endpoints,
                    c.policy.load_balancer.clone(),
                    c.policy.warmup.clone(),
                ),
                state,
            });
        }
        self.endpoints.retain(|key, e| {
            let keep = used.contains(key);
            if !keep {
                tracing::debug!(cluster = %key.0, endpoint = %e.addr, active = e.active(), "endpoint draining");
                e.close_idle();
            }
            keep
        });
        let names: HashSet<&str> = snapshot.clusters.iter().map(|c| c.name.as_str()).collect();
        self.clusters
            .retain(|name, _| names.contains(name.as_str()));
        Resolved {
            snapshot,
            clusters,
            gateway_tls,
        }
    }

    fn targets<'t>(
        &self,
        c: &Cluster,
        table: &'t EndpointTable,
        inbound: &InboundMap,
    ) -> Vec<(SocketAddr, String, Option<ReplicaTarget<'t>>)> {
        match &c.endpoints {
            EndpointSource::Replicas {
                selector,
                target_port,
            } => table
                .replicas
                .iter()
                .filter(|r| r.state == EndpointState::Ready)
                .filter(|r| selector.iter().all(|(k, v)| r.labels.get(k) == Some(v)))
                .filter_map(|r| replica_target(r, target_port, inbound))
                .collect(),
            EndpointSource::Static { addresses } => addresses
                .iter()
                .filter_map(|a| {
                    let addr = a.to_socket_addrs().ok()?.next()?;
                    Some((addr, a.clone(), None))
                })
                .collect(),
        }
    }
}

/// A replica's address for a Service target port: its inbound listener when it has one
/// (so hops go sidecar to sidecar), else the port it really listens on.
fn replica_target<'a>(
    r: &'a ReplicaEndpoint,
    target: &TargetPort,
    inbound: &InboundMap,
) -> Option<(SocketAddr, String, Option<ReplicaTarget<'a>>)> {
    let (declared, actual) = match target {
        TargetPort::Number(n) => (*n, r.port_for(*n).unwrap_or(*n)),
        TargetPort::Name(name) => {
            let p = r
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))?;
            (p.declared, p.actual)
        }
    };
    let key = format!("{}:{declared}", r.replica);
    let fronted = inbound.get(&(r.replica.clone(), declared)).copied();
    let addr = fronted.unwrap_or(SocketAddr::new(r.ip, actual));
    Some((
        addr,
        key,
        Some(ReplicaTarget {
            replica: r,
            declared,
            fronted: fronted.is_some(),
        }),
    ))
}

/// A cluster's sweeper: every `interval` the outlier detector returns endpoints whose
/// ejection elapsed; every [`REAP_PERIOD`] idle connections past `idleTimeout` or
/// `maxConnectionDuration` close. Ends when the cluster is forgotten.
async fn sweep(cluster: Weak<ClusterState>) {
    let mut next_outlier: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        let wake = match next_outlier {
            Some(t) => t.min(now + REAP_PERIOD),
            None => now + REAP_PERIOD,
        };
        tokio::time::sleep_until(wake).await;
        let Some(c) = cluster.upgrade() else { return };
        let now = tokio::time::Instant::now();
        match (c.detector.config(), next_outlier) {
            (Some(cfg), None) => next_outlier = Some(now + cfg.interval),
            (Some(cfg), Some(t)) if now >= t => {
                c.detector.sweep(now);
                next_outlier = Some(now + cfg.interval);
            }
            (None, _) => next_outlier = None,
            _ => {}
        }
        for e in c.detector.live_members() {
            e.reap();
        }
    }
}
