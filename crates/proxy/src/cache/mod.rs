//! The edge cache: a CloudFront distribution served on the data plane's request lifecycle.
//! A request is checked against the behaviour (viewer protocol, allowed methods, default
//! root object), keyed by its cache policy ([`key`]), answered from the memory or disk tier
//! ([`store`]) while fresh ([`policy`]), and otherwise fetched from the origin once per key
//! however many viewers ask at the same time (request collapsing), revalidated with
//! `If-None-Match`/`If-Modified-Since` when a stored copy has validators. Responses carry
//! CloudFront's `X-Cache`, `Via`, `X-Amz-Cf-Pop` and `X-Amz-Cf-Id`.

pub mod compress;
pub mod front_door;
pub mod key;
pub mod log;
pub mod policy;
pub mod store;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt as _;
use tokio::sync::watch;

use crate::body::{InBody, RequestBody, ResponseBody};
use crate::frontdoor::BackendTls;
use crate::headers::strip_hop_by_hop;
use crate::pool::{Endpoint, Protocol};
use crate::upstream::{self, SendOptions, Transport};

pub use key::{CookieKeys, KeyPolicy, QueryKeys};
pub use policy::{Freshness, Ttls};
pub use store::{Entry, TierStats};

/// `viewer_protocol_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewerProtocol {
    /// HTTP and HTTPS.
    #[default]
    AllowAll,
    /// HTTP answered with a redirect to HTTPS (301 for GET and HEAD, 307 otherwise).
    RedirectToHttps,
    /// HTTP refused with 403.
    HttpsOnly,
}

/// A cache behaviour.
#[derive(Debug, Clone)]
pub struct Behavior {
    /// `allowed_methods`.
    pub allowed_methods: Vec<Method>,
    /// `cached_methods` includes OPTIONS (GET and HEAD are always cached).
    pub cache_options: bool,
    /// The cache key.
    pub key: KeyPolicy,
    /// TTLs.
    pub ttls: Ttls,
    /// `viewer_protocol_policy`.
    pub viewer_protocol: ViewerProtocol,
    /// `compress`.
    pub compress: bool,
    /// `target_origin_id`: 0 for the distribution's origin ([`EdgeConfig::origin`], with its
    /// failover), `n` for [`EdgeConfig::targets`]`[n - 1]`.
    pub target: usize,
}

impl Default for Behavior {
    fn default() -> Behavior {
        Behavior {
            allowed_methods: vec![Method::GET, Method::HEAD],
            cache_options: false,
            key: KeyPolicy::default(),
            ttls: Ttls::CLOUDFRONT,
            viewer_protocol: ViewerProtocol::AllowAll,
            compress: false,
            target: 0,
        }
    }
}

/// The distributions an edge listener serves, chosen by the request's host (a
/// distribution's domain name or aliases), else the first.
#[derive(Debug, Default)]
pub struct Edges {
    list: arc_swap::ArcSwap<Vec<(Vec<String>, Arc<Edge>)>>,
}

impl Edges {
    /// Puts these distributions (with their host names) in force.
    pub fn set(&self, list: Vec<(Vec<String>, Arc<Edge>)>) {
        self.list.store(Arc::new(list));
    }

    /// The distributions in force.
    pub fn all(&self) -> Vec<Arc<Edge>> {
        self.list.load().iter().map(|(_, e)| e.clone()).collect()
    }

    /// The distribution with this id.
    pub fn by_id(&self, id: &str) -> Option<Arc<Edge>> {
        self.list
            .load()
            .iter()
            .find(|(_, e)| e.cfg.id == id)
            .map(|(_, e)| e.clone())
    }

    fn pick(&self, host: &str) -> Option<Arc<Edge>> {
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        let list = self.list.load();
        list.iter()
            .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(host)))
            .or_else(|| list.first())
            .map(|(_, e)| e.clone())
    }

    /// Serves a viewer request (from `peer`) with the distribution its host names.
    pub(crate) async fn serve(
        &self,
        req: Request<InBody>,
        scheme: &str,
        peer: SocketAddr,
    ) -> Response<ResponseBody> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        match self.pick(host) {
            Some(edge) => edge.serve(req, scheme, peer).await,
            None => error_page(
                StatusCode::FORBIDDEN,
                "Bad request. We can't connect to the server for this app or website at this time.",
                &cf_id(),
            ),
        }
    }
}

/// Signs origin requests (origin access control: SigV4 as CloudFront's service
/// principal). The seam the storage plane's credentials plug into.
pub trait OriginSigner: Send + Sync + fmt::Debug {
    /// Adds the signature fields to a request for `path_and_query` with no body.
    fn sign(&self, method: &Method, host: &str, path_and_query: &str, headers: &mut HeaderMap);
}

/// `origin_protocol_policy`: how the edge reaches an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OriginProtocol {
    /// HTTP whatever the viewer used (`http-only`; buckets).
    #[default]
    HttpOnly,
    /// HTTPS whatever the viewer used.
    HttpsOnly,
    /// The viewer's protocol (one stored copy serves both, as CloudFront caches it).
    MatchViewer,
}

/// The origin a distribution fetches from.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// Where it listens for HTTP.
    pub addr: SocketAddr,
    /// The `Host` its requests carry (and the name its certificate must show over HTTPS).
    pub host: String,
    /// `origin_path`, prefixed to every request's path.
    pub path: String,
    /// Origin access control.
    pub signer: Option<Arc<dyn OriginSigner>>,
    /// Response timeout (`origin_read_timeout`, CloudFront's default 30 s).
    pub timeout: Duration,
    /// `connection_timeout`: how long one connection attempt may take (10 s).
    pub connect_timeout: Duration,
    /// `connection_attempts`: how many times the edge tries to connect before it answers 502
    /// (or fails over), 1 to 3.
    pub connection_attempts: u32,
    /// `origin_keepalive_timeout`: how long an idle connection to the origin is kept (5 s).
    pub keepalive: Duration,
    /// `origin_protocol_policy`.
    pub protocol: OriginProtocol,
    /// Where it listens for HTTPS, and the TLS client that verifies it (the certificate must
    /// name [`OriginConfig::host`]); needed unless the protocol is `http-only`.
    pub https: Option<(SocketAddr, BackendTls)>,
    /// `custom_header`s added to every origin request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl OriginConfig {
    /// An origin reached over HTTP at `addr` with `Host: host`, with CloudFront's defaults.
    pub fn new(addr: SocketAddr, host: impl Into<String>) -> OriginConfig {
        OriginConfig {
            addr,
            host: host.into(),
            path: String::new(),
            signer: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            connection_attempts: 3,
            keepalive: Duration::from_secs(5),
            protocol: OriginProtocol::HttpOnly,
            https: None,
            headers: Vec::new(),
        }
    }

    /// Whether a request for a viewer that came over HTTPS (`https`) goes over HTTPS.
    fn uses_https(&self, https: bool) -> bool {
        match self.protocol {
            OriginProtocol::HttpOnly => false,
            OriginProtocol::HttpsOnly => true,
            OriginProtocol::MatchViewer => https,
        }
    }
}

/// A behaviour's origin other than the distribution's first: an origin, or an origin
/// group's primary with its failover.
#[derive(Debug, Clone)]
pub struct Target {
    /// The origin (an origin group's primary member).
    pub origin: OriginConfig,
    /// The group's secondary.
    pub failover: Option<Failover>,
}

