//! The HTTP server: one hyper `auto` connection per accepted socket (HTTP/1.1, or HTTP/2 when
//! the client opens with the h2 preface), a handler that allocates only the response.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rand::Rng;
use tokio::net::TcpListener;

use crate::options::Options;

/// Largest body `/size/<bytes>` serves.
const MAX_SIZE: usize = 256 * 1024 * 1024;
/// Bodies up to this size are slices of one shared buffer (no allocation per request).
const SHARED_SIZE: usize = 1024 * 1024;

/// The demo app's state, shared by every connection.
#[derive(Debug)]
pub struct DemoServer {
    opts: Options,
    started: Instant,
    requests: AtomicU64,
    filler: Bytes,
}

impl DemoServer {
    /// A server with these options.
    pub fn new(opts: Options) -> Arc<Self> {
        Arc::new(Self {
            opts,
            started: Instant::now(),
            requests: AtomicU64::new(0),
            filler: Bytes::from(vec![b'x'; SHARED_SIZE]),
        })
    }

    /// Its options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Requests answered so far (health checks excluded).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = req.uri().path();
        match path {
            "/healthz" => {
                let healthy = self
                    .opts
                    .unhealthy_after
                    .is_none_or(|d| self.started.elapsed() < d);
                return Ok(plain(
                    if healthy {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    },
                    if healthy { "ok\n" } else { "unhealthy\n" },
                ));
            }
            "/readyz" => {
                let ready = self.started.elapsed() >= self.opts.ready_after;
                return Ok(plain(
                    if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    },
                    if ready { "ready\n" } else { "not ready\n" },
                ));
            }
            _ => {}
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(l) = self.opts.latency {
            let d = if l.max > l.min {
                rand::rng().random_range(l.min..=l.max)
            } else {
                l.min
            };
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
        }
        let fail = self.opts.fail_after.is_some_and(|after| n > after)
            || (self.opts.fail_percent > 0.0
                && rand::rng().random_range(0.0..100.0) < self.opts.fail_percent);
        let status = if fail {
            StatusCode::from_u16(self.opts.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
        } else {
            StatusCode::OK
        };
        if let Some(size) = path.strip_prefix("/size/") {
            return Ok(match size.parse::<usize>() {
                Ok(n) if n <= SHARED_SIZE => sized(status, self.filler.slice(..n)),
                Ok(n) if n <= MAX_SIZE => sized(status, Bytes::from(vec![b'x'; n])),
                _ => plain(
                    StatusCode::BAD_REQUEST,
                    "size must be a number of bytes up to 268435456\n",
                ),
            });
        }
        let mut calls = Vec::with_capacity(self.opts.call.len());
        for uri in &self.opts.call {
            calls.push(crate::call::call(uri, req.headers()).await);
        }
        // A failed upstream call fails this request too, as a middle tier would.
        let status = match calls.iter().find(|c| !(200..300).contains(&c.status)) {
            Some(_) if status == StatusCode::OK => StatusCode::BAD_GATEWAY,
            _ => status,
        };
        let body = echo(&self.opts, req.method(), path, req.headers(), &calls);
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(resp)
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn sized(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}

/// `{service, version, replica, method, path, headers}` (and `upstream`, the `--call`
/// results); repeated headers are joined with `, ` as HTTP allows.
fn echo(
    o: &Options,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    calls: &[crate::call::CallResult],
) -> Vec<u8> {
    struct Headers<'a>(&'a HeaderMap);
    impl serde::Serialize for Headers<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.keys_len()))?;
            for name in self.0.keys() {
                let mut values = self
                    .0
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()));
                let first = values.next().unwrap_or_default();
                let rest: Vec<_> = values.collect();
                if rest.is_empty() {
                    m.serialize_entry(name.as_str(), &first)?;
                } else {
                    let mut joined = first.into_owned();
                    for r in rest {
                        joined.push_str(", ");
                        joined.push_str(&r);
                    }
                    m.serialize_entry(name.as_str(), &joined)?;
                }
            }
            m.end()
        }
    }
    #[derive(serde::Serialize)]
    struct Echo<'a> {
        service: &'a str,
        version: &'a str,
        replica: &'a str,
        method: &'a str,
        path: &'a str,
        headers: Headers<'a>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        upstream: &'a [crate::call::CallResult],
    }
    let mut out = Vec::with_capacity(256 + headers.len() * 48);
    let e = Echo {
        service: &o.service,
        version: &o.version,
        replica: &o.replica,
        method: method.as_str(),
        path,
        headers: Headers(headers),
        upstream: calls,
    };
    // Serialising borrowed strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &e);
    out.push(b'\n');
    out
}

