//! The CloudFront API subset for invalidations (REST-XML, version `2020-05-31`), so that
//! `aws cloudfront create-invalidation --endpoint-url ...` works unmodified:
//! CreateInvalidation, GetInvalidation and ListInvalidations. Requests are SigV4-signed
//! with the node's access keys. An invalidation takes effect on this node's caches before
//! it is answered, so it is `Completed` at once.
//!
//! The invalidations made are kept in the state directory (`edge/invalidations.json`,
//! written whole to a temporary file, synced and renamed before the answer), so after a
//! restart GetInvalidation and ListInvalidations still report them and a CallerReference
//! stays taken.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meridian_proxy::cache::Edges;
use meridian_storage::keys::KeyStore;
use tokio::net::TcpListener;

const XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
/// CloudFront's limit on a request's paths.
const MAX_PATHS: usize = 3000;

/// One invalidation as the API reports it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Invalidation {
    id: String,
    create_time: String,
    caller_reference: String,
    paths: Vec<String>,
}

/// The API's state: the distributions' edges, the invalidations made, the keys that sign.
#[derive(Debug)]
pub(crate) struct CdnApi {
    edges: Arc<Edges>,
    keys: Arc<KeyStore>,
    invalidations: Mutex<HashMap<String, Vec<Invalidation>>>,
    /// Where the invalidations are kept.
    file: PathBuf,
    /// One writer of the file at a time, in the order the invalidations were made.
    writing: tokio::sync::Mutex<()>,
}