/// `custom_error_response`: what viewers get when the origin (or the edge) answers with
/// `error_code`, and how long that error is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// `error_code`.
    pub error_code: u16,
    /// `response_code`: the status viewers get with the page (the error's own without it).
    pub response_code: Option<u16>,
    /// `response_page_path`: the object served instead of the error body, fetched through
    /// the distribution (so through the behaviour its path selects, and cached).
    pub page_path: Option<String>,
    /// `error_caching_min_ttl`: how long the error is cached (the distribution's default,
    /// CloudFront's 10 s, without it).
    pub min_ttl: Option<u64>,
}

/// An origin group: the secondary origin a request fails over to when the primary cannot
/// be reached, times out, or answers with one of `status_codes` (GET, HEAD and OPTIONS
/// only, as CloudFront fails over).
#[derive(Debug, Clone)]
pub struct Failover {
    /// The secondary origin.
    pub origin: OriginConfig,
    /// `failover_criteria.status_codes`.
    pub status_codes: Vec<u16>,
}

/// Whose cache an edge is: the rules and headers it follows where CDNs differ.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Dialect {
    /// CloudFront's: its TTLs, `X-Cache: Hit from cloudfront`, `Via`, `X-Amz-Cf-*`.
    #[default]
    CloudFront,
    /// Azure Front Door's caching ([`front_door`]).
    FrontDoor(front_door::Caching),
}

/// Sends an edge's origin requests in the origin's place: a front door's backend pool,
/// with its own selection and failover. `viewer` is the request the fetch is for (the
/// first of those collapsed onto it), whose extensions carry what the forwarder needs.
pub trait Forwarder: Send + Sync + fmt::Debug {
    /// The origin's response, or the status the viewer gets when no backend answered.
    fn forward<'a>(
        &'a self,
        req: Request<RequestBody>,
        viewer: &'a http::request::Parts,
    ) -> Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, StatusCode>> + Send + 'a>>;

    /// The page a viewer gets for `status` when no stored copy can answer instead.
    fn error_page(&self, status: StatusCode) -> Response<ResponseBody>;
}

/// A distribution as the edge serves it.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Distribution id (`E...`).
    pub id: String,
    /// The origin.
    pub origin: OriginConfig,
    /// The default cache behaviour.
    pub behavior: Behavior,
    /// `ordered_cache_behavior`s: path patterns (CloudFront's `*` and `?`), first match
    /// wins, the default behaviour otherwise.
    pub ordered: Vec<(String, Behavior)>,
    /// The origins behaviours target besides [`EdgeConfig::origin`] ([`Behavior::target`]).
    pub targets: Vec<Target>,
    /// `default_root_object`.
    pub default_root_object: Option<String>,
    /// Memory tier budget, bytes.
    pub memory_bytes: u64,
    /// Disk tier directory and budget.
    pub disk: Option<(PathBuf, u64)>,
    /// Larger responses stream through uncached.
    pub max_object_bytes: u64,
    /// The HTTPS port redirects point at (none: 443).
    pub https_port: Option<u16>,
    /// `custom_error_response`s.
    pub error_responses: Vec<ErrorResponse>,
    /// The default behaviour's origin group, when it targets one.
    pub failover: Option<Failover>,
    /// Whose caching rules and headers apply.
    pub dialect: Dialect,
    /// Sends origin requests instead of the origin endpoint (the origin's address is then
    /// unused).
    pub forwarder: Option<Arc<dyn Forwarder>>,
    /// Standard access logs (`logging_config`).
    pub log: Option<LogConfig>,
}

/// Where a distribution's standard log lines go, and what they say.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Takes the lines.
    pub sink: Arc<dyn log::AccessLog>,
    /// The distribution's domain name (`cs(Host)`).
    pub domain: String,
    /// `include_cookies`.
    pub cookies: bool,
}

impl EdgeConfig {
    /// A distribution of `origin` with CloudFront's defaults and a 64 MiB memory tier.
    pub fn new(id: &str, origin: OriginConfig) -> EdgeConfig {
        EdgeConfig {
            id: id.to_owned(),
            origin,
            behavior: Behavior::default(),
            ordered: Vec::new(),
            targets: Vec::new(),
            default_root_object: None,
            memory_bytes: 64 << 20,
            disk: None,
            max_object_bytes: 32 << 20,
            https_port: None,
            error_responses: Vec::new(),
            failover: None,
            dialect: Dialect::CloudFront,
            forwarder: None,
            log: None,
        }
    }
}

/// Counters of a distribution's cache.
#[derive(Debug, Default)]
pub struct Counters {
    /// Served from cache.
    pub hits: AtomicU64,
    /// Fetched from the origin.
    pub misses: AtomicU64,
    /// Revalidated with the origin (304).
    pub refresh_hits: AtomicU64,
    /// Requests that waited for another's origin fetch.
    pub collapsed: AtomicU64,
    /// Origin requests.
    pub origin_requests: AtomicU64,
    /// Errors answered (origin down, timeouts).
    pub errors: AtomicU64,
    /// Body bytes sent to viewers.
    pub bytes_served: AtomicU64,
    /// Body bytes received from the origin.
    pub bytes_from_origin: AtomicU64,
}

/// A snapshot of [`Counters`] and the tiers.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Refresh hits.
    pub refresh_hits: u64,
    /// Collapsed requests.
    pub collapsed: u64,
    /// Origin requests.
    pub origin_requests: u64,
    /// Errors.
    pub errors: u64,
    /// Bytes served.
    pub bytes_served: u64,
    /// Bytes from the origin.
    pub bytes_from_origin: u64,
    /// Memory tier.
    pub memory: TierStats,
    /// Disk tier.
    pub disk: TierStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XCache {
    Hit,
    Miss,
    RefreshHit,
    Error,
}

impl XCache {
    fn value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            XCache::Hit => "Hit from cloudfront",
            XCache::Miss => "Miss from cloudfront",
            XCache::RefreshHit => "RefreshHit from cloudfront",
            XCache::Error => "Error from cloudfront",
        })
    }
}

/// What an origin fetch for a key left for the viewers waiting on it.
#[derive(Debug, Clone)]
enum Fill {
    /// A stored response every waiter is served from.
    Stored(Arc<Entry>, XCache),
    /// Nothing to share (not storable, or too large): each waiter asks for itself.
    Pass,
}

/// What one origin fetch produced.
enum Fetched {
    Stored(Arc<Entry>, XCache),
    Response(Response<ResponseBody>),
}

static X_CACHE: HeaderName = HeaderName::from_static("x-cache");
static X_AMZ_CF_ID: HeaderName = HeaderName::from_static("x-amz-cf-id");
static X_AMZ_CF_POP: HeaderName = HeaderName::from_static("x-amz-cf-pop");

/// A distribution's edge: configuration, tiers, the fetches in flight.
pub struct Edge {
    cfg: EdgeConfig,
    /// Connections per target (0: the distribution's origin), primary and secondary.
    pools: Vec<(OriginPools, Option<OriginPools>)>,
    memory: store::Memory,
    disk: Option<Arc<store::Disk>>,
    inflight: Mutex<HashMap<String, watch::Receiver<Option<Fill>>>>,
    counters: Counters,
    via: HeaderValue,
    pop: HeaderValue,
}

impl fmt::Debug for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edge").field("id", &self.cfg.id).finish()
    }
}

