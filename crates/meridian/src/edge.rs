//! The edge plane at `meridian up`: the Terraform modules' `aws_cloudfront_distribution`s
//! served by the data plane's cache ([`meridian_proxy::cache`]) on one HTTP and one HTTPS
//! listener, each distribution chosen by its domain name, in front of its bucket on the
//! node's S3 endpoint.
//!
//! Origin access control: the edge signs its origin requests with SigV4 as CloudFront's
//! service principal (`cloudfront.amazonaws.com`) acting for the distribution, with a
//! credential the storage plane issues for it ([`meridian_storage::keys::KeyStore::issue_service`]).
//! That credential is no one's in the account: the bucket lets it in only through a policy
//! naming the service and, usually, the distribution's ARN as `aws:SourceArn`, as S3 does.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use meridian_config::terraform::resources::Spec;
use meridian_config::terraform::resources::aws_cdn::{
    Behavior as TfBehavior, Distribution, Origin as TfOrigin,
};
use meridian_proxy::cache::{
    Behavior, CookieKeys, Edge, EdgeConfig, Edges, ErrorResponse, Failover, KeyPolicy,
    OriginConfig, OriginSigner, QueryKeys, Ttls, ViewerProtocol,
};
use meridian_storage::plane::StoragePlane;

/// Memory tier per distribution.
const MEMORY_BYTES: u64 = 64 << 20;
/// Disk tier per distribution.
const DISK_BYTES: u64 = 1 << 30;

/// A distribution as served: what the banner and `cdn ls` say.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// `E...`.
    pub(crate) id: String,
    /// `d....cloudfront.localhost`.
    pub(crate) domain: String,
    /// The origin bucket.
    pub(crate) bucket: String,
}

/// A distribution and its cache's figures, as `meridian cdn ls` shows them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DistributionSummary {
    /// `E...`.
    pub(crate) id: String,
    /// Its domain name.
    pub(crate) domain: String,
    /// The origin bucket.
    pub(crate) origin: String,
    /// Hits and refresh hits over every answered request.
    pub(crate) hit_ratio: f64,
    /// Served from cache.
    pub(crate) hits: u64,
    /// Revalidated with the origin.
    pub(crate) refresh_hits: u64,
    /// Fetched from the origin.
    pub(crate) misses: u64,
    /// Errors answered.
    pub(crate) errors: u64,
    /// Body bytes sent to viewers.
    pub(crate) bytes_served: u64,
    /// Body bytes fetched from the origin.
    pub(crate) bytes_from_origin: u64,
    /// Bytes served that the origin did not have to send.
    pub(crate) bytes_saved: u64,
    /// Objects in the memory tier.
    pub(crate) memory_objects: u64,
    /// Bytes in the memory tier.
    pub(crate) memory_bytes: u64,
    /// Objects in the disk tier.
    pub(crate) disk_objects: u64,
    /// Bytes in the disk tier.
    pub(crate) disk_bytes: u64,
}

/// The edge listeners and the distributions they serve.
#[derive(Debug)]
pub(crate) struct EdgePlane {
    pub(crate) edges: Arc<Edges>,
    pub(crate) http: SocketAddr,
    pub(crate) https: Option<SocketAddr>,
    /// The CloudFront API (invalidations).
    pub(crate) api: Option<SocketAddr>,
    /// The API's state, for `meridian cdn invalidate`.
    pub(crate) cdn_api: Option<Arc<crate::cdn_api::CdnApi>>,
    served: std::sync::Mutex<Vec<Served>>,
    /// The service principal's credential per distribution ARN, issued once.
    principals: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
}

/// The edge's TLS configuration: a certificate from Meridian's CA for `localhost`,
/// `127.0.0.1` and every `*.cloudfront.localhost` distribution domain.
pub(crate) fn tls_config(
    ca: &meridian_identity::CertificateAuthority,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let names = [
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "*.cloudfront.localhost".to_owned(),
    ];
    server_tls(ca, &names)
}

