//! The contract of Meridian's admin API, shared by the node that serves it and the CLI that
//! calls it: each request as a typed value ([`request`]), and who may send it ([`access`]).
//!
//! The admin listener is on loopback, where every local program (and every web page open in
//! the user's browser) can reach it. Reading state stays open there, as Envoy's and Istio's
//! admin endpoints are; changing it (scaling, rollouts, reloading the CA) needs the node's
//! token ([`token`]), kept in the state folder where only the user can read it. Every request,
//! read or write, must name the admin address itself in `Host` (a DNS-rebinding page names
//! its own domain) and, when a browser sends `Origin`, come from that same origin.

pub mod access;
pub mod request;
pub mod token;

pub use access::{Refusal, check};
pub use request::{AdminRequest, ApiError, LogOptions};
pub use token::AdminToken;

/// Entry points for the fuzz targets under `fuzz/`.
pub mod fuzz {
    /// An admin request as bytes off the wire (head and body): parsing and access checks
    /// never panic, and whatever parses renders back to a path that parses the same.
    pub fn admin_request(data: &[u8]) {
        crate::request::fuzzing::check(data);
    }
}
