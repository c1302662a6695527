//! Resilience end to end: connection-pool circuit breakers answer 503 `UO` at exactly their
//! limits, outlier detection ejects after N consecutive errors, draining loses no request,
//! and a replica's inbound sidecar closes gracefully. Real origins and clients on 127.0.0.1.

mod harness;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use harness::{BOUND, Client, Mesh};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use meridian_control::endpoints::EndpointState;
use meridian_proxy::{ClusterStatus, Proxy};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// An origin whose `/hold` requests wait for a permit, `/status/N` answers N, and anything
/// else answers 200 with its name. Counts arrivals and open connections.
#[derive(Clone)]
struct Gate {
    name: String,
    addr: SocketAddr,
    arrived: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    permits: Arc<Semaphore>,
    /// Answer every request with 500.
    failing: bool,
}

impl Gate {
    async fn failing(name: &str) -> Gate {
        Gate::serve(name, true).await
    }

    async fn start(name: &str) -> Gate {
        Gate::serve(name, false).await
    }

    async fn serve(name: &str, failing: bool) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let g = Gate {
            name: name.to_owned(),
            addr: listener.local_addr().expect("addr"),
            arrived: Arc::default(),
            open: Arc::default(),
            accepted: Arc::default(),
            permits: Arc::new(Semaphore::new(0)),
            failing,
        };
        let served = g.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let g = served.clone();
                tokio::spawn(async move {
                    g.open.fetch_add(1, Ordering::SeqCst);
                    g.accepted.fetch_add(1, Ordering::SeqCst);
                    let svc = service_fn({
                        let g = g.clone();
                        move |req| g.clone().answer(req)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                    g.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        g
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path().to_owned();
        if path == "/hold"
            && let Ok(p) = self.permits.acquire().await
        {
            p.forget();
        }
        let mut resp = Response::new(Full::new(Bytes::from(self.name.clone())));
        if self.failing {
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        } else if let Some(code) = path.strip_prefix("/status/").and_then(|c| c.parse().ok()) {
            *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
        }
        Ok(resp)
    }

    /// The harness's view of it (name and address), to publish it as a replica.
    fn as_origin(&self) -> harness::Origin {
        harness::Origin {
            name: self.name.clone(),
            addr: self.addr,
            hits: Arc::default(),
            seen: Arc::default(),
        }
    }

    fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }
}

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + BOUND;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn cluster(proxy: &Proxy, service: &str) -> ClusterStatus {
    proxy
        .clusters()
        .into_iter()
        .find(|c| c.name.ends_with(service) && c.name.contains("||"))
        .expect("cluster")
}

fn manifests(traffic_policy: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: myapp}}
spec:
  selector: {{app: myapp}}
  ports: [{{port: 80, name: http, targetPort: 3000}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: myapp}}
spec:
  host: myapp
  trafficPolicy:
{traffic_policy}
"#
    )
}

const SERVICE: &str = "myapp.default.svc.cluster.local";

/// One held origin behind `myapp` with this traffic policy; the mesh and a sidecar to it.
async fn one_origin(traffic_policy: &str) -> (Gate, Mesh, SocketAddr) {
    let origin = Gate::start("a").await;
    let mut mesh = Mesh::new(&manifests(traffic_policy)).await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &origin.as_origin());
    mesh.settle().await;
    let sidecar = mesh.sidecar(&[]).await;
    (origin, mesh, sidecar)
}

/// `n` requests the origin holds until released.
fn hold(sidecar: SocketAddr, n: usize) -> Vec<tokio::task::JoinHandle<harness::Reply>> {
    (0..n)
        .map(|_| {
            tokio::spawn(async move { Client::to(sidecar).get("http://myapp/hold", &[]).await })
        })
        .collect()
}