/// The TLS configuration of an HTTPS listener of the edge or the front door: a year's
/// certificate from Meridian's CA for `names`, HTTP/1.1.
pub(crate) fn server_tls(
    ca: &meridian_identity::CertificateAuthority,
    names: &[String],
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (chain, key) = ca.issue_server(names, Duration::from_secs(365 * 86_400))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Binds a plane's HTTP listener and, when asked, its HTTPS one (the edge's and the front
/// door's alike); a bind that fails names the flag (`flags`: HTTP's, HTTPS') that moves it.
pub(crate) async fn bind_listeners<F, Fut, E>(
    http: SocketAddr,
    https: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    flags: [&str; 2],
    bind: F,
) -> anyhow::Result<(SocketAddr, Option<SocketAddr>)>
where
    F: Fn(SocketAddr, Option<Arc<rustls::ServerConfig>>) -> Fut,
    Fut: std::future::Future<Output = Result<SocketAddr, E>>,
    E: std::fmt::Display,
{
    let [http_flag, https_flag] = flags;
    let http = bind(http, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; pass {http_flag} 127.0.0.1:0"))?;
    let https = match https {
        Some((addr, tls)) => Some(
            bind(addr, Some(tls))
                .await
                .map_err(|e| anyhow::anyhow!("{e}; pass {https_flag} 127.0.0.1:0"))?,
        ),
        None => None,
    };
    Ok((http, https))
}

/// The distributions of a bundle's Terraform modules, with the buckets their origins name.
pub(crate) fn distributions(
    bundle: &meridian_config::Bundle,
) -> Vec<(Distribution, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for m in bundle.terraform_modules() {
        let buckets: Vec<(String, String)> = m
            .instances
            .iter()
            .filter_map(|i| match &i.spec {
                Spec::S3Bucket(b) => Some((b.regional_domain_name.clone(), b.name.clone())),
                _ => None,
            })
            .collect();
        for i in &m.instances {
            if let Spec::Distribution(d) = &i.spec
                && d.enabled
            {
                out.push(((**d).clone(), buckets.clone()));
            }
        }
    }
    out
}

/// The Terraform modules' `aws_s3_bucket_policy`s: bucket and policy document.
pub(crate) fn terraform_bucket_policies(bundle: &meridian_config::Bundle) -> Vec<(String, String)> {
    bundle
        .terraform_modules()
        .flat_map(|m| m.instances.iter())
        .filter_map(|i| match &i.spec {
            Spec::S3Policy(p) => Some((p.bucket.clone(), p.policy.to_string())),
            _ => None,
        })
        .collect()
}

/// Puts the Terraform modules' bucket policies in force through the node's own S3 API
/// (PutBucketPolicy signed with the account's key), so they are checked as any client's
/// would be: a policy S3 refuses (malformed, or public under a public access block)
/// fails the revision with S3's own error.
pub(crate) async fn apply_bucket_policies(
    bundle: &meridian_config::Bundle,
    storage: &StoragePlane,
    region: &str,
) -> anyhow::Result<()> {
    let policies = terraform_bucket_policies(bundle);
    if policies.is_empty() {
        return Ok(());
    }
    let (access_key, secret) = storage
        .keys
        .long_term()
        .into_iter()
        .next()
        .unwrap_or_default();
    let signer = BucketSigner {
        access_key,
        secret,
        region: region.to_owned(),
    };
    let addr = storage.s3_addr();
    for (bucket, policy) in policies {
        let path = format!("/{bucket}?policy=");
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(&addr.to_string())?);
        signer.sign_payload(&Method::PUT, &path, &mut headers, "UNSIGNED-PAYLOAD");
        let mut req = format!("PUT {path} HTTP/1.1\r\n");
        for (n, v) in &headers {
            req.push_str(&format!("{n}: {}\r\n", v.to_str().unwrap_or_default()));
        }
        req.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{policy}",
            policy.len()
        ));
        let answer = async {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.write_all(req.as_bytes()).await?;
            let mut out = Vec::new();
            tcp.read_to_end(&mut out).await?;
            anyhow::Ok(String::from_utf8_lossy(&out).into_owned())
        };
        let answer = tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .map_err(|_| anyhow::anyhow!("the S3 endpoint did not answer"))??;
        let status = answer.split_whitespace().nth(1).unwrap_or("");
        if !status.starts_with('2') {
            let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            let code = xml_text(body, "Code");
            let message = xml_text(body, "Message");
            anyhow::bail!("the policy of bucket {bucket} was refused: {code}: {message}");
        }
        tracing::info!(%bucket, "bucket policy applied");
    }
    Ok(())
}

/// The text of the first `<tag>` in an S3 error document.
fn xml_text<'a>(body: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    body.split_once(open.as_str())
        .and_then(|(_, rest)| rest.split_once('<'))
        .map_or("", |(text, _)| text)
}

