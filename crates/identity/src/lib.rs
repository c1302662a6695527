//! The mesh certificate authority: SPIFFE identities, issuing and rotating workload
//! certificates, and the rustls configurations for mutual TLS between sidecars.