/// The connections to one origin: over HTTP, and over HTTPS when its protocol policy
/// allows it.
struct OriginPools {
    http: Arc<Endpoint>,
    https: Option<Arc<Endpoint>>,
}

impl OriginPools {
    fn new(o: &OriginConfig, key: &str) -> OriginPools {
        let https = match (&o.https, o.protocol) {
            (_, OriginProtocol::HttpOnly) | (None, _) => None,
            (Some((addr, tls)), _) => tls
                .transport(&o.host, true)
                .map(|t| Endpoint::standalone(*addr, format!("{key}|https"), t)),
        };
        OriginPools {
            http: Endpoint::standalone(o.addr, key.to_owned(), Transport::Plain),
            https,
        }
    }

    /// The endpoint a request for a viewer that came over HTTPS (`https`) goes to; none
    /// when the origin must be reached over HTTPS and has no HTTPS address.
    fn pick(&self, o: &OriginConfig, https: bool) -> Option<&Arc<Endpoint>> {
        if o.uses_https(https) {
            self.https.as_ref()
        } else {
            Some(&self.http)
        }
    }
}

/// The protocol a viewer used, kept on its request for the origin fetch.
#[derive(Debug, Clone, Copy)]
struct ViewerHttps(bool);

/// Removes a key's in-flight fetch when its leader finishes or is cancelled (its waiters
/// then see the channel close and fetch for themselves).
struct Leading<'a> {
    edge: &'a Edge,
    key: String,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.edge.inflight.lock() {
            m.remove(&self.key);
        }
    }
}

