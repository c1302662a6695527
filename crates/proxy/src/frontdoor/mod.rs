//! A global front door in Azure Front Door's model (`azurerm_frontdoor`, and the
//! `azurerm_cdn_frontdoor_*` resources compiled to the same shape): frontend hosts, routing
//! rules matched by path pattern and accepted protocol, backend pools whose backend is chosen
//! by priority, latency band and weight ([`select`]) among those its health probes keep
//! healthy ([`probe`]), session affinity by Front Door's cookie, and the backend's host
//! header.
//!
//! Each request goes through the data plane's lifecycle like any other (the listener, the
//! codecs, the records) and reaches its backend through the same upstream client and pools
//! ([`crate::upstream::send`]). Unlike DNS, the front door sees each request: when a backend
//! fails one before answering (connect error, reset, timeout), or answers 5xx to an
//! idempotent one, the request goes to the next backend at once and the failed one leaves
//! selection until a probe brings it back, so a region going down costs no client an error.
//!
//! A rule with caching serves `GET` through the edge cache ([`crate::cache`]: memory tier,
//! request collapsing, RFC 9111) in Front Door's dialect ([`crate::cache::front_door`]);
//! the cache's misses go to the rule's pool through the same selection and failover. A
//! rule forwarding over HTTPS reaches its backends over TLS ([`tls`]).
//!
//! Route matching follows the classic rules: the host must be a frontend host of the Front
//! Door (else 400), a rule must accept the request's protocol and list that frontend, and
//! the most specific pattern wins (an exact path over a wildcard, a longer wildcard prefix
//! over a shorter one), compared without case; no rule matches → 400.

pub mod probe;
pub mod select;
pub mod tls;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt;

use crate::body::{InBody, RequestBody, ResponseBody};
use crate::downstream::BUFFER_LIMIT;
use crate::error::ProxyError;
use crate::headers::{X_FORWARDED_FOR, X_FORWARDED_PROTO, strip_hop_by_hop};
use crate::pool::{Endpoint, Protocol};
use crate::upstream::{self, SendOptions, Transport};

pub use probe::ProbeConfig;
pub use tls::BackendTls;

use crate::cache::{self, Edge, EdgeConfig, KeyPolicy, OriginConfig, QueryKeys};

/// Front Door's session affinity cookie.
pub const AFFINITY_COOKIE: &str = "ASLBSA";
/// Its twin for cross-site requests (`SameSite=None; Secure`).
pub const AFFINITY_COOKIE_CORS: &str = "ASLBSACORS";

static X_AZURE_REF: HeaderName = HeaderName::from_static("x-azure-ref");
static X_AZURE_FDID: HeaderName = HeaderName::from_static("x-azure-fdid");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_MERIDIAN_BACKEND: HeaderName = HeaderName::from_static("x-meridian-frontdoor-backend");
static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A Front Door as the data plane serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoorConfig {
    /// The Front Door's name.
    pub name: String,
    /// The id sent to backends as `X-Azure-FDID`.
    pub id: String,
    /// Frontend endpoints.
    pub frontends: Vec<Frontend>,
    /// Routing rules.
    pub rules: Vec<Rule>,
    /// Backend pools.
    pub pools: Vec<PoolConfig>,
    /// Connect timeout to a backend.
    pub connect_timeout: Duration,
    /// How long a backend may take to answer (`backend_pools_send_receive_timeout_seconds`,
    /// 60 s by default).
    pub timeout: Duration,
    /// How backends are reached over HTTPS (the roots their certificates are verified
    /// against); `None`: backends only over HTTP.
    pub backend_tls: Option<BackendTls>,
}

/// A frontend endpoint: the host names it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// Its name, as rules list it.
    pub name: String,
    /// Host names (the declared one, and any other this machine answers under).
    pub hosts: Vec<String>,
    /// Session affinity by cookie.
    pub session_affinity: bool,
    /// The affinity cookie's lifetime (`Max-Age`); a session cookie when `None`.
    pub affinity_ttl: Option<Duration>,
}

/// A routing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// The frontends it applies to.
    pub frontends: Vec<String>,
    /// Accepts `http`.
    pub http: bool,
    /// Accepts `https`.
    pub https: bool,
    /// Path patterns (`/*`, `/api/*`, `/exact`).
    pub patterns: Vec<String>,
    /// What it does.
    pub action: Action,
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Forwards to a backend pool (by index into [`FrontDoorConfig::pools`]).
    Forward {
        /// The pool.
        pool: usize,
        /// `custom_forwarding_path`: the path sent instead, followed by what the pattern's
        /// wildcard matched.
        path: Option<String>,
        /// `forwarding_protocol`.
        protocol: Forwarding,
        /// Caching through the edge cache, when the rule enables it.
        cache: Option<RouteCache>,
    },
    /// Redirects.
    Redirect {
        /// `http`, `https`, or `None` for the request's own.
        scheme: Option<&'static str>,
        /// 301, 302, 307 or 308.
        status: StatusCode,
        /// A host other than the request's.
        host: Option<String>,
        /// A path other than the request's.
        path: Option<String>,
        /// A query string other than the request's (without `?`).
        query: Option<String>,
        /// A fragment (without `#`).
        fragment: Option<String>,
    },
}

