//! Who is where: the workloads, replicas, services and clusters a request record names only
//! by address or by name, resolved into the labels Istio and Kiali expect. Rebuilt (off the
//! request path) when the endpoint table, the inbound listeners or the snapshot change, and
//! read through one `ArcSwap` load.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use meridian_control::endpoints::{EndpointTable, ReplicaEndpoint};
use meridian_control::snapshot::{EndpointSource, Snapshot, TargetPort, UpstreamTls};

/// The mesh's trust domain, for principals (Istio's default).
pub const TRUST_DOMAIN: &str = "cluster.local";

/// The built-in ingress gateway's workload name, as the proxy names its caller.
pub const GATEWAY_WORKLOAD: &str = "istio-system/istio-ingressgateway";

/// A workload (Deployment, Compose service, or the gateway) and its identity labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct WorkloadInfo {
    /// The workload's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The `app` label.
    pub app: String,
    /// The `version` label.
    pub version: String,
    /// Istio's canonical service name.
    pub canonical_service: String,
    /// Istio's canonical revision.
    pub canonical_revision: String,
    /// The service account its identity names.
    pub service_account: String,
    /// `deployment`, `compose` or `gateway`.
    pub kind: &'static str,
}

impl WorkloadInfo {
    /// `namespace/name`, the proxy's spelling.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn of_replica(r: &ReplicaEndpoint) -> WorkloadInfo {
        let label = |k: &str| r.labels.get(k).cloned().unwrap_or_default();
        let app = label("app");
        let version = label("version");
        let canonical_service = r
            .labels
            .get("service.istio.io/canonical-name")
            .cloned()
            .or_else(|| (!app.is_empty()).then(|| app.clone()))
            .unwrap_or_else(|| r.workload.name.clone());
        let canonical_revision = r
            .labels
            .get("service.istio.io/canonical-revision")
            .cloned()
            .or_else(|| (!version.is_empty()).then(|| version.clone()))
            .unwrap_or_else(|| "latest".to_owned());
        WorkloadInfo {
            name: r.workload.name.clone(),
            namespace: r.workload.namespace.clone(),
            app,
            version,
            canonical_service,
            canonical_revision,
            service_account: r.service_account.clone(),
            kind: match r.workload.kind {
                meridian_control::endpoints::WorkloadKind::Deployment => "deployment",
                meridian_control::endpoints::WorkloadKind::ComposeService => "compose",
            },
        }
    }

    /// The built-in ingress gateway, labelled as Istio's.
    pub fn gateway() -> WorkloadInfo {
        WorkloadInfo {
            name: "istio-ingressgateway".into(),
            namespace: "istio-system".into(),
            app: "istio-ingressgateway".into(),
            version: String::new(),
            canonical_service: "istio-ingressgateway".into(),
            canonical_revision: "latest".into(),
            service_account: "istio-ingressgateway-service-account".into(),
            kind: "gateway",
        }
    }
}

/// A replica, found by its own address or by its inbound sidecar's.
#[derive(Debug, Clone)]
pub struct ReplicaInfo {
    /// The replica's name.
    pub name: String,
    /// The workload it belongs to.
    pub workload: Arc<WorkloadInfo>,
    /// The Service whose port targets this replica port, if any.
    pub service: Option<String>,
}

/// A service of the registry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceInfo {
    /// The fully qualified name the registry keys it by.
    pub fqdn: String,
    /// The service's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// A cluster, as metrics name its parts.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// The service FQDN the cluster sends to.
    pub service: String,
    /// The DestinationRule subset, if any.
    pub subset: Option<String>,
    /// DestinationRule asks for Istio mTLS.
    pub mtls: bool,
}

