//! `v1` Service: a stable name and ports in front of the replicas its selector picks.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

use super::meta::{IntOrString, validate_labels};
use crate::diag::Findings;
use crate::path::FieldPath;

/// `spec` of a Service.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// Server-populated and unsupported fields are accepted (so real exports load) and never read.
#[allow(dead_code)]
pub struct ServiceSpec {
    /// Ports the service exposes.
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// Pods (replicas) with these labels back the service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
    /// For `ExternalName` services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// `None` or `ClientIP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<SessionAffinity>,
    /// Route to replicas before they are ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_not_ready_addresses: Option<bool>,
    #[serde(default, rename = "clusterIP", skip_serializing)]
    cluster_ip: Option<String>,
    #[serde(default, rename = "clusterIPs", skip_serializing)]
    cluster_ips: Option<IgnoredAny>,
    #[serde(default, rename = "externalIPs", skip_serializing)]
    external_ips: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    external_traffic_policy: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    internal_traffic_policy: Option<String>,
    #[serde(default, skip_serializing)]
    ip_families: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    ip_family_policy: Option<IgnoredAny>,
    #[serde(default, rename = "loadBalancerIP", skip_serializing)]
    load_balancer_ip: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    load_balancer_source_ranges: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    load_balancer_class: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    allocate_load_balancer_node_ports: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    health_check_node_port: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    session_affinity_config: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    traffic_distribution: Option<IgnoredAny>,
}

/// One port of a Service.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Port name; Istio infers the protocol from its prefix (`http`, `http2`, `grpc`, `tcp`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Explicit application protocol (wins over the name prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The service port.
    pub port: Option<u16>,
    /// The replica's port, by number or by container port name; defaults to `port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// Node port (accepted for compatibility; Meridian has no nodes in that sense).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

/// Service types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum ServiceType {
    /// A virtual address inside the mesh.
    ClusterIP,
    /// As ClusterIP; the node port is ignored.
    NodePort,
    /// As ClusterIP; expose it through a Gateway instead.
    LoadBalancer,
    /// A DNS alias to an outside name.
    ExternalName,
}

/// Session affinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum SessionAffinity {
    /// No affinity.
    None,
    /// Keep a client on one replica.
    #[serde(rename = "ClientIP")]
    ClientIp,
}

impl ServicePort {
    /// The port's protocol as Istio selects it: `appProtocol`, else the name's prefix before
    /// `-`, else TCP.
    pub fn istio_protocol(&self) -> &str {
        if let Some(p) = &self.app_protocol {
            return p;
        }
        let name = self.name.as_deref().unwrap_or_default();
        let prefix = name.split('-').next().unwrap_or_default();
        match prefix.to_ascii_lowercase().as_str() {
            "http" => "HTTP",
            "http2" => "HTTP2",
            "grpc" | "grpc-web" => "GRPC",
            "https" => "HTTPS",
            "tls" => "TLS",
            "mongo" => "Mongo",
            "redis" => "Redis",
            "mysql" => "MySQL",
            "udp" => "UDP",
            _ => "TCP",
        }
    }
}

/// What Meridian does instead of a Service field it does not serve.
const NO_CLUSTER_IP: &str =
    "the service is reached by its name through the sidecars; Meridian assigns no cluster IP";
const NO_NODE_PORTS: &str = "Meridian opens no node ports or external load balancers; expose the service through an Istio Gateway";
const NO_TOPOLOGY: &str = "requests are balanced over every ready replica, wherever it runs";