/// How a rule reaches its backends (`forwarding_protocol`). A backend without an HTTPS
/// address ([`BackendConfig::https_addr`]) is reached over HTTP whatever the rule says;
/// the caller says so to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forwarding {
    /// HTTP.
    #[default]
    HttpOnly,
    /// HTTPS.
    HttpsOnly,
    /// The client's protocol.
    MatchRequest,
}

impl Forwarding {
    fn https(self, scheme: &str) -> bool {
        match self {
            Forwarding::HttpOnly => false,
            Forwarding::HttpsOnly => true,
            Forwarding::MatchRequest => scheme == "https",
        }
    }
}

/// A rule's caching (classic `cache_enabled` and its settings; a Standard/Premium route's
/// `cache` block): served through the edge cache with Front Door's rules
/// ([`crate::cache::front_door`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteCache {
    /// Query strings in the key: `Whitelist([])` ignores them all (`IgnoreQueryString`,
    /// classic `StripAll`), `All` uses them (`UseQueryString`, `StripNone`), `Whitelist`
    /// and `Except` include or ignore the named ones.
    pub query: QueryKeys,
    /// Compression (`compression_enabled`, classic `cache_use_dynamic_compression`).
    pub compression: bool,
    /// Duration and content types.
    pub caching: cache::front_door::Caching,
}

/// A backend pool with its load balancing and probe settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Its name.
    pub name: String,
    /// Backends.
    pub backends: Vec<BackendConfig>,
    /// Probes considered.
    pub sample_size: usize,
    /// Successful probes among them for healthy.
    pub successful_samples_required: usize,
    /// The latency band above the fastest backend.
    pub additional_latency: Duration,
    /// Probes, unless disabled.
    pub probe: Option<ProbeConfig>,
}

/// A backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// Its address as declared (`app-eastus.azurewebsites.net`).
    pub name: String,
    /// The `Host` sent to it.
    pub host_header: String,
    /// Where it is reached on this machine.
    pub addr: SocketAddr,
    /// Where its HTTPS listener is reached, when it has one here.
    pub https_addr: Option<SocketAddr>,
    /// Its certificate must name its host header (else only its chain is verified).
    pub certificate_name_check: bool,
    /// 1 (first) to 5.
    pub priority: u8,
    /// 1 to 1000.
    pub weight: u32,
    /// Enabled.
    pub enabled: bool,
    /// The latency selection uses instead of the probes' measurement. Regions that share
    /// one machine are microseconds apart and jitter decides which is "fastest"; their
    /// distance comes from configuration, as the DNS's latency records do.
    pub latency: Option<Duration>,
}

/// A backend with its health and counters.
#[derive(Debug)]
struct Backend {
    cfg: BackendConfig,
    endpoint: Arc<Endpoint>,
    /// Over TLS, when the backend has an HTTPS address and the door a TLS configuration.
    tls_endpoint: Option<Arc<Endpoint>>,
    health: Arc<probe::Health>,
    /// The affinity cookie's value that names it.
    cookie: String,
    served: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug)]
struct Pool {
    cfg: PoolConfig,
    backends: Vec<Backend>,
    draws: AtomicU64,
    /// The door's name, id and timeouts, which every send needs.
    door: Arc<DoorSettings>,
}

#[derive(Debug)]
struct DoorSettings {
    name: String,
    id: String,
    connect_timeout: Duration,
    timeout: Duration,
}

/// Who asked, and how: what a backend request is built from. Travels in the request's
/// extensions through the edge cache to the pool's forwarder.
#[derive(Debug, Clone)]
struct Viewer {
    /// The frontend host as the client named it (with its port).
    host: String,
    scheme: &'static str,
    client: IpAddr,
    /// The backend the affinity cookie names.
    affinity: Option<usize>,
}

impl Pool {
    fn candidates(&self) -> Vec<select::Candidate> {
        self.backends
            .iter()
            .map(|b| select::Candidate {
                enabled: b.cfg.enabled,
                healthy: b.health.healthy(),
                priority: b.cfg.priority,
                weight: b.cfg.weight,
                latency: b.cfg.latency.or_else(|| b.health.latency()),
            })
            .collect()
    }

