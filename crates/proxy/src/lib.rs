//! The data plane: Meridian's in-process sidecars and its ingress gateway. Each workload gets
//! an outbound listener (its `HTTP_PROXY`, plus a local port per upstream service), each
//! replica an inbound listener in front of its real port, and each Gateway port a listener;
//! Compose's published ports get plain TCP listeners ([`ingress`]).
//! Requests are routed with Istio's semantics from a compiled
//! [`meridian_control::snapshot::Snapshot`] read through one atomic load per request, and
//! balanced over the replicas of the endpoint table the workloads plane publishes.
//!
//! ```no_run
//! # async fn wire(snapshot: std::sync::Arc<meridian_control::snapshot::Snapshot>,
//! #               endpoints: meridian_control::endpoints::EndpointWatch,
//! #               replica: meridian_control::endpoints::ReplicaEndpoint)
//! #               -> Result<(), meridian_proxy::Error> {
//! use meridian_proxy::{Caller, GatewayPorts, Proxy, ProxyOptions};
//! let proxy = Proxy::new(snapshot, endpoints, ProxyOptions::default());
//! let gateway = proxy.start_gateway_listeners(GatewayPorts::Offset(8000)).await?;
//! let http_proxy = proxy.start_outbound(Caller::of_replica(&replica)).await?;
//! let inbound = proxy.start_inbound(&replica).await?;
//! # Ok(()) }
//! ```

mod authn;
mod authz;
pub mod balancer;
pub mod body;
pub mod cache;
mod cluster;
mod coalesce;
mod connection;
mod downstream;
pub mod error;
pub mod forwarded;
pub mod frontdoor;
mod fuzzing;
mod h1;
pub mod headers;
pub mod ingress;
pub mod limits;
mod listener;
mod mtls;
pub mod outlier;
pub mod pool;
mod proxy_protocol;
pub mod record;
mod rewind;
mod sealed;
mod server;
mod tls;
pub mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;
use meridian_control::endpoints::{EndpointTable, EndpointWatch, ReplicaEndpoint, WorkloadRef};
use meridian_control::snapshot::Snapshot;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::{Error, ProxyError};
pub use forwarded::GatewayTopology;
pub use limits::ConnectionLimits;
pub use mtls::MeshIdentity;
pub use record::{
    Arrival, Carry, ConnectionSecurity, Phase, RecordSink, Reporter, RequestRecord, ResponseFlags,
};

pub use cluster::{ClusterStatus, EndpointStatus};
pub use outlier::{DetectorStatus, EjectionReason, HealthStatus};
pub use pool::LimitsStatus;

/// Entry points for the fuzz targets under `fuzz/` and their regression corpora: each runs
/// a parser over arbitrary bytes and panics when one of its properties does not hold.
pub mod fuzz {
    /// The HTTP/1.1 codec: request and response heads parse the same whole and in pieces
    /// and survive being written back; chunked bodies decode the same however the bytes
    /// arrive and survive re-encoding.
    pub fn http1_codec(data: &[u8]) {
        crate::h1::fuzzing::check(data);
    }

    /// How a gateway connection starts: a PROXY protocol header parses the same whole and
    /// byte by byte; a TLS ClientHello's SNI picks the Gateway server Istio's rules pick.
    pub fn gateway_connection_start(data: &[u8]) {
        crate::fuzzing::check(data);
    }
}

use cluster::{InboundMap, Registry, Resolved};
use downstream::{ListenerCtx, ListenerKind};

/// The workload a request comes from (known by the listener it arrived on).
#[derive(Debug, Clone)]
pub struct Caller {
    /// `namespace/name`.
    pub workload: Arc<str>,
    /// Namespace: short names resolve here.
    pub namespace: String,
    /// Labels, for `sourceLabels` matches.
    pub labels: BTreeMap<String, String>,
    /// Service account.
    pub service_account: String,
}

