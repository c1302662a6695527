//! The edge cache with real listeners: a scriptable origin on 127.0.0.1:0, the proxy's edge
//! listener in front of it, and curl as the viewer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meridian_proxy::cache::{
    Edge, EdgeConfig, Edges, ErrorResponse, Failover, OriginConfig, OriginProtocol, Target,
    ViewerProtocol,
};
use meridian_proxy::frontdoor::BackendTls;
use meridian_proxy::{Proxy, ProxyOptions};
use tokio::net::TcpListener;

type OriginBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// What the origin saw: request counts by path, and the last request's headers by path.
#[derive(Default)]
struct Seen {
    counts: HashMap<String, usize>,
    headers: HashMap<String, HeaderMap>,
    /// Every request is answered 503 (an origin group's failing primary).
    down: bool,
}

#[derive(Clone)]
struct TestOrigin {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl TestOrigin {
    fn count(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .counts
            .get(path)
            .copied()
            .unwrap_or(0)
    }
    fn last(&self, path: &str) -> HeaderMap {
        self.seen
            .lock()
            .unwrap()
            .headers
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

fn full(b: impl Into<Bytes>) -> OriginBody {
    http_body_util::Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Seen>>,
) -> Result<Response<OriginBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let n = {
        let mut s = seen.lock().unwrap();
        let c = s.counts.entry(path.clone()).or_default();
        *c += 1;
        let n = *c;
        s.headers.insert(path.clone(), req.headers().clone());
        if s.down {
            let mut r = Response::new(full("primary is down"));
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return Ok(r);
        }
        n
    };
    let mut r = Response::new(full(""));
    let h = r.headers_mut();
    match path.as_str() {
        "/index.html" => {
            if req.method() == Method::POST {
                *r.body_mut() = full("posted");
                return Ok(r);
            }
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("etag", "\"idx\"".parse().unwrap());
            h.insert("content-type", "text/html".parse().unwrap());
            *r.body_mut() = full(format!("<html>index {n}</html>"));
        }
        "/app.css" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("etag", "\"css1\"".parse().unwrap());
            h.insert("content-type", "text/css".parse().unwrap());
            *r.body_mut() = full(".edge { color: teal; }\n".repeat(200));
        }
        "/logo.png" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("content-type", "image/png".parse().unwrap());
            *r.body_mut() = full(vec![7u8; 5_000]);
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            h.insert("cache-control", "max-age=60".parse().unwrap());
            *r.body_mut() = full("slow");
        }
        "/reval" => {
            h.insert("cache-control", "max-age=0".parse().unwrap());
            h.insert("etag", "\"r1\"".parse().unwrap());
            h.insert("x-version", n.to_string().parse().unwrap());
            if req
                .headers()
                .get("if-none-match")
                .is_some_and(|v| v == "\"r1\"")
            {
                *r.status_mut() = StatusCode::NOT_MODIFIED;
            } else {
                *r.body_mut() = full("revalidated body");
            }
        }
        "/aged" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("age", "50".parse().unwrap());
            *r.body_mut() = full("aged");
        }
        "/nostore" => {
            h.insert("cache-control", "no-store".parse().unwrap());
            *r.body_mut() = full("private");
        }
        "/vary" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("vary", "Accept-Language".parse().unwrap());
            let lang = req
                .headers()
                .get("accept-language")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            *r.body_mut() = full(format!("lang={lang}"));
        }
        "/big" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            let body: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
            *r.body_mut() = full(body);
        }
        "/large.bin" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("content-type", "application/octet-stream".parse().unwrap());
            *r.body_mut() = full(large_body());
        }
        "/truncated" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("content-length", "100".parse().unwrap());
            let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
                Ok(Frame::data(Bytes::from_static(b"only ten b"))),
                Err(std::io::Error::other("origin died")),
            ];
            *r.body_mut() = StreamBody::new(futures_util::stream::iter(frames)).boxed();
        }
        "/errors/404.html" => {
            h.insert("cache-control", "max-age=60".parse().unwrap());
            h.insert("content-type", "text/html".parse().unwrap());
            *r.body_mut() = full("<html>custom not found</html>");
        }
        _ => {
            *r.status_mut() = StatusCode::NOT_FOUND;
            *r.body_mut() = full("origin's not found");
        }
    }
    Ok(r)
}

