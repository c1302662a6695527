//! Keep-alive connection pools per endpoint and the circuit breakers of their cluster, with
//! Envoy's semantics (Istio's `connectionPool`):
//!
//! * `tcp.maxConnections` caps the cluster's open connections. A request that finds no idle
//!   connection and may not open one waits as a *pending* request; an endpoint with no
//!   connection at all may always open one (as Envoy does, so a busy sibling cannot starve it).
//! * `http.http1MaxPendingRequests` caps requests waiting for a connection (including those
//!   waiting for a connect to finish), `http.http2MaxRequests` the requests in flight,
//!   `http.maxRetries` the retries in flight. Over any of them a request fails at once with
//!   [`ProxyError::Overflow`] (503 `UO`, `x-envoy-overloaded: true`): nothing queues unbounded.
//! * `maxRequestsPerConnection`, `maxConnectionDuration`, `idleTimeout`, `maxConcurrentStreams`
//!   (HTTP/2 connections are opened as streams saturate), `tcpKeepalive`, `connectTimeout`.
//!
//! No global lock: each endpoint has its own, held only to push or pop. Counters are atomics.
//! Endpoints belong to one cluster (as Envoy's hosts do), so the cluster's counters, its
//! settings and its outlier detector are reached from the endpoint.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use meridian_control::snapshot::ConnectionPool;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::body::RequestBody;
use crate::coalesce::Coalesce;
use crate::error::ProxyError;
use crate::h1::client::{Connection, Stream};
use crate::outlier::{Detector, HostMonitor};
use crate::upstream::Transport;

/// Most idle HTTP/1.1 connections kept per endpoint.
const MAX_IDLE: usize = 512;

/// How a request is sent to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 (prior knowledge over plaintext, ALPN over TLS).
    Http2,
}

/// A connection ready for one request.
#[derive(Debug)]
pub(crate) enum Conn {
    /// An HTTP/1.1 connection, owned by the request until its response ends.
    H1(Box<Connection>),
    /// A clone of one of the endpoint's HTTP/2 connections, and its stream slot.
    H2(http2::SendRequest<RequestBody>, Arc<H2Slot>),
}

/// What the pool knows of an HTTP/1.1 connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Requests it carried.
    pub uses: u32,
    /// When it was established (`maxConnectionDuration`).
    pub born: Instant,
}

struct Idle {
    conn: Box<Connection>,
    since: Instant,
}

/// The stream accounting of one HTTP/2 connection.
#[derive(Debug)]
pub struct H2Slot {
    streams: AtomicU32,
    started: AtomicU32,
    born: Instant,
    /// Milliseconds after `born` when a stream last ended (for the idle timeout).
    last_used_ms: AtomicU64,
}

impl H2Slot {
    fn idle_for(&self, now: Instant) -> Duration {
        let last = self.born + Duration::from_millis(self.last_used_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }
}

struct H2Conn {
    sender: http2::SendRequest<RequestBody>,
    slot: Arc<H2Slot>,
}

/// Counters of requests refused by a circuit breaker (Envoy's `*_overflow` stats).
#[derive(Debug, Default)]
pub struct Overflows {
    /// A connection was wanted past `maxConnections` (the request then waited).
    pub connections: AtomicU64,
    /// Refused: `http1MaxPendingRequests` reached.
    pub pending: AtomicU64,
    /// Refused: `http2MaxRequests` reached.
    pub requests: AtomicU64,
    /// A retry not attempted: `maxRetries` reached.
    pub retries: AtomicU64,
}

/// One circuit breaker: a gauge and its threshold.
#[derive(Debug)]
struct Gauge {
    now: AtomicU32,
    max: AtomicU32,
}

impl Gauge {
    fn new(max: u32) -> Gauge {
        Gauge {
            now: AtomicU32::new(0),
            max: AtomicU32::new(max),
        }
    }

