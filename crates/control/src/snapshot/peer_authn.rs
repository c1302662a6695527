//! PeerAuthentication compiled: the mTLS mode each workload port accepts, resolved with
//! Istio's precedence — a workload policy (selector) over its namespace's policy over the
//! mesh-wide one (root namespace, no selector); `UNSET` inherits from the scope above; with no
//! policy at all the mode is PERMISSIVE. `portLevelMtls` narrows a workload policy to a port.
//!
//! Duplicates resolve as Istio's do by age; Meridian has no creation timestamps, so load
//! order stands in for age: the first mesh-wide or namespace-wide policy wins, and among
//! several workload policies matching one workload the first one loaded wins.

use std::collections::BTreeMap;

use meridian_config::Resource;
use meridian_config::istio::security::{self as sec, PeerAuthenticationSpec};
use serde::Serialize;

/// The namespace whose selector-less policies apply to the whole mesh (Istio's default
/// `meshConfig.rootNamespace`).
pub const ROOT_NAMESPACE: &str = "istio-system";

/// What a workload port accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// mTLS only: a plaintext connection or a TLS client without a certificate is refused.
    Strict,
    /// mTLS and plaintext on the same port.
    Permissive,
    /// Plaintext only.
    Disable,
}

impl MtlsMode {
    /// Istio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Strict => "STRICT",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Disable => "DISABLE",
        }
    }

    fn from_spec(mode: sec::MtlsMode) -> Option<MtlsMode> {
        match mode {
            sec::MtlsMode::Unset => None,
            sec::MtlsMode::Disable => Some(MtlsMode::Disable),
            sec::MtlsMode::Permissive => Some(MtlsMode::Permissive),
            sec::MtlsMode::Strict => Some(MtlsMode::Strict),
        }
    }
}

impl std::fmt::Display for MtlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One PeerAuthentication, compiled.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthnPolicy {
    /// `namespace/name`.
    pub name: String,
    /// Labels a workload must have (workload policies only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// The mode; `None` is UNSET (inherit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<MtlsMode>,
    /// Per workload port; `None` is UNSET (inherit the policy's mode).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<u16, Option<MtlsMode>>,
}

/// Every PeerAuthentication in force, by scope.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthentications {
    /// The mesh-wide policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh: Option<PeerAuthnPolicy>,
    /// Namespace-wide policies by namespace.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, PeerAuthnPolicy>,
    /// Workload policies by namespace, in load order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub workloads: BTreeMap<String, Vec<PeerAuthnPolicy>>,
}

/// The mode a workload port gets and the policy that decided it, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveMtls<'a> {
    /// The mode.
    pub mode: MtlsMode,
    /// `namespace/name` of the narrowest policy that set it; `None` for the default.
    pub policy: Option<&'a str>,
}

impl PeerAuthentications {
    /// Whether any policy exists (with none, every port is PERMISSIVE).
    pub fn is_empty(&self) -> bool {
        self.mesh.is_none() && self.namespaces.is_empty() && self.workloads.is_empty()
    }

    /// The mode of `port` (a workload/container port) of a workload in `namespace` with
    /// `labels`.
    ///
    /// ```
    /// # use meridian_control::snapshot::{PeerAuthentications, MtlsMode};
    /// let none = PeerAuthentications::default();
    /// assert_eq!(none.mode("default", &Default::default(), 8080).mode, MtlsMode::Permissive);
    /// ```
    pub fn mode<'a>(
        &'a self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        port: u16,
    ) -> EffectiveMtls<'a> {
        let mut out = EffectiveMtls {
            mode: MtlsMode::Permissive,
            policy: None,
        };
        let apply =
            |out: &mut EffectiveMtls<'a>, p: &'a PeerAuthnPolicy, mode: Option<MtlsMode>| {
                if let Some(m) = mode {
                    out.mode = m;
                    out.policy = Some(p.name.as_str());
                }
            };
        if let Some(p) = &self.mesh {
            apply(&mut out, p, p.mode);
        }
        if let Some(p) = self.namespaces.get(namespace) {
            apply(&mut out, p, p.mode);
        }
        if let Some(p) = self
            .workloads
            .get(namespace)
            .and_then(|ps| ps.iter().find(|p| selects(&p.selector, labels)))
        {
            apply(&mut out, p, p.mode);
            if let Some(m) = p.ports.get(&port) {
                apply(&mut out, p, *m);
            }
        }
        out
    }
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Compiles every PeerAuthentication of a valid bundle; ignored duplicates are noted.
pub(crate) fn compile<'a>(
    resources: impl Iterator<Item = &'a Resource>,
    notes: &mut Vec<String>,
) -> PeerAuthentications {
    let mut out = PeerAuthentications::default();
    for r in resources {
        let Resource::PeerAuthentication(pa) = r else {
            continue;
        };
        let ns = pa.namespace();
        let policy = compile_one(&format!("{ns}/{}", pa.name()), &pa.spec);
        if policy.selector.is_empty() {
            let mesh_wide = ns == ROOT_NAMESPACE;
            let first = if mesh_wide {
                out.mesh.as_ref()
            } else {
                out.namespaces.get(ns)
            };
            if let Some(first) = first {
                let scope = if mesh_wide {
                    "the mesh".to_owned()
                } else {
                    format!("namespace {ns}")
                };
                notes.push(format!(
                    "PeerAuthentication {} ignored: {} is already the policy of {scope}",
                    policy.name, first.name
                ));
            } else if mesh_wide {
                out.mesh = Some(policy);
            } else {
                out.namespaces.insert(ns.to_owned(), policy);
            }
        } else {
            out.workloads.entry(ns.to_owned()).or_default().push(policy);
        }
    }
    out
}

