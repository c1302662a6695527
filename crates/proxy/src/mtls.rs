//! The mesh's mutual TLS in the data plane: a [`WorkloadIdentity`] per SPIFFE ID (issued by
//! the node's CA and renewed in the background), the server configurations inbound sidecars
//! accept with, and the client transports outbound sidecars originate with — Istio's auto
//! mTLS: to a replica behind a sidecar whose PeerAuthentication accepts mTLS, unless a
//! DestinationRule says otherwise.
//!
//! Caching follows `meridian-identity`'s rules for session resumption: one server
//! configuration (with its own ticket keys) per identity and client-auth mode, shared by the
//! replicas of that identity, so a ticket is only ever accepted by the identity and mode that
//! issued it; one client configuration per (caller, expected peer, ALPN), and a server name
//! per upstream cluster in Istio's SNI form (`outbound_.80_.v1_.myapp.default.svc.cluster.local`),
//! so tickets are offered only to the peers of that cluster. Nothing here is on a per-request
//! path: listeners take their configurations when they start, clusters when they are rebuilt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use meridian_control::endpoints::ReplicaEndpoint;
use meridian_control::snapshot::{Cluster, MtlsMode, Snapshot, UpstreamProtocol, UpstreamTls};
use meridian_identity::{
    ALPN_H2, ALPN_HTTP11, CertificateAuthority, ClientAuth, ExpectedPeer, SpiffeId,
    WorkloadIdentity,
};
use rustls_pki_types::ServerName;

use crate::error::Error;
use crate::upstream::{TlsTransport, Transport};

/// The server configurations of one inbound listener's workload identity.
#[derive(Debug)]
pub(crate) struct InboundTls {
    /// The workload's SPIFFE ID.
    pub(crate) id: meridian_identity::SpiffeId,
    /// Client certificate required.
    pub(crate) strict: Arc<rustls::ServerConfig>,
    /// Client certificate verified when offered.
    pub(crate) permissive: Arc<rustls::ServerConfig>,
}

/// How the proxy gets its workloads' certificates.
#[derive(Clone)]
pub struct MeshIdentity {
    /// The node's certificate authority.
    pub ca: Arc<CertificateAuthority>,
    /// Lifetime of workload certificates (renewed at about half of it).
    pub workload_cert_ttl: Duration,
}

impl std::fmt::Debug for MeshIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshIdentity")
            .field("trust_domain", &self.ca.trust_domain().as_str())
            .field("workload_cert_ttl", &self.workload_cert_ttl)
            .finish()
    }
}

/// Which peers a client configuration accepts, as a cache key.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Peer {
    Exactly(SpiffeId),
    AnyInTrustDomain,
}

/// The identities and TLS configurations of one proxy.
pub(crate) struct Mtls {
    options: MeshIdentity,
    identities: Mutex<HashMap<SpiffeId, WorkloadIdentity>>,
    servers: Mutex<HashMap<(SpiffeId, bool), Arc<rustls::ServerConfig>>>,
    clients: Mutex<HashMap<(SpiffeId, Peer, u8), Arc<rustls::ClientConfig>>>,
}

impl std::fmt::Debug for Mtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mtls")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single map operation: a poisoned map is still whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn identity_error(e: meridian_identity::Error) -> Error {
    Error::Identity(e.to_string())
}

impl Mtls {
    pub(crate) fn new(options: MeshIdentity) -> Mtls {
        Mtls {
            options,
            identities: Mutex::default(),
            servers: Mutex::default(),
            clients: Mutex::default(),
        }
    }

    /// The CA.
    pub(crate) fn ca(&self) -> &Arc<CertificateAuthority> {
        &self.options.ca
    }