    /// Takes a unit unless the threshold is reached.
    fn try_acquire(&self) -> bool {
        let max = self.max.load(Ordering::Relaxed);
        let before = self.now.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            self.now.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn acquire(&self) {
        self.now.fetch_add(1, Ordering::AcqRel);
    }

    fn release(&self) {
        self.now.fetch_sub(1, Ordering::AcqRel);
    }

    fn get(&self) -> u32 {
        self.now.load(Ordering::Relaxed)
    }
}

/// A cluster's circuit breakers (Envoy's resource manager): open connections, pending
/// requests, requests and retries in flight, each against its `connectionPool` threshold.
#[derive(Debug)]
pub struct Limits {
    connections: Gauge,
    pending: Gauge,
    requests: Gauge,
    retries: Gauge,
    /// What the breakers refused.
    pub overflows: Overflows,
}

/// A snapshot of a cluster's circuit breakers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsStatus {
    /// Open connections.
    pub connections: u32,
    /// `tcp.maxConnections`.
    pub max_connections: u32,
    /// Requests waiting for a connection.
    pub pending: u32,
    /// `http.http1MaxPendingRequests`.
    pub max_pending_requests: u32,
    /// Requests in flight.
    pub requests: u32,
    /// `http.http2MaxRequests`.
    pub max_requests: u32,
    /// Retries in flight.
    pub retries: u32,
    /// `http.maxRetries`.
    pub max_retries: u32,
    /// Times a connection was wanted past `maxConnections`.
    pub connection_overflows: u64,
    /// Requests refused for `http1MaxPendingRequests`.
    pub pending_overflows: u64,
    /// Requests refused for `http2MaxRequests`.
    pub request_overflows: u64,
    /// Retries not attempted for `maxRetries`.
    pub retry_overflows: u64,
}

impl Limits {
    /// Breakers with the thresholds of `pool`.
    pub fn new(pool: &ConnectionPool) -> Limits {
        Limits {
            connections: Gauge::new(pool.max_connections),
            pending: Gauge::new(pool.max_pending_requests),
            requests: Gauge::new(pool.max_requests),
            retries: Gauge::new(pool.max_retries),
            overflows: Overflows::default(),
        }
    }

    /// New thresholds (a new snapshot); what is in flight stays counted.
    pub fn update(&self, pool: &ConnectionPool) {
        self.connections
            .max
            .store(pool.max_connections, Ordering::Relaxed);
        self.pending
            .max
            .store(pool.max_pending_requests, Ordering::Relaxed);
        self.requests
            .max
            .store(pool.max_requests, Ordering::Relaxed);
        self.retries.max.store(pool.max_retries, Ordering::Relaxed);
    }

