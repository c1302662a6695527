//! The Kubernetes Gateway API (`gateway.networking.k8s.io`): Gateway, GatewayClass,
//! HTTPRoute, GRPCRoute and ReferenceGrant, read and checked as the API server does, then
//! translated into Istio Gateways and VirtualServices as Istio's own controller translates
//! them, so that Meridian's gateway serves them as Istio does.

mod spec;
mod translate;
mod validate;

pub use spec::*;
pub use translate::{CLASS, CONTROLLER, CROSS_NAMESPACE_CREDENTIAL, GROUP};

pub(crate) use translate::translate;

#[cfg(test)]
mod tests;
