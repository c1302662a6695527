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
use http::header::HeaderMap;
use meridian_config::terraform::resources::Spec;
use meridian_config::terraform::resources::aws_cdn::{Distribution, Origin as TfOrigin};
use meridian_proxy::cache::{
    Edge, EdgeConfig, Edges, ErrorResponse, Failover, LogConfig, OriginConfig, OriginSigner, Target,
};
use meridian_storage::plane::StoragePlane;

use crate::node_s3::{NodeS3, Signer, elements, error_code};

mod distribution;

pub(crate) use distribution::{Gateways, gateways};
use distribution::{
    behavior_with, cache_policies, custom_origin, origin_headers, seconds, unserved,
};

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
    /// The default behaviour's origin: a bucket's name, or a custom origin's URL (and the
    /// gateway that answers it).
    pub(crate) origin: String,
    /// The origin is a bucket.
    pub(crate) bucket: bool,
}

/// A distribution and its cache's figures, as `meridian cdn ls` shows them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DistributionSummary {
    /// `E...`.
    pub(crate) id: String,
    /// Its domain name.
    pub(crate) domain: String,
    /// The default behaviour's origin.
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
    /// What the last revision's distributions declare that is not served as declared.
    notes: std::sync::Mutex<Vec<String>>,
    /// How custom origins are reached over HTTPS: certificates verified against Meridian's
    /// CA and the system's roots.
    pub(crate) origin_tls: Option<meridian_proxy::frontdoor::BackendTls>,
    /// The distributions' standard logs, written by [`crate::edge_logs::spawn`].
    pub(crate) logs: Arc<crate::edge_logs::Logs>,
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
    storage: &Arc<StoragePlane>,
    region: &str,
) -> anyhow::Result<()> {
    let policies = terraform_bucket_policies(bundle);
    if policies.is_empty() {
        return Ok(());
    }
    let s3 = NodeS3::new(storage.clone(), region);
    for (bucket, policy) in policies {
        let (status, _, body) = s3
            .send(Method::PUT, &format!("/{bucket}"), "policy=", policy.into())
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let message = elements(&text, "Message")
                .into_iter()
                .next()
                .unwrap_or_default();
            anyhow::bail!(
                "the policy of bucket {bucket} was refused: {}: {message}",
                error_code(&body)
            );
        }
        tracing::info!(%bucket, "bucket policy applied");
    }
    Ok(())
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
            notes: std::sync::Mutex::new(Vec::new()),
            origin_tls: None,
            logs: Arc::default(),
            principals: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Puts the bundle's distributions in force; one whose configuration did not change
    /// keeps its cache. Custom origins are reached where this machine answers their names
    /// (`gateways`: the mesh's ingress listeners, by declared port).
    pub(crate) fn apply(
        &self,
        bundle: &meridian_config::Bundle,
        storage: &StoragePlane,
        gateways: &Gateways,
        region: &str,
        state_dir: &Path,
    ) -> anyhow::Result<()> {
        let mut list = Vec::new();
        let mut served = Vec::new();
        let mut notes = Vec::new();
        let policies = cache_policies(bundle);
        for (d, buckets) in distributions(bundle) {
            let bucket_of = |o: &TfOrigin| {
                buckets
                    .iter()
                    .find(|(domain, _)| *domain == o.domain_name)
                    .map(|(_, name)| name.clone())
                    .or_else(|| o.domain_name.split_once(".s3.").map(|(b, _)| b.to_owned()))
                    .unwrap_or_else(|| o.domain_name.clone())
            };
            let mut described = std::collections::HashMap::new();
            let mut origin_notes = Vec::new();
            let mut origin_config = |o: &TfOrigin| {
                let (config, description) = match &o.custom {
                    Some(custom) => {
                        let (config, description, note) =
                            custom_origin(o, custom, gateways, self.origin_tls.as_ref());
                        if let Some(note) = note {
                            origin_notes.push(format!("cdn: {} origin {}: {note}", d.id, o.id));
                        }
                        (config, description)
                    }
                    None => {
                        let signer: Option<Arc<dyn OriginSigner>> =
                            o.origin_access_control_id.as_ref().map(|_| {
                                let (access_key, secret) = self.principal(storage, &d.arn);
                                Arc::new(Signer {
                                    access_key,
                                    secret,
                                    region: region.to_owned(),
                                }) as Arc<dyn OriginSigner>
                            });
                        let s3 = storage.s3_addr();
                        let bucket = bucket_of(o);
                        let config = OriginConfig {
                            path: format!("/{bucket}{}", o.path),
                            signer,
                            connect_timeout: seconds(o.connection_timeout, 10),
                            connection_attempts: u32::try_from(o.connection_attempts.clamp(1, 3))
                                .unwrap_or(3),
                            headers: origin_headers(o),
                            ..OriginConfig::new(s3, s3.to_string())
                        };
                        (config, bucket)
                    }
                };
                described.insert(o.id.clone(), description);
                config
            };
            // A behaviour's target: an origin, or an origin group (primary and secondary
            // members).
            let mut target = |id: &str| -> Option<Target> {
                let by_id = |id: &str| d.origins.iter().find(|o| o.id == id);
                match d.origin_groups.iter().find(|g| g.id == id) {
                    Some(g) => {
                        let primary = g.members.first().and_then(|m| by_id(m))?;
                        let origin = origin_config(primary);
                        let failover = g.members.get(1).and_then(|m| by_id(m)).map(|o| Failover {
                            origin: origin_config(o),
                            status_codes: g
                                .status_codes
                                .iter()
                                .filter_map(|c| u16::try_from(*c).ok())
                                .collect(),
                        });
                        Some(Target { origin, failover })
                    }
                    None => by_id(id).map(|o| Target {
                        origin: origin_config(o),
                        failover: None,
                    }),
                }
            };
            let default_target = d.default_behavior.target_origin_id.clone();
            let Some(first) = target(&default_target) else {
                continue;
            };
            // The other origins behaviours target, each once, in order of first use.
            let mut target_ids: Vec<String> = Vec::new();
            let mut targets = Vec::new();
            let mut ordered = Vec::new();
            for b in &d.ordered_behaviors {
                let mut behavior = behavior_with(b, &policies, &mut notes, &d.id);
                if b.target_origin_id != default_target {
                    let at = match target_ids.iter().position(|t| *t == b.target_origin_id) {
                        Some(at) => Some(at),
                        None => target(&b.target_origin_id).map(|t| {
                            target_ids.push(b.target_origin_id.clone());
                            targets.push(t);
                            targets.len() - 1
                        }),
                    };
                    behavior.target = at.map_or(0, |at| at + 1);
                }
                ordered.push((b.path_pattern.clone().unwrap_or_default(), behavior));
            }
            notes.append(&mut origin_notes);
            let mut cfg = EdgeConfig::new(&d.id, first.origin);
            cfg.failover = first.failover;
            cfg.targets = targets;
            cfg.ordered = ordered;
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
            cfg.behavior = behavior_with(&d.default_behavior, &policies, &mut notes, &d.id);
            cfg.default_root_object = d.default_root_object.clone().filter(|r| !r.is_empty());
            cfg.memory_bytes = MEMORY_BYTES;
            cfg.disk = Some((state_dir.join("edge").join(&d.id), DISK_BYTES));
            cfg.https_port = self.https.map(|a| a.port());
            cfg.log = d
                .logging
                .as_ref()
                .map(|(bucket, prefix, cookies)| LogConfig {
                    sink: self
                        .logs
                        .buffer(&d.id, &crate::edge_logs::bucket_of(bucket), prefix),
                    domain: d.domain_name.clone(),
                    cookies: *cookies,
                });
            notes.extend(unserved(&d));
            let edge = match self.edges.by_id(&d.id) {
                Some(e) if same(e.config(), &cfg) => e,
                _ => Edge::new(cfg)?,
            };
            let mut names = vec![d.domain_name.clone()];
            names.extend(d.aliases.iter().cloned());
            let origin = d
                .origin_groups
                .iter()
                .find(|g| g.id == default_target)
                .and_then(|g| g.members.first())
                .unwrap_or(&default_target);
            served.push(Served {
                id: d.id.clone(),
                domain: d.domain_name.clone(),
                origin: described.remove(origin).unwrap_or_default(),
                bucket: d
                    .origins
                    .iter()
                    .find(|o| o.id == *origin)
                    .is_some_and(|o| o.custom.is_none()),
            });
            list.push((names, edge));
        }
        self.edges.set(list);
        if let Ok(mut s) = self.served.lock() {
            *s = served;
        }
        if let Ok(mut n) = self.notes.lock() {
            *n = notes;
        }
        Ok(())
    }

    /// What the last revision's distributions declare that is not served as declared.
    pub(crate) fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
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
                    origin: d.origin,
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

/// SHA-256 of an empty payload.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Origin access control: the edge's origin requests (no body) signed for the bucket.
impl OriginSigner for Signer {
    fn sign(&self, method: &Method, _host: &str, path_and_query: &str, headers: &mut HeaderMap) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Signer::sign(self, method, path, query, headers, EMPTY_SHA256);
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
