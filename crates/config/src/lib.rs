//! Meridian's resource model.
//!
//! This crate is the first stage of the data flow (`files ► parse ► validate`): it reads
//! Kubernetes and Istio manifests (multi-document YAML or JSON) into typed Rust, checks each
//! object as the Kubernetes API server and Istio's validation webhook would, then checks the
//! objects against each other as `istioctl analyze` does. Every finding carries
//! `file:line:col`, the resource, the field path and, where one helps, a hint.
//!
//! It does no I/O beyond reading the files it is given. The `control` crate turns a valid
//! [`Bundle`] into the snapshot the planes serve.

pub mod analyze;
pub mod azure;
pub mod compose;
#[cfg(test)]
mod coverage;
pub mod de;
pub mod diag;
pub mod duration;
pub mod gateway_api;
pub mod istio;
pub mod k8s;
pub mod load;
pub mod node;
pub mod other_kinds;
pub mod path;
pub mod resource;
pub mod sam;
pub mod terraform;
mod unserved;

pub use diag::{Diagnostic, Severity};
pub use load::{Bundle, LoadOptions, LoadedDoc, load_paths, load_str};
pub use resource::{IgnoredObject, Kind, Object, Resource, ResourceId};