/// The resolved view, immutable once built.
#[derive(Debug, Default)]
pub struct Directory {
    /// Workloads by `namespace/name`.
    pub workloads: HashMap<String, Arc<WorkloadInfo>>,
    /// Replicas by their own address and by their inbound sidecars' addresses.
    pub replicas: HashMap<SocketAddr, Arc<ReplicaInfo>>,
    /// Services by FQDN.
    pub services: BTreeMap<String, ServiceInfo>,
    /// Clusters by name.
    pub clusters: HashMap<String, ClusterInfo>,
    /// Workload (`namespace/name`) → the service and port in front of it, for inbound span
    /// names.
    pub served_as: HashMap<String, (String, u16)>,
    /// The version of the endpoint table it was built from.
    pub table_version: u64,
}

/// Everything the directory is built from.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// The supervisor's endpoint table.
    pub table: Arc<EndpointTable>,
    /// The proxy's snapshot, once attached.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Inbound sidecar listeners: listen address → (replica, declared port).
    pub inbound: HashMap<SocketAddr, (String, u16)>,
}

impl Directory {
    /// The directory of `src`.
    pub fn build(src: &Sources) -> Directory {
        let mut d = Directory {
            table_version: src.table.version,
            ..Directory::default()
        };
        let gw = Arc::new(WorkloadInfo::gateway());
        d.workloads.insert(GATEWAY_WORKLOAD.to_owned(), gw);
        if let Some(snap) = &src.snapshot {
            for (fqdn, s) in &snap.services {
                d.services.insert(
                    fqdn.clone(),
                    ServiceInfo {
                        fqdn: fqdn.clone(),
                        name: s.name.clone(),
                        namespace: s.namespace.clone(),
                    },
                );
            }
            for c in &snap.clusters {
                d.clusters.insert(
                    c.name.clone(),
                    ClusterInfo {
                        service: c.service.clone(),
                        subset: c.subset.clone(),
                        mtls: matches!(c.policy.tls, UpstreamTls::IstioMutual),
                    },
                );
            }
        }
        // Replica name → (its entry, declared ports), for inbound listener lookups.
        let mut by_name: HashMap<&str, &ReplicaEndpoint> = HashMap::new();
        for r in &src.table.replicas {
            let info = Arc::new(WorkloadInfo::of_replica(r));
            d.workloads
                .entry(info.id())
                .and_modify(|w| {
                    // The newest revision's labels win during a rollout.
                    if r.state == meridian_control::endpoints::EndpointState::Ready {
                        *w = info.clone();
                    }
                })
                .or_insert(info);
            by_name.insert(r.replica.as_str(), r);
        }
        for r in &src.table.replicas {
            let Some(w) = d
                .workloads
                .get(&format!("{}/{}", r.workload.namespace, r.workload.name))
                .cloned()
            else {
                continue;
            };
            for p in &r.ports {
                let service = src
                    .snapshot
                    .as_deref()
                    .and_then(|s| service_of(s, r, p.declared, p.name.as_deref()));
                if let Some((fqdn, port)) = &service {
                    d.served_as
                        .entry(w.id())
                        .or_insert_with(|| (fqdn.clone(), *port));
                }
                let info = Arc::new(ReplicaInfo {
                    name: r.replica.clone(),
                    workload: w.clone(),
                    service: service.map(|(fqdn, _)| fqdn),
                });
                d.replicas.insert(SocketAddr::new(r.ip, p.actual), info);
            }
        }
        for (listen, (replica, declared)) in &src.inbound {
            let Some(r) = by_name.get(replica.as_str()) else {
                continue;
            };
            let Some(actual) = r.port_for(*declared) else {
                continue;
            };
            if let Some(info) = d.replicas.get(&SocketAddr::new(r.ip, actual)).cloned() {
                d.replicas.insert(*listen, info);
            }
        }
        d
    }

    /// A workload by the proxy's `namespace/name`.
    pub fn workload(&self, id: &str) -> Option<&Arc<WorkloadInfo>> {
        self.workloads.get(id)
    }

