//! PeerAuthentication: whether a workload's inbound connections must, may or must not use
//! mutual TLS.

use std::collections::BTreeMap;

use super::WorkloadSelector;
use crate::diag::Findings;
use crate::path::FieldPath;

/// `spec` of a PeerAuthentication.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerAuthenticationSpec {
    /// Workloads it applies to; absent means the whole namespace (or the mesh, in the root
    /// namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// The mode for every port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MutualTls>,
    /// Per workload port overrides (only with a selector).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_level_mtls: Option<BTreeMap<u32, MutualTls>>,
}

/// `mtls`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MutualTls {
    /// The mode; UNSET inherits.
    #[serde(default)]
    pub mode: MtlsMode,
}

/// mTLS modes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent scope; PERMISSIVE when there is none.
    #[default]
    Unset,
    /// Plaintext only.
    Disable,
    /// Both plaintext and mTLS on the same port.
    Permissive,
    /// mTLS with a client certificate only.
    Strict,
}

impl PeerAuthenticationSpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if let Some(s) = &self.selector {
            s.validate(f, &at.field("selector"));
        }
        if let Some(ports) = &self.port_level_mtls {
            let pp = at.field("portLevelMtls");
            if self
                .selector
                .as_ref()
                .is_none_or(|s| s.match_labels.is_empty())
            {
                f.error(&pp, "portLevelMtls requires selector").at_key();
            }
            if ports.is_empty() {
                f.error(
                    &pp,
                    "portLevelMtls must have at least one port when it is set",
                );
            }
            for port in ports.keys() {
                if !(1..=65535).contains(port) {
                    f.error(&pp.key(port.to_string()), "port must be between 1-65535")
                        .at_key();
                }
            }
        }
    }
}