impl Edge {
    /// An edge for `cfg`; opens its disk tier.
    pub fn new(mut cfg: EdgeConfig) -> std::io::Result<Arc<Edge>> {
        // With `compress = true` CloudFront normalises `Accept-Encoding` to gzip and Brotli and
        // keys on it, whatever the rest of the key policy says.
        for b in std::iter::once(&mut cfg.behavior).chain(cfg.ordered.iter_mut().map(|(_, b)| b)) {
            if b.compress {
                b.key.gzip = true;
                b.key.brotli = true;
            }
        }
        let disk = match &cfg.disk {
            Some((dir, budget)) => Some(Arc::new(store::Disk::open(dir, *budget)?)),
            None => None,
        };
        let pools = std::iter::once((&cfg.origin, cfg.failover.as_ref()))
            .chain(cfg.targets.iter().map(|t| (&t.origin, t.failover.as_ref())))
            .enumerate()
            .map(|(n, (origin, failover))| {
                (
                    OriginPools::new(origin, &format!("edge-origin|{}|{n}", cfg.id)),
                    failover.map(|f| {
                        OriginPools::new(
                            &f.origin,
                            &format!("edge-origin-secondary|{}|{n}", cfg.id),
                        )
                    }),
                )
            })
            .collect();
        Ok(Arc::new(Edge {
            memory: store::Memory::new(cfg.memory_bytes),
            disk,
            pools,
            inflight: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            via: HeaderValue::from_str(&format!(
                "1.1 {:016x}{:016x}.cloudfront.net (CloudFront)",
                rand::random::<u64>(),
                rand::random::<u64>()
            ))
            .unwrap_or_else(|_| HeaderValue::from_static("1.1 cloudfront.net (CloudFront)")),
            pop: HeaderValue::from_static("MRD50-C1"),
            cfg,
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &EdgeConfig {
        &self.cfg
    }

    /// The behaviour for a path: the first ordered one whose pattern matches, else the
    /// default (0).
    fn select(&self, path: &str) -> usize {
        self.cfg
            .ordered
            .iter()
            .position(|(pattern, _)| {
                if pattern.starts_with('/') {
                    key::wildcard(pattern, path)
                } else {
                    path.strip_prefix('/')
                        .is_some_and(|p| key::wildcard(pattern, p))
                }
            })
            .map_or(0, |i| i + 1)
    }

    fn behavior(&self, which: usize) -> &Behavior {
        match which.checked_sub(1) {
            Some(i) => self
                .cfg
                .ordered
                .get(i)
                .map_or(&self.cfg.behavior, |(_, b)| b),
            None => &self.cfg.behavior,
        }
    }

    /// The origin (with its failover and connections) a behaviour targets.
    fn target(&self, which: usize) -> (&OriginConfig, Option<&Failover>, usize) {
        let t = self.behavior(which).target;
        match t.checked_sub(1).and_then(|i| self.cfg.targets.get(i)) {
            Some(target) => (&target.origin, target.failover.as_ref(), t),
            None => (&self.cfg.origin, self.cfg.failover.as_ref(), 0),
        }
    }

    /// Counters and tier sizes.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            refresh_hits: c.refresh_hits.load(Ordering::Relaxed),
            collapsed: c.collapsed.load(Ordering::Relaxed),
            origin_requests: c.origin_requests.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            bytes_served: c.bytes_served.load(Ordering::Relaxed),
            bytes_from_origin: c.bytes_from_origin.load(Ordering::Relaxed),
            memory: self.memory.stats(),
            disk: self.disk.as_ref().map(|d| d.stats()).unwrap_or_default(),
        }
    }

    /// Drops every stored response an invalidation path matches (CloudFront's grammar: a
    /// trailing `*` matches any continuation, otherwise the path exactly); returns how
    /// many objects went.
    pub async fn invalidate(&self, paths: &[String]) -> usize {
        let matches = |stored: &str| paths.iter().any(|p| invalidation_matches(p, stored));
        let mut n = self.memory.retain(|e| matches(&e.path));
        if let Some(disk) = &self.disk {
            let disk = disk.clone();
            let paths = paths.to_vec();
            n += tokio::task::spawn_blocking(move || {
                disk.retain(|p| paths.iter().any(|pat| invalidation_matches(pat, p)))
            })
            .await
            .unwrap_or(0);
        }
        n
    }

    /// Serves one viewer request that arrived over `scheme` from `peer`.
    pub(crate) async fn serve(
        self: &Arc<Self>,
        req: Request<InBody>,
        scheme: &str,
        peer: SocketAddr,
    ) -> Response<ResponseBody> {
        let logged = self.cfg.log.as_ref().map(|_| {
            (
                req.method().clone(),
                req.uri().clone(),
                req.version(),
                req.headers().clone(),
                std::time::Instant::now(),
            )
        });
        let resp = self.serve_viewer(req, scheme).await;
        if let (Some(log), Some((method, uri, version, headers, started))) = (&self.cfg.log, logged)
        {
            let h = resp.headers();
            let result = match h.get(&X_CACHE).and_then(|v| v.to_str().ok()) {
                Some(x) if x.starts_with("RefreshHit") => "RefreshHit",
                Some(x) if x.starts_with("Hit") => "Hit",
                Some(x) if x.starts_with("Miss") => "Miss",
                _ if resp.status().is_redirection() => "Redirect",
                _ if resp.status().as_u16() >= 400 => "Error",
                _ => "Miss",
            };
            let request_id = h
                .get(&X_AMZ_CF_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let line = log::line(
                time::OffsetDateTime::now_utc(),
                self.pop.to_str().unwrap_or(""),
                &log.domain,
                log.cookies,
                &log::Request {
                    method: &method,
                    uri: &uri,
                    version,
                    headers: &headers,
                    scheme,
                    peer,
                },
                &log::Answer {
                    status: resp.status(),
                    headers: h,
                    body: http_body::Body::size_hint(resp.body()).exact(),
                    request_id,
                    taken: started.elapsed(),
                    result,
                },
            );
            log.sink.record(line);
        }
        resp
    }

    async fn serve_viewer(
        self: &Arc<Self>,
        req: Request<InBody>,
        scheme: &str,
    ) -> Response<ResponseBody> {
        let cf_id = cf_id();
        let head = req.method() == Method::HEAD;
        let mut resp = self.serve_inner(req, scheme, &cf_id).await;
        if let Some(er) = self.error_response(resp.status())
            && er.page_path.is_some()
        {
            resp = Box::pin(self.custom_error_page(er, resp, scheme, head, &cf_id)).await;
        }
        let h = resp.headers_mut();
        match &self.cfg.dialect {
            Dialect::CloudFront => {
                h.insert(header::VIA, self.via.clone());
                h.insert(X_AMZ_CF_POP.clone(), self.pop.clone());
                h.insert(X_AMZ_CF_ID.clone(), cf_id);
            }
            Dialect::FrontDoor(_) => front_door::x_cache(h),
        }
        if let Some(n) = http_body::Body::size_hint(resp.body()).exact() {
            self.counters.bytes_served.fetch_add(n, Ordering::Relaxed);
        }
        resp
    }

    /// The `custom_error_response` for a status.
    fn error_response(&self, status: StatusCode) -> Option<&ErrorResponse> {
        self.cfg
            .error_responses
            .iter()
            .find(|e| e.error_code == status.as_u16())
    }

    /// An error answered with the configured page: the page is requested through the
    /// distribution (cached like any object) and sent with the configured status. When
    /// the page itself cannot be had, the viewer gets the error as it was.
    async fn custom_error_page(
        self: &Arc<Self>,
        er: &ErrorResponse,
        error: Response<ResponseBody>,
        scheme: &str,
        head: bool,
        cf_id: &HeaderValue,
    ) -> Response<ResponseBody> {
        let Some(page) = &er.page_path else {
            return error;
        };
        let Ok(uri) = Uri::try_from(page.as_str()) else {
            return error;
        };
        let mut req = Request::new(InBody::Buffered(None));
        *req.uri_mut() = uri;
        let page_resp = self.serve_inner(req, scheme, cf_id).await;
        if !page_resp.status().is_success() {
            return error;
        }
        let (mut parts, body) = page_resp.into_parts();
        parts.status = er
            .response_code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(error.status());
        parts.headers.insert(X_CACHE.clone(), XCache::Error.value());
        parts.headers.remove(header::AGE);
        let body = if head { ResponseBody::empty() } else { body };
        Response::from_parts(parts, body)
    }

    /// The TTLs a response with `status` is stored under: the behaviour's, with the
    /// status's own error-caching minimum TTL.
    fn ttls_for(&self, which: usize, status: StatusCode) -> Ttls {
        let mut t = self.behavior(which).ttls;
        if let Some(min) = self.error_response(status).and_then(|e| e.min_ttl) {
            t.error_min = min;
        }
        t
    }

    /// Whether a response may be stored, and for how long, by the dialect's rules.
    fn decide(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        authorized: bool,
        which: usize,
    ) -> Option<Freshness> {
        match &self.cfg.dialect {
            Dialect::CloudFront => policy::decide(
                status.as_u16(),
                headers,
                authorized,
                &self.ttls_for(which, status),
            ),
            Dialect::FrontDoor(c) => front_door::decide(status, headers, authorized, c),
        }
    }

    /// What a hit needs is awaited in place; a fill from the origin, a pass-through and an
    /// error page are boxed futures of their own, so that a hit's future (which every
    /// request's lives inside) stays small.
    async fn serve_inner(
        self: &Arc<Self>,
        req: Request<InBody>,
        scheme: &str,
        cf_id: &HeaderValue,
    ) -> Response<ResponseBody> {
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(ViewerHttps(scheme == "https"));
        let path = match (&self.cfg.default_root_object, parts.uri.path()) {
            (Some(root), "/") => format!("/{root}"),
            (_, p) => p.to_owned(),
        };
        let which = self.select(&path);
        let b = self.behavior(which);
        if scheme != "https" {
            match b.viewer_protocol {
                ViewerProtocol::AllowAll => {}
                ViewerProtocol::RedirectToHttps => return self.redirect_to_https(&parts),
                ViewerProtocol::HttpsOnly => {
                    return error_page(
                        StatusCode::FORBIDDEN,
                        "Bad request. We can't connect to the server for this app or website at this time.",
                        cf_id,
                    );
                }
            }
        }
        if !b.allowed_methods.contains(&parts.method) {
            return error_page(
                StatusCode::FORBIDDEN,
                "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.",
                cf_id,
            );
        }
        let cached = parts.method == Method::GET
            || parts.method == Method::HEAD
            || (parts.method == Method::OPTIONS && b.cache_options);
        if !cached {
            return Box::pin(self.pass(parts, body, &path, which, cf_id)).await;
        }
        let mut rk = b.key.key(
            &parts.method,
            &path,
            parts.uri.query(),
            &parts.headers,
            parts.version,
        );
        // Behaviours key apart: their policies differ.
        if which > 0 {
            rk.key = format!("#{which} {}", rk.key);
            rk.behavior = which;
        }
        let now = policy::now_secs();
        if let Some(e) = self.lookup(&rk, &parts.headers).await {
            if e.fresh(now) {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return respond(&e, &parts, XCache::Hit, now);
            }
            let f = e.freshness;
            if !f.no_cache && !f.must_revalidate && e.staleness(now) < f.stale_while_revalidate {
                // Stale while revalidating in the background.
                let me = self.clone();
                let (rk2, p2, e2) = (rk.clone(), parts.clone(), e.clone());
                tokio::spawn(async move {
                    let _ = me.fill(&rk2, &p2, Some(e2), self::cf_id()).await;
                });
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return respond(&e, &parts, XCache::Hit, now);
            }
            let fetched = Box::pin(self.fill(&rk, &parts, Some(e), cf_id.clone())).await;
            return self.answer(fetched, &parts);
        }
        let fetched = Box::pin(self.fill(&rk, &parts, None, cf_id.clone())).await;
        self.answer(fetched, &parts)
    }

    fn answer(&self, fetched: Fetched, parts: &http::request::Parts) -> Response<ResponseBody> {
        match fetched {
            Fetched::Stored(e, x) => respond(&e, parts, x, policy::now_secs()),
            Fetched::Response(r) => r,
        }
    }

    fn redirect_to_https(&self, parts: &http::request::Parts) -> Response<ResponseBody> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(']') && !h.is_empty() {
                h
            } else {
                host
            }
        });
        let port = match self.cfg.https_port {
            Some(443) | None => String::new(),
            Some(p) => format!(":{p}"),
        };
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let status = if parts.method == Method::GET || parts.method == Method::HEAD {
            StatusCode::MOVED_PERMANENTLY
        } else {
            StatusCode::TEMPORARY_REDIRECT
        };
        let mut r = Response::new(ResponseBody::full(Bytes::from_static(
            b"<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>CloudFront</center>\r\n</body>\r\n</html>\r\n",
        )));
        *r.status_mut() = status;
        if let Ok(v) = HeaderValue::from_str(&format!("https://{host}{port}{pq}")) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        r.headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("CloudFront"));
        r.headers_mut()
            .insert(X_CACHE.clone(), XCache::Error.value());
        r
    }

    /// The stored response for a request: the key's own, or (when the origin's response
    /// varied) the one whose selected request fields match.
    async fn lookup(&self, rk: &key::RequestKey, headers: &HeaderMap) -> Option<Arc<Entry>> {
        let e = self.get(&rk.key).await?;
        if e.vary.is_empty() {
            return Some(e);
        }
        let secondary = vary_key(
            &rk.key,
            &e.vary,
            headers,
            rk.encoding,
            &self.behavior(rk.behavior).key,
        );
        let v = self.get(&secondary).await?;
        (v.vary == e.vary).then_some(v)
    }

    async fn get(&self, key: &str) -> Option<Arc<Entry>> {
        if let Some(e) = self.memory.get(key) {
            return Some(e);
        }
        let disk = self.disk.clone()?;
        let k = key.to_owned();
        let e = Arc::new(
            tokio::task::spawn_blocking(move || disk.get(&k).map(Entry::sealed))
                .await
                .ok()??,
        );
        self.memory.insert(e.clone());
        Some(e)
    }

    async fn put(&self, e: Arc<Entry>) {
        self.memory.insert(e.clone());
        if let Some(disk) = self.disk.clone() {
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(err) = disk.put(&e) {
                    tracing::warn!(error = %err, "edge cache: disk tier write failed");
                }
            })
            .await;
        }
    }

    async fn remove(&self, key: &str) {
        self.memory.remove(key);
        if let Some(disk) = self.disk.clone() {
            let k = key.to_owned();
            let _ = tokio::task::spawn_blocking(move || disk.remove(&k)).await;
        }
    }

    /// One origin fetch per key at a time: the first request for a key leads, the others
    /// wait for what it stores.
    async fn fill(
        &self,
        rk: &key::RequestKey,
        parts: &http::request::Parts,
        stale: Option<Arc<Entry>>,
        cf_id: HeaderValue,
    ) -> Fetched {
        let joined = {
            let mut m = self
                .inflight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match m.get(&rk.key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    m.insert(rk.key.clone(), rx);
                    Ok(tx)
                }
            }
        };
        match joined {
            Ok(tx) => {
                let _leading = Leading {
                    edge: self,
                    key: rk.key.clone(),
                };
                let fetched = self.fetch(rk, parts, stale, &cf_id).await;
                let _ = tx.send(Some(match &fetched {
                    Fetched::Stored(e, _) => Fill::Stored(e.clone(), XCache::Hit),
                    Fetched::Response(_) => Fill::Pass,
                }));
                fetched
            }
            Err(mut rx) => {
                self.counters.collapsed.fetch_add(1, Ordering::Relaxed);
                let filled = rx
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|f| f.clone());
                match filled {
                    // A response shared with the others is counted a hit, as CloudFront
                    // logs collapsed requests; it must still match this request's Vary.
                    Some(Fill::Stored(e, x)) if e.vary.is_empty() => {
                        self.counters.hits.fetch_add(1, Ordering::Relaxed);
                        Fetched::Stored(e, x)
                    }
                    _ => self.fetch(rk, parts, stale, &cf_id).await,
                }
            }
        }
    }

    /// The origin request for a viewer request (GET for HEAD, so the answer can be stored).
    #[allow(clippy::too_many_arguments)]
    fn origin_request(
        &self,
        o: &OriginConfig,
        method: Method,
        path: &str,
        query: Option<&str>,
        viewer: &HeaderMap,
        encoding: Option<&'static str>,
        which: usize,
        cf_id: &HeaderValue,
    ) -> Request<RequestBody> {
        let b = self.behavior(which);
        let mut pq = format!("{}{}", o.path.trim_end_matches('/'), path);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        let mut headers = HeaderMap::new();
        if b.key.forward_all_headers {
            for (name, v) in viewer {
                if !matches!(
                    name.as_str(),
                    "host"
                        | "content-length"
                        | "connection"
                        | "keep-alive"
                        | "te"
                        | "trailer"
                        | "transfer-encoding"
                        | "upgrade"
                        | "proxy-connection"
                        | "if-none-match"
                        | "if-modified-since"
                        | "if-match"
                        | "if-unmodified-since"
                        | "if-range"
                        | "range"
                ) {
                    headers.append(name.clone(), v.clone());
                }
            }
        }
        for name in &b.key.headers {
            for v in viewer.get_all(name) {
                headers.append(name.clone(), v.clone());
            }
        }
        match &b.key.cookies {
            CookieKeys::None => {}
            wanted => {
                let kept: Vec<String> = key::cookies(viewer)
                    .filter(|(n, _)| match wanted {
                        CookieKeys::All => true,
                        CookieKeys::Whitelist(w) => w.iter().any(|p| key::wildcard(p, n)),
                        CookieKeys::None => false,
                    })
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect();
                if !kept.is_empty()
                    && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
                {
                    headers.insert(header::COOKIE, v);
                }
            }
        }
        if let Dialect::FrontDoor(_) = &self.cfg.dialect {
            // The forwarder sets the backend's host and Front Door's forwarding fields. The
            // client's `Accept-Encoding` goes as the key normalised it (below), so that the
            // variant stored is the one the key names.
            for name in front_door::NOT_FORWARDED {
                headers.remove(*name);
            }
            headers.remove(header::ACCEPT_ENCODING);
        }
        if let Some(e) = encoding
            && !b.compress
        {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(e));
        }
        if self.cfg.dialect == Dialect::CloudFront {
            if let Ok(v) = HeaderValue::from_str(&o.host) {
                headers.insert(header::HOST, v);
            }
            headers.insert(
                header::USER_AGENT,
                HeaderValue::from_static("Amazon CloudFront"),
            );
            headers.insert(header::VIA, self.via.clone());
            headers.insert(X_AMZ_CF_ID.clone(), cf_id.clone());
        }
        for (name, value) in &o.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(signer) = &o.signer {
            signer.sign(&method, &o.host, &pq, &mut headers);
        }
        let mut req = Request::new(RequestBody::Empty);
        *req.method_mut() = method;
        *req.uri_mut() = Uri::try_from(pq).unwrap_or_else(|_| Uri::from_static("/"));
        *req.version_mut() = Version::HTTP_11;
        *req.headers_mut() = headers;
        req
    }

    fn send_options(o: &OriginConfig) -> SendOptions {
        SendOptions {
            protocol: Protocol::Http1,
            connect_timeout: o.connect_timeout,
            idle_timeout: Some(o.keepalive),
            max_requests_per_connection: 0,
        }
    }

    /// Sends an origin request within the origin's timeouts, connecting up to its
    /// `connection_attempts` times; a failure is the status the viewer would get for it
    /// (502 unreachable, 504 timed out).
    async fn send(
        &self,
        pools: &OriginPools,
        o: &OriginConfig,
        req: Request<RequestBody>,
        viewer: &http::request::Parts,
    ) -> Result<Response<ResponseBody>, StatusCode> {
        self.counters
            .origin_requests
            .fetch_add(1, Ordering::Relaxed);
        if let Some(forwarder) = &self.cfg.forwarder {
            return forwarder.forward(req, viewer).await;
        }
        let https = viewer.extensions.get::<ViewerHttps>().is_some_and(|v| v.0);
        let Some(endpoint) = pools.pick(o, https) else {
            return Err(StatusCode::BAD_GATEWAY);
        };
        let mut req = req;
        let mut attempts = o.connection_attempts.max(1);
        loop {
            attempts -= 1;
            match tokio::time::timeout(
                o.timeout,
                upstream::send(endpoint, req, Self::send_options(o)),
            )
            .await
            {
                Ok(Ok((r, lease))) => {
                    return Ok(r.map(|b| ResponseBody::upstream(b, lease, None)));
                }
                // Not sent (the connection failed): another attempt while there are some.
                Ok(Err((_, Some(unsent)))) if attempts > 0 => req = unsent,
                Ok(Err(_)) => return Err(StatusCode::BAD_GATEWAY),
                Err(_) => return Err(StatusCode::GATEWAY_TIMEOUT),
            }
        }
    }

    /// Fetches (or revalidates) a key from the origin and stores what may be stored.
    async fn fetch(
        &self,
        rk: &key::RequestKey,
        parts: &http::request::Parts,
        stale: Option<Arc<Entry>>,
        cf_id: &HeaderValue,
    ) -> Fetched {
        let method = if parts.method == Method::OPTIONS {
            Method::OPTIONS
        } else {
            Method::GET
        };
        let path = rk.path.split_once('?').map_or(rk.path.as_str(), |(p, _)| p);
        let request = |o: &OriginConfig| {
            let mut req = self.origin_request(
                o,
                method.clone(),
                path,
                rk.origin_query.as_deref(),
                &parts.headers,
                rk.encoding,
                rk.behavior,
                cf_id,
            );
            // A stale copy with validators is revalidated rather than fetched again.
            if let Some(s) = &stale {
                if let Some(etag) = s.headers.get(header::ETAG) {
                    req.headers_mut()
                        .insert(header::IF_NONE_MATCH, etag.clone());
                }
                if let Some(lm) = s.headers.get(header::LAST_MODIFIED) {
                    req.headers_mut()
                        .insert(header::IF_MODIFIED_SINCE, lm.clone());
                }
            }
            req
        };
        let request_time = policy::now_secs();
        let (origin, failover, t) = self.target(rk.behavior);
        let Some((primary, secondary)) = self.pools.get(t) else {
            return self.origin_failed(stale, parts, StatusCode::BAD_GATEWAY, cf_id);
        };
        let mut sent = self.send(primary, origin, request(origin), parts).await;
        // An origin group: the secondary origin when the primary cannot be reached, times
        // out, or answers with a failover status.
        if let (Some(f), Some(secondary)) = (failover, secondary) {
            let fail_over = match &sent {
                Ok(r) => f.status_codes.contains(&r.status().as_u16()),
                Err(_) => true,
            };
            if fail_over {
                drop(sent);
                sent = self
                    .send(secondary, &f.origin, request(&f.origin), parts)
                    .await;
            }
        }
        let resp = match sent {
            Ok(r) => r,
            Err(status) => return self.origin_failed(stale, parts, status, cf_id),
        };
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers, false);
        let status = rparts.status;
        if status.is_server_error()
            && let Some(s) = &stale
            && serves_stale_on_error(s)
        {
            return Fetched::Stored(s.clone(), XCache::Hit);
        }
        let response_time = policy::now_secs();
        if status == StatusCode::NOT_MODIFIED
            && let Some(s) = stale
        {
            drop(rbody.collect().await);
            let mut merged = s.headers.clone();
            for name in rparts.headers.keys() {
                if matches!(
                    name.as_str(),
                    "content-length"
                        | "content-encoding"
                        | "content-range"
                        | "transfer-encoding"
                        | "age"
                ) {
                    continue;
                }
                merged.remove(name);
                for v in rparts.headers.get_all(name) {
                    merged.append(name.clone(), v.clone());
                }
            }
            let authorized = parts.headers.contains_key(header::AUTHORIZATION);
            self.counters.refresh_hits.fetch_add(1, Ordering::Relaxed);
            return match self.decide(s.status, &merged, authorized, rk.behavior) {
                Some(freshness) => {
                    let e = Arc::new(Entry {
                        key: s.key.clone(),
                        path: s.path.clone(),
                        status: s.status,
                        initial_age: policy::initial_age(
                            &rparts.headers,
                            request_time,
                            response_time,
                        ),
                        headers: merged,
                        body: s.body.clone(),
                        file: s.file.clone(),
                        response_time,
                        freshness,
                        vary: s.vary.clone(),
                    });
                    self.put(e.clone()).await;
                    Fetched::Stored(e, XCache::RefreshHit)
                }
                None => {
                    self.remove(&s.key).await;
                    let e = Entry {
                        headers: merged,
                        ..(*s).clone()
                    };
                    Fetched::Stored(Arc::new(e), XCache::RefreshHit)
                }
            };
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let length = rparts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut headers = rparts.headers;
        // The origin's (or an upstream cache's) Age counts; the stored copy gets its own.
        let initial_age = policy::initial_age(&headers, request_time, response_time);
        headers.remove(header::AGE);
        let authorized = parts.headers.contains_key(header::AUTHORIZATION);
        let freshness = self.decide(status, &headers, authorized, rk.behavior);
        let vary = vary_names(&headers);
        let storable = freshness.is_some() && vary.is_some();
        if length.is_some_and(|n| n > self.cfg.max_object_bytes)
            || (!storable && method == parts.method && parts.headers.get(header::RANGE).is_none())
        {
            // Stream it through: too large to store, or not storable at all.
            if !storable && let Some(s) = &stale {
                self.remove(&s.key).await;
            }
            let mut r = Response::new(rbody);
            *r.status_mut() = status;
            *r.headers_mut() = headers;
            r.headers_mut()
                .insert(X_CACHE.clone(), XCache::Miss.value());
            if parts.method == Method::HEAD {
                *r.body_mut() = ResponseBody::empty();
            }
            return Fetched::Response(r);
        }
        let body = match rbody.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                // A truncated body is never stored, and never passed on as whole.
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                return Fetched::Response(error_page(
                    StatusCode::BAD_GATEWAY,
                    "CloudFront wasn't able to connect to the origin.",
                    cf_id,
                ));
            }
        };
        if let Some(n) = length
            && n != body.len() as u64
        {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            return Fetched::Response(error_page(
                StatusCode::BAD_GATEWAY,
                "CloudFront wasn't able to connect to the origin.",
                cf_id,
            ));
        }
        self.counters
            .bytes_from_origin
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        if matches!(self.behavior(rk.behavior).key.cookies, CookieKeys::None) {
            headers.remove(header::SET_COOKIE);
        }
        // `compress = true`: the origin was asked for the identity encoding; the edge
        // compresses for the viewer's (normalised) encoding, which is part of the key.
        let body = match rk.encoding {
            // Brotli when the viewer takes both, as CloudFront prefers it.
            Some(enc) if self.behavior(rk.behavior).compress => {
                let enc = if enc.starts_with("br") { "br" } else { "gzip" };
                match &self.cfg.dialect {
                    Dialect::CloudFront => {
                        compress::apply(status, &mut headers, body, enc, length.is_some())
                    }
                    Dialect::FrontDoor(c) => {
                        front_door::compress(c, status, &mut headers, body, enc)
                    }
                }
            }
            _ => body,
        };
        let (Some(freshness), Some(vary)) = (freshness, vary) else {
            if let Some(s) = &stale {
                self.remove(&s.key).await;
            }
            let e = Entry {
                key: rk.key.clone(),
                path: rk.path.clone(),
                status,
                headers,
                body,
                file: None,
                response_time,
                initial_age,
                freshness: Freshness {
                    lifetime: 0,
                    no_cache: true,
                    must_revalidate: true,
                    stale_while_revalidate: 0,
                    stale_if_error: None,
                },
                vary: Vec::new(),
            };
            // Served to this viewer only, never shared.
            return Fetched::Response(respond(&e, parts, XCache::Miss, response_time));
        };
        let storage_key = if vary.is_empty() {
            rk.key.clone()
        } else {
            vary_key(
                &rk.key,
                &vary,
                &parts.headers,
                rk.encoding,
                &self.behavior(rk.behavior).key,
            )
        };
        let e = Arc::new(
            Entry {
                key: storage_key,
                path: rk.path.clone(),
                status,
                headers,
                body,
                file: None,
                response_time,
                initial_age,
                freshness,
                vary: vary.clone(),
            }
            .sealed(),
        );
        if !vary.is_empty() {
            // The key's own slot says which request fields select among the variants.
            let marker = Arc::new(Entry {
                key: rk.key.clone(),
                body: Bytes::new(),
                file: None,
                headers: HeaderMap::new(),
                ..(*e).clone()
            });
            self.put(marker).await;
        }
        self.put(e.clone()).await;
        Fetched::Stored(e, XCache::Miss)
    }

    fn origin_failed(
        &self,
        stale: Option<Arc<Entry>>,
        _parts: &http::request::Parts,
        status: StatusCode,
        cf_id: &HeaderValue,
    ) -> Fetched {
        if let Some(s) = stale
            && serves_stale_on_error(&s)
        {
            return Fetched::Stored(s, XCache::Hit);
        }
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if let Some(forwarder) = &self.cfg.forwarder {
            return Fetched::Response(forwarder.error_page(status));
        }
        let msg = if status == StatusCode::GATEWAY_TIMEOUT {
            "CloudFront attempted to establish a connection with the origin, but either the attempt failed or the origin closed the connection."
        } else {
            "CloudFront wasn't able to connect to the origin."
        };
        Fetched::Response(error_page(status, msg, cf_id))
    }

    /// Requests the behaviour does not cache go to the origin as they are; a successful
    /// unsafe one invalidates what is stored for its path.
    async fn pass(
        &self,
        parts: http::request::Parts,
        body: InBody,
        path: &str,
        which: usize,
        cf_id: &HeaderValue,
    ) -> Response<ResponseBody> {
        let (origin, _, t) = self.target(which);
        let mut req = self.origin_request(
            origin,
            parts.method.clone(),
            path,
            parts.uri.query(),
            &parts.headers,
            None,
            which,
            cf_id,
        );
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::AUTHORIZATION,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
        ] {
            if let Some(v) = parts.headers.get(&name) {
                req.headers_mut().insert(name, v.clone());
            }
        }
        *req.body_mut() = body.into_request_body();
        self.counters
            .origin_requests
            .fetch_add(1, Ordering::Relaxed);
        let https = parts.extensions.get::<ViewerHttps>().is_some_and(|v| v.0);
        let endpoint = self.pools.get(t).and_then(|(p, _)| p.pick(origin, https));
        let sent = match endpoint {
            Some(endpoint) => Some(
                tokio::time::timeout(
                    origin.timeout,
                    upstream::send(endpoint, req, Self::send_options(origin)),
                )
                .await,
            ),
            None => None,
        };
        let (resp, lease) = match sent {
            Some(Ok(Ok(r))) => r,
            None | Some(Ok(Err(_))) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                return error_page(
                    StatusCode::BAD_GATEWAY,
                    "CloudFront wasn't able to connect to the origin.",
                    cf_id,
                );
            }
            Some(Err(_)) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                return error_page(
                    StatusCode::GATEWAY_TIMEOUT,
                    "CloudFront attempted to establish a connection with the origin, but either the attempt failed or the origin closed the connection.",
                    cf_id,
                );
            }
        };
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers, false);
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if unsafe_method && (rparts.status.is_success() || rparts.status.is_redirection()) {
            let mut paths = vec![path.to_owned()];
            for name in [header::LOCATION, header::CONTENT_LOCATION] {
                if let Some(p) = rparts
                    .headers
                    .get(&name)
                    .and_then(|v| v.to_str().ok())
                    .filter(|p| p.starts_with('/'))
                {
                    paths.push(p.to_owned());
                }
            }
            self.invalidate_exact(&paths).await;
        }
        rparts.headers.insert(X_CACHE.clone(), XCache::Miss.value());
        Response::from_parts(rparts, ResponseBody::upstream(rbody, lease, None))
    }

    async fn invalidate_exact(&self, paths: &[String]) {
        let bare = |p: &str| p.split_once('?').map_or(p, |(a, _)| a).to_owned();
        let wanted: Vec<String> = paths.iter().map(|p| bare(p)).collect();
        self.memory
            .retain(|e| wanted.iter().any(|w| *w == bare(&e.path)));
        if let Some(disk) = self.disk.clone() {
            let _ = tokio::task::spawn_blocking(move || {
                disk.retain(|p| {
                    let b = p.split_once('?').map_or(p, |(a, _)| a);
                    wanted.iter().any(|w| w == b)
                })
            })
            .await;
        }
    }
}