    /// The FQDN for a host as a caller in `namespace` names it (`myapp`, `myapp.ns`,
    /// `myapp.ns.svc.cluster.local`, with or without a port).
    pub fn service_for_host(&self, host: &str, namespace: &str) -> Option<&ServiceInfo> {
        let host = meridian_control::snapshot::split_authority(host).0;
        if let Some(s) = self.services.get(host) {
            return Some(s);
        }
        let candidates = [
            format!("{host}.{namespace}.svc.{TRUST_DOMAIN}"),
            format!("{host}.svc.{TRUST_DOMAIN}"),
        ];
        candidates.iter().find_map(|c| self.services.get(c))
    }
}

/// The service (and its port) whose port targets this replica's declared port.
fn service_of(
    snap: &Snapshot,
    r: &ReplicaEndpoint,
    declared: u16,
    port_name: Option<&str>,
) -> Option<(String, u16)> {
    for c in &snap.clusters {
        if c.subset.is_some() {
            continue;
        }
        let EndpointSource::Replicas {
            selector,
            target_port,
        } = &c.endpoints
        else {
            continue;
        };
        if !selector.iter().all(|(k, v)| r.labels.get(k) == Some(v)) {
            continue;
        }
        let targets = match target_port {
            TargetPort::Number(n) => *n == declared,
            TargetPort::Name(n) => Some(n.as_str()) == port_name,
        };
        if targets {
            return Some((c.service.clone(), c.port));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_control::endpoints::{
        EndpointState, PortMapping, ReplicaEndpoint, WorkloadKind, WorkloadRef,
    };

    fn replica(name: &str, version: &str, port: u16) -> ReplicaEndpoint {
        ReplicaEndpoint {
            workload: WorkloadRef {
                kind: WorkloadKind::Deployment,
                namespace: "default".into(),
                name: if version == "v1" {
                    "myapp".into()
                } else {
                    "myapp-v2".into()
                },
            },
            replica: name.into(),
            labels: [
                ("app".to_owned(), "myapp".to_owned()),
                ("version".to_owned(), version.to_owned()),
            ]
            .into(),
            service_account: "default".into(),
            ip: "127.0.0.1".parse().expect("ip"),
            ports: vec![PortMapping {
                name: None,
                declared: 3000,
                actual: port,
            }],
            state: EndpointState::Ready,
        }
    }

    #[test]
    fn replicas_are_found_by_their_address_and_their_sidecar() {
        let bundle = meridian_config::load_str(
            std::path::Path::new("t.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: myapp}\nspec:\n  selector: {app: myapp}\n  ports: [{port: 80, targetPort: 3000}]\n",
            meridian_config::LoadOptions::default(),
        );
        let snap = meridian_control::snapshot::compile(&bundle, 1).expect("snapshot");
        let src = Sources {
            table: Arc::new(EndpointTable {
                version: 1,
                replicas: vec![
                    replica("myapp-a", "v1", 4001),
                    replica("myapp-b", "v2", 4002),
                ],
            }),
            snapshot: Some(Arc::new(snap)),
            inbound: [(
                "127.0.0.1:5001".parse().expect("addr"),
                ("myapp-a".to_owned(), 3000),
            )]
            .into(),
        };
        let d = Directory::build(&src);
        let a = d
            .replicas
            .get(&"127.0.0.1:5001".parse().expect("addr"))
            .expect("by sidecar");
        assert_eq!(a.name, "myapp-a");
        assert_eq!(a.workload.version, "v1");
        assert_eq!(
            a.service.as_deref(),
            Some("myapp.default.svc.cluster.local")
        );
        let b = d
            .replicas
            .get(&"127.0.0.1:4002".parse().expect("addr"))
            .expect("by own address");
        assert_eq!(b.workload.canonical_revision, "v2");
        assert_eq!(
            d.service_for_host("myapp:80", "default")
                .map(|s| s.name.as_str()),
            Some("myapp")
        );
        assert_eq!(
            d.workload("default/myapp")
                .map(|w| w.service_account.as_str()),
            Some("default")
        );
    }
}