impl Caller {
    /// A caller from a workload reference and its pod labels.
    pub fn new(
        workload: &WorkloadRef,
        labels: BTreeMap<String, String>,
        service_account: &str,
    ) -> Caller {
        Caller {
            workload: Arc::from(format!("{}/{}", workload.namespace, workload.name)),
            namespace: workload.namespace.clone(),
            labels,
            service_account: service_account.to_owned(),
        }
    }

    /// The caller for a replica's outbound traffic.
    pub fn of_replica(replica: &ReplicaEndpoint) -> Caller {
        Caller::new(
            &replica.workload,
            replica.labels.clone(),
            &replica.service_account,
        )
    }

    /// The built-in ingress gateway.
    pub fn ingress_gateway() -> Caller {
        let mut labels = BTreeMap::new();
        labels.insert("istio".to_owned(), "ingressgateway".to_owned());
        labels.insert("app".to_owned(), "istio-ingressgateway".to_owned());
        Caller {
            workload: Arc::from("istio-system/istio-ingressgateway"),
            namespace: "istio-system".to_owned(),
            labels,
            service_account: "istio-ingressgateway-service-account".to_owned(),
        }
    }
}

/// Where Gateway ports are bound.
#[derive(Debug, Clone)]
pub enum GatewayPorts {
    /// The declared port (needs privileges below 1024).
    Declared,
    /// Declared port plus an offset (`80` → `8080` with `Offset(8000)`).
    Offset(u16),
    /// The offset for privileged ports only (below 1024: `80` → `8080`, `443` → `8443`);
    /// others bind as declared (`3000` stays `3000`). What `meridian up` does when not root.
    PrivilegedOffset(u16),
    /// Any free port (tests); the result says which.
    Ephemeral,
    /// Declared → bound; ports not listed bind as declared.
    Explicit(BTreeMap<u16, u16>),
}

impl GatewayPorts {
    /// The port a declared port binds under this policy (0: any free port).
    pub fn bind_port(&self, declared: u16) -> u16 {
        match self {
            GatewayPorts::Declared => declared,
            GatewayPorts::Offset(o) => declared.saturating_add(*o),
            GatewayPorts::PrivilegedOffset(o) if declared < 1024 => declared.saturating_add(*o),
            GatewayPorts::PrivilegedOffset(_) => declared,
            GatewayPorts::Ephemeral => 0,
            GatewayPorts::Explicit(m) => m.get(&declared).copied().unwrap_or(declared),
        }
    }
}

/// What sidecars do with hosts the registry does not know (`meshConfig.outboundTrafficPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutboundTrafficPolicy {
    /// Answer 404 `NR` (Meridian's default: on a laptop, a typo should not leave the machine).
    #[default]
    RegistryOnly,
    /// Pass the request through to the address it names (Istio's default).
    AllowAny,
}

/// Options.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Address listeners bind (loopback by default).
    pub bind: IpAddr,
    /// Receives a record per request.
    pub sink: Option<Arc<dyn RecordSink>>,
    /// Unknown hosts from sidecars.
    pub outbound_traffic: OutboundTrafficPolicy,
    /// The mesh CA: with it, sidecars speak mTLS to each other (auto mTLS) and enforce
    /// PeerAuthentication; without it every hop is plaintext.
    pub mesh_identity: Option<MeshIdentity>,
    /// Serve HTTP/1.1 with Meridian's own codec (the default). Off, every connection goes to
    /// hyper's server: an escape hatch, and the reference the fast path is tested against.
    pub fast_http1: bool,
    /// How the gateway learns its clients' addresses (trusted proxies, PROXY protocol).
    pub gateway_topology: GatewayTopology,
    /// Bounds on the gateway's client connections.
    pub edge_limits: ConnectionLimits,
    /// Bounds on sidecar listeners' connections.
    pub mesh_limits: ConnectionLimits,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sink: None,
            outbound_traffic: OutboundTrafficPolicy::default(),
            mesh_identity: None,
            fast_http1: true,
            gateway_topology: GatewayTopology::default(),
            edge_limits: ConnectionLimits::EDGE,
            mesh_limits: ConnectionLimits::MESH,
        }
    }
}