    /// Takes a retry slot (`maxRetries`), held until the guard drops; `None` when the breaker
    /// is open (the retry is then not attempted, as in Envoy).
    pub fn try_retry(self: &Arc<Self>) -> Option<RetryGuard> {
        if self.retries.try_acquire() {
            Some(RetryGuard(self.clone()))
        } else {
            self.overflows.retries.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// The gauges, thresholds and overflow counts.
    pub fn status(&self) -> LimitsStatus {
        LimitsStatus {
            connections: self.connections.get(),
            max_connections: self.connections.max.load(Ordering::Relaxed),
            pending: self.pending.get(),
            max_pending_requests: self.pending.max.load(Ordering::Relaxed),
            requests: self.requests.get(),
            max_requests: self.requests.max.load(Ordering::Relaxed),
            retries: self.retries.get(),
            max_retries: self.retries.max.load(Ordering::Relaxed),
            connection_overflows: self.overflows.connections.load(Ordering::Relaxed),
            pending_overflows: self.overflows.pending.load(Ordering::Relaxed),
            request_overflows: self.overflows.requests.load(Ordering::Relaxed),
            retry_overflows: self.overflows.retries.load(Ordering::Relaxed),
        }
    }
}

/// A retry in flight (released on drop).
#[derive(Debug)]
pub struct RetryGuard(Arc<Limits>);

impl Drop for RetryGuard {
    fn drop(&mut self) {
        self.0.retries.release();
    }
}

/// What a cluster's endpoints share and what outlives snapshot swaps: its circuit breakers,
/// connection settings and outlier detector.
#[derive(Debug)]
pub struct ClusterState {
    /// The cluster's name (`outbound|80||myapp.default.svc.cluster.local`).
    pub name: String,
    /// Circuit breakers.
    pub limits: Arc<Limits>,
    settings: ArcSwap<ConnectionPool>,
    /// Outlier detection.
    pub detector: Detector,
}

impl ClusterState {
    /// A cluster with the given pool settings (and no outlier detection until configured).
    pub fn new(name: String, pool: &ConnectionPool) -> ClusterState {
        ClusterState {
            name,
            limits: Arc::new(Limits::new(pool)),
            settings: ArcSwap::from_pointee(pool.clone()),
            detector: Detector::default(),
        }
    }

    /// No limits (inbound sidecars, passthrough).
    pub fn unlimited(name: &str) -> ClusterState {
        ClusterState::new(name.to_owned(), &ConnectionPool::default())
    }

    /// New pool settings from a new snapshot.
    pub fn update(&self, pool: &ConnectionPool) {
        if **self.settings.load() != *pool {
            self.limits.update(pool);
            self.settings.store(Arc::new(pool.clone()));
        }
    }

    /// The pool settings in force.
    pub fn settings(&self) -> Arc<ConnectionPool> {
        self.settings.load_full()
    }
}

/// Releases a connection's place in the breakers when the connection ends.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    limits: Arc<Limits>,
    endpoint: Weak<Endpoint>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.limits.connections.release();
        if let Some(e) = self.endpoint.upgrade() {
            e.connections.fetch_sub(1, Ordering::AcqRel);
            e.wake();
        }
    }
}

/// An upstream endpoint: its address, identity, connections and outlier state.
pub struct Endpoint {
    /// Address connected to.
    pub addr: SocketAddr,
    /// Stable identity (replica and port) used for hashing.
    pub key: String,
    /// When it joined (for warm-up).
    pub since: std::time::Instant,
    /// Requests in flight.
    pub active: AtomicU32,
    transport: Transport,
    cluster: Arc<ClusterState>,
    /// Passive health (outlier detection).
    pub(crate) monitor: HostMonitor,
    /// Open connections to it.
    connections: AtomicU32,
    /// Requests waiting here for a connection.
    waiting: AtomicU32,
    /// Signalled when a connection or stream frees up.
    freed: Notify,
    /// Left its cluster (draining): connections close once their exchange ends.
    retired: AtomicBool,
    /// A replica's inbound sidecar (not the replica itself).
    sidecar: AtomicBool,
    me: Weak<Endpoint>,
    idle: Mutex<Vec<Idle>>,
    h2: Mutex<Vec<H2Conn>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .field("key", &self.key)
            .field("cluster", &self.cluster.name)
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

impl Endpoint {
    /// A new endpoint without connections, in a cluster of its own without limits.
    pub fn standalone(addr: SocketAddr, key: String, transport: Transport) -> Arc<Endpoint> {
        let cluster = Arc::new(ClusterState::unlimited(&key));
        Endpoint::in_cluster(addr, key, transport, cluster)
    }

    /// A new endpoint of `cluster`.
    pub fn in_cluster(
        addr: SocketAddr,
        key: String,
        transport: Transport,
        cluster: Arc<ClusterState>,
    ) -> Arc<Endpoint> {
        Arc::new_cyclic(|me| Endpoint::build(addr, key, transport, cluster, me.clone()))
    }

    fn build(
        addr: SocketAddr,
        key: String,
        transport: Transport,
        cluster: Arc<ClusterState>,
        me: Weak<Endpoint>,
    ) -> Endpoint {
        Endpoint {
            addr,
            key,
            since: std::time::Instant::now(),
            active: AtomicU32::new(0),
            transport,
            cluster,
            monitor: HostMonitor::default(),
            connections: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
            freed: Notify::new(),
            retired: AtomicBool::new(false),
            sidecar: AtomicBool::new(false),
            me,
            idle: Mutex::new(Vec::new()),
            h2: Mutex::new(Vec::new()),
        }
    }

