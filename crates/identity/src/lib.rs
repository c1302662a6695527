//! The mesh certificate authority: SPIFFE identities, issuing and rotating workload
//! certificates, and the rustls configurations for mutual TLS between sidecars.
//!
//! It sits beside the proxy in the data flow: `meridian up` (or the control plane, for many
//! nodes) loads one [`CertificateAuthority`]; each workload replica gets a
//! [`WorkloadIdentity`] whose certificate renews itself; the proxy's inbound and outbound
//! listeners take their rustls configurations from it and read the peer's SPIFFE ID with
//! [`peer_identity`] for PeerAuthentication, AuthorizationPolicy and metrics.
//!
//! ```no_run
//! use std::sync::Arc;
//! use meridian_identity::*;
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = Arc::new(CertificateAuthority::load_or_create(".meridian/ca", TrustDomain::new("cluster.local")?)?);
//! let me = WorkloadIdentity::start(ca.clone(), ca.trust_domain().workload_id("default", "reviews")?, DEFAULT_WORKLOAD_TTL)?;
//! let inbound = me.server_config(ClientAuth::Required, &[ALPN_H2, ALPN_HTTP11])?;
//! let ratings = ca.trust_domain().workload_id("default", "ratings")?;
//! let outbound = me.client_config(ExpectedPeer::Exactly(ratings), &[ALPN_H2])?;
//! # Ok(()) }
//! ```

mod bundle;
mod ca;
mod cert;
mod error;
mod rotation;
mod spiffe;
mod state;
mod tls;
mod verifier;
mod workload;

pub use bundle::{TrustBundle, TrustedRoot};
pub use ca::{CaSource, CertificateAuthority, DEFAULT_ROOT_OVERLAP, DEFAULT_WORKLOAD_TTL};
pub use cert::{CertInfo, IssuedCert, fingerprint_sha256, rfc3339};
pub use error::{CaFileProblem, Error};
pub use rotation::Rotation;
pub use spiffe::{SpiffeId, TrustDomain};
pub use tls::{ALPN_H2, ALPN_HTTP11, ClientAuth, peer_identity};
pub use verifier::{
    ExpectedPeer, Rejection, SpiffeClientVerifier, SpiffeServerVerifier, spiffe_id_of,
};
pub use workload::{CertResolver, WorkloadIdentity};
