//! The endpoint table: every replica the supervisor runs, where it listens and whether it may
//! take traffic. The workloads plane publishes it; the data plane reads it to build load
//! balancer endpoints (Service selector ∩ replica labels, ready only, draining excluded).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::watch;

/// Which workload a replica belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct WorkloadRef {
    /// Where it was declared.
    pub kind: WorkloadKind,
    /// Namespace (`default` for Compose services).
    pub namespace: String,
    /// Deployment or Compose service name.
    pub name: String,
}

/// The two ways to declare a replicated workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum WorkloadKind {
    /// An `apps/v1` Deployment.
    Deployment,
    /// A Compose/Swarm service.
    ComposeService,
}

/// Whether a replica may receive new requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    /// Running and passing its readiness probe: an endpoint.
    Ready,
    /// Starting, failing readiness, or restarting: not an endpoint.
    NotReady,
    /// Leaving (rolling update, scale down, shutdown): finishes in-flight requests, gets no
    /// new ones.
    Draining,
}

/// A declared container port and the port the replica really listens on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortMapping {
    /// The port's name, when declared.
    pub name: Option<String>,
    /// The port as declared in the manifest (`containerPort`), which Services target.
    pub declared: u16,
    /// The port the process was given (`PORT`) and listens on.
    pub actual: u16,
}

/// One running replica.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaEndpoint {
    /// Its workload.
    pub workload: WorkloadRef,
    /// Replica (pod) name, unique on the node.
    pub replica: String,
    /// Pod template labels (`app`, `version`, ...).
    pub labels: BTreeMap<String, String>,
    /// Service account: the `sa` of its SPIFFE identity.
    pub service_account: String,
    /// Address it listens on.
    pub ip: IpAddr,
    /// Its ports.
    pub ports: Vec<PortMapping>,
    /// Traffic state.
    pub state: EndpointState,
}

impl ReplicaEndpoint {
    /// The real port for a declared container port (by number), if the replica has it.
    pub fn port_for(&self, declared: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.declared == declared)
            .map(|p| p.actual)
    }

    /// The real port for a named container port.
    pub fn port_named(&self, name: &str) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.actual)
    }
}

/// All replicas on this node, versioned.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EndpointTable {
    /// Bumped on every change.
    pub version: u64,
    /// The replicas.
    pub replicas: Vec<ReplicaEndpoint>,
}

/// Publishes the table (the workloads plane holds it).
pub type EndpointPublisher = watch::Sender<Arc<EndpointTable>>;

/// Follows the table (the data plane holds one).
pub type EndpointWatch = watch::Receiver<Arc<EndpointTable>>;

/// A new channel with an empty table.
pub fn channel() -> (EndpointPublisher, EndpointWatch) {
    watch::channel(Arc::new(EndpointTable::default()))
}