impl ServiceSpec {
    /// Warns about each field that is accepted and not served.
    fn unserved(&self, f: &mut Findings, at: &FieldPath) {
        let mut warn = |field: &'static str, set: bool, what: &str| {
            if set {
                f.warn(&at.field(field), format!("{field} is not served: {what}"))
                    .at_key();
            }
        };
        match self.service_type {
            Some(ServiceType::NodePort | ServiceType::LoadBalancer) => {
                warn(
                    "type",
                    true,
                    "the service is served as ClusterIP; Meridian opens no node ports or external load balancers, expose it through an Istio Gateway",
                );
            }
            Some(ServiceType::ExternalName) => {
                warn(
                    "type",
                    true,
                    "no DNS alias is made, so the service has no endpoints; declare the outside host with a ServiceEntry",
                );
            }
            Some(ServiceType::ClusterIP) | None => {}
        }
        warn(
            "externalName",
            self.external_name.is_some() && self.service_type != Some(ServiceType::ExternalName),
            "it only means something for type ExternalName",
        );
        warn(
            "sessionAffinity",
            self.session_affinity == Some(SessionAffinity::ClientIp),
            "requests are balanced over the replicas; pin a client with a DestinationRule's consistentHash useSourceIp",
        );
        warn(
            "sessionAffinityConfig",
            self.session_affinity_config.is_some(),
            "session affinity is not applied",
        );
        warn(
            "publishNotReadyAddresses",
            self.publish_not_ready_addresses == Some(true),
            "only ready replicas receive traffic",
        );
        // clusterIPs, ipFamilies and ipFamilyPolicy only say how an API server allocates the
        // address: one warning, at the address, is enough for a Service exported from a cluster.
        if self.cluster_ip.as_deref() == Some("None") {
            warn(
                "clusterIP",
                true,
                "None (headless) puts no replica addresses in DNS here: the name reaches every ready replica through the sidecars, balanced, and replicas get no names of their own",
            );
        } else {
            warn("clusterIP", self.cluster_ip.is_some(), NO_CLUSTER_IP);
        }
        for (field, set) in [
            ("externalIPs", self.external_ips.is_some()),
            (
                "externalTrafficPolicy",
                self.external_traffic_policy.is_some(),
            ),
            ("loadBalancerIP", self.load_balancer_ip.is_some()),
            (
                "loadBalancerSourceRanges",
                self.load_balancer_source_ranges.is_some(),
            ),
            ("loadBalancerClass", self.load_balancer_class.is_some()),
            (
                "allocateLoadBalancerNodePorts",
                self.allocate_load_balancer_node_ports.is_some(),
            ),
            ("healthCheckNodePort", self.health_check_node_port.is_some()),
        ] {
            warn(field, set, NO_NODE_PORTS);
        }
        for (field, set) in [
            (
                "internalTrafficPolicy",
                // `Cluster` is the default, and what Meridian does.
                self.internal_traffic_policy
                    .as_deref()
                    .is_some_and(|p| p != "Cluster"),
            ),
            ("trafficDistribution", self.traffic_distribution.is_some()),
        ] {
            warn(field, set, NO_TOPOLOGY);
        }
        for (i, p) in self.ports.iter().enumerate() {
            if p.node_port.is_some() {
                f.warn(
                    &at.field("ports").index(i).field("nodePort"),
                    format!("nodePort is not served: {NO_NODE_PORTS}"),
                )
                .at_key();
            }
        }
    }

    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        self.unserved(f, at);
        validate_labels(f, &at.field("selector"), &self.selector);
        let external = self.service_type == Some(ServiceType::ExternalName);
        if external && self.external_name.is_none() {
            f.error(
                &at.field("externalName"),
                "required field \"externalName\" is missing for type ExternalName",
            );
        }
        if self.ports.is_empty() && !external {
            f.error(&at.field("ports"), "must have at least one port");
        }
        let mut names = Vec::new();
        let mut numbers = Vec::new();
        for (i, p) in self.ports.iter().enumerate() {
            let pp = at.field("ports").index(i);
            match p.port {
                None => {
                    f.error(&pp.field("port"), "required field \"port\" is missing");
                }
                Some(0) => {
                    f.error(&pp.field("port"), "must be between 1 and 65535, inclusive");
                }
                Some(n) => {
                    let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                    if numbers.contains(&(n, proto.clone())) {
                        f.error(&pp, format!("duplicate port {n}/{proto}"));
                    }
                    numbers.push((n, proto));
                }
            }
            if self.ports.len() > 1 && p.name.is_none() {
                f.error(
                    &pp.field("name"),
                    "a name is required when a service has more than one port",
                );
            }
            if let Some(n) = &p.name {
                if let Err(e) = super::meta::NameRule::Label.check(n) {
                    f.error(&pp.field("name"), format!("invalid port name \"{n}\": {e}"));
                }
                if names.contains(n) {
                    f.error(&pp.field("name"), format!("duplicate port name \"{n}\""));
                }
                names.push(n.clone());
            }
            if let Some(proto) = &p.protocol
                && !matches!(proto.as_str(), "TCP" | "UDP" | "SCTP")
            {
                f.error(
                    &pp.field("protocol"),
                    format!("unsupported value \"{proto}\""),
                )
                .hint("one of: TCP, UDP, SCTP");
            }
            match &p.target_port {
                Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => {
                    f.error(
                        &pp.field("targetPort"),
                        "must be between 1 and 65535, inclusive",
                    );
                }
                Some(IntOrString::String(s)) => {
                    if let Err(e) = super::meta::NameRule::Label.check(s) {
                        f.error(
                            &pp.field("targetPort"),
                            format!("invalid port name \"{s}\": {e}"),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}