    /// The next backend to try, leaving out those tried; the affinity backend first while
    /// it is available.
    fn pick(&self, tried: &[usize], affinity: Option<usize>) -> Option<usize> {
        if let Some(a) = affinity
            && !tried.contains(&a)
            && self.backends[a].cfg.enabled
            && self.backends[a].health.healthy()
        {
            return Some(a);
        }
        let cands = self.candidates();
        let bucket = select::bucket(&cands, self.cfg.additional_latency, tried);
        select::draw(&cands, &bucket, self.draws.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether a backend is left to try.
    fn has_next(&self, tried: &[usize]) -> bool {
        !select::bucket(&self.candidates(), self.cfg.additional_latency, tried).is_empty()
    }
}

/// What a backend looks like from outside, for status pages and drills.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackendStatus {
    /// The Front Door.
    pub front_door: String,
    /// The pool.
    pub pool: String,
    /// The backend as declared.
    pub backend: String,
    /// Where it is reached.
    pub addr: SocketAddr,
    /// Priority and weight.
    pub priority: u8,
    /// Weight.
    pub weight: u32,
    /// Healthy by its probes.
    pub probed_healthy: bool,
    /// Out of selection after a failed request.
    pub suspect: bool,
    /// The last probe's latency, milliseconds.
    pub latency_ms: Option<f64>,
    /// Requests it answered.
    pub served: u64,
    /// Requests it failed (each retried elsewhere when possible).
    pub failed: u64,
    /// Probes sent, and failed.
    pub probes: u64,
    /// Probes that failed.
    pub probe_failures: u64,
}

/// One Front Door: its configuration, its pools' health and its probers.
#[derive(Debug)]
pub struct FrontDoor {
    cfg: FrontDoorConfig,
    pools: Vec<Arc<Pool>>,
    /// Each rule's edge cache (by index into the rules), for rules with caching.
    caches: Vec<Option<Arc<Edge>>>,
    probers: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        self.stop_probes();
    }
}

impl FrontDoor {
    /// A Front Door for `cfg`, its probers started. Needs a Tokio runtime.
    pub fn start(cfg: FrontDoorConfig) -> Arc<FrontDoor> {
        let mut probers = Vec::new();
        let door = Arc::new(DoorSettings {
            name: cfg.name.clone(),
            id: cfg.id.clone(),
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
        });
        let pools: Vec<Arc<Pool>> = cfg
            .pools
            .iter()
            .map(|p| Pool {
                cfg: p.clone(),
                door: door.clone(),
                backends: p
                    .backends
                    .iter()
                    .map(|b| {
                        let health = Arc::new(probe::Health::new(p.sample_size));
                        let tls = match (&cfg.backend_tls, b.https_addr) {
                            (Some(t), Some(addr)) => t
                                .transport(&b.host_header, b.certificate_name_check)
                                .map(|t| (addr, t)),
                            _ => None,
                        };
                        if let Some(pc) = &p.probe {
                            let endpoint = match (&tls, pc.https) {
                                (Some((addr, t)), true) => {
                                    probe::endpoint(*addr, &b.name, t.clone())
                                }
                                _ => probe::endpoint(b.addr, &b.name, Transport::Plain),
                            };
                            let prober = probe::Prober {
                                endpoint,
                                host: b.host_header.clone(),
                                config: pc.clone(),
                                required: p.successful_samples_required,
                                health: health.clone(),
                            };
                            probers.push(tokio::spawn(prober.run()));
                        }
                        Backend {
                            endpoint: Endpoint::standalone(
                                b.addr,
                                format!("frontdoor|{}|{}|{}", cfg.name, p.name, b.name),
                                Transport::Plain,
                            ),
                            tls_endpoint: tls.map(|(addr, t)| {
                                Endpoint::standalone(
                                    addr,
                                    format!("frontdoor-tls|{}|{}|{}", cfg.name, p.name, b.name),
                                    t,
                                )
                            }),
                            cookie: affinity_value(&cfg.name, &p.name, &b.name),
                            cfg: b.clone(),
                            health,
                            served: AtomicU64::new(0),
                            failed: AtomicU64::new(0),
                        }
                    })
                    .collect(),
                draws: AtomicU64::new(0),
            })
            .map(Arc::new)
            .collect();
        let caches = cfg
            .rules
            .iter()
            .map(|r| match &r.action {
                Action::Forward {
                    pool,
                    protocol,
                    cache: Some(c),
                    ..
                } => {
                    let pool = pools.get(*pool)?.clone();
                    rule_cache(&cfg, &r.name, c, pool, *protocol)
                }
                _ => None,
            })
            .collect();
        Arc::new(FrontDoor {
            cfg,
            pools,
            caches,
            probers: std::sync::Mutex::new(probers),
        })
    }

