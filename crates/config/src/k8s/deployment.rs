//! `apps/v1` Deployment.
use crate::diag::Findings;
use crate::path::FieldPath;

/// Spec.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct DeploymentSpec {}
impl DeploymentSpec {
    pub(crate) fn validate(&self, _f: &mut Findings, _at: &FieldPath) {}
}
