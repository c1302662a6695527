//! The bridge from the data plane to telemetry: every [`RequestRecord`] the proxy produces
//! becomes Istio's standard metrics (from the reporter that saw it: `source` at outbound
//! sidecars and the gateway, `destination` at inbound sidecars), golden signals for
//! `meridian stat`/`top` and the dashboard, a tap event when someone watches, an access log
//! line, and the end of the hop's span. It also keeps the `meridian_workload_*` metrics in
//! step with the supervisor.
//!
//! Per request: one `ArcSwap` load and a hash lookup resolve the record's labels to
//! pre-registered handles; recording is then relaxed atomic adds. Labels are resolved (under
//! a lock) only the first time a route/peer pair is seen, and again after the workloads, the
//! sidecars or the snapshot change.
//!
//! The binary builds one [`Observer`] from `meridian up`'s [`Flags`], hands it to the proxy as
//! its [`RecordSink`], and serves what it keeps (golden signals, the tap, recent errors) on the
//! admin listener (`observe_api.rs` there).

pub mod directory;
mod hop;
mod stats;
pub mod tap;
pub mod window;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use http::HeaderValue;
use meridian_proxy::{
    Arrival, Carry, ConnectionSecurity, Proxy, RecordSink, Reporter, RequestRecord,
};
use meridian_telemetry::access_log::{
    AccessLogEntry, AccessLogFormat, AccessLogWriter, AccessLogger,
};
use meridian_telemetry::metrics::{
    ConnectionSecurityPolicy, HttpMetrics, HttpRecord, IstioLabels, Registry, ServiceLabels,
    WorkloadLabels,
};
use meridian_telemetry::trace::{HopRequest, HopResponse, NodeInfo, ProxySpan};
use meridian_workloads::Supervisor;

use directory::{Directory, GATEWAY_WORKLOAD, Sources, WorkloadInfo};
pub use stats::StatKey;
use stats::Stats;
use tap::{Tap, TapEvent};
use window::Golden;

/// `meridian up`'s observability flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Export a span per proxy hop over OTLP/HTTP to this collector (e.g.
    /// `http://127.0.0.1:4318/v1/traces`).
    #[arg(long, value_name = "URL", env = "MERIDIAN_TRACING_ENDPOINT")]
    pub tracing_endpoint: Option<String>,
    /// Percentage of new traces to sample (Istio's default is 1); a caller's decision wins.
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0)]
    pub tracing_sampling: f64,
    /// Write an access log line per request and listener: `stdout` or a file path.
    #[arg(long, value_name = "stdout|FILE")]
    pub access_log: Option<String>,
    /// Access log format: Envoy's default text line, or Istio's JSON.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub access_log_format: LogFormat,
    /// Record nothing per request (no Istio metrics, stats, tap, logs or spans): for
    /// measuring what telemetry costs.
    #[arg(long, hide = true)]
    pub no_request_telemetry: bool,
}

/// `--access-log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Envoy's default format.
    Text,
    /// Istio's JSON keys.
    Json,
}

/// Recent failed requests kept for the dashboard.
const RECENT_ERRORS: usize = 64;

/// Distinct label sets recorded before new ones fold (see [`Observer::resolve`]); each costs
/// a few Istio series and a cache entry.
const MAX_LABEL_SETS: usize = 4096;

/// What a request record is resolved by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// Reported by the destination side (else the source side).
    destination: bool,
    /// The listener's workload.
    workload: Arc<str>,
    /// The caller named by peer metadata (destination side).
    peer: Option<Arc<str>>,
    cluster: Option<String>,
    upstream: Option<SocketAddr>,
    security: ConnectionSecurity,
    source_principal: Option<Arc<str>>,
    destination_principal: Option<Arc<str>>,
}