    /// Counters and sizes of each caching rule's cache: the rule's name and its stats.
    pub fn cache_stats(&self) -> Vec<(String, cache::CacheStats)> {
        self.cfg
            .rules
            .iter()
            .zip(&self.caches)
            .filter_map(|(r, c)| Some((r.name.clone(), c.as_ref()?.stats())))
            .collect()
    }

    /// The configuration.
    pub fn config(&self) -> &FrontDoorConfig {
        &self.cfg
    }

    /// Stops the health probes; every backend keeps the health they last gave it.
    pub fn stop_probes(&self) {
        let mut p = self
            .probers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for h in p.drain(..) {
            h.abort();
        }
    }

    /// Every backend's health and counters.
    pub fn status(&self) -> Vec<BackendStatus> {
        self.pools
            .iter()
            .flat_map(|p| {
                p.backends.iter().map(|b| BackendStatus {
                    front_door: self.cfg.name.clone(),
                    pool: p.cfg.name.clone(),
                    backend: b.cfg.name.clone(),
                    addr: b.cfg.addr,
                    priority: b.cfg.priority,
                    weight: b.cfg.weight,
                    probed_healthy: b.health.probed_healthy(),
                    suspect: b.health.suspect(),
                    latency_ms: b.health.latency().map(|d| d.as_secs_f64() * 1000.0),
                    served: b.served.load(Ordering::Relaxed),
                    failed: b.failed.load(Ordering::Relaxed),
                    probes: b.health.probes.load(Ordering::Relaxed),
                    probe_failures: b.health.probe_failures.load(Ordering::Relaxed),
                })
            })
            .collect()
    }

    /// A `GET` of `path` on `host` over `scheme`, served as a listener's request would be
    /// (routing, selection, failover; no socket): the status, for drills. The body is read
    /// and dropped.
    pub async fn drill(&self, host: &str, scheme: &str, path: &str) -> StatusCode {
        let Some(frontend) = self.frontend(host) else {
            return StatusCode::BAD_REQUEST;
        };
        let mut req = Request::new(InBody::Buffered(None));
        if let Ok(uri) = path.parse() {
            *req.uri_mut() = uri;
        }
        if let Ok(h) = HeaderValue::from_str(host) {
            req.headers_mut().insert(header::HOST, h);
        }
        let resp = self
            .serve(
                frontend,
                req,
                scheme,
                host,
                IpAddr::from([127, 0, 0, 1]),
                false,
            )
            .await;
        let status = resp.status();
        if resp.into_body().collect().await.is_err() {
            return StatusCode::BAD_GATEWAY;
        }
        status
    }