/// The buckets the Terraform modules declare (created at `up` like the templates' ones).
pub(crate) fn terraform_buckets(bundle: &meridian_config::Bundle) -> Vec<String> {
    bundle
        .terraform_modules()
        .flat_map(|m| m.instances.iter())
        .filter_map(|i| match &i.spec {
            Spec::S3Bucket(b) => Some(b.name.clone()),
            _ => None,
        })
        .collect()
}

impl EdgePlane {
    /// Binds the edge's listeners (HTTP on `http`, HTTPS on `https` with a certificate
    /// from `tls`).
    pub(crate) async fn start(
        proxy: &meridian_proxy::Proxy,
        http: SocketAddr,
        https: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    ) -> anyhow::Result<EdgePlane> {
        let edges = Arc::new(Edges::default());
        let (http, https) =
            bind_listeners(http, https, ["--cdn-addr", "--cdn-https-addr"], |a, t| {
                proxy.start_edge(edges.clone(), a, t)
            })
            .await?;
        Ok(EdgePlane {
            edges,
            http,
            https,
            api: None,
            cdn_api: None,
            served: std::sync::Mutex::new(Vec::new()),
            principals: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Puts the bundle's distributions in force; one whose configuration did not change
    /// keeps its cache.
    pub(crate) fn apply(
        &self,
        bundle: &meridian_config::Bundle,
        storage: &StoragePlane,
        region: &str,
        state_dir: &Path,
    ) -> anyhow::Result<()> {
        let mut list = Vec::new();
        let mut served = Vec::new();
        for (d, buckets) in distributions(bundle) {
            // The default behaviour's target: an origin, or an origin group (primary and
            // secondary members).
            let target = &d.default_behavior.target_origin_id;
            let group = d.origin_groups.iter().find(|g| g.id == *target);
            let by_id = |id: &str| d.origins.iter().find(|o| o.id == id);
            let (primary, secondary) = match group {
                Some(g) => (
                    g.members.first().and_then(|m| by_id(m)),
                    g.members.get(1).and_then(|m| by_id(m)),
                ),
                None => (by_id(target), None),
            };
            let Some(origin) = primary else {
                continue;
            };
            let bucket_of = |o: &TfOrigin| {
                buckets
                    .iter()
                    .find(|(domain, _)| *domain == o.domain_name)
                    .map(|(_, name)| name.clone())
                    .or_else(|| o.domain_name.split_once(".s3.").map(|(b, _)| b.to_owned()))
                    .unwrap_or_else(|| o.domain_name.clone())
            };
            let bucket = bucket_of(origin);
            let origin_config = |o: &TfOrigin| {
                let signer: Option<Arc<dyn OriginSigner>> =
                    o.origin_access_control_id.as_ref().map(|_| {
                        let (access_key, secret) = self.principal(storage, &d.arn);
                        Arc::new(BucketSigner {
                            access_key,
                            secret,
                            region: region.to_owned(),
                        }) as Arc<dyn OriginSigner>
                    });
                let s3 = storage.s3_addr();
                OriginConfig {
                    addr: s3,
                    host: s3.to_string(),
                    path: format!("/{}{}", bucket_of(o), o.path),
                    signer,
                    timeout: Duration::from_secs(30),
                }
            };
            let mut cfg = EdgeConfig::new(&d.id, origin_config(origin));
            cfg.failover = match (group, secondary) {
                (Some(g), Some(o)) => Some(Failover {
                    origin: origin_config(o),
                    status_codes: g
                        .status_codes
                        .iter()
                        .filter_map(|c| u16::try_from(*c).ok())
                        .collect(),
                }),
                _ => None,
            };
            cfg.error_responses = d
                .custom_error_responses
                .iter()
                .filter_map(|e| {
                    Some(ErrorResponse {
                        error_code: u16::try_from(e.error_code).ok()?,
                        response_code: e.response_code.and_then(|c| u16::try_from(c).ok()),
                        page_path: e.response_page_path.clone().filter(|p| !p.is_empty()),
                        min_ttl: u64::try_from(e.error_caching_min_ttl).ok(),
                    })
                })
                .collect();
            cfg.behavior = behavior(&d.default_behavior);
            // Every behaviour reaches the default behaviour's origin.
            cfg.ordered = d
                .ordered_behaviors
                .iter()
                .map(|b| (b.path_pattern.clone().unwrap_or_default(), behavior(b)))
                .collect();
            cfg.default_root_object = d.default_root_object.clone().filter(|r| !r.is_empty());
            cfg.memory_bytes = MEMORY_BYTES;
            cfg.disk = Some((state_dir.join("edge").join(&d.id), DISK_BYTES));
            cfg.https_port = self.https.map(|a| a.port());
            let edge = match self.edges.by_id(&d.id) {
                Some(e) if same(e.config(), &cfg) => e,
                _ => Edge::new(cfg)?,
            };
            let mut names = vec![d.domain_name.clone()];
            names.extend(d.aliases.iter().cloned());
            served.push(Served {
                id: d.id.clone(),
                domain: d.domain_name.clone(),
                bucket,
            });
            list.push((names, edge));
        }
        self.edges.set(list);
        if let Ok(mut s) = self.served.lock() {
            *s = served;
        }
        Ok(())
    }

    /// The service principal's credential for a distribution: `cloudfront.amazonaws.com`
    /// acting for its ARN, issued by the storage plane once per process.
    fn principal(&self, storage: &StoragePlane, arn: &str) -> (String, String) {
        let mut m = self
            .principals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry(arn.to_owned())
            .or_insert_with(|| {
                let c = storage.keys.issue_service("cloudfront.amazonaws.com", arn);
                (c.access_key_id.clone(), c.secret_access_key.clone())
            })
            .clone()
    }

    /// The distributions with their caches' figures, for `meridian cdn ls`.
    pub(crate) fn summaries(&self) -> Vec<DistributionSummary> {
        self.served()
            .into_iter()
            .map(|d| {
                let s = self
                    .edges
                    .by_id(&d.id)
                    .map(|e| e.stats())
                    .unwrap_or_default();
                let hits = s.hits + s.refresh_hits;
                let answered = hits + s.misses + s.errors;
                DistributionSummary {
                    hit_ratio: if answered == 0 {
                        0.0
                    } else {
                        hits as f64 / answered as f64
                    },
                    hits: s.hits,
                    refresh_hits: s.refresh_hits,
                    misses: s.misses,
                    errors: s.errors,
                    bytes_served: s.bytes_served,
                    bytes_from_origin: s.bytes_from_origin,
                    bytes_saved: s.bytes_served.saturating_sub(s.bytes_from_origin),
                    memory_objects: s.memory.objects,
                    memory_bytes: s.memory.bytes,
                    disk_objects: s.disk.objects,
                    disk_bytes: s.disk.bytes,
                    id: d.id,
                    domain: d.domain,
                    origin: d.bucket,
                }
            })
            .collect()
    }

    /// The distributions served.
    pub(crate) fn served(&self) -> Vec<Served> {
        self.served.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Whether two configurations serve alike (so the cache carries over).
fn same(a: &EdgeConfig, b: &EdgeConfig) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// A Terraform cache behaviour as the edge applies it.
fn behavior(b: &TfBehavior) -> Behavior {
    let methods: Vec<Method> = b
        .allowed_methods
        .iter()
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .collect();
    let mut key = KeyPolicy::default();
    if let Some(f) = &b.forwarded_values {
        key.query = match (f.query_string, f.query_string_cache_keys.is_empty()) {
            (false, _) => QueryKeys::None,
            (true, true) => QueryKeys::All,
            (true, false) => QueryKeys::Whitelist(f.query_string_cache_keys.clone()),
        };
        key.headers = f
            .headers
            .iter()
            .filter(|h| *h != "*")
            .filter_map(|h| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok())
            .collect();
        key.cookies = match f.cookies.as_str() {
            "all" => CookieKeys::All,
            "whitelist" => CookieKeys::Whitelist(f.cookie_names.clone()),
            _ => CookieKeys::None,
        };
    }
    Behavior {
        allowed_methods: if methods.is_empty() {
            vec![Method::GET, Method::HEAD]
        } else {
            methods
        },
        cache_options: b.cached_methods.iter().any(|m| m == "OPTIONS"),
        key,
        ttls: Ttls {
            min: u64::try_from(b.min_ttl).unwrap_or(0),
            default: Some(u64::try_from(b.default_ttl).unwrap_or(0)),
            max: u64::try_from(b.max_ttl).unwrap_or(0),
            error_min: 10,
        },
        viewer_protocol: match b.viewer_protocol_policy.as_str() {
            "redirect-to-https" => ViewerProtocol::RedirectToHttps,
            "https-only" => ViewerProtocol::HttpsOnly,
            _ => ViewerProtocol::AllowAll,
        },
        compress: b.compress,
    }
}

/// SigV4 for the origin bucket (service `s3`, an empty payload).
#[derive(Debug)]
struct BucketSigner {
    access_key: String,
    secret: String,
    region: String,
}

/// SHA-256 of an empty payload.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl OriginSigner for BucketSigner {
    fn sign(&self, method: &Method, _host: &str, path_and_query: &str, headers: &mut HeaderMap) {
        self.sign_payload(method, path_and_query, headers, EMPTY_SHA256);
    }
}

impl BucketSigner {
    /// Signs a request whose `x-amz-content-sha256` is `payload` (a hash, or
    /// `UNSIGNED-PAYLOAD`).
    fn sign_payload(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &mut HeaderMap,
        payload: &'static str,
    ) {
        let amz = meridian_storage::sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        let Ok(date) = HeaderValue::from_str(&amz) else {
            return;
        };
        headers.insert("x-amz-date", date);
        headers.insert("x-amz-content-sha256", HeaderValue::from_static(payload));
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let signed = [
            "host".to_owned(),
            "x-amz-content-sha256".to_owned(),
            "x-amz-date".to_owned(),
        ];
        let auth = meridian_storage::sigv4::sign(
            &meridian_storage::sigv4::SignedRequest {
                method: method.as_str(),
                path,
                query,
                headers,
                authority: None,
                body: b"",
            },
            &self.access_key,
            &self.secret,
            &self.region,
            "s3",
            &amz,
            &signed,
        );
        if let Ok(v) = HeaderValue::from_str(&auth) {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
}

/// The distributions' cache metrics in Prometheus' text format 0.0.4.
pub(crate) fn metrics_text(plane: &EdgePlane) -> String {
    use std::fmt::Write as _;
    let stats: Vec<(String, meridian_proxy::cache::CacheStats)> = plane
        .edges
        .all()
        .iter()
        .map(|e| (e.config().id.clone(), e.stats()))
        .collect();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let by = |f: &dyn Fn(&meridian_proxy::cache::CacheStats) -> u64| -> Vec<(String, u64)> {
        stats
            .iter()
            .map(|(id, s)| (format!("distribution=\"{id}\""), f(s)))
            .collect()
    };
    let mut results = Vec::new();
    for (id, s) in &stats {
        for (result, n) in [
            ("Hit", s.hits),
            ("RefreshHit", s.refresh_hits),
            ("Miss", s.misses),
            ("Error", s.errors),
        ] {
            results.push((format!("distribution=\"{id}\",result=\"{result}\""), n));
        }
    }
    family(
        "meridian_cdn_requests_total",
        "counter",
        "Viewer requests a distribution answered, by X-Cache result.",
        &results,
    );
    family(
        "meridian_cdn_collapsed_requests_total",
        "counter",
        "Requests that waited for another request's origin fetch of the same key.",
        &by(&|s| s.collapsed),
    );
    family(
        "meridian_cdn_origin_requests_total",
        "counter",
        "Requests the edge sent to the origin.",
        &by(&|s| s.origin_requests),
    );
    family(
        "meridian_cdn_served_bytes_total",
        "counter",
        "Body bytes sent to viewers.",
        &by(&|s| s.bytes_served),
    );
    family(
        "meridian_cdn_origin_bytes_total",
        "counter",
        "Body bytes received from the origin.",
        &by(&|s| s.bytes_from_origin),
    );
    let tiers = |f: &dyn Fn(&meridian_proxy::cache::TierStats) -> u64| -> Vec<(String, u64)> {
        stats
            .iter()
            .flat_map(|(id, s)| {
                [
                    (
                        format!("distribution=\"{id}\",tier=\"memory\""),
                        f(&s.memory),
                    ),
                    (format!("distribution=\"{id}\",tier=\"disk\""), f(&s.disk)),
                ]
            })
            .collect()
    };
    family(
        "meridian_cdn_stored_objects",
        "gauge",
        "Objects stored, by tier.",
        &tiers(&|t| t.objects),
    );
    family(
        "meridian_cdn_stored_bytes",
        "gauge",
        "Bytes stored, by tier.",
        &tiers(&|t| t.bytes),
    );
    family(
        "meridian_cdn_evictions_total",
        "counter",
        "Objects evicted for space, by tier.",
        &tiers(&|t| t.evictions),
    );
    out
}
