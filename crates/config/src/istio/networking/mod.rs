//! networking.istio.io
use crate::diag::Findings;
use crate::path::FieldPath;
macro_rules! stub { ($($n:ident),*) => { $(
/// Spec.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct $n {}
impl $n { pub(crate) fn validate(&self, _f: &mut Findings, _at: &FieldPath) {} }
)* } }
stub!(
    VirtualServiceSpec,
    DestinationRuleSpec,
    GatewaySpec,
    ServiceEntrySpec
);
