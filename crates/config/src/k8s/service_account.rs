//! `v1` ServiceAccount: the name a workload runs as. Meridian's CA puts it in each replica's
//! SPIFFE identity (`spiffe://cluster.local/ns/<namespace>/sa/<name>`), which
//! AuthorizationPolicies match with `principals` and `source.serviceAccount`.

use serde::de::IgnoredAny;

use super::meta::ObjectMeta;
use crate::diag::Findings;
use crate::path::FieldPath;

/// What a ServiceAccount holds besides its name. Kubernetes API tokens and image pull
/// secrets have no use here: Meridian has no API server and pulls no images.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountData {
    /// Whether Kubernetes would mount an API token into the pods (accepted, no effect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

/// A ServiceAccount as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawServiceAccount {
    #[allow(dead_code)]
    api_version: Option<IgnoredAny>,
    #[allow(dead_code)]
    kind: Option<IgnoredAny>,
    pub(crate) metadata: Option<ObjectMeta>,
    automount_service_account_token: Option<bool>,
    secrets: Option<IgnoredAny>,
    image_pull_secrets: Option<IgnoredAny>,
}

impl RawServiceAccount {
    /// Warns about the fields that only mean something to a Kubernetes API server or kubelet.
    pub(crate) fn unserved(&self, f: &mut Findings) {
        let root = FieldPath::root();
        for (field, set, what) in [
            (
                "automountServiceAccountToken",
                self.automount_service_account_token.is_some(),
                "Meridian has no API server, so no token is mounted into the replicas",
            ),
            (
                "secrets",
                self.secrets.is_some(),
                "Meridian has no API server, so no token secrets are made",
            ),
            (
                "imagePullSecrets",
                self.image_pull_secrets.is_some(),
                "Meridian runs processes and pulls no images",
            ),
        ] {
            if set {
                f.warn(&root.field(field), format!("{field} is ignored: {what}"))
                    .at_key();
            }
        }
    }

    pub(crate) fn into_parts(self) -> (Option<ObjectMeta>, ServiceAccountData) {
        (
            self.metadata,
            ServiceAccountData {
                automount_service_account_token: self.automount_service_account_token,
            },
        )
    }
}