/// Whether a stale copy may answer when the origin fails: `stale-if-error` when the origin
/// gave one (`stale-if-error=0` refuses, as CloudFront's guide advises), else CloudFront's
/// own behaviour of serving what it has unless revalidation is required.
fn serves_stale_on_error(e: &Entry) -> bool {
    let now = policy::now_secs();
    match e.freshness.stale_if_error {
        Some(window) => e.staleness(now) <= window,
        None => !e.freshness.must_revalidate && !e.freshness.no_cache,
    }
}

/// The request fields a response varies on; `None` for `Vary: *` (never stored).
fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for line in headers.get_all(header::VARY) {
        let text = line.to_str().ok()?;
        for item in text.split(',') {
            let item = item.trim();
            if item == "*" {
                return None;
            }
            if item.is_empty() {
                continue;
            }
            let n = HeaderName::from_bytes(item.to_ascii_lowercase().as_bytes()).ok()?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Some(names)
}

/// A variant's storage key: the request key and the selected fields' values as the origin
/// saw them (normalised `Accept-Encoding`; nothing for a field the policy does not
/// forward, so an unforwarded field cannot split or poison the cache).
fn vary_key(
    primary: &str,
    names: &[HeaderName],
    headers: &HeaderMap,
    encoding: Option<&str>,
    policy: &KeyPolicy,
) -> String {
    let mut k = format!("{primary}\nvary");
    for n in names {
        k.push('\n');
        k.push_str(n.as_str());
        k.push(':');
        if *n == header::ACCEPT_ENCODING {
            k.push_str(encoding.unwrap_or(""));
            continue;
        }
        if !policy.forward_all_headers && !policy.headers.contains(n) {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(n)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        k.push_str(&values.join(","));
    }
    k
}

/// CloudFront's invalidation paths: `*` only as the last character, matching any
/// continuation; otherwise the whole path (query included when it is keyed).
pub fn invalidation_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern || path.split_once('?').is_some_and(|(p, _)| p == pattern),
    }
}