impl CdnApi {
    /// The API with the invalidations kept under `state_dir` (none yet: an empty list).
    pub(crate) fn new(
        edges: Arc<Edges>,
        keys: Arc<KeyStore>,
        state_dir: &Path,
    ) -> anyhow::Result<Arc<CdnApi>> {
        let file = state_dir.join("edge").join("invalidations.json");
        let invalidations = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{} is not an invalidation list ({e}); move it away to start with none",
                    file.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
        };
        Ok(Arc::new(CdnApi {
            edges,
            keys,
            invalidations: Mutex::new(invalidations),
            file,
            writing: tokio::sync::Mutex::new(()),
        }))
    }

    /// Writes the invalidation list durably: a temporary file, synced, renamed over the
    /// old one, and the directory synced.
    async fn persist(&self) -> std::io::Result<()> {
        let _one = self.writing.lock().await;
        let bytes = serde_json::to_vec_pretty(&*self.lock()).map_err(std::io::Error::other)?;
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let dir = file.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let tmp = file.with_extension("json.tmp");
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &file)?;
            std::fs::File::open(dir)?.sync_all()
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Invalidates `paths` of `dist` as CreateInvalidation does, for `meridian cdn
    /// invalidate`; the invalidation's id.
    pub(crate) async fn invalidate(
        &self,
        dist: &str,
        paths: Vec<String>,
    ) -> Result<String, String> {
        let reference = format!("meridian-cli-{}", invalidation_id());
        let batch: String = paths
            .iter()
            .map(|p| format!("<Path>{}</Path>", escape(p)))
            .collect();
        let body = format!(
            "<InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{batch}</Items></Paths><CallerReference>{reference}</CallerReference></InvalidationBatch>",
            paths.len()
        );
        let resp = self.create(dist, body.as_bytes()).await;
        let status = resp.status();
        let text = resp
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        if status == StatusCode::CREATED {
            Ok(elements(&text, "Id").into_iter().next().unwrap_or_default())
        } else {
            Err(elements(&text, "Message")
                .into_iter()
                .next()
                .unwrap_or_else(|| status.to_string()))
        }
    }

    /// Serves the API on `addr`; returns the bound address.
    pub(crate) async fn start(self: &Arc<Self>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {addr}: {e}; pass --cloudfront-addr 127.0.0.1:0")
        })?;
        let bound = listener.local_addr()?;
        let api = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let api = api.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(bound)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "InvalidArgument",
                "The request body could not be read.",
            );
        };
        if let Err(r) = self.authenticate(&parts, &body) {
            return *r;
        }
        let path = parts.uri.path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (&parts.method, segments.as_slice()) {
            (&Method::POST, ["2020-05-31", "distribution", id, "invalidation"]) => {
                self.create(id, &body).await
            }
            (&Method::GET, ["2020-05-31", "distribution", id, "invalidation"]) => self.list(id),
            (&Method::GET, ["2020-05-31", "distribution", id, "invalidation", inv]) => {
                self.get(id, inv)
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "Sender",
                "InvalidAction",
                "The action is not supported by this endpoint.",
            ),
        }
    }

    /// SigV4 with one of the node's access keys (service `cloudfront`).
    fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<(), Box<Response<Full<Bytes>>>> {
        use meridian_storage::sigv4;
        let denied =
            |code: &str, msg: &str| Box::new(error(StatusCode::FORBIDDEN, "Sender", code, msg));
        let Some(header) = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(denied(
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ));
        };
        let Ok(auth) = sigv4::parse_authorization(header) else {
            return Err(denied(
                "IncompleteSignature",
                "The request signature does not conform to AWS standards.",
            ));
        };
        let Some(cred) = self.keys.lookup(&auth.access_key) else {
            return Err(denied(
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ));
        };
        let req = sigv4::SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            authority: None,
            body,
        };
        sigv4::verify(&req, &auth, &cred.secret_access_key, time::OffsetDateTime::now_utc())
            .map_err(|_| {
                denied(
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
                )
            })
    }

    async fn create(&self, dist: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let Some(edge) = self.edges.by_id(dist) else {
            return no_such_distribution();
        };
        let text = String::from_utf8_lossy(body);
        let paths: Vec<String> = elements(&text, "Path");
        let Some(caller_reference) = elements(&text, "CallerReference").into_iter().next() else {
            return error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "MalformedInput",
                "Unexpected list element termination",
            );
        };
        let quantity = elements(&text, "Quantity")
            .first()
            .and_then(|q| q.parse::<usize>().ok());
        if quantity != Some(paths.len()) {
            return error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "InconsistentQuantities",
                "The value of Quantity and the size of Items don't match.",
            );
        }
        if paths.is_empty() || paths.len() > MAX_PATHS {
            return error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "InvalidArgument",
                "Your request contains an invalid number of paths.",
            );
        }
        if let Some(bad) = paths.iter().find(|p| {
            !p.starts_with('/') || p.len() > 4000 || p.trim_end_matches('*').contains('*')
        }) {
            return error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "InvalidArgument",
                &format!("Your request contains one or more invalid invalidation paths: {bad}"),
            );
        }
        // CallerReference idempotency: the same batch again is the same invalidation; a
        // different batch under the same reference is refused.
        let existing = self.lock().get(dist).and_then(|list| {
            list.iter()
                .find(|i| i.caller_reference == caller_reference)
                .cloned()
        });
        if let Some(inv) = existing {
            if inv.paths == paths {
                return created(dist, &inv);
            }
            return error(
                StatusCode::CONFLICT,
                "Sender",
                "InvalidationBatchAlreadyExists",
                "The CallerReference that you are using to create an invalidation batch is already in use.",
            );
        }
        // Effective on this node before it is reported Completed.
        edge.invalidate(&paths).await;
        let inv = Invalidation {
            id: invalidation_id(),
            create_time: now_iso(),
            caller_reference,
            paths,
        };
        self.lock()
            .entry(dist.to_owned())
            .or_default()
            .push(inv.clone());
        if let Err(e) = self.persist().await {
            // Effective in the caches but not recorded: say so rather than report it made.
            tracing::error!(error = %e, "the invalidation could not be recorded");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Receiver",
                "ServiceUnavailable",
                "The invalidation could not be recorded.",
            );
        }
        created(dist, &inv)
    }

    fn get(&self, dist: &str, id: &str) -> Response<Full<Bytes>> {
        if self.edges.by_id(dist).is_none() {
            return no_such_distribution();
        }
        let found = self
            .lock()
            .get(dist)
            .and_then(|l| l.iter().find(|i| i.id == id).cloned());
        match found {
            Some(inv) => xml(StatusCode::OK, invalidation_xml(&inv)),
            None => error(
                StatusCode::NOT_FOUND,
                "Sender",
                "NoSuchInvalidation",
                "The specified invalidation does not exist.",
            ),
        }
    }

    fn list(&self, dist: &str) -> Response<Full<Bytes>> {
        if self.edges.by_id(dist).is_none() {
            return no_such_distribution();
        }
        let list = self.lock().get(dist).cloned().unwrap_or_default();
        let mut items = String::new();
        for inv in list.iter().rev() {
            items.push_str(&format!(
                "<InvalidationSummary><Id>{}</Id><CreateTime>{}</CreateTime><Status>Completed</Status></InvalidationSummary>",
                inv.id, inv.create_time
            ));
        }
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationList xmlns=\"{XMLNS}\"><Marker></Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>{}</Quantity>{}</InvalidationList>",
            list.len(),
            if list.is_empty() {
                String::new()
            } else {
                format!("<Items>{items}</Items>")
            }
        );
        xml(StatusCode::OK, body)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Invalidation>>> {
        self.invalidations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn created(dist: &str, inv: &Invalidation) -> Response<Full<Bytes>> {
    let mut r = xml(StatusCode::CREATED, invalidation_xml(inv));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "https://cloudfront.amazonaws.com/2020-05-31/distribution/{dist}/invalidation/{}",
        inv.id
    )) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