/// A snapshot prepared to go in force (see [`Proxy::stage`]): its Gateway TLS
/// configurations built and its new Gateway ports bound.
pub struct StagedSnapshot {
    snapshot: Arc<Snapshot>,
    tls: HashMap<(u16, usize), Arc<rustls::ServerConfig>>,
    ports: Vec<(u16, bool, TcpListener)>,
}

impl std::fmt::Debug for StagedSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedSnapshot")
            .field("version", &self.snapshot.version)
            .field("new_ports", &self.ports.len())
            .finish()
    }
}

/// A sidecar listener bound but not yet serving (see [`Proxy::bind_outbound`]): its
/// address is known, so replicas can be told it before anything changes; dropping it
/// releases the port.
#[derive(Debug)]
pub struct BoundListener {
    addr: SocketAddr,
    listener: TcpListener,
    kind: ListenerKind,
    caller: Caller,
}

impl BoundListener {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// An inbound listener in front of one replica port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundListener {
    /// The declared container port.
    pub declared: u16,
    /// Where the replica listens.
    pub actual: SocketAddr,
    /// Where the sidecar listens.
    pub listen: SocketAddr,
}

struct Rebuild {
    registry: Registry,
    snapshot: Arc<Snapshot>,
    table: Arc<EndpointTable>,
    inbound: InboundMap,
    tls: (u64, HashMap<(u16, usize), Arc<rustls::ServerConfig>>),
    gateway: Option<(GatewayPorts, BTreeMap<u16, SocketAddr>)>,
    /// Stop signals of the inbound listeners, by replica.
    inbound_stops: HashMap<String, watch::Sender<bool>>,
    /// With mesh mTLS, each calling identity has routing state of its own: its connections
    /// carry its certificate, so they are never shared with another caller (as each Istio
    /// sidecar has its own pools).
    callers: HashMap<meridian_identity::SpiffeId, (Registry, Arc<ArcSwap<Resolved>>)>,
}

struct Inner {
    state: Arc<ArcSwap<Resolved>>,
    mtls: Option<Arc<mtls::Mtls>>,
    passthrough: Arc<downstream::Passthrough>,
    rebuild: Mutex<Rebuild>,
    options: ProxyOptions,
    shutdown: watch::Sender<bool>,
}

/// The data plane of one node. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("version", &self.snapshot().version)
            .finish()
    }
}

