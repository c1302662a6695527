//! Istio's configuration APIs: `networking.istio.io` and `security.istio.io`.

pub mod networking;
pub mod security;