    /// The frontend answering `host`.
    fn frontend(&self, host: &str) -> Option<&Frontend> {
        self.cfg
            .frontends
            .iter()
            .find(|f| f.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }

    /// The most specific rule for this frontend, protocol and path, with the pattern that
    /// matched.
    fn rule(&self, frontend: &str, scheme: &str, path: &str) -> Option<(&Rule, &str)> {
        self.cfg
            .rules
            .iter()
            .filter(|r| r.frontends.iter().any(|f| f == frontend))
            .filter(|r| if scheme == "https" { r.https } else { r.http })
            .filter_map(|r| {
                r.patterns
                    .iter()
                    .filter_map(|p| specificity(p, path).map(|s| (s, p.as_str())))
                    .max_by_key(|(s, _)| *s)
                    .map(|(s, p)| (s, r, p))
            })
            .max_by_key(|(s, _, _)| *s)
            .map(|(_, r, p)| (r, p))
    }

    async fn serve(
        &self,
        frontend: &Frontend,
        req: Request<InBody>,
        scheme: &str,
        host: &str,
        client: IpAddr,
        use_cache: bool,
    ) -> Response<ResponseBody> {
        let path = req.uri().path().to_owned();
        let Some((rule, pattern)) = self.rule(&frontend.name, scheme, &path) else {
            return page(
                StatusCode::BAD_REQUEST,
                "no routing rule matches this request",
            );
        };
        match &rule.action {
            Action::Redirect {
                scheme: to,
                status,
                host: to_host,
                path: to_path,
                query,
                fragment,
            } => {
                let mut location = format!(
                    "{}://{}{}",
                    to.unwrap_or(scheme),
                    to_host.as_deref().unwrap_or(host),
                    to_path.as_deref().unwrap_or(&path)
                );
                match (query.as_deref(), req.uri().query()) {
                    (Some(q), _) | (None, Some(q)) if !q.is_empty() => {
                        location.push('?');
                        location.push_str(q.trim_start_matches('?'));
                    }
                    _ => {}
                }
                if let Some(f) = fragment.as_deref().filter(|f| !f.is_empty()) {
                    location.push('#');
                    location.push_str(f.trim_start_matches('#'));
                }
                let mut r = page(*status, "");
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            Action::Forward {
                pool,
                path: custom,
                protocol,
                ..
            } => match self.pools.get(*pool) {
                Some(p) => {
                    let mut req = req;
                    if let Some(custom) = custom
                        && let Some(uri) = forwarded_uri(custom, pattern, req.uri())
                    {
                        *req.uri_mut() = uri;
                    }
                    let viewer = Viewer {
                        host: host.to_owned(),
                        scheme: if scheme == "https" { "https" } else { "http" },
                        client,
                        affinity: frontend
                            .session_affinity
                            .then(|| cookie(req.headers(), AFFINITY_COOKIE))
                            .flatten()
                            .and_then(|v| p.backends.iter().position(|b| b.cookie == v)),
                    };
                    let cache = self
                        .cfg
                        .rules
                        .iter()
                        .position(|r| std::ptr::eq(r, rule))
                        .and_then(|i| self.caches.get(i)?.as_ref());
                    // Only GET is cached (Front Door's caching doc); everything else, and a
                    // drill that must see the backends, goes to them.
                    match cache {
                        Some(edge) if use_cache && req.method() == Method::GET => {
                            let affinity = viewer.affinity;
                            let authorized = req.headers().contains_key(header::AUTHORIZATION);
                            req.extensions_mut().insert(viewer);
                            let mut resp =
                                edge.serve(req, scheme, SocketAddr::new(client, 0)).await;
                            // An answer the cache shares gets no affinity cookie (every client
                            // of the copy would get it); one it does not share does, as on a
                            // rule without caching. The backend that answered names itself.
                            let answered = resp
                                .headers()
                                .get(&X_MERIDIAN_BACKEND)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|n| p.backends.iter().position(|b| b.cfg.name == n));
                            let shared = match &rule.action {
                                Action::Forward { cache: Some(c), .. } => {
                                    cache::front_door::decide(
                                        resp.status(),
                                        resp.headers(),
                                        authorized,
                                        &c.caching,
                                    )
                                    .is_some()
                                }
                                _ => false,
                            };
                            if frontend.session_affinity
                                && let Some(i) = answered
                                && affinity != Some(i)
                                && !shared
                            {
                                set_affinity(
                                    resp.headers_mut(),
                                    &p.backends[i].cookie,
                                    scheme,
                                    frontend.affinity_ttl,
                                );
                            }
                            resp.headers_mut().insert(X_AZURE_REF.clone(), azure_ref());
                            resp
                        }
                        _ => {
                            let mut resp = self.forward(p, frontend, req, &viewer, *protocol).await;
                            // Front Door's words: a rule without caching is `CONFIG_NOCACHE`; a
                            // method a caching rule does not cache came from the backend.
                            let x = if cache.is_some() {
                                "TCP_MISS"
                            } else {
                                "CONFIG_NOCACHE"
                            };
                            resp.headers_mut()
                                .insert(X_CACHE.clone(), HeaderValue::from_static(x));
                            resp
                        }
                    }
                }
                None => page(StatusCode::BAD_REQUEST, "no backend pool"),
            },
        }
    }

    /// Sends the request to the pool's backends in selection order until one answers.
    async fn forward(
        &self,
        pool: &Pool,
        frontend: &Frontend,
        req: Request<InBody>,
        viewer: &Viewer,
        protocol: Forwarding,
    ) -> Response<ResponseBody> {
        let (parts, body) = req.into_parts();
        // A body small enough is read whole so that it can go to the next backend.
        let body = match body {
            InBody::Buffered(b) => RequestBody::Full(b),
            InBody::Incoming(b) if b.is_end_stream() => RequestBody::Empty,
            InBody::Incoming(b) => {
                if b.size_hint().upper().is_some_and(|u| u <= BUFFER_LIMIT) {
                    match b.collect().await {
                        Ok(c) => RequestBody::Full(Some(c.to_bytes())),
                        Err(_) => {
                            return page(StatusCode::BAD_REQUEST, "the request body broke off");
                        }
                    }
                } else {
                    // Streamed: goes to one backend, or to the next only if never sent.
                    RequestBody::Stream(b)
                }
            }
        };
        match pool.send(&parts, body, viewer, protocol).await {
            Ok((mut resp, i)) => {
                let backend = &pool.backends[i];
                if frontend.session_affinity
                    && viewer.affinity != Some(i)
                    && !cacheable(resp.status(), resp.headers())
                {
                    set_affinity(
                        resp.headers_mut(),
                        &backend.cookie,
                        viewer.scheme,
                        frontend.affinity_ttl,
                    );
                }
                resp.headers_mut().insert(X_AZURE_REF.clone(), azure_ref());
                resp
            }
            Err(status) => page(status, "no backend of the pool could answer"),
        }
    }
}

impl Pool {
    /// Sends a request to the backends in selection order until one answers: its response
    /// (hop-by-hop fields stripped, the backend named) and the backend's index, or the
    /// status the client gets when none could.
    async fn send(
        &self,
        parts: &http::request::Parts,
        body: RequestBody,
        viewer: &Viewer,
        protocol: Forwarding,
    ) -> Result<(Response<ResponseBody>, usize), StatusCode> {
        let idempotent = matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        );
        let mut body = Some(body);
        let opts = SendOptions {
            protocol: Protocol::Http1,
            connect_timeout: self.door.connect_timeout,
            idle_timeout: Some(Duration::from_secs(60)),
            max_requests_per_connection: 0,
        };
        let https = protocol.https(viewer.scheme);
        let mut tried = Vec::new();
        let mut last = ProxyError::NoHealthyUpstream(self.cfg.name.clone());
        while let Some(i) = self.pick(&tried, viewer.affinity) {
            tried.push(i);
            let backend = &self.backends[i];
            let Some(this_body) = body.take() else { break };
            body = this_body.try_clone();
            let upstream_req = backend_request(
                parts,
                this_body,
                &backend.cfg.host_header,
                &viewer.host,
                viewer.scheme,
                viewer.client,
                &self.door.id,
            );
            let endpoint = match (&backend.tls_endpoint, https) {
                (Some(tls), true) => tls,
                _ => &backend.endpoint,
            };
            let sent = tokio::time::timeout(
                self.door.timeout,
                upstream::send(endpoint, upstream_req, opts),
            )
            .await;
            match sent {
                Ok(Ok((resp, lease))) => {
                    let more = self.has_next(&tried);
                    if resp.status().is_server_error() && idempotent && more && body.is_some() {
                        // Another backend may answer: this one's 5xx is not the client's.
                        backend.failed.fetch_add(1, Ordering::Relaxed);
                        last = ProxyError::UpstreamReset(format!(
                            "{} answered {}",
                            backend.cfg.name,
                            resp.status()
                        ));
                        drop(lease);
                        continue;
                    }
                    backend.served.fetch_add(1, Ordering::Relaxed);
                    let (mut rparts, rbody) = resp.into_parts();
                    strip_hop_by_hop(&mut rparts.headers, false);
                    if let Ok(v) = HeaderValue::from_str(&backend.cfg.name) {
                        rparts.headers.insert(X_MERIDIAN_BACKEND.clone(), v);
                    }
                    rparts.version = Version::HTTP_11;
                    return Ok((
                        Response::from_parts(rparts, ResponseBody::upstream(rbody, lease, None)),
                        i,
                    ));
                }
                Ok(Err((e, unsent))) => {
                    backend.failed.fetch_add(1, Ordering::Relaxed);
                    backend.health.failed_request(self.cfg.probe.is_some());
                    tracing::debug!(front_door = %self.door.name, backend = %backend.cfg.name, error = %e, "backend failed; next backend");
                    // Never sent: any method may go elsewhere, with its body back.
                    if let Some(r) = unsent
                        && body.is_none()
                    {
                        body = Some(r.into_body());
                    }
                    let retry = idempotent || matches!(e, ProxyError::ConnectFailure { .. });
                    last = e;
                    if !retry {
                        break;
                    }
                }
                Err(_) => {
                    backend.failed.fetch_add(1, Ordering::Relaxed);
                    backend.health.failed_request(self.cfg.probe.is_some());
                    last = ProxyError::Timeout;
                    if !idempotent {
                        break;
                    }
                }
            }
        }
        tracing::debug!(front_door = %self.door.name, error = %last, "no backend answered");
        Err(match last {
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::NoHealthyUpstream(_) | ProxyError::ConnectFailure { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_GATEWAY,
        })
    }
}

/// The edge cache of a rule with caching: Front Door's rules, its backend requests sent
/// through the rule's pool (selection, failover) by [`PoolForwarder`].
fn rule_cache(
    cfg: &FrontDoorConfig,
    rule: &str,
    c: &RouteCache,
    pool: Arc<Pool>,
    protocol: Forwarding,
) -> Option<Arc<Edge>> {
    let origin = OriginConfig {
        timeout: cfg.timeout,
        ..OriginConfig::new(SocketAddr::from(([0, 0, 0, 0], 0)), "")
    };
    let mut ec = EdgeConfig::new(&format!("{}|{rule}", cfg.name), origin);
    ec.behavior = cache::Behavior {
        allowed_methods: vec![Method::GET],
        key: KeyPolicy {
            query: c.query.clone(),
            unordered_query: true,
            // Front Door forwards the client's fields (less a few, see the cache's
            // `front_door` module); its key is the URL and the encodings the client takes
            // (Brotli, gzip), so that a compressed copy only reaches clients that take it.
            forward_all_headers: true,
            gzip: true,
            brotli: true,
            ..KeyPolicy::default()
        },
        compress: c.compression,
        ..cache::Behavior::default()
    };
    ec.dialect = cache::Dialect::FrontDoor(c.caching.clone());
    ec.forwarder = Some(Arc::new(PoolForwarder { pool, protocol }));
    match Edge::new(ec) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(front_door = %cfg.name, rule, error = %e, "no cache for the rule; it forwards uncached");
            None
        }
    }
}

