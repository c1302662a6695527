//! `v1` Namespace. Meridian keeps every namespace's names apart without declaring them, so a
//! Namespace only says that the name is meant; its labels (`istio-injection`,
//! `istio.io/dataplane-mode`) change nothing, every workload has a sidecar.

use serde::de::IgnoredAny;

use super::meta::ObjectMeta;

/// A Namespace has nothing Meridian uses besides its metadata.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NamespaceData {}

/// A Namespace as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawNamespace {
    #[allow(dead_code)]
    api_version: Option<IgnoredAny>,
    #[allow(dead_code)]
    kind: Option<IgnoredAny>,
    pub(crate) metadata: Option<ObjectMeta>,
    #[allow(dead_code)]
    spec: Option<IgnoredAny>,
    #[allow(dead_code)]
    status: Option<IgnoredAny>,
}

impl RawNamespace {
    pub(crate) fn into_parts(self) -> (Option<ObjectMeta>, NamespaceData) {
        (self.metadata, NamespaceData {})
    }
}