/// The response for a viewer from a stored one: conditional requests, ranges, HEAD, Age.
fn respond(e: &Entry, parts: &http::request::Parts, x: XCache, now: u64) -> Response<ResponseBody> {
    let mut headers = e.headers.clone();
    headers.insert(X_CACHE.clone(), x.value());
    // A stored copy's age; a miss passes on the age the origin's answer arrived with.
    if x != XCache::Miss || e.initial_age > 0 {
        headers.insert(header::AGE, HeaderValue::from(e.age(now)));
    }
    let head = parts.method == Method::HEAD;
    if e.status == StatusCode::OK && not_modified(e, &parts.headers) {
        for n in [header::CONTENT_LENGTH, header::CONTENT_RANGE] {
            headers.remove(n);
        }
        let mut r = Response::new(ResponseBody::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.headers_mut() = headers;
        return r;
    }
    let len = e.body.len() as u64;
    let range = if e.status == StatusCode::OK && parts.method == Method::GET {
        parts
            .headers
            .get(header::RANGE)
            .filter(|_| if_range_holds(e, &parts.headers))
            .and_then(|v| v.to_str().ok())
            .map(|v| parse_range(v, len))
    } else {
        None
    };
    // The body, and where it starts in the stored one.
    let (status, body, offset) = match range {
        Some(Some(Ok((a, b)))) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (
                StatusCode::PARTIAL_CONTENT,
                e.body.slice(a as usize..=b as usize),
                a as usize,
            )
        }
        Some(Some(Err(()))) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.remove(header::CONTENT_TYPE);
            (StatusCode::RANGE_NOT_SATISFIABLE, Bytes::new(), 0)
        }
        _ => (e.status, e.body.clone(), 0),
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut r = Response::new(match &e.file {
        _ if head => ResponseBody::empty(),
        Some(file) => ResponseBody::sealed(body, file.clone(), offset),
        None => ResponseBody::full(body),
    });
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// `If-None-Match` (weak comparison), else `If-Modified-Since`, against a stored response.
fn not_modified(e: &Entry, req: &HeaderMap) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        let Some(etag) = e.headers.get(header::ETAG).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return inm
            .split(',')
            .any(|t| t.trim() == "*" || weak(t) == weak(etag));
    }
    if let Some(ims) = req.get(header::IF_MODIFIED_SINCE) {
        let Some(since) = policy::http_date(ims) else {
            return false;
        };
        let modified = e
            .headers
            .get(header::LAST_MODIFIED)
            .or_else(|| e.headers.get(header::DATE))
            .and_then(policy::http_date);
        return modified.is_some_and(|m| m <= since);
    }
    false
}

