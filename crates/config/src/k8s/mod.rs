//! Kubernetes core kinds: the envelope's metadata, Service and Deployment, and the kinds that
//! name and configure workloads (ServiceAccount, Namespace, ConfigMap, Secret).

pub mod config_map;
pub mod deployment;
pub mod meta;
pub mod namespace;
pub mod service;
pub mod service_account;