/// 300 KiB that do not repeat with any short period (a slice at the wrong offset differs).
fn large_body() -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..300 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

async fn test_origin() -> TestOrigin {
    test_origin_with(None).await
}

/// The test origin over HTTPS, with a certificate from `pki` for `sans`.
async fn tls_origin(pki: &harness::Pki, sans: &[&str]) -> TestOrigin {
    use rustls_pki_types::pem::PemObject as _;
    let (_, _, pem, key) = pki.leaf("origin", sans);
    let chain = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    test_origin_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
}

async fn test_origin_with(tls: Option<tokio_rustls::TlsAcceptor>) -> TestOrigin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (s, tls) = (s.clone(), tls.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| answer(req, s.clone()));
                let http = hyper::server::conn::http1::Builder::new();
                let _ = match tls {
                    Some(tls) => match tls.accept(tcp).await {
                        Ok(stream) => http.serve_connection(TokioIo::new(stream), svc).await,
                        Err(_) => return,
                    },
                    None => http.serve_connection(TokioIo::new(tcp), svc).await,
                };
            });
        }
    });
    TestOrigin { addr, seen }
}

fn config(origin: SocketAddr) -> EdgeConfig {
    let mut c = EdgeConfig::new("E2EDGETEST", origin_at(origin));
    c.default_root_object = Some("index.html".into());
    c.behavior.allowed_methods = vec![Method::GET, Method::HEAD, Method::OPTIONS];
    c.behavior.ttls.default = Some(3600);
    c.behavior.ttls.max = 86400;
    c
}

