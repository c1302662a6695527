//! The routing state one request reads with a single atomic load: the snapshot, a balancer
//! per cluster over the endpoints that match it now, and the gateway's TLS configs. Rebuilt
//! when the snapshot or the endpoint table changes; endpoints (and their pools) are shared
//! across rebuilds by address, so a swap drops no connection.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use meridian_control::endpoints::{EndpointState, EndpointTable, ReplicaEndpoint};
use meridian_control::snapshot::{Cluster, EndpointSource, Snapshot, TargetPort, UpstreamTls};

use crate::balancer::Balancer;
use crate::pool::Endpoint;
use crate::upstream::Transport;

/// A cluster at run time.
#[derive(Debug)]
pub(crate) struct ClusterRuntime {
    /// Its balancer.
    pub(crate) balancer: Balancer,
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

/// Endpoints by address (and, for TLS origination, the cluster whose TLS settings they
/// use), kept across rebuilds.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    endpoints: HashMap<(SocketAddr, Option<String>), Arc<Endpoint>>,
    /// Upstream TLS transports by cluster name, for the snapshot version they were built for.
    tls: HashMap<String, (u64, Option<Transport>)>,
}

/// Where inbound listeners sit in front of replicas: `(replica, declared port)` → address.
pub(crate) type InboundMap = BTreeMap<(String, u16), SocketAddr>;

impl Registry {
    fn endpoint(
        &mut self,
        addr: SocketAddr,
        key: String,
        tls: Option<(&str, &Transport)>,
    ) -> Arc<Endpoint> {
        let transport = tls.map_or(Transport::Plain, |(_, t)| t.clone());
        self.endpoints
            .entry((addr, tls.map(|(name, _)| name.to_owned())))
            .or_insert_with(|| Arc::new(Endpoint::new(addr, key, transport)))
            .clone()
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

    /// Builds the routing state. Endpoints no cluster uses any more leave the registry (their
    /// idle connections close; in-flight requests keep theirs).
    pub(crate) fn resolve(
        &mut self,
        snapshot: Arc<Snapshot>,
        table: &EndpointTable,
        inbound: &InboundMap,
        gateway_tls: HashMap<(u16, usize), Arc<rustls::ServerConfig>>,
    ) -> Resolved {
        let mut used: HashMap<(SocketAddr, Option<String>), ()> = HashMap::new();
        let clusters = snapshot
            .clusters
            .iter()
            .map(|c| {
                let tls = if c.policy.tls == UpstreamTls::Disable {
                    None
                } else {
                    self.transport(c, snapshot.version)
                };
                let endpoints: Vec<Arc<Endpoint>> = self
                    .targets(c, table, inbound)
                    .into_iter()
                    .map(|(addr, key)| {
                        let tls = tls.as_ref().map(|t| (c.name.as_str(), t));
                        used.insert((addr, tls.map(|(n, _)| n.to_owned())), ());
                        self.endpoint(addr, key, tls)
                    })
                    .collect();
                ClusterRuntime {
                    balancer: Balancer::new(
                        endpoints,
                        c.policy.load_balancer.clone(),
                        c.policy.warmup.clone(),
                    ),
                }
            })
            .collect();
        self.endpoints.retain(|key, e| {
            let keep = used.contains_key(key);
            if !keep {
                e.close_idle();
            }
            keep
        });
        Resolved {
            snapshot,
            clusters,
            gateway_tls,
        }
    }

    fn targets(
        &self,
        c: &Cluster,
        table: &EndpointTable,
        inbound: &InboundMap,
    ) -> Vec<(SocketAddr, String)> {
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
                    Some((addr, a.clone()))
                })
                .collect(),
        }
    }
}

/// A replica's address for a Service target port: its inbound listener when it has one
/// (so hops go sidecar to sidecar), else the port it really listens on.
fn replica_target(
    r: &ReplicaEndpoint,
    target: &TargetPort,
    inbound: &InboundMap,
) -> Option<(SocketAddr, String)> {
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
    let addr = inbound
        .get(&(r.replica.clone(), declared))
        .copied()
        .unwrap_or(SocketAddr::new(r.ip, actual));
    Some((addr, key))
}