    /// Requests in flight.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Open connections.
    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Idle HTTP/1.1 connections.
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or_default()
    }

    /// Its cluster's shared state.
    pub fn cluster(&self) -> &Arc<ClusterState> {
        &self.cluster
    }

    /// Whether outlier detection has ejected it.
    pub fn is_ejected(&self) -> bool {
        self.monitor.is_ejected()
    }

    /// Whether it is a replica's inbound sidecar, which tells unreached replicas apart (see
    /// [`crate::headers::X_MERIDIAN_UNREACHED`]).
    pub fn is_sidecar(&self) -> bool {
        self.sidecar.load(Ordering::Relaxed)
    }

    pub(crate) fn set_sidecar(&self, sidecar: bool) {
        self.sidecar.store(sidecar, Ordering::Relaxed);
    }

    /// Whether it left its cluster and only finishes what it has.
    pub fn is_draining(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    fn wake(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.freed.notify_one();
        }
    }

    /// A connection: a pooled one when there is one, else a new one when the breakers allow,
    /// else a wait as a pending request (bounded by `http1MaxPendingRequests`). The second
    /// value says whether it was reused (a reused HTTP/1.1 connection may have been closed by
    /// the peer; the caller retries once on a new one).
    pub(crate) async fn checkout(
        &self,
        protocol: Protocol,
        connect_timeout: Duration,
        idle_timeout: Option<Duration>,
    ) -> Result<(Conn, bool), ProxyError> {
        let settings = self.cluster.settings();
        let mut pending: Option<PendingGuard<'_>> = None;
        loop {
            // Registered before looking, so a connection freed meanwhile is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            if pending.is_some() {
                freed.as_mut().enable();
            }
            if let Some(c) = self.reuse(protocol, idle_timeout, &settings) {
                return Ok((c, true));
            }
            let limits = &self.cluster.limits;
            let may_connect = limits.connections.try_acquire() || {
                // Envoy: an endpoint without any connection may always open one, so
                // connections held by its siblings cannot leave its requests stranded.
                let alone = self.connections.load(Ordering::Acquire) == 0;
                limits.overflows.connections.fetch_add(1, Ordering::Relaxed);
                if alone {
                    limits.connections.acquire();
                }
                alone
            };
            if may_connect {
                // The request is pending until the connection is up (as in Envoy).
                let _connecting = match pending.take() {
                    Some(p) => p,
                    None => match self.pend() {
                        Ok(p) => p,
                        Err(e) => {
                            limits.connections.release();
                            return Err(e);
                        }
                    },
                };
                self.connections.fetch_add(1, Ordering::AcqRel);
                let guard = ConnGuard {
                    limits: limits.clone(),
                    endpoint: self.me.clone(),
                };
                // Boxed: the connect path (TCP, TLS, HTTP/2 handshakes) is a large future, and
                // inline it would make every request's future large to move.
                return Box::pin(self.open(protocol, connect_timeout, guard, &settings))
                    .await
                    .map(|c| (c, false));
            }
            if pending.is_none() {
                pending = Some(self.pend()?);
                continue;
            }
            freed.await;
        }
    }

    fn pend(&self) -> Result<PendingGuard<'_>, ProxyError> {
        let limits = &self.cluster.limits;
        if !limits.pending.try_acquire() {
            limits.overflows.pending.fetch_add(1, Ordering::Relaxed);
            return Err(ProxyError::Overflow);
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Ok(PendingGuard { endpoint: self })
    }

    fn reuse(
        &self,
        protocol: Protocol,
        idle_timeout: Option<Duration>,
        settings: &ConnectionPool,
    ) -> Option<Conn> {
        match protocol {
            Protocol::Http2 => self.shared_h2(settings),
            Protocol::Http1 => {
                let mut idle = self.idle.lock().ok()?;
                while let Some(mut i) = idle.pop() {
                    let now = Instant::now();
                    if idle_timeout.is_some_and(|t| now.duration_since(i.since) > t)
                        || settings
                            .max_connection_duration
                            .is_some_and(|d| now.duration_since(i.conn.info.born) >= d)
                        || !i.conn.is_usable()
                    {
                        continue;
                    }
                    return Some(Conn::H1(i.conn));
                }
                None
            }
        }
    }