    /// `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`.
    pub(crate) fn workload_id(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<SpiffeId, Error> {
        let sa = if service_account.is_empty() {
            "default"
        } else {
            service_account
        };
        self.options
            .ca
            .trust_domain()
            .workload_id(namespace, sa)
            .map_err(identity_error)
    }

    /// The identity for `id`, issued on first use. Must run inside the runtime.
    pub(crate) fn identity(&self, id: &SpiffeId) -> Result<WorkloadIdentity, Error> {
        let mut ids = lock(&self.identities);
        if let Some(existing) = ids.get(id) {
            return Ok(existing.clone());
        }
        let identity = WorkloadIdentity::start(
            Arc::clone(&self.options.ca),
            id.clone(),
            self.options.workload_cert_ttl,
        )
        .map_err(identity_error)?;
        tracing::info!(identity = %id, "issued workload certificate");
        ids.insert(id.clone(), identity.clone());
        Ok(identity)
    }

    /// An identity already issued, for `meridian ca inspect`.
    pub(crate) fn existing(&self, id: &SpiffeId) -> Option<WorkloadIdentity> {
        lock(&self.identities).get(id).cloned()
    }

    /// The inbound configuration of `id`: client certificate required (STRICT) or optional
    /// (PERMISSIVE); ALPN h2 and http/1.1.
    pub(crate) fn server_config(
        &self,
        id: &SpiffeId,
        strict: bool,
    ) -> Result<Arc<rustls::ServerConfig>, Error> {
        let key = (id.clone(), strict);
        if let Some(c) = lock(&self.servers).get(&key) {
            return Ok(Arc::clone(c));
        }
        let identity = self.identity(id)?;
        let auth = if strict {
            ClientAuth::Required
        } else {
            ClientAuth::Optional
        };
        let config = identity
            .server_config(auth, &[ALPN_H2, ALPN_HTTP11])
            .map_err(identity_error)?;
        Ok(Arc::clone(lock(&self.servers).entry(key).or_insert(config)))
    }

    fn client_config(
        &self,
        caller: &SpiffeId,
        peer: Peer,
        protocol: UpstreamProtocol,
    ) -> Result<Arc<rustls::ClientConfig>, Error> {
        let key = (caller.clone(), peer.clone(), protocol as u8);
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(Arc::clone(c));
        }
        let identity = self.identity(caller)?;
        let expected = match peer {
            Peer::Exactly(id) => ExpectedPeer::Exactly(id),
            Peer::AnyInTrustDomain => {
                ExpectedPeer::AnyInTrustDomain(self.options.ca.trust_domain().clone())
            }
        };
        // The ALPN says which protocol the connection carries; a cluster that follows the
        // client's protocol offers none, and the inbound sidecar recognises either.
        let alpn: &[&[u8]] = match protocol {
            UpstreamProtocol::Http1 => &[ALPN_HTTP11],
            UpstreamProtocol::Http2 => &[ALPN_H2],
            UpstreamProtocol::Client => &[],
        };
        let config = identity
            .client_config(expected, alpn)
            .map_err(identity_error)?;
        Ok(Arc::clone(lock(&self.clients).entry(key).or_insert(config)))
    }

    /// A caller's view: the transports its outbound traffic uses.
    pub(crate) fn client(self: &Arc<Self>, caller: SpiffeId) -> MeshClient {
        MeshClient {
            mtls: Arc::clone(self),
            caller,
        }
    }
}

/// Istio's SNI for a cluster: `outbound_.<port>_.<subset>_.<host>`.
pub(crate) fn cluster_sni(c: &Cluster) -> String {
    format!(
        "outbound_.{}_.{}_.{}",
        c.port,
        c.subset.as_deref().unwrap_or(""),
        c.service
    )
}

/// A cluster endpoint that is a replica port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplicaTarget<'a> {
    /// The replica.
    pub(crate) replica: &'a ReplicaEndpoint,
    /// Its declared (container) port.
    pub(crate) declared: u16,
    /// Whether the address is its inbound sidecar.
    pub(crate) fronted: bool,
}