/// Serves connections from `listener` until `stop` resolves, then lets in-flight requests
/// finish (up to 5 seconds) and returns what `stop` returned.
pub async fn serve<F: Future<Output = i32>>(
    listener: TcpListener,
    server: Arc<DemoServer>,
    stop: F,
) -> i32 {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    let code = loop {
        tokio::select! {
            code = &mut stop => break code,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let s = server.clone();
                let conn = builder.serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |req| s.clone().handle(req)),
                );
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        }
    };
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;

    async fn start(opts: Options) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(serve(listener, DemoServer::new(opts), async move {
            let _ = rx.await;
            0
        }));
        (addr, tx)
    }

    async fn get(client: &Client<HttpConnector, Full<Bytes>>, url: String) -> (StatusCode, Bytes) {
        let req = Request::get(url)
            .header("x-test", "1")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = client.request(req).await.expect("response");
        let status = resp.status();
        (
            status,
            resp.into_body().collect().await.expect("body").to_bytes(),
        )
    }

    #[tokio::test]
    async fn echoes_over_http1_and_h2c() {
        let opts = Options {
            service: "myapp".into(),
            version: "v2".into(),
            replica: "myapp-1".into(),
            ..Options::default()
        };
        let (addr, _stop) = start(opts).await;
        for h2 in [false, true] {
            let client = Client::builder(TokioExecutor::new())
                .http2_only(h2)
                .build_http();
            let (status, body) = get(&client, format!("http://{addr}/hello?x=1")).await;
            assert_eq!(status, StatusCode::OK);
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(v["service"], "myapp");
            assert_eq!(v["version"], "v2");
            assert_eq!(v["replica"], "myapp-1");
            assert_eq!(v["method"], "GET");
            assert_eq!(v["path"], "/hello");
            assert_eq!(v["headers"]["x-test"], "1");
        }
    }

    #[tokio::test]
    async fn sizes_failures_and_health() {
        let opts = Options {
            fail_after: Some(2),
            fail_status: 500,
            ..Options::default()
        };
        let (addr, _stop) = start(opts).await;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let (s, body) = get(&client, format!("http://{addr}/size/102400")).await;
        assert_eq!((s, body.len()), (StatusCode::OK, 102_400));
        let (s, body) = get(&client, format!("http://{addr}/size/2000000")).await;
        assert_eq!((s, body.len()), (StatusCode::OK, 2_000_000));
        let (s, _) = get(&client, format!("http://{addr}/")).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "third request fails");
        let (s, _) = get(&client, format!("http://{addr}/healthz")).await;
        assert_eq!(s, StatusCode::OK, "health is not subject to failures");
        let (s, _) = get(&client, format!("http://{addr}/readyz")).await;
        assert_eq!(s, StatusCode::OK);
    }

    #[tokio::test]
    async fn fails_the_requested_share() {
        let (addr, _stop) = start(Options {
            fail_percent: 50.0,
            ..Options::default()
        })
        .await;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut failed = 0;
        for _ in 0..200 {
            if get(&client, format!("http://{addr}/")).await.0 == StatusCode::SERVICE_UNAVAILABLE {
                failed += 1;
            }
        }
        assert!((50..150).contains(&failed), "{failed} of 200 failed");
    }
}
