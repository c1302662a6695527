//! Istio's configuration APIs: `networking.istio.io` and `security.istio.io`, with the
//! validation rules of Istio's admission webhook (`pkg/config/validation`).

pub mod networking;
pub mod security;
pub(crate) mod validation;

pub use validation::{check_dns_name, check_header_name, check_wildcard_host};

#[cfg(test)]
mod tests;