/// What an outbound sidecar does with one endpoint of a cluster.
pub(crate) enum EndpointTls {
    /// As the cluster's DestinationRule says (plaintext, SIMPLE or MUTUAL origination).
    Cluster,
    /// Mesh mTLS with this transport.
    Mesh(Transport),
    /// Leave the endpoint out: it would bypass its sidecar's policies, or its transport
    /// cannot be built (logged).
    Skip,
}

/// The outbound transports of one calling identity.
pub(crate) struct MeshClient {
    mtls: Arc<Mtls>,
    caller: SpiffeId,
}

impl std::fmt::Debug for MeshClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MeshClient")
            .field(&self.caller.as_str())
            .finish()
    }
}

impl MeshClient {
    fn transport(&self, c: &Cluster, peer: Peer) -> EndpointTls {
        let sni = cluster_sni(c);
        let config = match self.mtls.client_config(&self.caller, peer, c.protocol) {
            Ok(config) => config,
            Err(e) => {
                tracing::warn!(cluster = %c.name, error = %e, "no mesh tls for this cluster");
                return EndpointTls::Skip;
            }
        };
        match ServerName::try_from(sni) {
            Ok(name) => EndpointTls::Mesh(Transport::Tls(TlsTransport::new(config, name))),
            Err(e) => {
                tracing::warn!(cluster = %c.name, error = %e, "no mesh tls for this cluster");
                EndpointTls::Skip
            }
        }
    }

    /// The transport to one endpoint of cluster `c`: a replica port, or a fixed address.
    pub(crate) fn endpoint(
        &self,
        snapshot: &Snapshot,
        c: &Cluster,
        target: Option<ReplicaTarget<'_>>,
    ) -> EndpointTls {
        match target {
            Some(t) => self.replica(snapshot, c, t.replica, t.declared, t.fronted),
            None => self.fixed(c),
        }
    }

    /// The transport to `replica`'s port `declared` in cluster `c`. `fronted` says whether
    /// the address is the replica's inbound sidecar. An unset DestinationRule `tls` means
    /// auto mTLS: mTLS unless the replica's PeerAuthentication for the port is DISABLE.
    fn replica(
        &self,
        snapshot: &Snapshot,
        c: &Cluster,
        replica: &ReplicaEndpoint,
        declared: u16,
        fronted: bool,
    ) -> EndpointTls {
        let wants_mtls = match &c.policy.tls {
            UpstreamTls::IstioMutual => true,
            UpstreamTls::Auto => {
                snapshot
                    .peer_authentication
                    .mode(&replica.workload.namespace, &replica.labels, declared)
                    .mode
                    != MtlsMode::Disable
            }
            _ => return EndpointTls::Cluster,
        };
        if !fronted {
            // Reaching the replica's own port would bypass PeerAuthentication and
            // AuthorizationPolicy: wait for its sidecar.
            return EndpointTls::Skip;
        }
        if !wants_mtls {
            return EndpointTls::Cluster;
        }
        match self
            .mtls
            .workload_id(&replica.workload.namespace, &replica.service_account)
        {
            Ok(peer) => self.transport(c, Peer::Exactly(peer)),
            Err(e) => {
                tracing::warn!(replica = %replica.replica, error = %e, "no mesh identity for replica");
                EndpointTls::Skip
            }
        }
    }

    /// The transport to a fixed address (a ServiceEntry endpoint): mesh mTLS only when a
    /// DestinationRule asks for ISTIO_MUTUAL, then with any identity of the trust domain.
    fn fixed(&self, c: &Cluster) -> EndpointTls {
        match c.policy.tls {
            UpstreamTls::IstioMutual => self.transport(c, Peer::AnyInTrustDomain),
            _ => EndpointTls::Cluster,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_sni_is_a_valid_server_name() {
        let name = "outbound_.80_._.myapp.default.svc.cluster.local";
        assert!(ServerName::try_from(name.to_owned()).is_ok());
        assert!(
            ServerName::try_from("outbound_.80_.v1_.myapp.default.svc.cluster.local".to_owned())
                .is_ok()
        );
    }
}