fn compile_one(name: &str, spec: &PeerAuthenticationSpec) -> PeerAuthnPolicy {
    PeerAuthnPolicy {
        name: name.to_owned(),
        selector: spec
            .selector
            .as_ref()
            .map(|s| s.match_labels.clone())
            .unwrap_or_default(),
        mode: spec.mtls.as_ref().and_then(|m| MtlsMode::from_spec(m.mode)),
        ports: spec
            .port_level_mtls
            .iter()
            .flatten()
            .filter_map(|(port, m)| {
                Some((u16::try_from(port.0).ok()?, MtlsMode::from_spec(m.mode)))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use test_case::test_case;

    use super::*;

    fn compiled(yaml: &str) -> (PeerAuthentications, Vec<String>) {
        let bundle = meridian_config::load_str(
            Path::new("/tmp/pa.yaml"),
            yaml,
            meridian_config::LoadOptions::default(),
        );
        let errors: Vec<String> = bundle.diagnostics().map(|d| d.message.clone()).collect();
        assert!(bundle.is_valid(), "{errors:#?}");
        let mut notes = Vec::new();
        (compile(bundle.resources(), &mut notes), notes)
    }

    const POLICIES: &str = r"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mesh, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: relaxed, namespace: legacy}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: inherit, namespace: prod}
spec: {mtls: {mode: UNSET}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: db, namespace: prod}
spec:
  selector: {matchLabels: {app: db}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls:
    5432: {mode: DISABLE}
    9000: {mode: UNSET}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: metrics, namespace: prod}
spec:
  selector: {matchLabels: {app: web}}
  portLevelMtls:
    9090: {mode: DISABLE}
";

    #[test_case("prod", "web", 8080, MtlsMode::Strict, Some("istio-system/mesh"); "unset namespace and workload inherit the mesh")]
    #[test_case("prod", "web", 9090, MtlsMode::Disable, Some("prod/metrics"); "port level on a workload without a mode")]
    #[test_case("prod", "db", 8080, MtlsMode::Permissive, Some("prod/db"); "workload over mesh")]
    #[test_case("prod", "db", 5432, MtlsMode::Disable, Some("prod/db"); "port level over workload")]
    #[test_case("prod", "db", 9000, MtlsMode::Permissive, Some("prod/db"); "unset port inherits the workload")]
    #[test_case("legacy", "web", 8080, MtlsMode::Permissive, Some("legacy/relaxed"); "namespace over mesh")]
    #[test_case("other", "db", 5432, MtlsMode::Strict, Some("istio-system/mesh"); "selectors stay in their namespace")]
    fn precedence(ns: &str, app: &str, port: u16, mode: MtlsMode, policy: Option<&str>) {
        let (pas, _) = compiled(POLICIES);
        let labels = BTreeMap::from([("app".to_owned(), app.to_owned())]);
        let got = pas.mode(ns, &labels, port);
        assert_eq!((got.mode, got.policy), (mode, policy));
    }

    #[test]
    fn no_policy_is_permissive() {
        // Duplicate scopes never get here: validation refuses them ("conflicting
        // PeerAuthentication"), so load order only breaks ties between workload policies.
        let (none, notes) = compiled("");
        assert_eq!(
            none.mode("default", &BTreeMap::new(), 80).mode,
            MtlsMode::Permissive
        );
        assert!(notes.is_empty() && none.is_empty());
    }
}