impl Proxy {
    /// A proxy serving `snapshot` over the replicas of `endpoints` (followed as they
    /// change). Must be called inside a tokio runtime.
    pub fn new(snapshot: Arc<Snapshot>, endpoints: EndpointWatch, options: ProxyOptions) -> Proxy {
        let table = endpoints.borrow().clone();
        let mut rebuild = Rebuild {
            registry: Registry::default(),
            snapshot: snapshot.clone(),
            table: table.clone(),
            inbound: InboundMap::new(),
            tls: (u64::MAX, HashMap::new()),
            gateway: None,
            inbound_stops: HashMap::new(),
            callers: HashMap::new(),
        };
        let tls = gateway_tls(&snapshot);
        rebuild.tls = (snapshot.version, tls.clone());
        let resolved = rebuild
            .registry
            .resolve(snapshot, &table, &rebuild.inbound, tls, None);
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            state: Arc::new(ArcSwap::from_pointee(resolved)),
            mtls: options
                .mesh_identity
                .clone()
                .map(|m| Arc::new(mtls::Mtls::new(m))),
            passthrough: Arc::default(),
            rebuild: Mutex::new(rebuild),
            options,
            shutdown,
        });
        let weak = Arc::downgrade(&inner);
        tokio::spawn(follow_endpoints(weak, endpoints));
        Proxy { inner }
    }

    /// The snapshot in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.state.load().snapshot.clone()
    }

    /// Puts a new snapshot in force (see [`Proxy::stage`] and [`Proxy::commit`]); what
    /// cannot be prepared is logged and left out.
    pub async fn swap(&self, snapshot: Arc<Snapshot>) {
        match self.stage(snapshot.clone()).await {
            Ok(staged) => self.commit(staged),
            Err(e) => {
                tracing::warn!(error = %e, "snapshot served without what could not be prepared");
                if let Ok(mut r) = self.inner.rebuild.lock() {
                    r.snapshot = snapshot;
                    self.inner.publish(&mut r);
                }
            }
        }
    }

    /// Prepares a snapshot without putting it in force: every Gateway server's TLS
    /// configuration is built (certificate, key and CA files read) and every new Gateway
    /// port is bound. Nothing serves differently until [`Proxy::commit`]; dropping the
    /// result releases the ports.
    pub async fn stage(&self, snapshot: Arc<Snapshot>) -> Result<StagedSnapshot, Error> {
        let tls = try_gateway_tls(&snapshot)?;
        let wanted: Vec<(u16, bool, u16)> = {
            let r = self
                .inner
                .rebuild
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &r.gateway {
                Some((ports, bound)) => snapshot
                    .gateways
                    .iter()
                    .filter(|g| !bound.contains_key(&g.port))
                    .map(|g| (g.port, g.tls, ports.bind_port(g.port)))
                    .collect(),
                None => Vec::new(),
            }
        };
        let mut ports = Vec::new();
        for (declared, tls, port) in wanted {
            let at = SocketAddr::new(self.inner.options.bind, port);
            let listener = listener::bind(at).await?;
            ports.push((declared, tls, listener));
        }
        Ok(StagedSnapshot {
            snapshot,
            tls,
            ports,
        })
    }

    /// Puts a staged snapshot in force: in-flight requests finish on the one they started
    /// with, connections stay open, the new Gateway ports start serving. Cannot fail.
    pub fn commit(&self, staged: StagedSnapshot) {
        let StagedSnapshot {
            snapshot,
            tls,
            ports,
        } = staged;
        if let Ok(mut r) = self.inner.rebuild.lock() {
            r.tls = (snapshot.version, tls);
            r.snapshot = snapshot;
            self.inner.publish(&mut r);
        }
        for (declared, tls, listener) in ports {
            self.serve_gateway_port(declared, tls, listener);
        }
    }

    /// Starts a listener for every Gateway port of the snapshot; returns declared → bound
    /// addresses.
    pub async fn start_gateway_listeners(
        &self,
        ports: GatewayPorts,
    ) -> Result<BTreeMap<u16, SocketAddr>, Error> {
        let wanted: Vec<(u16, bool)> = {
            let Ok(mut r) = self.inner.rebuild.lock() else {
                return Ok(BTreeMap::new());
            };
            r.gateway
                .get_or_insert_with(|| (ports.clone(), BTreeMap::new()));
            r.snapshot
                .gateways
                .iter()
                .map(|g| (g.port, g.tls))
                .collect()
        };
        for (declared, tls) in wanted {
            self.start_gateway_port(declared, tls, ports.bind_port(declared))
                .await?;
        }
        let r = self.inner.rebuild.lock().ok();
        Ok(r.and_then(|r| r.gateway.as_ref().map(|(_, b)| b.clone()))
            .unwrap_or_default())
    }

    async fn start_gateway_port(
        &self,
        declared: u16,
        tls: bool,
        port: u16,
    ) -> Result<SocketAddr, Error> {
        let listener = listener::bind(SocketAddr::new(self.inner.options.bind, port)).await?;
        Ok(self.serve_gateway_port(declared, tls, listener))
    }

    fn serve_gateway_port(&self, declared: u16, tls: bool, listener: TcpListener) -> SocketAddr {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::new(self.inner.options.bind, 0));
        let ctx = self.ctx(
            ListenerKind::Gateway { port: declared },
            Arc::new(Caller::ingress_gateway()),
            if tls { "https" } else { "http" },
        );
        listener::spawn(
            listener,
            ctx,
            tls.then_some(declared),
            self.inner.shutdown.subscribe(),
            None,
        );
        if let Ok(mut r) = self.inner.rebuild.lock()
            && let Some((_, bound)) = &mut r.gateway
        {
            bound.insert(declared, addr);
        }
        addr
    }

    /// Starts an edge listener for CloudFront distributions on `addr` (port 0: any), over
    /// TLS with `tls`: its requests go through the data plane's lifecycle into the cache of
    /// the distribution their host names ([`cache::Edges`]).
    pub async fn start_edge(
        &self,
        edges: Arc<cache::Edges>,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<SocketAddr, Error> {
        let https = tls.is_some();
        self.start_ingress(addr, https, ListenerKind::Edge { edges, tls })
            .await
    }

    /// Starts a front door listener on `addr` (port 0: any), over TLS with `tls`: its
    /// requests go through the data plane's lifecycle to the Front Door whose frontend host
    /// they name ([`frontdoor::FrontDoors`]).
    pub async fn start_front_door(
        &self,
        doors: Arc<frontdoor::FrontDoors>,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<SocketAddr, Error> {
        let https = tls.is_some();
        self.start_ingress(addr, https, ListenerKind::FrontDoor { doors, tls })
            .await
    }

    /// Binds `addr` and serves it as an ingress listener of `kind` (the edge, a front door)
    /// on the data plane's request lifecycle.
    async fn start_ingress(
        &self,
        addr: SocketAddr,
        https: bool,
        kind: ListenerKind,
    ) -> Result<SocketAddr, Error> {
        let listener = listener::bind(addr).await?;
        let bound = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let scheme = if https { "https" } else { "http" };
        let ctx = self.ctx(kind, Arc::new(Caller::ingress_gateway()), scheme);
        listener::spawn(listener, ctx, None, self.inner.shutdown.subscribe(), None);
        Ok(bound)
    }

    /// Starts another listener of the ingress gateway for the declared port `declared` on
    /// `addr` (port 0: any): the same Gateway servers and routes, on an address of its own,
    /// as a region's gateway on a machine that runs several. It serves until `stop` turns
    /// true, then closes gracefully (as an inbound listener does).
    pub async fn start_gateway_replica(
        &self,
        declared: u16,
        addr: SocketAddr,
        stop: watch::Receiver<bool>,
    ) -> Result<SocketAddr, Error> {
        let listener = listener::bind(addr).await?;
        let bound = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let tls = self.snapshot().gateway(declared).is_some_and(|g| g.tls);
        let ctx = self.ctx(
            ListenerKind::Gateway { port: declared },
            Arc::new(Caller::ingress_gateway()),
            if tls { "https" } else { "http" },
        );
        listener::spawn(
            listener,
            ctx,
            tls.then_some(declared),
            self.inner.shutdown.subscribe(),
            Some(stop),
        );
        Ok(bound)
    }

    /// Starts a workload's outbound listener (its `HTTP_PROXY`): absolute-form requests
    /// (`GET http://myapp/`) and origin-form ones with a `Host` header are routed as the
    /// calling workload.
    pub async fn start_outbound(&self, caller: Caller) -> Result<SocketAddr, Error> {
        self.start_local(ListenerKind::Outbound, caller).await
    }

    /// Starts a workload's local port for one service (`<SERVICE>_SERVICE_HOST`/`_PORT`):
    /// every request on it is routed to `host`'s virtual host on `port`.
    pub async fn start_upstream_port(
        &self,
        caller: Caller,
        host: &str,
        port: u16,
    ) -> Result<SocketAddr, Error> {
        self.start_local(
            ListenerKind::Upstream {
                host: host.to_ascii_lowercase(),
                port,
            },
            caller,
        )
        .await
    }

    async fn start_local(&self, kind: ListenerKind, caller: Caller) -> Result<SocketAddr, Error> {
        let bound = self.bind_local(kind, caller).await?;
        let addr = bound.addr;
        self.serve(bound);
        Ok(addr)
    }

    /// Binds a workload's outbound listener without serving it yet (see
    /// [`Proxy::start_outbound`] and [`Proxy::serve`]).
    pub async fn bind_outbound(&self, caller: Caller) -> Result<BoundListener, Error> {
        self.bind_local(ListenerKind::Outbound, caller).await
    }

    /// Binds a workload's local port for one service without serving it yet (see
    /// [`Proxy::start_upstream_port`] and [`Proxy::serve`]).
    pub async fn bind_upstream_port(
        &self,
        caller: Caller,
        host: &str,
        port: u16,
    ) -> Result<BoundListener, Error> {
        self.bind_local(
            ListenerKind::Upstream {
                host: host.to_ascii_lowercase(),
                port,
            },
            caller,
        )
        .await
    }

    async fn bind_local(&self, kind: ListenerKind, caller: Caller) -> Result<BoundListener, Error> {
        let at = SocketAddr::new(self.inner.options.bind, 0);
        let listener = listener::bind(at).await?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr: at, source })?;
        Ok(BoundListener {
            addr,
            listener,
            kind,
            caller,
        })
    }

    /// Serves a bound listener: from now on its address answers.
    pub fn serve(&self, bound: BoundListener) {
        let ctx = self.ctx(bound.kind, Arc::new(bound.caller), "http");
        listener::spawn(
            bound.listener,
            ctx,
            None,
            self.inner.shutdown.subscribe(),
            None,
        );
    }

    /// Starts an inbound listener in front of each port of a replica; from then on the
    /// mesh reaches the replica through it.
    pub async fn start_inbound(
        &self,
        replica: &ReplicaEndpoint,
    ) -> Result<Vec<InboundListener>, Error> {
        if replica.ports.is_empty() {
            return Err(Error::NoPort(replica.replica.clone()));
        }
        let mut out = Vec::new();
        let (stop, stopped) = watch::channel(false);
        for p in &replica.ports {
            let at = SocketAddr::new(self.inner.options.bind, 0);
            let listener = listener::bind(at).await?;
            let listen = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr: at, source })?;
            let actual = SocketAddr::new(replica.ip, p.actual);
            let endpoint = pool::Endpoint::standalone(
                actual,
                format!("{}:{}", replica.replica, p.declared),
                upstream::Transport::Plain,
            );
            let tls = match &self.inner.mtls {
                Some(m) => Some(Arc::new(inbound_tls(m, replica)?)),
                None => None,
            };
            let ctx = self.ctx(
                ListenerKind::Inbound {
                    endpoint,
                    port: p.declared,
                    tls,
                },
                Arc::new(Caller::of_replica(replica)),
                "http",
            );
            listener::spawn(
                listener,
                ctx,
                None,
                self.inner.shutdown.subscribe(),
                Some(stopped.clone()),
            );
            out.push(InboundListener {
                declared: p.declared,
                actual,
                listen,
            });
        }
        if let Ok(mut r) = self.inner.rebuild.lock() {
            for l in &out {
                r.inbound
                    .insert((replica.replica.clone(), l.declared), l.listen);
            }
            if let Some(old) = r.inbound_stops.insert(replica.replica.clone(), stop) {
                let _ = old.send(true);
            }
            self.inner.publish(&mut r);
        }
        Ok(out)
    }

    /// Closes a replica's inbound listeners (it left the endpoint table): the mesh stops
    /// routing to them, they accept nothing more, and their connections finish the requests
    /// in flight, then close (`Connection: close`, HTTP/2 GOAWAY). Returns whether the replica
    /// had any.
    pub fn stop_inbound(&self, replica: &str) -> bool {
        let Ok(mut r) = self.inner.rebuild.lock() else {
            return false;
        };
        r.inbound.retain(|(name, _), _| name != replica);
        let stop = r.inbound_stops.remove(replica);
        self.inner.publish(&mut r);
        drop(r);
        match stop {
            Some(s) => {
                let _ = s.send(true);
                tracing::debug!(replica, "inbound sidecar stopped");
                true
            }
            None => false,
        }
    }

    /// Every upstream cluster's circuit breakers (gauges, thresholds, overflows), outlier
    /// detection counters, and endpoints with their ejection state, by cluster name. With
    /// mesh mTLS each calling sidecar has clusters of its own (`caller` says whose); the
    /// shared plaintext state is then listed only where it was used.
    pub fn clusters(&self) -> Vec<ClusterStatus> {
        let Ok(r) = self.inner.rebuild.lock() else {
            return Vec::new();
        };
        let mut out: Vec<ClusterStatus> = r
            .registry
            .status(None)
            .into_iter()
            .filter(|c| r.callers.is_empty() || !c.is_unused())
            .collect();
        for (id, (registry, _)) in &r.callers {
            out.extend(registry.status(Some(&id.to_string())));
        }
        out.sort_by(|a, b| (&a.name, &a.caller).cmp(&(&b.name, &b.caller)));
        out
    }

    /// The version of the endpoint table the routing state was built from.
    pub fn endpoints_version(&self) -> u64 {
        self.inner
            .rebuild
            .lock()
            .map(|r| r.table.version)
            .unwrap_or_default()
    }

    /// The gateway listeners started so far: declared port → bound address.
    pub fn gateway_addresses(&self) -> BTreeMap<u16, SocketAddr> {
        self.inner
            .rebuild
            .lock()
            .ok()
            .and_then(|r| r.gateway.as_ref().map(|(_, b)| b.clone()))
            .unwrap_or_default()
    }

    /// Stops every listener (connections in progress finish).
    pub fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
    }

    /// The mesh CA, when the proxy runs with mesh mTLS.
    pub fn certificate_authority(&self) -> Option<Arc<meridian_identity::CertificateAuthority>> {
        self.inner.mtls.as_ref().map(|m| Arc::clone(m.ca()))
    }

    /// The identity of the workloads running as `service_account` in `namespace`, once a
    /// listener of theirs has started (for `meridian ca inspect`).
    pub fn workload_identity(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Option<meridian_identity::WorkloadIdentity> {
        let m = self.inner.mtls.as_ref()?;
        m.existing(&m.workload_id(namespace, service_account).ok()?)
    }

    /// The routing state a listener of `caller` reads: with mesh mTLS, the caller's own
    /// (created on first use); otherwise the shared one.
    fn state_for(&self, kind: &ListenerKind, caller: &Caller) -> Arc<ArcSwap<Resolved>> {
        let Some(m) = &self.inner.mtls else {
            return self.inner.state.clone();
        };
        if matches!(kind, ListenerKind::Inbound { .. }) {
            return self.inner.state.clone();
        }
        let id = match m.workload_id(&caller.namespace, &caller.service_account) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(workload = %caller.workload, error = %e, "no mesh identity; its calls go in plaintext");
                return self.inner.state.clone();
            }
        };
        if let Err(e) = m.identity(&id) {
            tracing::warn!(workload = %caller.workload, error = %e, "no mesh certificate; its calls go in plaintext");
            return self.inner.state.clone();
        }
        let Ok(mut r) = self.inner.rebuild.lock() else {
            return self.inner.state.clone();
        };
        if let Some((_, state)) = r.callers.get(&id) {
            return state.clone();
        }
        let mut registry = Registry::default();
        let client = m.client(id.clone());
        let resolved = registry.resolve(
            r.snapshot.clone(),
            &r.table.clone(),
            &r.inbound,
            r.tls.1.clone(),
            Some(&client),
        );
        let state = Arc::new(ArcSwap::from_pointee(resolved));
        r.callers.insert(id, (registry, state.clone()));
        state
    }

    fn ctx(
        &self,
        kind: ListenerKind,
        caller: Arc<Caller>,
        scheme: &'static str,
    ) -> Arc<ListenerCtx> {
        let options = &self.inner.options;
        Arc::new(ListenerCtx {
            limits: match kind {
                ListenerKind::Gateway { .. }
                | ListenerKind::Edge { .. }
                | ListenerKind::FrontDoor { .. } => options.edge_limits,
                _ => options.mesh_limits,
            },
            topology: options.gateway_topology,
            state: self.state_for(&kind, &caller),
            sink: self.inner.options.sink.clone(),
            kind,
            caller,
            scheme,
            passthrough: (self.inner.options.outbound_traffic == OutboundTrafficPolicy::AllowAny)
                .then(|| self.inner.passthrough.clone()),
            dynamic: self.inner.passthrough.clone(),
            fast_http1: self.inner.options.fast_http1,
        })
    }
}

