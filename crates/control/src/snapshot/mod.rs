//! The snapshot compiler: a valid [`meridian_config::Bundle`] becomes one immutable,
//! versioned [`Snapshot`] — per-host route tables for sidecars (`mesh`) and for each port of
//! the ingress gateway, clusters with their merged DestinationRule policies and Istio's
//! defaults, compiled matchers and gateway listeners. The data plane swaps whole snapshots
//! atomically, so a request always sees one consistent config. A snapshot is `Serialize` so
//! that what is really in force can be shown.

mod authz;
mod cluster;
mod compile;
mod format;
mod gateway;
mod matcher;
mod peer_authn;
mod route;
mod table;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

pub use authz::{
    AuthorizationPolicies, AuthzAction, AuthzDecision, AuthzOutcome, AuthzPolicy, AuthzRequest,
    AuthzRule, Cidr, ConditionKey, ConditionMatch, Field, OperationMatch, SourceMatch,
    ValuePattern,
};
pub use cluster::{
    Cluster, ClusterPolicy, ConnectionPool, ConsistentHash, EndpointSource, HashAlgorithm, HashKey,
    LoadBalancer, OutlierDetection, TargetPort, TlsFiles, UpstreamProtocol, UpstreamTls, Warmup,
};
pub use compile::compile;
pub use format::duration_text;
pub use gateway::{
    Credential, GatewayListener, GatewayServer, ServerTls, ServerTlsMode, TlsVersion,
};
pub use matcher::{
    HeaderMatcher, Pattern, QueryMatcher, RequestMatch, RequestView, StringMatcher, UriMatcher,
};
pub use peer_authn::{
    EffectiveMtls, MtlsMode, PeerAuthentications, PeerAuthnPolicy, ROOT_NAMESPACE,
};
pub use route::{
    AbortStatus, ClusterTarget, CorsPolicy, DirectResponse, Fault, FaultAbort, FaultDelay,
    HeaderOps, HeaderRules, HttpRoute, Mirror, Redirect, RedirectPort, RegexRewrite, RetryOn,
    RetryPolicy, Rewrite, RouteAction, RouteDestination, RouteOrigin, UnmatchedPreflights,
    WeightedDestinations,
};
pub use table::{RouteTable, VirtualHost, split_authority};

/// Why a bundle could not become a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bundle has validation errors; the last good snapshot keeps serving.
    #[error("the configuration has {0} error(s); the last good snapshot keeps serving")]
    InvalidBundle(usize),
}

/// A service in the registry (a Kubernetes Service or a ServiceEntry host).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// Short name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Ports and the cluster of each (no subset).
    pub ports: Vec<ServicePortInfo>,
}

/// A service port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePortInfo {
    /// Number.
    pub port: u16,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Istio protocol (`HTTP`, `HTTP2`, `GRPC`, `TCP`...).
    pub protocol: String,
    /// Its cluster.
    pub cluster: usize,
}

/// Everything the data plane needs, compiled. Immutable once built.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Version, increasing with every accepted change.
    pub version: u64,
    /// Every virtual host; route tables point into this list.
    pub virtual_hosts: Vec<VirtualHost>,
    /// Every cluster.
    pub clusters: Vec<Cluster>,
    /// The service registry by FQDN.
    pub services: BTreeMap<String, ServiceInfo>,
    /// Sidecar (`mesh`) route tables by the calling workload's namespace: short names
    /// resolve in that namespace, as in Kubernetes.
    pub mesh: BTreeMap<String, RouteTable>,
    /// The table for callers in a namespace no resource names (FQDNs and `name.namespace`).
    pub mesh_fallback: RouteTable,
    /// Ingress gateway listeners by declared port.
    pub gateways: Vec<GatewayListener>,
    /// PeerAuthentication: the mTLS mode of each workload port.
    #[serde(skip_serializing_if = "PeerAuthentications::is_empty")]
    pub peer_authentication: PeerAuthentications,
    /// AuthorizationPolicy, evaluated at every inbound sidecar and at the gateway.
    #[serde(skip_serializing_if = "AuthorizationPolicies::is_empty")]
    pub authorization: AuthorizationPolicies,
    /// What was accepted but is not served (unsupported modes, non-built-in gateways).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip)]
    cluster_index: HashMap<String, usize>,
}

impl Snapshot {
    /// An empty snapshot (version 0): every request gets 404 `NR`.
    pub fn empty() -> Snapshot {
        Snapshot::default()
    }

    /// The same content under another version.
    pub fn with_version(mut self, version: u64) -> Snapshot {
        self.version = version;
        self
    }

    /// The sidecar route table for a caller in `namespace`.
    pub fn mesh_table(&self, namespace: &str) -> &RouteTable {
        self.mesh.get(namespace).unwrap_or(&self.mesh_fallback)
    }

    /// The gateway listener for a declared port.
    pub fn gateway(&self, port: u16) -> Option<&GatewayListener> {
        self.gateways.iter().find(|g| g.port == port)
    }

    /// A virtual host by index.
    pub fn virtual_host(&self, index: usize) -> Option<&VirtualHost> {
        self.virtual_hosts.get(index)
    }

    /// A cluster by index.
    pub fn cluster(&self, index: usize) -> Option<&Cluster> {
        self.clusters.get(index)
    }

    /// A cluster by its Envoy name.
    pub fn cluster_by_name(&self, name: &str) -> Option<usize> {
        self.cluster_index.get(name).copied()
    }

    /// The first route of a virtual host that matches, with the index of the match that
    /// accepted it (`None` for a rule without matches).
    pub fn route<'a>(
        &'a self,
        virtual_host: usize,
        req: &RequestView<'_>,
    ) -> Option<(&'a HttpRoute, Option<usize>)> {
        let vh = self.virtual_hosts.get(virtual_host)?;
        vh.routes
            .iter()
            .find_map(|r| r.find_match(req).map(|m| (r, m)))
    }

    pub(crate) fn push_cluster(&mut self, cluster: Cluster) -> usize {
        let i = self.clusters.len();
        self.cluster_index.insert(cluster.name.clone(), i);
        self.clusters.push(cluster);
        i
    }
}

#[cfg(test)]
mod tests;
