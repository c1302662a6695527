//! Kubernetes core kinds: the envelope's metadata, Service and Deployment, the kinds that
//! name and configure workloads (ServiceAccount, Namespace, ConfigMap, Secret), and Ingress,
//! served through Istio's model (`ingress`).

pub mod config_map;
pub mod deployment;
pub mod ingress;
pub mod meta;
pub mod namespace;
pub mod service;
pub mod service_account;
pub mod volume;