impl Inner {
    fn publish(&self, r: &mut Rebuild) {
        if r.tls.0 != r.snapshot.version {
            r.tls = (r.snapshot.version, gateway_tls(&r.snapshot));
        }
        let tls = r.tls.1.clone();
        let snapshot = r.snapshot.clone();
        let table = r.table.clone();
        let resolved = r
            .registry
            .resolve(snapshot.clone(), &table, &r.inbound, tls.clone(), None);
        self.state.store(Arc::new(resolved));
        if let Some(m) = &self.mtls {
            let inbound = &r.inbound;
            for (id, (registry, state)) in &mut r.callers {
                let client = m.client(id.clone());
                let resolved = registry.resolve(
                    snapshot.clone(),
                    &table,
                    inbound,
                    tls.clone(),
                    Some(&client),
                );
                state.store(Arc::new(resolved));
            }
        }
    }
}

/// The server configurations of a replica's identity (STRICT and PERMISSIVE).
fn inbound_tls(m: &mtls::Mtls, replica: &ReplicaEndpoint) -> Result<mtls::InboundTls, Error> {
    let id = m.workload_id(&replica.workload.namespace, &replica.service_account)?;
    Ok(mtls::InboundTls {
        strict: m.server_config(&id, true)?,
        permissive: m.server_config(&id, false)?,
        id,
    })
}