/// Sends a rule's cache fills to its pool.
#[derive(Debug)]
struct PoolForwarder {
    pool: Arc<Pool>,
    protocol: Forwarding,
}

impl cache::Forwarder for PoolForwarder {
    fn forward<'a>(
        &'a self,
        req: Request<RequestBody>,
        viewer: &'a http::request::Parts,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<Response<ResponseBody>, StatusCode>> + Send + 'a>,
    > {
        Box::pin(async move {
            let v = viewer
                .extensions
                .get::<Viewer>()
                .cloned()
                .unwrap_or(Viewer {
                    host: String::new(),
                    scheme: "http",
                    client: IpAddr::from([127, 0, 0, 1]),
                    affinity: None,
                });
            let (parts, body) = req.into_parts();
            self.pool
                .send(&parts, body, &v, self.protocol)
                .await
                .map(|(r, _)| r)
        })
    }

    fn error_page(&self, status: StatusCode) -> Response<ResponseBody> {
        page(status, "no backend of the pool could answer")
    }
}

/// The request a backend gets: the client's, without hop-by-hop fields, with the backend's
/// host header and Front Door's forwarding fields.
fn backend_request(
    parts: &http::request::Parts,
    body: RequestBody,
    host_header: &str,
    host: &str,
    scheme: &str,
    client: IpAddr,
    fdid: &str,
) -> Request<RequestBody> {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.path_and_query().map_or_else(
        || http::Uri::from_static("/"),
        |p| {
            http::Uri::from_maybe_shared(Bytes::copy_from_slice(p.as_str().as_bytes()))
                .unwrap_or_else(|_| http::Uri::from_static("/"))
        },
    );
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers, false);
    headers.remove(header::HOST);
    if let Ok(v) = HeaderValue::from_str(host_header) {
        headers.insert(header::HOST, v);
    }
    let xff = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {client}"),
        None => client.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(X_FORWARDED_HOST.clone(), v);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if scheme == "https" { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(fdid) {
        headers.insert(X_AZURE_FDID.clone(), v);
    }
    *req.headers_mut() = headers;
    req
}