    /// An HTTP/2 connection with a free stream (`maxConcurrentStreams`) that has not
    /// reached `maxRequestsPerConnection` or `maxConnectionDuration`.
    fn shared_h2(&self, settings: &ConnectionPool) -> Option<Conn> {
        let mut conns = self.h2.lock().ok()?;
        let now = Instant::now();
        conns.retain(|c| {
            !c.sender.is_closed()
                && settings
                    .max_connection_duration
                    .is_none_or(|d| now.duration_since(c.slot.born) < d)
                && (settings.max_requests_per_connection == 0
                    || c.slot.started.load(Ordering::Relaxed)
                        < settings.max_requests_per_connection)
        });
        let c = conns
            .iter()
            .find(|c| c.slot.streams.load(Ordering::Relaxed) < settings.max_concurrent_streams)?;
        c.slot.streams.fetch_add(1, Ordering::AcqRel);
        c.slot.started.fetch_add(1, Ordering::Relaxed);
        Some(Conn::H2(c.sender.clone(), c.slot.clone()))
    }

    /// Takes back an HTTP/1.1 connection after a complete exchange.
    fn put_idle(&self, conn: Box<Connection>) {
        if self.retired.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        if let Some(d) = self.cluster.settings.load().max_connection_duration
            && now.duration_since(conn.info.born) >= d
        {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(Idle { conn, since: now });
        }
        self.wake();
    }

    /// Opens a dedicated HTTP/1.1 connection served by hyper, outside the pool's accounting
    /// of pending requests (upgrades: the connection becomes a tunnel).
    pub(crate) async fn connect_upgrade(
        &self,
        timeout: Duration,
    ) -> Result<http1::SendRequest<RequestBody>, ProxyError> {
        self.cluster.limits.connections.acquire();
        self.connections.fetch_add(1, Ordering::AcqRel);
        let guard = ConnGuard {
            limits: self.cluster.limits.clone(),
            endpoint: self.me.clone(),
        };
        let settings = self.cluster.settings();
        let (stream, negotiated) = Box::pin(self.open_stream(timeout, &settings)).await?;
        if negotiated == Some(Protocol::Http2) {
            return Err(ProxyError::UpstreamReset(
                "no http/1.1 connection".to_owned(),
            ));
        }
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ProxyError::ConnectFailure {
                addr: self.addr.to_string(),
                reason: e.to_string(),
            })?;
        tokio::spawn(async move {
            let _guard = guard;
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    /// A TCP connection, with the TLS handshake when the endpoint's transport has one; the
    /// protocol ALPN chose, if any.
    async fn open_stream(
        &self,
        timeout: Duration,
        settings: &ConnectionPool,
    ) -> Result<(Stream, Option<Protocol>), ProxyError> {
        let fail = |reason: String| ProxyError::ConnectFailure {
            addr: self.addr.to_string(),
            reason,
        };
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(self.addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(fail(e.to_string())),
            Err(_) => return Err(fail("connect timeout".to_owned())),
        };
        let _ = tcp.set_nodelay(true);
        keepalive(&tcp, settings);
        match &self.transport {
            Transport::Plain => Ok((Stream::Plain(tcp), None)),
            Transport::Tls(tls) => {
                let stream = tokio::time::timeout(timeout, tls.connect(tcp))
                    .await
                    .map_err(|_| fail("tls handshake timeout".to_owned()))?
                    .map_err(|e| fail(format!("tls handshake: {e}")))?;
                let negotiated = match stream.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Some(Protocol::Http2),
                    Some(_) => Some(Protocol::Http1),
                    None => None,
                };
                Ok((Stream::Tls(Box::new(stream)), negotiated))
            }
        }
    }

    async fn open(
        &self,
        protocol: Protocol,
        timeout: Duration,
        guard: ConnGuard,
        settings: &ConnectionPool,
    ) -> Result<Conn, ProxyError> {
        let (stream, negotiated) = self.open_stream(timeout, settings).await?;
        let born = Instant::now();
        match negotiated.unwrap_or(protocol) {
            Protocol::Http1 => Ok(Conn::H1(Connection::new(
                stream,
                ConnInfo { uses: 0, born },
                guard,
            ))),
            Protocol::Http2 => {
                self.handshake_h2(TokioIo::new(Coalesce::new(stream)), guard, settings)
                    .await
            }
        }
    }

    async fn handshake_h2<T>(
        &self,
        io: TokioIo<T>,
        guard: ConnGuard,
        settings: &ConnectionPool,
    ) -> Result<Conn, ProxyError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let fail = |e: hyper::Error| ProxyError::ConnectFailure {
            addr: self.addr.to_string(),
            reason: e.to_string(),
        };
        let born = Instant::now();
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .adaptive_window(true)
            .handshake(io)
            .await
            .map_err(fail)?;
        tokio::spawn(async move {
            let _guard = guard;
            let _ = conn.await;
        });
        let slot = Arc::new(H2Slot {
            streams: AtomicU32::new(1),
            started: AtomicU32::new(1),
            born,
            last_used_ms: AtomicU64::new(0),
        });
        let keep =
            settings.max_requests_per_connection != 1 && !self.retired.load(Ordering::Relaxed);
        if keep && let Ok(mut conns) = self.h2.lock() {
            conns.push(H2Conn {
                sender: sender.clone(),
                slot: slot.clone(),
            });
        }
        self.wake();
        Ok(Conn::H2(sender, slot))
    }

