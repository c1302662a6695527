//! Desired state: the resource store, and the compiler that turns a valid bundle of resources
//! into immutable, versioned snapshots for the planes (swapped atomically, so a request always
//! sees one whole consistent config).
//!
//! It also holds the contracts through which planes meet without importing each other: the
//! [`endpoints`] table that the workloads plane publishes and the data plane routes to.

pub mod endpoints;
pub mod snapshot;
pub mod store;