/// FxHash (rustc's): keys are our own names and addresses, bounded, so a fast hash without
/// flooding resistance fits; SipHash was a visible share of the per-request cost.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u64(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write_usize(&mut self, w: usize) {
        self.write_u64(w as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

/// The handles and names of one [`Key`].
#[derive(Debug)]
struct Resolved {
    istio: HttpMetrics,
    goldens: Vec<Arc<Golden>>,
    source: Arc<str>,
    destination: Arc<str>,
    replica: Option<Arc<str>>,
    service: Arc<str>,
    route: Option<Arc<str>>,
}

/// What `arrive` keeps for `record` when spans or access logs need it.
#[derive(Debug, Default)]
struct Hop {
    span: Option<ProxySpan>,
    peer: Option<Arc<str>>,
    user_agent: Option<HeaderValue>,
    forwarded_for: Option<HeaderValue>,
    /// `content-type: application/grpc*` (Istio's `request_protocol="grpc"`).
    grpc: bool,
}

struct Attached {
    proxy: Proxy,
    supervisor: Supervisor,
}

/// The sink handed to the proxy.
pub struct Observer {
    registry: Registry,
    cluster_label: String,
    sources: Mutex<Sources>,
    directory: ArcSwap<Directory>,
    cache: ArcSwap<HashMap<Key, Arc<Resolved>, KeyHash>>,
    cache_write: Mutex<()>,
    /// `meridian_telemetry_label_sets_folded_total`.
    folded: meridian_telemetry::metrics::Counter,
    stats: Stats,
    tap: Tap,
    errors: ArrayQueue<Arc<TapEvent>>,
    access: Option<AccessLogger>,
    tracing: Option<hop::Tracing>,
    peers: hop::Peers,
    /// (caller, workload) pairs seen over mutual TLS by the destination side.
    mtls_pairs: Mutex<std::collections::HashSet<(String, String)>>,
    /// Replicas ejected by outlier detection, as of the last tick.
    ejected: Mutex<std::collections::HashSet<String>>,
    attached: OnceLock<Attached>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("tracing", &self.tracing.is_some())
            .field("access_log", &self.access.is_some())
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// An observer recording into `registry`; `region` becomes the `*_cluster` labels.
    /// Must run inside the tokio runtime (exporters and writers start here).
    pub fn new(
        registry: &Registry,
        flags: &Flags,
        region: Option<&str>,
    ) -> anyhow::Result<Observer> {
        let cluster_label = region.unwrap_or("Kubernetes").to_owned();
        let access = match flags.access_log.as_deref() {
            None => None,
            Some(target) => {
                let writer = if target == "stdout" || target == "-" {
                    AccessLogWriter::stdout(registry)
                } else {
                    AccessLogWriter::file(&PathBuf::from(target), registry)
                }
                .map_err(|e| anyhow::anyhow!("--access-log {target}: {e}"))?;
                let format = match flags.access_log_format {
                    LogFormat::Text => AccessLogFormat::EnvoyText,
                    LogFormat::Json => AccessLogFormat::Json,
                };
                Some(AccessLogger::new(format, writer))
            }
        };
        let tracing = match flags.tracing_endpoint.as_deref() {
            None => None,
            Some(url) => Some(hop::Tracing::new(
                url,
                flags.tracing_sampling,
                registry,
                &cluster_label,
            )?),
        };
        let folded = registry.counter(
            "meridian_telemetry_label_sets_folded_total",
            "Requests recorded under their workload's coarsest labels because the number of distinct label sets reached its cap.",
        )?;
        Ok(Observer {
            registry: registry.clone(),
            folded,
            cluster_label,
            sources: Mutex::new(Sources::default()),
            directory: ArcSwap::default(),
            cache: ArcSwap::default(),
            cache_write: Mutex::new(()),
            stats: Stats::default(),
            tap: Tap::default(),
            errors: ArrayQueue::new(RECENT_ERRORS),
            access,
            tracing,
            peers: hop::Peers::default(),
            mtls_pairs: Mutex::default(),
            ejected: Mutex::default(),
            attached: OnceLock::new(),
        })
    }

    /// Follows the proxy's snapshot and the supervisor's endpoint table and workloads from
    /// now on (the ticker runs once a second until the process ends).
    pub fn attach(self: &Arc<Self>, proxy: Proxy, supervisor: Supervisor) {
        let mut endpoints = supervisor.endpoints();
        if self
            .attached
            .set(Attached {
                proxy,
                supervisor: supervisor.clone(),
            })
            .is_err()
        {
            return;
        }
        self.refresh();
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while endpoints.changed().await.is_ok() {
                let Some(me) = me.upgrade() else { return };
                me.refresh();
            }
        });
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut restarts: HashMap<String, u64> = HashMap::new();
            let mut ejections: HashMap<String, u64> = HashMap::new();
            let mut snapshot_version = u64::MAX;
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                me.stats.tick();
                let Some(a) = me.attached.get() else { continue };
                let version = a.proxy.snapshot().version;
                if version != snapshot_version {
                    snapshot_version = version;
                    me.refresh();
                }
                me.workload_metrics(&a.supervisor, &mut restarts);
                me.proxy_metrics(&a.proxy, &mut ejections);
            }
        });
    }

    /// An inbound sidecar listener started in front of a replica port.
    pub fn inbound_started(&self, replica: &str, declared: u16, listen: SocketAddr) {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .inbound
            .insert(listen, (replica.to_owned(), declared));
        self.refresh();
    }

    /// Rebuilds the directory and forgets resolved handles (labels may have changed).
    fn refresh(&self) {
        let mut src = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(a) = self.attached.get() {
            src.table = a.supervisor.endpoints().borrow().clone();
            src.snapshot = Some(a.proxy.snapshot());
        }
        let present: std::collections::HashSet<&str> = src
            .table
            .replicas
            .iter()
            .map(|r| r.replica.as_str())
            .collect();
        let gone: Vec<SocketAddr> = src
            .inbound
            .iter()
            .filter(|(_, (r, _))| !present.contains(r.as_str()))
            .map(|(a, _)| *a)
            .collect();
        for a in gone {
            src.inbound.remove(&a);
        }
        self.directory.store(Arc::new(Directory::build(&src)));
        drop(src);
        let _w = self
            .cache_write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.cache.store(Arc::default());
    }

    fn workload_metrics(&self, sup: &Supervisor, restarts: &mut HashMap<String, u64>) {
        let mut sums: HashMap<String, u64> = HashMap::new();
        for r in sup.status() {
            *sums
                .entry(format!("{}/{}", r.workload.namespace, r.workload.name))
                .or_default() += u64::from(r.restarts);
        }
        for w in sup.workloads() {
            let id = format!("{}/{}", w.workload.namespace, w.workload.name);
            let m = self
                .registry
                .workloads()
                .workload(&w.workload.namespace, &w.workload.name);
            m.ready_replicas.set(i64::from(w.ready));
            m.desired_replicas.set(i64::from(w.desired));
            let now = sums.get(&id).copied().unwrap_or(0);
            let before = restarts.entry(id).or_insert(0);
            // Restarts of replicas that are gone leave the sum; the counter never goes back.
            if now > *before {
                m.restarts.add(now - *before);
            }
            *before = now.max(*before);
        }
    }

    /// `meridian_proxy_*` pool and outlier metrics from the proxy's cluster status; replicas'
    /// ejections for the dashboard.
    fn proxy_metrics(&self, proxy: &Proxy, ejections: &mut HashMap<String, u64>) {
        let mut ejected = std::collections::HashSet::new();
        // With mTLS each calling identity has its own pools: sum per cluster name.
        let mut per_cluster: HashMap<String, (i64, i64, i64, u64, i64)> = HashMap::new();
        for c in proxy.clusters() {
            let idle: usize = c.endpoints.iter().map(|e| e.idle_connections).sum();
            let e = per_cluster.entry(c.name.clone()).or_default();
            e.0 += i64::from(c.limits.connections);
            e.1 += i64::try_from(idle).unwrap_or(i64::MAX);
            e.2 += i64::from(c.limits.pending);
            e.3 += c.outlier.ejections_total;
            e.4 += i64::from(c.outlier.ejected);
            for ep in &c.endpoints {
                if ep.health.ejected {
                    let replica = ep
                        .replica
                        .rsplit_once(':')
                        .map_or(ep.replica.as_str(), |(r, _)| r);
                    ejected.insert(replica.to_owned());
                }
            }
        }
        for (name, (connections, idle, pending, total, now)) in per_cluster {
            let m = self.registry.proxy().cluster(&name);
            m.pool_active.set((connections - idle).max(0));
            m.pool_idle.set(idle);
            m.pool_pending.set(pending);
            m.ejected_endpoints.set(now);
            let before = ejections.entry(name).or_insert(0);
            if total > *before {
                m.ejections.add(total - *before);
            }
            *before = total.max(*before);
        }
        *self.ejected.lock().unwrap_or_else(PoisonError::into_inner) = ejected;
    }

    /// Replicas some cluster has ejected now (outlier detection).
    pub fn ejected(&self) -> std::collections::HashSet<String> {
        self.ejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current directory.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.load_full()
    }

    fn resolve(&self, key: Key) -> Arc<Resolved> {
        let cache = self.cache.load();
        if let Some(r) = cache.get(&key) {
            return r.clone();
        }
        // Past the cap, a new label set folds into its workload's coarsest one (no caller,
        // cluster, endpoint or principals), counted, so series stay bounded whatever clients
        // send.
        let key = if cache.len() >= MAX_LABEL_SETS {
            self.folded.inc();
            let coarse = Key {
                destination: key.destination,
                workload: key.workload,
                peer: None,
                cluster: None,
                upstream: None,
                security: key.security,
                source_principal: None,
                destination_principal: None,
            };
            if let Some(r) = cache.get(&coarse) {
                return r.clone();
            }
            coarse
        } else {
            key
        };
        drop(cache);
        // A replica published a moment ago can be chosen by the proxy before the task that
        // follows the endpoint table has rebuilt the directory: when the table has moved on,
        // rebuild first, so the new replica's first requests get its labels, not "unknown".
        if let Some(a) = self.attached.get()
            && a.supervisor.endpoints().borrow().version != self.directory.load().table_version
        {
            self.refresh();
        }
        let resolved = Arc::new(self.labels(&key));
        let _w = self
            .cache_write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut map: HashMap<Key, Arc<Resolved>, KeyHash> = HashMap::clone(&self.cache.load());
        let r = map.entry(key).or_insert(resolved).clone();
        self.cache.store(Arc::new(map));
        r
    }

    /// Istio's labels and the stat keys of a record, off the request path.
    fn labels(&self, key: &Key) -> Resolved {
        let dir = self.directory.load();
        let reporter = if key.destination {
            Reporter::Destination
        } else {
            Reporter::Source
        };
        let workload_labels = |w: Option<&Arc<WorkloadInfo>>, id: Option<&str>| match w {
            Some(w) => WorkloadLabels {
                workload: w.name.clone(),
                namespace: w.namespace.clone(),
                principal: String::new(),
                app: w.app.clone(),
                version: w.version.clone(),
                canonical_service: w.canonical_service.clone(),
                canonical_revision: w.canonical_revision.clone(),
                cluster: self.cluster_label.clone(),
            },
            None => match id.and_then(|i| i.split_once('/')) {
                Some((ns, name)) => WorkloadLabels {
                    workload: name.to_owned(),
                    namespace: ns.to_owned(),
                    canonical_service: name.to_owned(),
                    cluster: self.cluster_label.clone(),
                    ..WorkloadLabels::default()
                },
                None => WorkloadLabels::default(),
            },
        };
        let replica = key.upstream.and_then(|a| dir.replicas.get(&a));
        let cluster = key.cluster.as_deref().and_then(|c| dir.clusters.get(c));
        let (source_id, dest_id, service_fqdn) = match reporter {
            Reporter::Source => (
                Some(key.workload.to_string()),
                replica.map(|r| r.workload.id()),
                cluster.map(|c| c.service.clone()),
            ),
            Reporter::Destination => (
                key.peer
                    .as_deref()
                    .filter(|p| dir.workload(p).is_some())
                    .map(str::to_owned),
                Some(key.workload.to_string()),
                replica.and_then(|r| r.service.clone()),
            ),
        };
        let security = match key.security {
            ConnectionSecurity::MutualTls => ConnectionSecurityPolicy::MutualTls,
            ConnectionSecurity::None => ConnectionSecurityPolicy::None,
            ConnectionSecurity::Unknown => ConnectionSecurityPolicy::Unknown,
        };
        if key.security == ConnectionSecurity::MutualTls
            && let (Some(s), Some(d)) = (&source_id, &dest_id)
        {
            self.mtls_pairs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((s.clone(), d.clone()));
        }
        let service = service_fqdn
            .as_deref()
            .and_then(|s| dir.services.get(s))
            .map(|s| ServiceLabels {
                host: s.fqdn.clone(),
                name: s.name.clone(),
                namespace: s.namespace.clone(),
            })
            .unwrap_or_default();
        let labels = IstioLabels {
            reporter: match reporter {
                Reporter::Source => meridian_telemetry::metrics::Reporter::Source,
                Reporter::Destination => meridian_telemetry::metrics::Reporter::Destination,
            },
            source: WorkloadLabels {
                // Identities are what mTLS proved; without it, unknown.
                principal: key.source_principal.as_deref().unwrap_or("").to_owned(),
                ..workload_labels(
                    source_id.as_deref().and_then(|s| dir.workload(s)),
                    source_id.as_deref(),
                )
            },
            destination: WorkloadLabels {
                principal: key
                    .destination_principal
                    .as_deref()
                    .unwrap_or("")
                    .to_owned(),
                ..workload_labels(
                    dest_id.as_deref().and_then(|d| dir.workload(d)),
                    dest_id.as_deref(),
                )
            },
            service,
            security,
        };
        let source: Arc<str> = Arc::from(source_id.as_deref().unwrap_or("unknown"));
        let destination: Arc<str> = Arc::from(dest_id.as_deref().unwrap_or("unknown"));
        let service: Arc<str> = Arc::from(service_fqdn.as_deref().unwrap_or("unknown"));
        let mut goldens = Vec::with_capacity(4);
        match reporter {
            Reporter::Source => {
                goldens.push(self.stats.golden(StatKey::Service(service.to_string())));
                if let Some(c) = &key.cluster {
                    goldens.push(self.stats.golden(StatKey::Route(c.clone())));
                }
                goldens.push(self.stats.golden(StatKey::ClientEdge {
                    source: source.to_string(),
                    service: service.to_string(),
                }));
                if dest_id.is_some() {
                    goldens.push(self.stats.golden(StatKey::ServiceEdge {
                        service: service.to_string(),
                        destination: destination.to_string(),
                    }));
                }
            }
            Reporter::Destination => {
                goldens.push(self.stats.golden(StatKey::Deploy(destination.to_string())));
                if let Some(r) = replica {
                    goldens.push(self.stats.golden(StatKey::Replica(r.name.clone())));
                }
            }
        }
        Resolved {
            istio: self.registry.istio().http(&labels),
            goldens,
            source,
            destination,
            replica: replica.map(|r| Arc::from(r.name.as_str())),
            service,
            route: key.cluster.as_deref().map(Arc::from),
        }
    }

    /// The stat table.
    pub fn stats(&self) -> Vec<(StatKey, Arc<Golden>)> {
        self.stats.all()
    }

    /// (caller, workload) pairs whose requests arrived over mutual TLS.
    pub fn mtls_pairs(&self) -> std::collections::HashSet<(String, String)> {
        self.mtls_pairs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Recent failed requests, oldest first.
    pub fn recent_errors(&self) -> Vec<Arc<TapEvent>> {
        // Pop and push back: the queue is the only storage, and it stays bounded.
        let mut out = Vec::with_capacity(self.errors.len());
        while let Some(e) = self.errors.pop() {
            out.push(e);
        }
        for e in &out {
            let _ = self.errors.force_push(e.clone());
        }
        out
    }

    /// A live tap.
    pub fn watch(&self) -> tap::Watcher {
        self.tap.watch()
    }

    fn operation(&self, a: &Arrival<'_>) -> String {
        let authority = a
            .uri
            .authority()
            .map(|x| x.as_str())
            .or_else(|| {
                a.headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
            })
            .unwrap_or("unknown");
        let (host, port) = meridian_control::snapshot::split_authority(authority);
        let port = port.unwrap_or(80);
        let dir = self.directory.load();
        // The inbound side names its span after the service in front of it, whatever host
        // the request carries (a gateway passes `myapp.example.com` through).
        if a.reporter == Reporter::Destination
            && let Some((fqdn, port)) = dir.served_as.get(a.workload.workload.as_ref())
        {
            return format!("{fqdn}:{port}/*");
        }
        let ns = &a.workload.namespace;
        match dir.service_for_host(host, ns) {
            Some(s) => format!("{}:{port}/*", s.fqdn),
            None => format!("{host}:{port}/*"),
        }
    }
}