/// `If-Range`: the range applies only to the representation it names (strong ETag or
/// exact date).
fn if_range_holds(e: &Entry, req: &HeaderMap) -> bool {
    let Some(ir) = req.get(header::IF_RANGE) else {
        return true;
    };
    let ir = ir.to_str().unwrap_or("");
    if ir.starts_with('"') {
        return e
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == ir);
    }
    e.headers
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        == Some(ir)
}

/// One byte range of a body of `len`: `Some(Ok((first, last)))`, `Some(Err(()))` when it
/// cannot be satisfied, `None` when the header is not one range this cache serves (the
/// whole body is sent).
fn parse_range(v: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if a.is_empty() {
        if !digits(b) {
            return None;
        }
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        return Some(Ok((len.saturating_sub(n), len - 1)));
    }
    if !digits(a) || !(b.is_empty() || digits(b)) {
        return None;
    }
    let first: u64 = a.parse().ok()?;
    if first >= len {
        return Some(Err(()));
    }
    let last = if b.is_empty() {
        len - 1
    } else {
        let l: u64 = b.parse().ok()?;
        if l < first {
            return None;
        }
        l.min(len - 1)
    };
    Some(Ok((first, last)))
}

/// CloudFront's error page.
fn error_page(status: StatusCode, message: &str, cf_id: &HeaderValue) -> Response<ResponseBody> {
    let code = status.as_u16();
    let id = cf_id.to_str().unwrap_or("");
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n<HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n<H1>{code} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n{message}\n<BR clear=\"all\">\nIf you provide content to customers through CloudFront, you can find steps to troubleshoot and help prevent this error by reviewing the CloudFront documentation.\n<BR clear=\"all\">\n<HR noshade size=\"1px\">\n<PRE>\nGenerated by cloudfront (CloudFront)\nRequest ID: {id}\n</PRE>\n<ADDRESS>\n</ADDRESS>\n</BODY></HTML>"
    );
    let mut r = Response::new(ResponseBody::full(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::SERVER, HeaderValue::from_static("CloudFront"));
    h.insert(X_CACHE.clone(), XCache::Error.value());
    r
}