/// The URI a backend gets under a `custom_forwarding_path`: the custom path, then what the
/// pattern's wildcard matched (nothing for an exact pattern), then the query.
fn forwarded_uri(custom: &str, pattern: &str, uri: &http::Uri) -> Option<http::Uri> {
    let path = uri.path();
    let rest = match pattern.strip_suffix('*') {
        Some(prefix) => path.get(prefix.len()..).unwrap_or(""),
        None => "",
    };
    let mut out = custom.to_owned();
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    if !rest.is_empty() {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(rest.trim_start_matches('/'));
    }
    if let Some(q) = uri.query() {
        out.push('?');
        out.push_str(q);
    }
    out.parse().ok()
}

/// How specific a pattern is for `path`, when it matches: an exact pattern beats any
/// wildcard, a longer wildcard prefix beats a shorter one. Classic patterns compare
/// without case.
fn specificity(pattern: &str, path: &str) -> Option<(u8, usize)> {
    let path = path.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix).then_some((1, prefix.len())),
        None => (path == pattern).then_some((2, pattern.len())),
    }
}

/// Whether a response may be cached, in which case Front Door does not set its affinity
/// cookie (it would be shared by every client of the cached copy).
fn cacheable(status: StatusCode, headers: &HeaderMap) -> bool {
    if status == StatusCode::FOUND || headers.contains_key(header::SET_COOKIE) {
        return false;
    }
    let cc: String = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    if ["no-store", "private", "no-cache"]
        .iter()
        .any(|d| cc.contains(d))
    {
        return false;
    }
    cc.contains("public") || cc.contains("max-age") || headers.contains_key(header::EXPIRES)
}