/// Every Gateway server's TLS configuration; the first that cannot be built is the error.
fn try_gateway_tls(
    snapshot: &Snapshot,
) -> Result<HashMap<(u16, usize), Arc<rustls::ServerConfig>>, Error> {
    let mut out = HashMap::new();
    for g in &snapshot.gateways {
        for (i, s) in g.servers.iter().enumerate() {
            if let Some(t) = &s.tls {
                out.insert((g.port, i), tls::server_config(t)?);
            }
        }
    }
    Ok(out)
}

/// Checks that every Gateway server's TLS configuration can be built (its files read and
/// valid), as [`Proxy::stage`] does; for a node's first snapshot.
pub fn check_gateway_tls(snapshot: &Snapshot) -> Result<(), Error> {
    try_gateway_tls(snapshot).map(|_| ())
}

fn gateway_tls(snapshot: &Snapshot) -> HashMap<(u16, usize), Arc<rustls::ServerConfig>> {
    let mut out = HashMap::new();
    for g in &snapshot.gateways {
        for (i, s) in g.servers.iter().enumerate() {
            let Some(t) = &s.tls else { continue };
            match tls::server_config(t) {
                Ok(c) => {
                    out.insert((g.port, i), c);
                }
                Err(e) => tracing::warn!(error = %e, port = g.port, "gateway server without TLS"),
            }
        }
    }
    out
}

async fn follow_endpoints(inner: Weak<Inner>, mut endpoints: EndpointWatch) {
    while endpoints.changed().await.is_ok() {
        let table = endpoints.borrow_and_update().clone();
        let Some(inner) = inner.upgrade() else { return };
        if let Ok(mut r) = inner.rebuild.lock() {
            r.table = table;
            inner.publish(&mut r);
        }
    }
}
