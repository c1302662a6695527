//! Whether a replica may run on this node: Kubernetes `nodeSelector` and Swarm placement
//! constraints against the node's labels, host name, role and id, and Swarm's
//! `max_replicas_per_node`.

use std::collections::BTreeMap;

use meridian_config::compose::NodeAttribute;

use crate::workload::WorkloadSpec;

/// The node this supervisor runs on, as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    /// Node id (`node.id`).
    pub id: String,
    /// Host name (`node.hostname`, `kubernetes.io/hostname`).
    pub hostname: String,
    /// `manager` or `worker` (`node.role`).
    pub role: String,
    /// Labels (`--label region=us-east`, `--region`).
    pub labels: BTreeMap<String, String>,
}

impl NodeInfo {
    /// This machine: its host name, role `manager` (a single node manages itself), no
    /// labels yet.
    pub fn local() -> Self {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        Self {
            id: hostname.clone(),
            hostname,
            role: "manager".into(),
            labels: BTreeMap::new(),
        }
    }

    /// Adds a label.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// A node label, also under its well-known Kubernetes alias (`region` ↔
    /// `topology.kubernetes.io/region`, `zone` ↔ `topology.kubernetes.io/zone`), plus
    /// `kubernetes.io/hostname`, `kubernetes.io/os` and `kubernetes.io/arch`.
    fn label(&self, key: &str) -> Option<String> {
        if let Some(v) = self.labels.get(key) {
            return Some(v.clone());
        }
        let alias = match key {
            "region" => "topology.kubernetes.io/region",
            "topology.kubernetes.io/region" => "region",
            "zone" => "topology.kubernetes.io/zone",
            "topology.kubernetes.io/zone" => "zone",
            "kubernetes.io/hostname" => return Some(self.hostname.clone()),
            "kubernetes.io/os" => return Some(std::env::consts::OS.into()),
            "kubernetes.io/arch" => return Some(arch().into()),
            _ => return None,
        };
        self.labels.get(alias).cloned()
    }

    fn attribute(&self, a: &NodeAttribute) -> Option<String> {
        match a {
            NodeAttribute::Id => Some(self.id.clone()),
            NodeAttribute::Hostname => Some(self.hostname.clone()),
            NodeAttribute::Role => Some(self.role.clone()),
            NodeAttribute::PlatformOs => Some(std::env::consts::OS.into()),
            NodeAttribute::PlatformArch => Some(std::env::consts::ARCH.into()),
            NodeAttribute::Label(k) | NodeAttribute::EngineLabel(k) => self.label(k),
        }
    }

    fn describe_labels(&self) -> String {
        if self.labels.is_empty() {
            "none".into()
        } else {
            self.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// Go's names, which Kubernetes uses.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Why a workload's replicas cannot run on this node, or `None` when they may.
pub(crate) fn unfit(spec: &WorkloadSpec, node: &NodeInfo) -> Option<String> {
    for (k, v) in &spec.node_selector {
        let have = node.label(k);
        if have.as_deref() != Some(v.as_str()) {
            let got =
                have.map_or_else(|| "does not have it".to_owned(), |h| format!("has {k}={h}"));
            return Some(format!(
                "0/1 nodes are available: nodeSelector {k}={v} does not match node {} ({got}); start Meridian with --label {k}={v}",
                node.hostname
            ));
        }
    }
    for c in &spec.constraints {
        if !c
            .any_of
            .iter()
            .any(|cond| cond.holds(node.attribute(&cond.attribute).as_deref()))
        {
            let fix = c
                .any_of
                .iter()
                .find_map(|cond| match (&cond.attribute, cond.op) {
                    (
                        NodeAttribute::Label(k) | NodeAttribute::EngineLabel(k),
                        meridian_config::compose::ConstraintOp::Eq,
                    ) => Some(format!("; start Meridian with --label {k}={}", cond.value)),
                    _ => None,
                })
                .unwrap_or_default();
            return Some(format!(
                "no suitable node: constraint \"{}\" does not hold on node {} (labels: {}){fix}",
                c.text,
                node.hostname,
                node.describe_labels()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_config::compose::{Environment, parse_str};

    fn compose_spec(constraint: &str) -> WorkloadSpec {
        let text = format!(
            "services:\n  app:\n    command: [x]\n    deploy:\n      placement:\n        constraints: [\"{constraint}\"]\n"
        );
        let loaded = parse_str(std::path::Path::new("c.yml"), &text, &Environment::empty());
        let file = loaded.valid().expect("valid").clone();
        WorkloadSpec::from_compose(&file, &file.services[0])
    }

    #[test]
    fn swarm_constraints_on_labels_role_and_hostname() {
        let node = NodeInfo {
            id: "n1".into(),
            hostname: "laptop".into(),
            role: "manager".into(),
            labels: BTreeMap::new(),
        }
        .with_label("region", "eu-west");
        assert_eq!(
            unfit(&compose_spec("node.labels.region == eu-west"), &node),
            None
        );
        assert_eq!(unfit(&compose_spec("node.role == manager"), &node), None);
        assert!(unfit(&compose_spec("node.hostname != laptop"), &node).is_some());
        assert_eq!(
            unfit(
                &compose_spec("node.labels.region == us-east || node.labels.region == eu-west"),
                &node
            ),
            None
        );
        let why = unfit(&compose_spec("node.labels.region == us-east"), &node).expect("unfit");
        assert_eq!(
            why,
            "no suitable node: constraint \"node.labels.region == us-east\" does not hold on node laptop (labels: region=eu-west); start Meridian with --label region=us-east"
        );
    }

    #[test]
    fn node_selector_uses_well_known_aliases() {
        let mut spec = compose_spec("node.role == manager");
        spec.constraints.clear();
        spec.node_selector
            .insert("topology.kubernetes.io/region".into(), "us-east".into());
        let node = NodeInfo::local().with_label("region", "us-east");
        assert_eq!(unfit(&spec, &node), None);
        let other = NodeInfo::local().with_label("region", "eu-west");
        assert!(
            unfit(&spec, &other)
                .is_some_and(|w| w.contains("--label topology.kubernetes.io/region=us-east"))
        );
    }
}