/// A request id shaped like CloudFront's: 56 characters of URL-safe base64.
fn cf_id() -> HeaderValue {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // 54 characters of 6 bits from six 64-bit words (ten characters each).
    let words: [u64; 6] = rand::random();
    let mut id = [b'='; 56];
    for (i, c) in id.iter_mut().take(54).enumerate() {
        let w = words[i / 10] >> ((i % 10) * 6);
        *c = ALPHABET[(w & 63) as usize];
    }
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("bytes=0-4", 10, Some(Ok((0, 4))) ; "first five")]
    #[test_case("bytes=5-", 10, Some(Ok((5, 9))) ; "open ended")]
    #[test_case("bytes=-3", 10, Some(Ok((7, 9))) ; "suffix")]
    #[test_case("bytes=-30", 10, Some(Ok((0, 9))) ; "suffix longer than body")]
    #[test_case("bytes=8-100", 10, Some(Ok((8, 9))) ; "last clamped")]
    #[test_case("bytes=10-", 10, Some(Err(())) ; "past the end")]
    #[test_case("bytes=0-1,4-5", 10, None ; "several ranges get the whole")]
    #[test_case("items=0-1", 10, None ; "other units ignored")]
    #[test_case("bytes=5-2", 10, None ; "backwards is invalid")]
    fn ranges(v: &str, len: u64, want: Option<Result<(u64, u64), ()>>) {
        assert_eq!(parse_range(v, len), want);
    }

    #[test_case("/*", "/a/b?x=1", true)]
    #[test_case("/images/*", "/images/a.png", true)]
    #[test_case("/images/image*", "/images/image1.jpg", true)]
    #[test_case("/images/*", "/img/a.png", false)]
    #[test_case("/index.html", "/index.html", true)]
    #[test_case("/index.html", "/index.html?v=2", true)]
    #[test_case("/index.html", "/Index.html", false)]
    fn invalidation_paths(p: &str, path: &str, want: bool) {
        assert_eq!(invalidation_matches(p, path), want);
    }

    #[test]
    fn vary_star_is_not_stored_and_names_are_normalised() {
        let mut h = HeaderMap::new();
        h.append(
            header::VARY,
            HeaderValue::from_static("Accept-Language, accept-encoding"),
        );
        assert_eq!(
            vary_names(&h).unwrap(),
            vec![header::ACCEPT_ENCODING, header::ACCEPT_LANGUAGE]
        );
        h.append(header::VARY, HeaderValue::from_static("*"));
        assert!(vary_names(&h).is_none());
    }

    #[test]
    fn cf_ids_look_like_cloudfronts() {
        let id = cf_id();
        assert_eq!(id.len(), 56);
        assert_ne!(id, cf_id());
    }
}