fn invalidation_xml(inv: &Invalidation) -> String {
    let paths: String = inv
        .paths
        .iter()
        .map(|p| format!("<Path>{}</Path>", escape(p)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invalidation xmlns=\"{XMLNS}\"><Id>{}</Id><Status>Completed</Status><CreateTime>{}</CreateTime><InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{paths}</Items></Paths><CallerReference>{}</CallerReference></InvalidationBatch></Invalidation>",
        inv.id,
        inv.create_time,
        inv.paths.len(),
        escape(&inv.caller_reference)
    )
}

fn no_such_distribution() -> Response<Full<Bytes>> {
    error(
        StatusCode::NOT_FOUND,
        "Sender",
        "NoSuchDistribution",
        "The specified distribution does not exist.",
    )
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response<Full<Bytes>> {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            escape(message),
            request_id()
        ),
    )
}

fn xml(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("x-amz-request-id", v);
    }
    r
}

/// The text of every `<name>` element (no nesting of the same name in these documents).
fn elements(text: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        out.push(unescape(&after[..end]));
        rest = &after[end + close.len()..];
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `I` and 13 upper-case letters and digits, as CloudFront's invalidation ids.
fn invalidation_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut s = String::from("I");
    for _ in 0..13 {
        s.push(char::from(ALPHABET[rand_index(ALPHABET.len())]));
    }
    s
}

fn rand_index(n: usize) -> usize {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() % n as u64) as usize
}

fn request_id() -> String {
    let mut s = String::new();
    for _ in 0..4 {
        s.push_str(&format!("{:08x}", rand_index(usize::MAX) as u32));
    }
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_parse() {
        let body = "<InvalidationBatch xmlns=\"x\"><Paths><Quantity>2</Quantity><Items><Path>/a&amp;b</Path><Path>/*</Path></Items></Paths><CallerReference>cli-1</CallerReference></InvalidationBatch>";
        assert_eq!(elements(body, "Path"), vec!["/a&b", "/*"]);
        assert_eq!(elements(body, "CallerReference"), vec!["cli-1"]);
        let id = invalidation_id();
        assert!(id.len() == 14 && id.starts_with('I'));
    }
}