#[tokio::test]
async fn pending_requests_overflow_at_exactly_the_configured_limits() {
    let (origin, mesh, sidecar) = one_origin("    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1}").await;

    // One request holds the only connection...
    let first =
        tokio::spawn(async move { Client::to(sidecar).get("http://myapp/hold", &[]).await });
    until("first request at the origin", || origin.arrived() == 1).await;
    // ...one waits for it (pending)...
    let second =
        tokio::spawn(async move { Client::to(sidecar).get("http://myapp/hold", &[]).await });
    until("one pending request", || {
        cluster(&mesh.proxy, SERVICE).limits.pending == 1
    })
    .await;
    // ...and the next finds both limits reached: 503 UO at once, nothing queued.
    let third = Client::to(sidecar).get("http://myapp/", &[]).await;
    assert_eq!(third.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(third.header("x-envoy-overloaded"), Some("true"));
    assert!(
        third.body.ends_with("reset reason: overflow"),
        "{}",
        third.body
    );
    assert_eq!(
        origin.arrived(),
        1,
        "the refused request never left the proxy"
    );

    origin.release(2);
    let (first, second) = (first.await.expect("first"), second.await.expect("second"));
    assert_eq!(
        (first.status, second.status),
        (StatusCode::OK, StatusCode::OK)
    );
    let status = cluster(&mesh.proxy, SERVICE).limits;
    assert_eq!(status.pending_overflows, 1);
    assert_eq!(status.max_connections, 1);
    assert!(status.connections <= 1, "{status:?}");
}

#[tokio::test]
async fn requests_overflow_at_exactly_http2_max_requests() {
    let (origin, mesh, sidecar) =
        one_origin("    connectionPool:\n      http: {http2MaxRequests: 2}").await;
    let held = hold(sidecar, 2);
    until("two requests in flight", || origin.arrived() == 2).await;
    let over = Client::to(sidecar).get("http://myapp/", &[]).await;
    assert_eq!(over.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(over.header("x-envoy-overloaded"), Some("true"));
    origin.release(2);
    for h in held {
        assert_eq!(h.await.expect("held").status, StatusCode::OK);
    }
    // Below the limit again.
    assert_eq!(
        Client::to(sidecar).get("http://myapp/", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(cluster(&mesh.proxy, SERVICE).limits.request_overflows, 1);
}

#[tokio::test]
async fn an_endpoint_is_ejected_after_n_consecutive_5xx_and_gets_no_more_requests() {
    let good = Gate::start("good").await;
    let bad = Gate::failing("bad").await;
    let mut mesh = Mesh::new(&manifests(
        "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 3, interval: 30s, baseEjectionTime: 30s, maxEjectionPercent: 50}",
    ))
    .await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &good.as_origin());
    mesh.replica("myapp", &[("app", "myapp")], 3000, &bad.as_origin());
    mesh.settle().await;
    let sidecar = mesh.sidecar(&[]).await;
    let mut client = Client::to(sidecar);
    // Round robin alternates; the good replica's successes do not break the bad one's run.
    let mut errors = 0;
    for _ in 0..6 {
        let r = client.get("http://myapp/", &[]).await;
        if r.status == StatusCode::INTERNAL_SERVER_ERROR {
            errors += 1;
            let c = cluster(&mesh.proxy, SERVICE);
            let ejected = c.endpoints.iter().any(|e| e.health.ejected);
            assert_eq!(ejected, errors == 3, "ejected after exactly three errors");
        }
    }
    assert_eq!(errors, 3);
    let c = cluster(&mesh.proxy, SERVICE);
    let ejected: Vec<&str> = c
        .endpoints
        .iter()
        .filter(|e| e.health.ejected)
        .map(|e| e.replica.as_str())
        .collect();
    assert_eq!(ejected, vec!["myapp-bad:3000"]);
    assert_eq!(c.outlier.ejections_consecutive_5xx, 1);
    let bad_hits = bad.arrived();
    for _ in 0..20 {
        assert_eq!(client.get("http://myapp/", &[]).await.body, "good");
    }
    assert_eq!(
        bad.arrived(),
        bad_hits,
        "an ejected endpoint gets no request"
    );
    let e = c
        .endpoints
        .iter()
        .find(|e| e.health.ejected)
        .expect("ejected");
    assert!(
        e.health
            .ejection_remaining_ms
            .is_some_and(|ms| ms <= 30_000)
    );
}

#[tokio::test]
async fn a_draining_replica_finishes_in_flight_requests_and_gets_no_new_ones() {
    let a = Gate::start("a").await;
    let b = Gate::start("b").await;
    let mut mesh = Mesh::new(&manifests("    loadBalancer: {simple: ROUND_ROBIN}")).await;
    let ra = mesh.replica("myapp", &[("app", "myapp")], 3000, &a.as_origin());
    mesh.replica("myapp", &[("app", "myapp")], 3000, &b.as_origin());
    mesh.settle().await;
    let sidecar = mesh.sidecar(&[]).await;
    // Warm both pools, then hold one request on `a`.
    let mut client = Client::to(sidecar);
    for _ in 0..4 {
        assert_eq!(
            client.get("http://myapp/", &[]).await.status,
            StatusCode::OK
        );
    }
    let before = a.arrived();
    let mut held = Vec::new();
    while a.arrived() == before {
        held.push(tokio::spawn(async move {
            Client::to(sidecar).get("http://myapp/hold", &[]).await
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a_before_drain = a.arrived();

    mesh.set_state(&ra.replica, EndpointState::Draining);
    mesh.settle().await;
    // Steady load while `a` drains: every request succeeds, none reaches `a`.
    let load: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = Client::to(sidecar);
                let mut ok = 0;
                for _ in 0..50 {
                    if c.get("http://myapp/", &[]).await.status == StatusCode::OK {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    for l in load {
        assert_eq!(l.await.expect("load"), 50);
    }
    assert_eq!(
        a.arrived(),
        a_before_drain,
        "no new request reaches a draining replica"
    );
    // The held requests finish normally.
    a.release(held.len());
    b.release(held.len());
    for h in held {
        assert_eq!(h.await.expect("held").status, StatusCode::OK);
    }
    // Its connections close once idle.
    until("a's connections closed", || {
        a.open.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test]
async fn stopping_an_inbound_sidecar_finishes_in_flight_requests_with_connection_close() {
    let a = Gate::start("a").await;
    let mut mesh = Mesh::new(&manifests("    loadBalancer: {simple: ROUND_ROBIN}")).await;
    let ra = mesh.replica("myapp", &[("app", "myapp")], 3000, &a.as_origin());
    mesh.settle().await;
    let inbound = mesh.proxy.start_inbound(&ra).await.expect("inbound")[0].listen;
    let held = tokio::spawn(async move { Client::to(inbound).get("http://myapp/hold", &[]).await });
    until("held request at the replica", || a.arrived() == 1).await;
    assert!(mesh.proxy.stop_inbound(&ra.replica));
    a.release(1);
    let reply = held.await.expect("held");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("connection"), Some("close"));
    // The listener is closed: new connections are refused.
    until("listener closed", || {
        std::net::TcpStream::connect(inbound).is_err()
    })
    .await;
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let (origin, mesh, sidecar) =
        one_origin("    connectionPool:\n      http: {idleTimeout: 1s}").await;
    assert_eq!(
        Client::to(sidecar).get("http://myapp/", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(origin.open.load(Ordering::SeqCst), 1);
    // The reaper closes it once idle past the timeout.
    until("idle connection reaped", || {
        origin.open.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(cluster(&mesh.proxy, SERVICE).limits.connections, 0);
}

#[tokio::test]
async fn connections_close_after_max_connection_duration() {
    let (origin, _mesh, sidecar) =
        one_origin("    connectionPool:\n      tcp: {maxConnectionDuration: 1s}").await;
    let mut client = Client::to(sidecar);
    assert_eq!(
        client.get("http://myapp/", &[]).await.status,
        StatusCode::OK
    );
    until("old connection closed", || {
        origin.open.load(Ordering::SeqCst) == 0
    })
    .await;
    // The next request gets a new connection.
    assert_eq!(
        client.get("http://myapp/", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn max_requests_per_connection_bounds_reuse() {
    let (origin, _mesh, sidecar) =
        one_origin("    connectionPool:\n      http: {maxRequestsPerConnection: 2}").await;
    let mut client = Client::to(sidecar);
    for _ in 0..6 {
        assert_eq!(
            client.get("http://myapp/", &[]).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        origin.accepted.load(Ordering::SeqCst),
        3,
        "two requests per connection"
    );
}

#[tokio::test]
async fn http2_upstreams_open_a_connection_per_max_concurrent_streams() {
    let (origin, _mesh, sidecar) = one_origin(
        "    connectionPool:\n      http: {h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 1}",
    )
    .await;
    let held = hold(sidecar, 2);
    until("both streams at the origin", || origin.arrived() == 2).await;
    assert_eq!(
        origin.accepted.load(Ordering::SeqCst),
        2,
        "one stream per connection"
    );
    origin.release(2);
    for h in held {
        assert_eq!(h.await.expect("held").status, StatusCode::OK);
    }
    // Streams free again: a third request reuses a connection.
    assert_eq!(
        Client::to(sidecar).get("http://myapp/", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_replica_that_refuses_connections_behind_its_sidecar_is_retried_elsewhere() {
    let good = Gate::start("good").await;
    // A replica whose process is gone: its port refuses connections.
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let mut mesh = Mesh::new(&manifests(
        "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 3, maxEjectionPercent: 50}",
    ))
    .await;
    let rg = mesh.replica("myapp", &[("app", "myapp")], 3000, &good.as_origin());
    let rd = mesh.replica(
        "myapp",
        &[("app", "myapp")],
        3000,
        &harness::Origin {
            name: "gone".to_owned(),
            addr: gone,
            hits: Arc::default(),
            seen: Arc::default(),
        },
    );
    mesh.settle().await;
    mesh.proxy.start_inbound(&rg).await.expect("inbound");
    mesh.proxy.start_inbound(&rd).await.expect("inbound");
    let sidecar = mesh.sidecar(&[]).await;
    // Istio's default retry policy retries connect failures: the dead replica's sidecar says
    // the request never reached it, so every request ends on the good replica.
    let mut client = Client::to(sidecar);
    for _ in 0..20 {
        let r = client.get("http://myapp/", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, "good");
        assert!(r.header("x-meridian-unreached").is_none());
    }
    let c = cluster(&mesh.proxy, SERVICE);
    let dead = c
        .endpoints
        .iter()
        .find(|e| e.replica == "myapp-gone:3000")
        .expect("dead endpoint");
    // Counted as local-origin failures (503 without the split): three in a row eject it.
    assert!(dead.health.ejected, "{dead:?}");
}

#[tokio::test]
async fn stopping_an_inbound_sidecar_sends_goaway_to_http2_clients() {
    let a = Gate::start("a").await;
    let mut mesh = Mesh::new(&manifests("    loadBalancer: {simple: ROUND_ROBIN}")).await;
    let ra = mesh.replica("myapp", &[("app", "myapp")], 3000, &a.as_origin());
    mesh.settle().await;
    let inbound = mesh.proxy.start_inbound(&ra).await.expect("inbound")[0].listen;
    let tcp = tokio::net::TcpStream::connect(inbound)
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let req = Request::get("http://myapp/hold")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let held = tokio::spawn(sender.send_request(req));
    until("held stream at the replica", || a.arrived() == 1).await;
    assert!(mesh.proxy.stop_inbound(&ra.replica));
    a.release(1);
    let resp = tokio::time::timeout(BOUND, held)
        .await
        .expect("bounded")
        .expect("task")
        .expect("the stream in flight finishes");
    assert_eq!(resp.status(), StatusCode::OK);
    // GOAWAY, then the connection ends cleanly.
    let ended = tokio::time::timeout(BOUND, conn)
        .await
        .expect("connection closed");
    assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
}