    /// Closes connections idle past `idle_timeout` or open past `maxConnectionDuration`
    /// (the pool's reaper calls this periodically).
    pub fn reap(&self) {
        let settings = self.cluster.settings();
        let now = Instant::now();
        let expired = |born: Instant| {
            settings
                .max_connection_duration
                .is_some_and(|d| now.duration_since(born) >= d)
        };
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain_mut(|i| {
                i.conn.is_usable()
                    && settings
                        .idle_timeout
                        .is_none_or(|t| now.duration_since(i.since) < t)
                    && !expired(i.conn.info.born)
            });
        }
        if let Ok(mut conns) = self.h2.lock() {
            // Dropping the last handle of an HTTP/2 connection lets its open streams finish,
            // then sends GOAWAY and closes it.
            conns.retain(|c| {
                let busy = c.slot.streams.load(Ordering::Relaxed) > 0;
                !c.sender.is_closed()
                    && !expired(c.slot.born)
                    && (busy
                        || settings
                            .idle_timeout
                            .is_none_or(|t| c.slot.idle_for(now) < t))
            });
        }
    }

    /// Drains the endpoint: idle connections close now, busy ones once their exchange
    /// ends (HTTP/2 ones with GOAWAY); no connection is pooled any more.
    pub fn close_idle(&self) {
        self.retired.store(true, Ordering::Relaxed);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        if let Ok(mut h2) = self.h2.lock() {
            h2.clear();
        }
    }
}

/// A request waiting for a connection (released on drop).
struct PendingGuard<'a> {
    endpoint: &'a Endpoint,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.endpoint.cluster.limits.pending.release();
        self.endpoint.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `tcp.tcpKeepalive`: SO_KEEPALIVE with the given idle time, interval and probe count (OS
/// defaults for those unset).
fn keepalive(tcp: &TcpStream, settings: &ConnectionPool) {
    if settings.tcp_keepalive_time.is_none()
        && settings.tcp_keepalive_interval.is_none()
        && settings.tcp_keepalive_probes.is_none()
    {
        return;
    }
    let mut ka = socket2::TcpKeepalive::new();
    if let Some(t) = settings.tcp_keepalive_time {
        ka = ka.with_time(t);
    }
    if let Some(i) = settings.tcp_keepalive_interval {
        ka = ka.with_interval(i);
    }
    if let Some(p) = settings.tcp_keepalive_probes {
        ka = ka.with_retries(p);
    }
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&ka) {
        tracing::debug!(error = %e, "tcp keepalive not set");
    }
}