fn protocol_text(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

impl RecordSink for Observer {
    fn arrive(&self, a: Arrival<'_>) -> Option<Carry> {
        let mut peer = None;
        match a.reporter {
            Reporter::Source => {
                if let Some(v) = self.peers.outgoing(&a.workload.workload, a.gateway) {
                    a.headers.insert(hop::PEER_ID.clone(), v);
                }
                // Set here rather than after routing so this hop's own log line, span and
                // tap event carry the id the next hops will see.
                if !a.headers.contains_key("x-request-id") {
                    a.headers
                        .insert("x-request-id", meridian_proxy::headers::new_request_id());
                }
            }
            Reporter::Destination => {
                if let Some(v) = a.headers.remove(&hop::PEER_ID) {
                    peer = self.peers.incoming(&v);
                }
            }
        }
        let span = match &self.tracing {
            Some(t) => {
                let operation = self.operation(&a);
                let url = a.uri.to_string();
                let request_id = a
                    .headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let user_agent = a
                    .headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let downstream = a.downstream.to_string();
                let req = HopRequest {
                    method: a.method.as_str(),
                    url: &url,
                    protocol: protocol_text(a.version),
                    user_agent: user_agent.as_deref(),
                    request_id: request_id.as_deref(),
                    downstream_cluster: None,
                    peer_address: Some(&downstream),
                };
                let workload = a.workload.workload.clone();
                let dir = self.directory.load();
                t.start(
                    &workload,
                    a.gateway,
                    a.reporter == Reporter::Destination,
                    &operation,
                    a.headers,
                    &req,
                    || {
                        dir.workload(&workload).map(|w| NodeInfo {
                            canonical_service: w.canonical_service.clone(),
                            canonical_revision: w.canonical_revision.clone(),
                            namespace: w.namespace.clone(),
                            ..NodeInfo::default()
                        })
                    },
                )
            }
            None => None,
        };
        let grpc = a
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        if span.is_none() && self.access.is_none() && !grpc {
            // The destination side's carry when nothing else is needed: the interned caller.
            return peer.map(|p| p as Carry);
        }
        let peer = peer.map(|p| p.0.clone());
        let (user_agent, forwarded_for) = if self.access.is_some() {
            (
                a.headers.get(http::header::USER_AGENT).cloned(),
                a.headers.get("x-forwarded-for").cloned(),
            )
        } else {
            (None, None)
        };
        Some(Arc::new(Hop {
            span,
            peer,
            user_agent,
            forwarded_for,
            grpc,
        }))
    }

    fn record(&self, mut r: RequestRecord) {
        let mut hop: Option<Hop> = None;
        let mut peer: Option<Arc<str>> = None;
        if let Some(carry) = r.carry.take() {
            match carry.downcast::<Hop>() {
                Ok(h) => {
                    if let Ok(h) = Arc::try_unwrap(h) {
                        peer = h.peer.clone();
                        hop = Some(h);
                    }
                }
                Err(other) => {
                    if let Ok(p) = other.downcast::<hop::PeerId>() {
                        peer = Some(p.0.clone());
                    }
                }
            }
        }
        // Peer metadata names the caller; only a peer that proved an identity over mutual
        // TLS may name one, and only a workload this node knows (anything else would let a
        // plaintext caller mint label values, and metric series, at will).
        let peer = peer.filter(|p| {
            r.connection_security == ConnectionSecurity::MutualTls
                && self.directory.load().workload(p).is_some()
        });
        let key = Key {
            destination: r.reporter == Reporter::Destination,
            workload: r
                .source_workload
                .clone()
                .unwrap_or_else(|| Arc::from("unknown")),
            peer,
            cluster: r.cluster.take(),
            upstream: r.upstream,
            security: r.connection_security,
            source_principal: r.source_principal.take(),
            destination_principal: r.destination_principal.take(),
        };
        let resolved = self.resolve(key);
        let flags = r.flags;
        let mut http = HttpRecord::http(
            r.status,
            flags,
            r.duration,
            r.request_bytes,
            r.response_bytes,
        );
        if hop.as_ref().is_some_and(|h| h.grpc) {
            http.protocol = meridian_telemetry::metrics::RequestProtocol::Grpc;
            http.grpc_status = r.grpc_status;
        }
        resolved.istio.record(&http);
        let failed = r.status == 0 || r.status >= 500;
        let bucket = window::LatencyBucket::of(r.duration);
        for g in &resolved.goldens {
            g.record(failed, bucket);
        }
        let watched = self.tap.watched();
        let notable = failed || !r.flags.is_empty();
        if watched || notable {
            let event = Arc::new(self.tap_event(&r, &resolved));
            if notable {
                let _ = self.errors.force_push(event.clone());
            }
            if watched {
                self.tap.send(event);
            }
        }
        if let Some(log) = &self.access {
            self.access_log(log, &r, &resolved, hop.as_ref());
        }
        if let Some(span) = hop.and_then(|h| h.span) {
            let upstream = r.upstream.map(|u| u.to_string());
            span.finish(&HopResponse {
                status: r.status,
                flags,
                request_size: r.request_bytes,
                response_size: r.response_bytes,
                upstream_cluster: resolved.route.as_deref(),
                upstream_address: upstream.as_deref(),
            });
        }
    }
}

impl Observer {
    fn tap_event(&self, r: &RequestRecord, resolved: &Resolved) -> TapEvent {
        let arrived = SystemTime::now()
            .checked_sub(r.duration)
            .unwrap_or(UNIX_EPOCH);
        TapEvent {
            time_ms: arrived
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            reporter: match r.reporter {
                Reporter::Source => "source".into(),
                Reporter::Destination => "destination".into(),
            },
            source: resolved.source.to_string(),
            destination: resolved.destination.to_string(),
            replica: resolved.replica.as_deref().map(str::to_owned),
            service: resolved.service.to_string(),
            route: resolved.route.as_deref().map(str::to_owned),
            method: r.method.to_string(),
            authority: r.authority.clone(),
            path: r.path.clone(),
            status: r.status,
            flags: r.flags.to_string(),
            latency_ms: r.duration.as_secs_f64() * 1000.0,
            upstream: r.upstream.map(|u| u.to_string()),
            request_id: r
                .request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    fn access_log(
        &self,
        log: &AccessLogger,
        r: &RequestRecord,
        resolved: &Resolved,
        hop: Option<&Hop>,
    ) {
        fn text(v: Option<&HeaderValue>) -> Option<&str> {
            v.and_then(|v| v.to_str().ok())
        }
        let upstream = r.upstream.map(|u| u.to_string());
        let downstream = r.downstream.to_string();
        let method = r.method.as_str();
        let start = SystemTime::now()
            .checked_sub(r.duration)
            .unwrap_or(UNIX_EPOCH);
        let cluster = resolved.route.as_deref().unwrap_or("-");
        log.log(&AccessLogEntry {
            start_time: start,
            method: Some(method),
            path: Some(&r.path),
            protocol: Some(protocol_text(r.protocol)),
            response_code: r.status,
            response_flags: r.flags,
            response_code_details: Some(match (&r.response_code_details, r.flags.is_empty()) {
                (Some(d), _) => d.as_str(),
                (None, true) => "via_upstream",
                (None, false) => "local_reply",
            }),
            bytes_received: r.request_bytes,
            bytes_sent: r.response_bytes,
            duration: r.duration,
            x_forwarded_for: hop.and_then(|h| text(h.forwarded_for.as_ref())),
            user_agent: hop.and_then(|h| text(h.user_agent.as_ref())),
            request_id: text(r.request_id.as_ref()),
            authority: Some(&r.authority),
            upstream_host: upstream.as_deref(),
            upstream_cluster: Some(cluster),
            downstream_remote_address: Some(&downstream),
            route_name: Some(match r.reporter {
                Reporter::Source if resolved.source.as_ref() == GATEWAY_WORKLOAD => "gateway",
                Reporter::Source => "outbound",
                Reporter::Destination => "inbound",
            }),
            ..AccessLogEntry::default()
        });
    }
}
