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
    pub port_level_mtls: Option<BTreeMap<PortKey, MutualTls>>,
}

/// A port as a map key: a number, or (as JSON and Istio's own examples write protobuf map
/// keys) a string holding one, `"8080"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PortKey(pub u32);

impl<'de> serde::Deserialize<'de> for PortKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PortKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a port number")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PortKey, E> {
                u32::try_from(v)
                    .map(PortKey)
                    .map_err(|_| E::custom(format!("port {v} is out of range")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PortKey, E> {
                u32::try_from(v)
                    .map(PortKey)
                    .map_err(|_| E::custom(format!("port {v} is out of range")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PortKey, E> {
                v.trim()
                    .parse()
                    .map(PortKey)
                    .map_err(|_| E::custom(format!("{v:?} is not a port number")))
            }
        }
        d.deserialize_any(V)
    }
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
            for PortKey(port) in ports.keys() {
                if !(1..=65535).contains(port) {
                    f.error(&pp.key(port.to_string()), "port must be between 1-65535")
                        .at_key();
                }
            }
        }
    }
}
