//! Kubernetes core kinds: the envelope's metadata, Service and Deployment.

pub mod deployment;
pub mod meta;
pub mod service;
