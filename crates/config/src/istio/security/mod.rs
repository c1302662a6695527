//! `security.istio.io`: PeerAuthentication (mTLS modes) and AuthorizationPolicy.

pub(crate) mod authorization_policy;
mod peer_authentication;

use std::collections::BTreeMap;

pub use authorization_policy::*;
pub use peer_authentication::*;

use crate::diag::Findings;
use crate::k8s::meta::validate_labels;
use crate::path::FieldPath;

/// `selector`: the workloads a policy applies to, by pod labels.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSelector {
    /// Labels a workload must all have.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

impl WorkloadSelector {
    /// Whether a workload with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }

    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        let ml = at.field("matchLabels");
        for k in self.match_labels.keys() {
            if k.contains('*') {
                f.error(
                    &ml.key(k.clone()),
                    "wildcard not allowed in label key match",
                )
                .at_key();
            }
        }
        validate_labels(f, &ml, &self.match_labels);
    }
}

/// `targetRef`: a Gateway API or mesh object a policy attaches to.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTargetReference {
    /// API group of the target (`gateway.networking.k8s.io`, `""` for Service).
    #[serde(default)]
    pub group: String,
    /// Kind of the target (`Gateway`, `Service`, `ServiceEntry`, `GatewayClass`).
    pub kind: Option<String>,
    /// Name of the target.
    pub name: Option<String>,
    /// Namespace of the target: refused when set, the target is in the policy's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl PolicyTargetReference {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        match self.kind.as_deref() {
            None | Some("") => {
                f.error(&at.field("kind"), "required field \"kind\" is missing");
            }
            Some(k) => {
                let ok = matches!(
                    (self.group.as_str(), k),
                    ("gateway.networking.k8s.io", "Gateway" | "GatewayClass")
                        | ("", "Service")
                        | ("core", "Service")
                        | ("networking.istio.io", "ServiceEntry")
                );
                if !ok {
                    f.error(
                        &at.field("kind"),
                        format!("unsupported target reference {}/{k}", self.group),
                    )
                    .hint("target a gateway.networking.k8s.io Gateway or GatewayClass, a Service, or a networking.istio.io ServiceEntry");
                }
            }
        }
        if self.name.as_deref().is_none_or(str::is_empty) {
            f.error(&at.field("name"), "required field \"name\" is missing");
        }
        if self.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
            f.error(
                &at.field("namespace"),
                "targetRef namespace must not be set; cross namespace referencing is not supported",
            )
            .hint("the target is looked up in the policy's own namespace; remove `namespace`");
        }
    }
}