async fn start(cfg: EdgeConfig) -> (Arc<Edge>, SocketAddr, Proxy) {
    let (_publisher, watch) = meridian_control::endpoints::channel();
    let proxy = Proxy::new(harness::snapshot("", 1), watch, ProxyOptions::default());
    let edge = Edge::new(cfg).unwrap();
    let edges = Arc::new(Edges::default());
    edges.set(vec![(vec![], edge.clone())]);
    let addr = proxy
        .start_edge(edges, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    (edge, addr, proxy)
}

/// A curl exchange: status, lowercase headers, body.
struct Curl {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

async fn curl(args: &[&str]) -> Curl {
    let mut cmd = vec!["-s", "-i", "--max-time", "20"];
    cmd.extend_from_slice(args);
    let cmd: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || Command::new("curl").args(&cmd).output())
        .await
        .unwrap()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Curl {
        status,
        headers,
        body: body.to_owned(),
    }
}

impl Curl {
    fn h(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_request_is_a_hit_with_cloudfronts_headers() {
    let o = test_origin().await;
    let (_edge, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/");
    let first = curl(&[&url]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body, "<html>index 1</html>",
        "the default root object"
    );
    assert_eq!(first.h("x-cache"), "Miss from cloudfront");
    assert!(
        first.h("via").ends_with(".cloudfront.net (CloudFront)"),
        "{}",
        first.h("via")
    );
    assert_eq!(first.h("x-amz-cf-id").len(), 56);
    let second = curl(&[&url]).await;
    assert_eq!(second.h("x-cache"), "Hit from cloudfront");
    assert_eq!(second.body, "<html>index 1</html>");
    assert!(second.headers.contains_key("age"));
    assert_ne!(first.h("x-amz-cf-id"), second.h("x-amz-cf-id"));
    assert_eq!(o.count("/index.html"), 1);
    let seen = o.last("/index.html");
    assert_eq!(
        seen.get("host").unwrap(),
        "my-app-cdn-origin.s3.us-east-1.amazonaws.com"
    );
    assert_eq!(seen.get("user-agent").unwrap(), "Amazon CloudFront");
    // A conditional viewer request is answered from the cache.
    let nm = curl(&["-H", "If-None-Match: \"idx\"", &url]).await;
    assert_eq!(nm.status, 304);
    assert_eq!(o.count("/index.html"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_origin_request() {
    let o = test_origin().await;
    let (edge, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/slow");
    let mut all = Vec::new();
    for _ in 0..16 {
        let url = url.clone();
        all.push(tokio::spawn(async move { curl(&[&url]).await }));
    }
    for t in all {
        let r = t.await.unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "slow"));
    }
    assert_eq!(o.count("/slow"), 1);
    assert!(edge.stats().collapsed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_copies_are_revalidated_and_304_updates_headers() {
    let o = test_origin().await;
    let (_edge, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/reval");
    let first = curl(&[&url]).await;
    assert_eq!((first.status, first.h("x-version")), (200, "1"));
    let second = curl(&[&url]).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, "revalidated body");
    assert_eq!(second.h("x-cache"), "RefreshHit from cloudfront");
    assert_eq!(
        second.h("x-version"),
        "2",
        "the 304's fields replace the stored ones"
    );
    assert_eq!(o.last("/reval").get("if-none-match").unwrap(), "\"r1\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_store_is_never_served_from_cache() {
    let o = test_origin().await;
    let (_edge, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/nostore");
    for _ in 0..2 {
        let r = curl(&[&url]).await;
        assert_eq!((r.status, r.h("x-cache")), (200, "Miss from cloudfront"));
    }
    assert_eq!(o.count("/nostore"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_by_vary_are_stored_apart() {
    let o = test_origin().await;
    // Accept-Language is not forwarded by default: the origin's Vary cannot split the
    // cache on a field the origin never saw.
    let (_edge, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/vary");
    let en = curl(&["-H", "Accept-Language: en", &url]).await;
    let fr = curl(&["-H", "Accept-Language: fr", &url]).await;
    assert_eq!((en.body.as_str(), fr.body.as_str()), ("lang=", "lang="));
    assert_eq!(fr.h("x-cache"), "Hit from cloudfront");
    let mut cfg = config(o.addr);
    cfg.behavior.key.headers = vec![http::header::ACCEPT_LANGUAGE];
    let (_edge, addr, _p) = start(cfg).await;
    let url = format!("http://{addr}/vary");
    let en = curl(&["-H", "Accept-Language: en", &url]).await;
    let fr = curl(&["-H", "Accept-Language: fr", &url]).await;
    assert_eq!((en.body.as_str(), fr.body.as_str()), ("lang=en", "lang=fr"));
    let en2 = curl(&["-H", "Accept-Language: en", &url]).await;
    assert_eq!(en2.body, "lang=en");
    assert_eq!(en2.h("x-cache"), "Hit from cloudfront");
    assert_eq!(o.count("/vary"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_head_are_served_from_the_full_object() {
    let o = test_origin().await;
    let (_edge, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/big");
    let part = curl(&["-r", "26-30", &url]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, "abcde");
    assert_eq!(part.h("content-range"), "bytes 26-30/100000");
    let head = curl(&["-I", &url]).await;
    assert_eq!((head.status, head.h("content-length")), (200, "100000"));
    assert_eq!(head.h("x-cache"), "Hit from cloudfront");
    let past = curl(&["-r", "200000-", &url]).await;
    assert_eq!(
        (past.status, past.h("content-range")),
        (416, "bytes */100000")
    );
    assert_eq!(o.count("/big"), 1, "the origin sent the object once, whole");
    assert!(o.last("/big").get("range").is_none());
}

/// Runs curl with `args`, writing each response body to a file of its own, and gives the
/// bodies back in order.
async fn curl_bodies(args: &[&str], n: usize) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--fail", "--max-time", "20"]).args(args);
    for i in 0..n {
        cmd.arg("-o").arg(dir.path().join(i.to_string()));
    }
    let status = tokio::task::spawn_blocking(move || cmd.status())
        .await
        .unwrap()
        .expect("curl runs");
    assert!(status.success(), "curl: {status}");
    (0..n)
        .map(|i| std::fs::read(dir.path().join(i.to_string())).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_are_served_whole_and_in_ranges_over_http1_and_http2() {
    let o = test_origin().await;
    let (edge, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/large.bin");
    let want = large_body();
    // A miss and three hits on one keep-alive connection: each response's framing must
    // leave the next one intact.
    let bodies = curl_bodies(&[&url, &url, &url, &url], 4).await;
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(b.len(), want.len(), "response {i}");
        assert!(b == &want, "response {i} differs from the origin's bytes");
    }
    // Ranges from the stored object, at an offset inside it and at its end.
    let middle = curl_bodies(&["-r", "100000-199999", &url], 1).await;
    assert!(middle[0] == want[100_000..200_000], "the middle range");
    let end = curl_bodies(&["-r", "307000-", &url], 1).await;
    assert!(end[0] == want[307_000..], "the last bytes");
    // HTTP/2 reads the same stored bytes through hyper.
    let h2 = curl_bodies(&["--http2-prior-knowledge", &url], 1).await;
    assert!(h2[0] == want, "over HTTP/2");
    assert_eq!(o.count("/large.bin"), 1, "one origin fetch");
    let stats = edge.stats();
    assert_eq!(stats.hits, 6);
    assert_eq!(
        stats.bytes_served,
        4 * want.len() as u64 + 100_000 + (want.len() as u64 - 307_000) + want.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_and_viewer_protocol_as_cloudfront() {
    let o = test_origin().await;
    let mut cfg = config(o.addr);
    let (_e, addr, _p) = start(cfg.clone()).await;
    let del = curl(&["-X", "DELETE", &format!("http://{addr}/index.html")]).await;
    assert_eq!(del.status, 403);
    assert!(
        del.body
            .contains("This distribution is not configured to allow the HTTP request method")
    );
    assert_eq!(del.h("x-cache"), "Error from cloudfront");
    cfg.behavior.viewer_protocol = ViewerProtocol::RedirectToHttps;
    cfg.https_port = Some(8443);
    let (_e, addr, _p) = start(cfg).await;
    let r = curl(&[
        "-H",
        "Host: d111111abcdef8.cloudfront.net",
        &format!("http://{addr}/a?b=1"),
    ])
    .await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.h("location"),
        "https://d111111abcdef8.cloudfront.net:8443/a?b=1"
    );
    assert_eq!(o.count("/a"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_tier_survives_a_restart() {
    let o = test_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(o.addr);
    cfg.disk = Some((dir.path().to_owned(), 1 << 26));
    {
        let (_e, addr, p) = start(cfg.clone()).await;
        assert_eq!(curl(&[&format!("http://{addr}/big")]).await.status, 200);
        p.shutdown();
    }
    let (edge, addr, _p) = start(cfg).await;
    assert_eq!(edge.stats().disk.objects, 1);
    let r = curl(&[&format!("http://{addr}/big")]).await;
    assert_eq!(
        (r.status, r.h("x-cache"), r.body.len()),
        (200, "Hit from cloudfront", 100_000)
    );
    assert_eq!(o.count("/big"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_bodies_and_dead_origins_are_errors_never_stored() {
    let o = test_origin().await;
    let (_e, addr, _p) = start(config(o.addr)).await;
    let url = format!("http://{addr}/truncated");
    for _ in 0..2 {
        let r = curl(&[&url]).await;
        assert_eq!(r.status, 502, "{}", r.body);
        assert!(r.body.contains("The request could not be satisfied"));
    }
    assert_eq!(o.count("/truncated"), 2, "nothing was stored");
    // An origin that refuses connections.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (_e, addr, _p) = start(config(closed)).await;
    let r = curl(&[&format!("http://{addr}/x")]).await;
    assert_eq!((r.status, r.h("x-cache")), (502, "Error from cloudfront"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_and_unsafe_methods_drop_stored_copies() {
    let o = test_origin().await;
    let mut cfg = config(o.addr);
    cfg.behavior.allowed_methods = vec![
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
    ];
    let (edge, addr, _p) = start(cfg).await;
    let url = format!("http://{addr}/index.html");
    curl(&[&url]).await;
    assert_eq!(curl(&[&url]).await.h("x-cache"), "Hit from cloudfront");
    assert_eq!(edge.invalidate(&["/*".to_owned()]).await, 1);
    let r = curl(&[&url]).await;
    assert_eq!(
        (r.h("x-cache"), r.body.as_str()),
        ("Miss from cloudfront", "<html>index 2</html>")
    );
    let post = curl(&["-X", "POST", "-d", "x=1", &url]).await;
    assert_eq!(post.body, "posted");
    let r = curl(&[&url]).await;
    assert_eq!(
        (r.h("x-cache"), r.body.as_str()),
        ("Miss from cloudfront", "<html>index 4</html>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_age_counts_against_freshness() {
    let o = test_origin().await;
    let mut cfg = config(o.addr);
    cfg.behavior.ttls = meridian_proxy::cache::Ttls::RFC;
    let (_edge, addr, _p) = start(cfg).await;
    let url = format!("http://{addr}/aged");
    curl(&[&url]).await;
    let r = curl(&[&url]).await;
    assert_eq!(r.h("x-cache"), "Hit from cloudfront");
    let age: u64 = r.h("age").parse().unwrap();
    assert!(age >= 50, "age {age}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_behaviours_apply_by_path_pattern_first_match() {
    let o = test_origin().await;
    let mut cfg = config(o.addr);
    let mut strict = cfg.behavior.clone();
    strict.allowed_methods = vec![Method::GET, Method::HEAD];
    let mut cached_options = cfg.behavior.clone();
    cached_options.cache_options = true;
    cfg.ordered = vec![
        ("/index.*".to_owned(), strict),
        ("*".to_owned(), cached_options),
    ];
    let (_edge, addr, _p) = start(cfg).await;
    let refused = curl(&["-X", "OPTIONS", &format!("http://{addr}/index.html")]).await;
    assert_eq!(
        refused.status, 403,
        "the first matching behaviour allows GET and HEAD only"
    );
    let passed = curl(&["-X", "OPTIONS", &format!("http://{addr}/other")]).await;
    assert_eq!(
        passed.status, 404,
        "the second behaviour sends OPTIONS to the origin"
    );
    assert_eq!(o.count("/other"), 1);
}

/// `compress = true`: the origin is asked for the identity encoding, and each viewer gets the
/// encoding it accepts, stored apart; curl decodes what it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_true_serves_gzip_and_brotli_as_cloudfront() {
    let o = test_origin().await;
    let mut cfg = config(o.addr);
    cfg.behavior.compress = true;
    let (_edge, addr, _p) = start(cfg).await;
    let url = format!("http://{addr}/app.css");
    let css = ".edge { color: teal; }\n".repeat(200);
    let gz = curl(&["--compressed", "-H", "Accept-Encoding: gzip", &url]).await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.h("content-encoding"), "gzip");
    assert_eq!(gz.h("etag"), "W/\"css1\"");
    assert_eq!(gz.body, css, "curl decodes it to the origin's bytes");
    assert!(
        o.last("/app.css").get("accept-encoding").is_none(),
        "the origin is asked for the identity encoding"
    );
    let br = curl(&["--compressed", "-H", "Accept-Encoding: br, gzip", &url]).await;
    assert_eq!(br.h("content-encoding"), "br");
    assert_eq!(
        br.h("x-cache"),
        "Miss from cloudfront",
        "another encoding, another object"
    );
    assert_eq!(br.body, css);
    let plain = curl(&[&url]).await;
    assert_eq!(plain.h("content-encoding"), "");
    assert_eq!(plain.body, css);
    let again = curl(&["--compressed", "-H", "Accept-Encoding: gzip", &url]).await;
    assert_eq!(again.h("x-cache"), "Hit from cloudfront");
    assert_eq!(again.body, css);
    // Not on CloudFront's list of types: never compressed.
    let png = curl(&[
        "-H",
        "Accept-Encoding: gzip",
        &format!("http://{addr}/logo.png"),
    ])
    .await;
    assert_eq!(png.h("content-encoding"), "");
    assert_eq!(png.h("content-length"), "5000");
}

fn origin_at(addr: SocketAddr) -> OriginConfig {
    OriginConfig {
        timeout: Duration::from_secs(5),
        ..OriginConfig::new(addr, "my-app-cdn-origin.s3.us-east-1.amazonaws.com")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_error_responses_serve_the_page_and_cache_the_error() {
    let o = test_origin().await;
    let mut cfg = config(o.addr);
    cfg.error_responses = vec![
        ErrorResponse {
            error_code: 404,
            response_code: Some(200),
            page_path: Some("/errors/404.html".into()),
            min_ttl: Some(300),
        },
        ErrorResponse {
            error_code: 503,
            response_code: None,
            page_path: None,
            min_ttl: Some(0),
        },
    ];
    let (_edge, addr, _p) = start(cfg).await;
    let url = format!("http://{addr}/no/such/page");
    let first = curl(&[&url]).await;
    assert_eq!(first.status, 200, "the configured response code");
    assert_eq!(first.body, "<html>custom not found</html>");
    assert_eq!(first.h("x-cache"), "Error from cloudfront");
    assert_eq!(first.h("content-type"), "text/html");
    let second = curl(&[&url]).await;
    assert_eq!(second.body, "<html>custom not found</html>");
    assert_eq!(
        o.count("/no/such/page"),
        1,
        "the 404 is cached for its error-caching minimum TTL"
    );
    assert_eq!(
        o.count("/errors/404.html"),
        1,
        "the page is cached like any object"
    );
    let head = curl(&["-I", &url]).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));

    // Without a page the error is passed on; an error-caching minimum TTL of 0 does not
    // cache it.
    o.seen.lock().unwrap().down = true;
    for _ in 0..2 {
        let r = curl(&[&format!("http://{addr}/down")]).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "primary is down");
    }
    assert_eq!(o.count("/down"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_groups_fail_over_on_the_given_status_codes() {
    let primary = test_origin().await;
    primary.seen.lock().unwrap().down = true;
    let secondary = test_origin().await;
    let mut cfg = config(primary.addr);
    cfg.failover = Some(Failover {
        origin: origin_at(secondary.addr),
        status_codes: vec![500, 503],
    });
    let (_edge, addr, _p) = start(cfg).await;
    let r = curl(&[&format!("http://{addr}/index.html")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "<html>index 1</html>");
    assert_eq!(
        (primary.count("/index.html"), secondary.count("/index.html")),
        (1, 1)
    );
    let again = curl(&[&format!("http://{addr}/index.html")]).await;
    assert_eq!(again.h("x-cache"), "Hit from cloudfront");

    // A status not in the criteria is the viewer's answer; a primary that cannot be
    // reached fails over too.
    let mut cfg = config(primary.addr);
    cfg.failover = Some(Failover {
        origin: origin_at(secondary.addr),
        status_codes: vec![500],
    });
    let (_edge, addr, _p2) = start(cfg).await;
    let r = curl(&[&format!("http://{addr}/app.css")]).await;
    assert_eq!(r.status, 503);
    assert_eq!(secondary.count("/app.css"), 0);

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = config(closed);
    cfg.failover = Some(Failover {
        origin: origin_at(secondary.addr),
        status_codes: vec![],
    });
    let (_edge, addr, _p3) = start(cfg).await;
    let r = curl(&[&format!("http://{addr}/logo.png")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(secondary.count("/logo.png"), 1);
}

/// Custom origins over HTTPS: the origin's certificate is verified against the trusted
/// roots and must name the origin's domain (502 otherwise, as CloudFront answers an origin
/// whose certificate does not match); `match-viewer` follows the viewer's protocol; custom
/// headers reach the origin; a behaviour reaches its own origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_origins_are_verified_and_behaviours_reach_their_own_origins() {
    use rustls_pki_types::pem::PemObject as _;
    let pki = harness::Pki::new();
    let secure = tls_origin(&pki, &["app.example.com"]).await;
    let plain = test_origin().await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let tls = BackendTls::new(roots).unwrap();
    let https_origin = |host: &str, protocol: OriginProtocol| OriginConfig {
        protocol,
        https: Some((secure.addr, tls.clone())),
        headers: vec![(
            "x-origin-verify".parse().unwrap(),
            "from-the-edge".parse().unwrap(),
        )],
        ..OriginConfig::new(plain.addr, host)
    };

    // https-only with the right name: over TLS, with the custom header.
    let (_e, addr, _p) = start(EdgeConfig::new(
        "EHTTPS",
        https_origin("app.example.com", OriginProtocol::HttpsOnly),
    ))
    .await;
    let r = curl(&[&format!("http://{addr}/index.html")]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "<html>index 1</html>"));
    assert_eq!(
        (secure.count("/index.html"), plain.count("/index.html")),
        (1, 0)
    );
    assert_eq!(
        secure.last("/index.html")["x-origin-verify"],
        "from-the-edge"
    );
    assert_eq!(secure.last("/index.html")["host"], "app.example.com");

    // A certificate that does not name the origin's domain: 502, nothing reaches it.
    let (_e, addr, _p) = start(EdgeConfig::new(
        "EWRONG",
        https_origin("other.example.com", OriginProtocol::HttpsOnly),
    ))
    .await;
    let r = curl(&[&format!("http://{addr}/app.css")]).await;
    assert_eq!(r.status, 502);
    assert_eq!(secure.count("/app.css"), 0);

    // match-viewer: an HTTP viewer's request goes over HTTP.
    let (_e, addr, _p) = start(EdgeConfig::new(
        "EMATCH",
        https_origin("app.example.com", OriginProtocol::MatchViewer),
    ))
    .await;
    let r = curl(&[&format!("http://{addr}/logo.png")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (plain.count("/logo.png"), secure.count("/logo.png")),
        (1, 0)
    );

    // A behaviour with its own origin: `/app.css` from the HTTPS origin, the rest from the
    // plain one.
    let mut cfg = config(plain.addr);
    let mut css = cfg.behavior.clone();
    css.target = 1;
    cfg.ordered = vec![("*.css".to_owned(), css)];
    cfg.targets = vec![Target {
        origin: https_origin("app.example.com", OriginProtocol::HttpsOnly),
        failover: None,
    }];
    let (_e, addr, _p) = start(cfg).await;
    let r = curl(&[&format!("http://{addr}/app.css")]).await;
    assert_eq!(r.status, 200);
    assert_eq!((secure.count("/app.css"), plain.count("/app.css")), (1, 0));
    let r = curl(&[&format!("http://{addr}/")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        plain.count("/index.html"),
        1,
        "the default behaviour's origin"
    );
}

/// An origin that sends `103 Early Hints` before each final response, counting requests.
async fn hinting_origin() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let answer = "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n\
                                  HTTP/1.1 200 OK\r\ncache-control: max-age=100\r\ncontent-type: text/html\r\ncontent-length: 7\r\n\r\nhinted!";
                    if tcp.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, count)
}

/// A raw HTTP/1.1 exchange, every byte the edge wrote up to the end of the final body.
async fn raw_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nhost: edge.test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&text).ends_with("hinted!") {
        let n = tokio::time::timeout(harness::BOUND, tcp.read(&mut chunk))
            .await
            .expect("bound")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&text));
        text.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(text).unwrap()
}

/// `103 Early Hints` from the origin reach the viewer before the final response, and are not
/// stored with it: the hit that follows has the final response only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_hints_are_relayed_and_never_cached() {
    let (origin, count) = hinting_origin().await;
    let (_edge, addr, _p) = start(config(origin)).await;
    let miss = raw_get(addr, "/page").await;
    assert!(miss.starts_with("HTTP/1.1 103 Early Hints\r\n"), "{miss}");
    let (hints, final_response) = miss.split_once("\r\n\r\n").unwrap();
    assert!(
        hints.contains("link: </style.css>; rel=preload; as=style"),
        "{hints}"
    );
    assert!(final_response.starts_with("HTTP/1.1 200 OK\r\n"), "{miss}");
    assert!(
        final_response.contains("x-cache: Miss from cloudfront"),
        "{miss}"
    );
    let hit = raw_get(addr, "/page").await;
    assert!(hit.starts_with("HTTP/1.1 200 OK\r\n"), "{hit}");
    assert!(hit.contains("x-cache: Hit from cloudfront"), "{hit}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}