/// A request's hold on an endpoint: its slot in `http2MaxRequests` and the endpoint's
/// active-request count, and its connection (an HTTP/1.1 one goes back to the pool when the
/// response body ends; an HTTP/2 stream frees its slot).
#[derive(Debug)]
pub struct Lease {
    endpoint: Arc<Endpoint>,
    conn: Option<Box<Connection>>,
    stream: Option<Arc<H2Slot>>,
    max_requests_per_connection: u32,
}

impl Lease {
    /// Takes a request slot on `endpoint`'s cluster, or fails with
    /// [`ProxyError::Overflow`] when `http2MaxRequests` are in flight.
    pub fn new(
        endpoint: Arc<Endpoint>,
        max_requests_per_connection: u32,
    ) -> Result<Lease, ProxyError> {
        let limits = &endpoint.cluster.limits;
        if !limits.requests.try_acquire() {
            limits.overflows.requests.fetch_add(1, Ordering::Relaxed);
            return Err(ProxyError::Overflow);
        }
        endpoint.active.fetch_add(1, Ordering::Relaxed);
        Ok(Lease {
            endpoint,
            conn: None,
            stream: None,
            max_requests_per_connection,
        })
    }

    /// Attaches the HTTP/1.1 connection that carried the request, once its exchange ended.
    pub(crate) fn hold(&mut self, conn: Box<Connection>) {
        self.conn = Some(conn);
    }

    /// Attaches the HTTP/2 stream slot the request uses.
    pub fn hold_stream(&mut self, slot: Arc<H2Slot>) {
        self.stream = Some(slot);
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Ends the request; a connection whose exchange completed goes back to the pool.
    pub fn release(mut self, reusable: bool) {
        self.finish(reusable);
    }

    fn finish(&mut self, reusable: bool) {
        if let Some(conn) = self.conn.take()
            && reusable
            && (self.max_requests_per_connection == 0
                || conn.info.uses < self.max_requests_per_connection)
        {
            self.endpoint.put_idle(conn);
        }
        if let Some(slot) = self.stream.take() {
            slot.streams.fetch_sub(1, Ordering::AcqRel);
            let ms = Instant::now()
                .saturating_duration_since(slot.born)
                .as_millis();
            slot.last_used_ms
                .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
            self.endpoint.wake();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.finish(false);
        self.endpoint.active.fetch_sub(1, Ordering::Relaxed);
        self.endpoint.cluster.limits.requests.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_refuse_at_exactly_the_threshold() {
        let g = Gauge::new(2);
        assert!(g.try_acquire());
        assert!(g.try_acquire());
        assert!(!g.try_acquire());
        g.release();
        assert!(g.try_acquire());
        assert_eq!(g.get(), 2);
    }

    #[test]
    fn request_slots_overflow_at_http2_max_requests() {
        let pool = ConnectionPool {
            max_requests: 1,
            ..ConnectionPool::default()
        };
        let cluster = Arc::new(ClusterState::new("c".into(), &pool));
        let ep = Endpoint::in_cluster(
            SocketAddr::from(([127, 0, 0, 1], 9)),
            "e".into(),
            Transport::Plain,
            cluster.clone(),
        );
        let first = Lease::new(ep.clone(), 0).unwrap();
        assert!(matches!(
            Lease::new(ep.clone(), 0),
            Err(ProxyError::Overflow)
        ));
        assert_eq!(cluster.limits.status().request_overflows, 1);
        drop(first);
        assert!(Lease::new(ep, 0).is_ok());
    }

    #[test]
    fn retries_overflow_at_max_retries() {
        let pool = ConnectionPool {
            max_retries: 1,
            ..ConnectionPool::default()
        };
        let limits = Arc::new(Limits::new(&pool));
        let held = limits.try_retry();
        assert!(held.is_some());
        assert!(limits.try_retry().is_none());
        drop(held);
        assert!(limits.try_retry().is_some());
        assert_eq!(limits.status().retry_overflows, 1);
    }
}