fn set_affinity(headers: &mut HeaderMap, value: &str, scheme: &str, ttl: Option<Duration>) {
    let secure = if scheme == "https" { "; Secure" } else { "" };
    let age = ttl.map_or_else(String::new, |t| format!("; Max-Age={}", t.as_secs()));
    for c in [
        format!("{AFFINITY_COOKIE}={value}; Path=/{age}{secure}"),
        format!("{AFFINITY_COOKIE_CORS}={value}; Path=/{age}; SameSite=None; Secure"),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

/// A cookie's value from the request's `Cookie` fields.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The affinity cookie's value for a backend: stable across restarts and revisions, and
/// saying nothing about the backend's address.
fn affinity_value(door: &str, pool: &str, backend: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in door
        .bytes()
        .chain([0])
        .chain(pool.bytes())
        .chain([0])
        .chain(backend.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn azure_ref() -> HeaderValue {
    HeaderValue::from_str(&format!(
        "0{:016X}{:016X}",
        rand::random::<u64>(),
        rand::random::<u64>()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// A Front Door answer of its own.
fn page(status: StatusCode, text: &str) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::full(Bytes::from(if text.is_empty() {
        String::new()
    } else {
        format!("{text}\n")
    })));
    *r.status_mut() = status;
    if !text.is_empty() {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r.headers_mut().insert(X_AZURE_REF.clone(), azure_ref());
    r
}

/// The Front Doors a listener serves, chosen by the request's host.
#[derive(Debug, Default)]
pub struct FrontDoors {
    list: arc_swap::ArcSwap<Vec<Arc<FrontDoor>>>,
}

impl FrontDoors {
    /// Puts these Front Doors in force.
    pub fn set(&self, list: Vec<Arc<FrontDoor>>) {
        self.list.store(Arc::new(list));
    }

    /// The Front Doors in force.
    pub fn all(&self) -> Vec<Arc<FrontDoor>> {
        self.list.load().iter().cloned().collect()
    }

    /// The one named so.
    pub fn by_name(&self, name: &str) -> Option<Arc<FrontDoor>> {
        self.list
            .load()
            .iter()
            .find(|d| d.cfg.name == name)
            .cloned()
    }

    /// Serves a client request with the Front Door whose frontend host it names.
    pub(crate) async fn serve(
        &self,
        req: Request<InBody>,
        scheme: &str,
        client: IpAddr,
    ) -> Response<ResponseBody> {
        let authority = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let host = authority
            .rsplit_once(':')
            .filter(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(authority.as_str(), |(h, _)| h);
        let list = self.list.load();
        for door in list.iter() {
            if let Some(frontend) = door.frontend(host) {
                return door
                    .serve(frontend, req, scheme, &authority, client, true)
                    .await;
            }
        }
        page(
            StatusCode::BAD_REQUEST,
            "this host is not a frontend host of any Front Door here",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_wildcard_and_longer_prefix_wins() {
        assert_eq!(specificity("/*", "/a/b"), Some((1, 1)));
        assert!(specificity("/a/*", "/a/b") > specificity("/*", "/a/b"));
        assert!(specificity("/a/b", "/a/b") > specificity("/a/*", "/a/b"));
        assert_eq!(specificity("/a/b", "/a/c"), None);
        assert_eq!(specificity("/API/*", "/api/x"), Some((1, 5)));
    }

    #[test]
    fn a_custom_forwarding_path_keeps_what_the_wildcard_matched() {
        let uri: http::Uri = "/api/v1/users?x=1".parse().unwrap();
        assert_eq!(
            forwarded_uri("/backend/", "/api/*", &uri).unwrap(),
            "/backend/v1/users?x=1"
        );
        assert_eq!(
            forwarded_uri("/b", "/*", &uri).unwrap(),
            "/b/api/v1/users?x=1"
        );
        assert_eq!(
            forwarded_uri("/exact", "/api/v1/users", &uri).unwrap(),
            "/exact?x=1"
        );
    }

    #[test]
    fn cacheable_responses_get_no_affinity_cookie() {
        let mut h = HeaderMap::new();
        assert!(!cacheable(StatusCode::OK, &h));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        assert!(cacheable(StatusCode::OK, &h));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=60"),
        );
        assert!(!cacheable(StatusCode::OK, &h));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ASLBSA=abc; ASLBSACORS=abc"),
        );
        assert_eq!(cookie(&h, AFFINITY_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
