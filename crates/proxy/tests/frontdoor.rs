//! The front door with real listeners: backends ("regions") on 127.0.0.1:0 that can be
//! killed and brought back, the proxy's front door listener in front of them, and curl or
//! hyper's client as the client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meridian_proxy::cache::QueryKeys;
use meridian_proxy::frontdoor::{
    Action, BackendConfig, BackendTls, Forwarding, FrontDoor, FrontDoorConfig, FrontDoors,
    Frontend, PoolConfig, ProbeConfig, RouteCache, Rule,
};
use meridian_proxy::{Proxy, ProxyOptions};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const HOST: &str = "my-app-frontdoor.azurefd.net";

/// How a region's backend answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    /// 503 to everything.
    Failing,
    /// Accepts and never answers.
    Hanging,
}

/// A region's backend: answers with its name; can be killed (listener closed, connections
/// reset) and started again on the same port.
struct Region {
    name: &'static str,
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    delay: Duration,
    hits: Arc<AtomicUsize>,
    probes: Arc<Mutex<Vec<(Method, String, String)>>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Speaks HTTPS with this certificate.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Region {
    async fn start(name: &'static str) -> Region {
        Region::with_delay(name, Duration::ZERO).await
    }

    async fn with_delay(name: &'static str, delay: Duration) -> Region {
        Region::listening(name, delay, None).await
    }

    /// A region whose backend speaks only HTTPS, with a certificate for `sans` from `pki`.
    async fn tls(name: &'static str, pki: &harness::Pki, sans: &[&str]) -> Region {
        use rustls_pki_types::pem::PemObject as _;
        let (_, _, pem, key) = pki.leaf(name, sans);
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
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Region::listening(name, Duration::ZERO, Some(acceptor)).await
    }

    async fn listening(
        name: &'static str,
        delay: Duration,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Region {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Region {
            name,
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            delay,
            hits: Arc::new(AtomicUsize::new(0)),
            probes: Arc::new(Mutex::new(Vec::new())),
            tasks: Arc::new(Mutex::new(Vec::new())),
            tls,
        };
        r.serve(listener);
        r
    }

    fn serve(&self, listener: TcpListener) {
        let (name, mode, hits, probes, tasks, delay) = (
            self.name,
            self.mode.clone(),
            self.hits.clone(),
            self.probes.clone(),
            self.tasks.clone(),
            self.delay,
        );
        let tls = self.tls.clone();
        let accept = tokio::spawn({
            let tasks = tasks.clone();
            async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let (mode, hits, probes) = (mode.clone(), hits.clone(), probes.clone());
                    let tls = tls.clone();
                    let conn = tokio::spawn(async move {
                        let svc = service_fn(move |req: Request<Incoming>| {
                            let (mode, hits, probes) = (mode.clone(), hits.clone(), probes.clone());
                            async move {
                                let m = *mode.lock().unwrap();
                                if req.headers().contains_key("x-fd-healthprobe") {
                                    probes.lock().unwrap().push((
                                        req.method().clone(),
                                        req.uri().path().to_owned(),
                                        req.headers()
                                            .get("user-agent")
                                            .and_then(|v| v.to_str().ok())
                                            .unwrap_or_default()
                                            .to_owned(),
                                    ));
                                } else {
                                    hits.fetch_add(1, Ordering::SeqCst);
                                }
                                if m == Mode::Hanging {
                                    std::future::pending::<()>().await;
                                }
                                if !delay.is_zero() {
                                    tokio::time::sleep(delay).await;
                                }
                                let path = req.uri().path();
                                let body = if path.starts_with("/big") {
                                    Bytes::from(format!("{name} ").repeat(1024))
                                } else {
                                    Bytes::from(name)
                                };
                                let mut resp = Response::new(Full::new(body));
                                if m == Mode::Failing {
                                    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                                }
                                if path.starts_with("/big") {
                                    resp.headers_mut()
                                        .insert("content-type", "text/plain".parse().unwrap());
                                }
                                if path.contains("private") {
                                    resp.headers_mut()
                                        .insert("cache-control", "private".parse().unwrap());
                                }
                                if let Some(h) = req.headers().get("host") {
                                    resp.headers_mut().insert("echo-host", h.clone());
                                }
                                if let Some(pq) = req.uri().path_and_query()
                                    && let Ok(v) = pq.as_str().parse()
                                {
                                    resp.headers_mut().insert("echo-path", v);
                                }
                                if let Some(h) = req.headers().get("x-forwarded-for") {
                                    resp.headers_mut().insert("echo-xff", h.clone());
                                }
                                if let Some(h) = req.headers().get("accept-encoding") {
                                    resp.headers_mut().insert("echo-ae", h.clone());
                                }
                                Ok::<_, Infallible>(resp)
                            }
                        });
                        let http = hyper::server::conn::http1::Builder::new();
                        match tls {
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(tcp).await {
                                    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                                }
                            }
                            None => {
                                let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                            }
                        }
                    });
                    tasks.lock().unwrap().push(conn);
                }
            }
        });
        tasks.lock().unwrap().push(accept);
    }

    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    /// The region goes down: nothing listens, every open connection is dropped.
    fn kill(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// The region comes back on its address.
    async fn revive(&self) {
        let deadline = Instant::now() + harness::BOUND;
        loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => return self.serve(l),
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "cannot rebind {}: {e}",
                        self.addr
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn backend(&self, priority: u8, weight: u32) -> BackendConfig {
        BackendConfig {
            name: format!("app-{}.azurewebsites.net", self.name),
            host_header: format!("app-{}.azurewebsites.net", self.name),
            addr: self.addr,
            https_addr: None,
            certificate_name_check: true,
            priority,
            weight,
            enabled: true,
            // Regions on one machine are equally far: weights decide, not jitter.
            latency: Some(Duration::ZERO),
        }
    }
}

fn pool(name: &str, backends: Vec<BackendConfig>, probe: Option<ProbeConfig>) -> PoolConfig {
    PoolConfig {
        name: name.into(),
        backends,
        sample_size: 4,
        successful_samples_required: 2,
        additional_latency: Duration::ZERO,
        probe,
    }
}

fn probe(interval: Duration) -> ProbeConfig {
    ProbeConfig {
        path: "/health".into(),
        method: Method::HEAD,
        interval,
        https: false,
    }
}

/// A probe that never runs during a test: only requests decide.
fn no_probe_soon() -> Option<ProbeConfig> {
    Some(probe(Duration::from_secs(3600)))
}

fn door(pools: Vec<PoolConfig>, rules: Vec<Rule>, affinity: bool) -> FrontDoorConfig {
    FrontDoorConfig {
        name: "my-app-frontdoor".into(),
        id: "00000000-0000-0000-0000-000000000001".into(),
        frontends: vec![Frontend {
            name: "main-frontend".into(),
            hosts: vec![HOST.into()],
            session_affinity: affinity,
            affinity_ttl: None,
        }],
        rules,
        pools,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        backend_tls: None,
    }
}

fn forward_all(pool: usize) -> Rule {
    Rule {
        name: "default-routing".into(),
        frontends: vec!["main-frontend".into()],
        http: true,
        https: false,
        patterns: vec!["/*".into()],
        action: Action::Forward {
            pool,
            path: None,
            protocol: Forwarding::HttpOnly,
            cache: None,
        },
    }
}

async fn start(cfg: FrontDoorConfig) -> (Arc<FrontDoor>, SocketAddr, Proxy) {
    let (_publisher, watch) = meridian_control::endpoints::channel();
    let proxy = Proxy::new(harness::snapshot("", 1), watch, ProxyOptions::default());
    let door = FrontDoor::start(cfg);
    let doors = Arc::new(FrontDoors::default());
    doors.set(vec![door.clone()]);
    let addr = proxy
        .start_front_door(doors, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    (door, addr, proxy)
}

/// `n` requests for `path` in one curl process (one keep-alive connection): the status and
/// the backend that answered, each.
async fn curl_many(fd: SocketAddr, path: &str, n: usize, extra: &[&str]) -> Vec<(u16, String)> {
    let url = format!("http://{HOST}:{}{path}", fd.port());
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "30".into(),
        "--resolve".into(),
        format!("{HOST}:{}:127.0.0.1", fd.port()),
        "-w".into(),
        "%{http_code} %header{x-meridian-frontdoor-backend}\\n".into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    for _ in 0..n {
        // One -o per URL: each body is discarded.
        args.extend(["-o".into(), "/dev/null".into(), url.clone()]);
    }
    let out = tokio::task::spawn_blocking(move || Command::new("curl").args(&args).output())
        .await
        .unwrap()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (code, backend) = l.split_once(' ').unwrap_or((l, ""));
            (code.parse().unwrap_or(0), backend.to_owned())
        })
        .collect()
}

/// What curl's `-w FORMAT` says of one request for `path` to the frontend host.
fn curl_w(fd: SocketAddr, path: &str, format: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", format])
        .args(["--resolve", &format!("{HOST}:{}:127.0.0.1", fd.port())])
        .arg(format!("http://{HOST}:{}{path}", fd.port()))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn counts(answers: &[(u16, String)]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (code, b) in answers {
        *m.entry(format!("{code} {b}")).or_default() += 1;
    }
    m
}

/// Waits (bounded) until `f` holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + harness::BOUND;
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_the_first_priority_group_and_the_second_takes_over() {
    let (a, b, c) = (
        Region::start("eastus").await,
        Region::start("westus").await,
        Region::start("northeurope").await,
    );
    let cfg = door(
        vec![pool(
            "main-backend-pool",
            vec![a.backend(1, 1), b.backend(1, 3), c.backend(2, 50)],
            no_probe_soon(),
        )],
        vec![forward_all(0)],
        false,
    );
    let (_door, fd, _proxy) = start(cfg).await;

    let got = counts(&curl_many(fd, "/", 400, &[]).await);
    // Weighted round robin: exactly 1:3 over whole cycles; priority 2 unused.
    assert_eq!(
        got.get("200 app-eastus.azurewebsites.net"),
        Some(&100),
        "{got:?}"
    );
    assert_eq!(
        got.get("200 app-westus.azurewebsites.net"),
        Some(&300),
        "{got:?}"
    );
    assert_eq!(c.hits(), 0);

    // The whole first group goes down: the first request that finds it so fails over in
    // flight, and from then on the second group serves.
    a.kill();
    b.kill();
    let got = counts(&curl_many(fd, "/", 50, &[]).await);
    assert_eq!(
        got.get("200 app-northeurope.azurewebsites.net"),
        Some(&50),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_sensitivity_keeps_the_fastest_or_a_band() {
    // westus answers 80 ms later than eastus, probes included.
    let a = Region::start("eastus").await;
    let b = Region::with_delay("westus", Duration::from_millis(80)).await;
    let measured = |r: &Region| BackendConfig {
        latency: None,
        ..r.backend(1, 50)
    };
    let mut p = pool(
        "p",
        vec![measured(&a), measured(&b)],
        Some(probe(Duration::from_millis(200))),
    );
    let (first, fd, _proxy) = start(door(vec![p.clone()], vec![forward_all(0)], false)).await;
    until("both measured", || {
        first.status().iter().all(|s| s.latency_ms.is_some())
    })
    .await;
    // Sensitivity 0: always the fastest.
    let got = counts(&curl_many(fd, "/", 10, &[]).await);
    assert_eq!(
        got.get("200 app-eastus.azurewebsites.net"),
        Some(&10),
        "{got:?}"
    );

    // A band wider than the gap: both, by weight.
    p.additional_latency = Duration::from_secs(2);
    let (fd_door, fd, _proxy) = start(door(vec![p], vec![forward_all(0)], false)).await;
    until("both measured", || {
        fd_door.status().iter().all(|s| s.latency_ms.is_some())
    })
    .await;
    let got = counts(&curl_many(fd, "/", 10, &[]).await);
    assert_eq!(
        got.get("200 app-eastus.azurewebsites.net"),
        Some(&5),
        "{got:?}"
    );
    assert_eq!(
        got.get("200 app-westus.azurewebsites.net"),
        Some(&5),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_match_by_pattern_protocol_and_host() {
    let (a, b) = (Region::start("eastus").await, Region::start("westus").await);
    let api = Rule {
        name: "api".into(),
        patterns: vec!["/api/*".into()],
        ..forward_all(1)
    };
    let exact = Rule {
        name: "exact".into(),
        patterns: vec!["/API/v1".into()],
        ..forward_all(0)
    };
    let https_only = Rule {
        name: "secure".into(),
        patterns: vec!["/secure/*".into()],
        http: false,
        https: true,
        ..forward_all(1)
    };
    let moved = Rule {
        name: "moved".into(),
        patterns: vec!["/old/*".into()],
        action: Action::Redirect {
            scheme: Some("https"),
            status: StatusCode::MOVED_PERMANENTLY,
            host: Some("www.example.com".into()),
            path: None,
            query: None,
            fragment: None,
        },
        ..forward_all(0)
    };
    let rewrite = Rule {
        name: "rewrite".into(),
        patterns: vec!["/v2/*".into()],
        action: Action::Forward {
            pool: 1,
            path: Some("/backend/".into()),
            protocol: Forwarding::HttpOnly,
            cache: None,
        },
        ..forward_all(0)
    };
    let moved_custom = Rule {
        name: "moved-custom".into(),
        patterns: vec!["/gone".into()],
        action: Action::Redirect {
            scheme: None,
            status: StatusCode::TEMPORARY_REDIRECT,
            host: None,
            path: Some("/new".into()),
            query: Some("from=gone".into()),
            fragment: Some("top".into()),
        },
        ..forward_all(0)
    };
    let cfg = door(
        vec![
            pool("web", vec![a.backend(1, 50)], no_probe_soon()),
            pool("api", vec![b.backend(1, 50)], no_probe_soon()),
        ],
        vec![
            forward_all(0),
            api,
            exact,
            https_only,
            moved,
            rewrite,
            moved_custom,
        ],
        false,
    );
    let (_door, fd, _proxy) = start(cfg).await;
    let one = |path: &'static str| async move { curl_many(fd, path, 1, &[]).await.remove(0) };
    assert_eq!(one("/").await, (200, "app-eastus.azurewebsites.net".into()));
    assert_eq!(
        one("/api/users").await,
        (200, "app-westus.azurewebsites.net".into())
    );
    // Exact beats the longer wildcard, without case.
    assert_eq!(
        one("/api/V1").await,
        (200, "app-eastus.azurewebsites.net".into())
    );
    // The rule for /secure/ accepts Https only: an Http request takes the next rule.
    assert_eq!(
        one("/secure/x").await,
        (200, "app-eastus.azurewebsites.net".into())
    );
    // An unknown host is not a frontend: 400.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{fd}/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "400");
    // A redirect rule.
    assert_eq!(
        curl_w(fd, "/old/page?q=1", "%{http_code} %{redirect_url}"),
        "301 https://www.example.com/old/page?q=1"
    );
    // custom_path, custom_query_string, custom_fragment.
    assert_eq!(
        curl_w(fd, "/gone?q=1", "%{http_code} %header{location}"),
        format!("307 http://{HOST}:{}/new?from=gone#top", fd.port())
    );
    // custom_forwarding_path: the custom path, then what the wildcard matched.
    assert_eq!(
        curl_w(fd, "/v2/users/7?x=1", "%header{echo-path}"),
        "/backend/users/7?x=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_no_rule_accepts_is_refused() {
    // The course's rule: accepted_protocols = ["Https"].
    let a = Region::start("eastus").await;
    let https_only = Rule {
        http: false,
        https: true,
        ..forward_all(0)
    };
    let cfg = door(
        vec![pool("p", vec![a.backend(1, 50)], no_probe_soon())],
        vec![https_only],
        false,
    );
    let (_door, fd, _proxy) = start(cfg).await;
    assert_eq!(curl_many(fd, "/", 1, &[]).await[0].0, 400);
    assert_eq!(a.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_get_their_host_header_and_forwarding_fields() {
    let a = Region::start("eastus").await;
    let cfg = door(
        vec![pool("p", vec![a.backend(1, 50)], no_probe_soon())],
        vec![forward_all(0)],
        false,
    );
    let (_door, fd, _proxy) = start(cfg).await;
    let out = Command::new("curl")
        .args([
            "-s",
            "-i",
            "--resolve",
            &format!("{HOST}:{}:127.0.0.1", fd.port()),
        ])
        .arg(format!("http://{HOST}:{}/", fd.port()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        text.contains("echo-host: app-eastus.azurewebsites.net"),
        "{text}"
    );
    assert!(text.contains("echo-xff: 127.0.0.1"), "{text}");
    assert!(text.contains("x-azure-ref: "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_take_a_failing_backend_out_and_bring_it_back() {
    let (a, b) = (Region::start("eastus").await, Region::start("westus").await);
    let cfg = door(
        vec![pool(
            "p",
            vec![a.backend(1, 50), b.backend(1, 50)],
            Some(probe(Duration::from_millis(300))),
        )],
        vec![forward_all(0)],
        false,
    );
    let (door, fd, _proxy) = start(cfg).await;
    let healthy = |name: &str| {
        door.status()
            .iter()
            .find(|s| s.backend == name)
            .is_some_and(|s| s.probed_healthy && !s.suspect)
    };
    // Front Door's probe: HEAD of the path with its User-Agent.
    until("a probe reached eastus", || {
        !a.probes.lock().unwrap().is_empty()
    })
    .await;
    let (m, path, ua) = a.probes.lock().unwrap()[0].clone();
    assert_eq!(
        (m, path.as_str(), ua.as_str()),
        (Method::HEAD, "/health", "Edge Health Probe")
    );

    a.set(Mode::Failing);
    until("eastus unhealthy by its probes", || {
        !healthy("app-eastus.azurewebsites.net")
    })
    .await;
    let got = counts(&curl_many(fd, "/", 20, &[]).await);
    assert_eq!(
        got.get("200 app-westus.azurewebsites.net"),
        Some(&20),
        "{got:?}"
    );

    a.set(Mode::Ok);
    until("eastus healthy again", || {
        healthy("app-eastus.azurewebsites.net")
    })
    .await;
    let got = counts(&curl_many(fd, "/", 20, &[]).await);
    assert_eq!(
        got.get("200 app-eastus.azurewebsites.net"),
        Some(&10),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_affinity_keeps_a_client_on_its_backend() {
    let (a, b) = (Region::start("eastus").await, Region::start("westus").await);
    let cfg = door(
        vec![pool(
            "p",
            vec![a.backend(1, 50), b.backend(1, 50)],
            no_probe_soon(),
        )],
        vec![forward_all(0)],
        true,
    );
    let mut cfg = cfg;
    cfg.frontends[0].affinity_ttl = Some(Duration::from_secs(600));
    let (_door, fd, _proxy) = start(cfg).await;
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap().to_owned();
    // curl keeps Front Door's cookie and sends it back: every request, one backend.
    let first = curl_many(fd, "/", 1, &["-c", &jar]).await;
    let got = counts(&curl_many(fd, "/", 20, &["-b", &jar]).await);
    assert_eq!(
        got.get(&format!("200 {}", first[0].1)),
        Some(&20),
        "{got:?}"
    );
    let cookies = std::fs::read_to_string(&jar).unwrap();
    // (ASLBSACORS is `Secure`: curl keeps it from https only.) With a TTL, not a session
    // cookie: an expiry, not 0.
    let line = cookies
        .lines()
        .find(|l| l.contains("\tASLBSA\t"))
        .unwrap_or_else(|| panic!("{cookies}"));
    let expiry: u64 = line.split('\t').nth(4).unwrap().parse().unwrap();
    assert!(expiry > 0, "{line}");

    // Without the cookie, clients spread.
    let got = counts(&curl_many(fd, "/", 20, &[]).await);
    assert_eq!(got.len(), 2, "{got:?}");

    // Its backend's region dies: the client moves, and gets a new cookie.
    let (dead, alive) = if first[0].1.contains("eastus") {
        (&a, "westus")
    } else {
        (&b, "eastus")
    };
    dead.kill();
    let got = counts(&curl_many(fd, "/", 5, &["-b", &jar, "-c", &jar]).await);
    assert_eq!(
        got.get(&format!("200 app-{alive}.azurewebsites.net")),
        Some(&5),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_backend_is_bounded_by_the_timeout_and_failed_over() {
    let (a, b) = (Region::start("eastus").await, Region::start("westus").await);
    a.set(Mode::Hanging);
    let mut cfg = door(
        vec![pool(
            "p",
            vec![a.backend(1, 50), b.backend(1, 50)],
            no_probe_soon(),
        )],
        vec![forward_all(0)],
        false,
    );
    cfg.timeout = Duration::from_millis(500);
    let (door, fd, _proxy) = start(cfg).await;
    let got = counts(&curl_many(fd, "/", 10, &[]).await);
    assert_eq!(
        got.get("200 app-westus.azurewebsites.net"),
        Some(&10),
        "{got:?}"
    );
    let east = door
        .status()
        .into_iter()
        .find(|s| s.backend.contains("eastus"))
        .unwrap();
    assert!(
        east.suspect && east.failed == 1,
        "tried once, then left out: {east:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_probe_target_fails_its_probes() {
    let (a, b) = (Region::start("eastus").await, Region::start("westus").await);
    a.set(Mode::Hanging);
    let cfg = door(
        vec![pool(
            "p",
            vec![a.backend(1, 50), b.backend(1, 50)],
            Some(probe(Duration::from_millis(300))),
        )],
        vec![forward_all(0)],
        false,
    );
    let (door, _fd, _proxy) = start(cfg).await;
    until("eastus unhealthy by probes that time out", || {
        door.status()
            .iter()
            .any(|s| s.backend.contains("eastus") && !s.probed_healthy && s.probe_failures >= 3)
    })
    .await;
    assert!(
        door.status()
            .iter()
            .any(|s| s.backend.contains("westus") && s.probed_healthy)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checker_that_dies_leaves_healthy_backends_healthy() {
    let (a, b) = (Region::start("eastus").await, Region::start("westus").await);
    let cfg = door(
        vec![pool(
            "p",
            vec![a.backend(1, 50), b.backend(1, 50)],
            Some(probe(Duration::from_millis(200))),
        )],
        vec![forward_all(0)],
        false,
    );
    let (door, fd, _proxy) = start(cfg).await;
    until("both probed", || {
        door.status().iter().all(|s| s.probes >= 2)
    })
    .await;
    door.stop_probes();
    let probes: u64 = door.status().iter().map(|s| s.probes).sum();
    // Long past several intervals with no prober: nothing turned unhealthy.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = door.status();
    assert_eq!(
        status.iter().map(|s| s.probes).sum::<u64>(),
        probes,
        "probers stopped"
    );
    assert!(
        status.iter().all(|s| s.probed_healthy && !s.suspect),
        "{status:?}"
    );
    let got = counts(&curl_many(fd, "/", 10, &[]).await);
    assert_eq!(got.len(), 2, "{got:?}");
}

/// The Done-when drill: two regions 50/50 under a steady bounded loop of requests from
/// four clients; one region is killed mid-run. No client request may fail, and the time
/// until the front door stopped trying the dead region is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_killed_under_load_costs_no_client_a_request() {
    let east = Region::with_delay("eastus", Duration::from_millis(2)).await;
    let west = Region::with_delay("westus", Duration::from_millis(2)).await;
    // The course's probe interval (120 s): only requests can notice the death in time.
    let cfg = door(
        vec![pool(
            "main-backend-pool",
            vec![east.backend(1, 50), west.backend(1, 50)],
            Some(probe(Duration::from_secs(120))),
        )],
        vec![forward_all(0)],
        false,
    );
    let (door, fd, _proxy) = start(cfg).await;

    const PER_CLIENT: usize = 600;
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (failures, done) = (failures.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut client = harness::Client::to(fd);
            for _ in 0..PER_CLIENT {
                let req = Request::get("/")
                    .header("host", HOST)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let reply = client.send(req).await;
                if reply.status != StatusCode::OK {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    until("a quarter of the load ran", || {
        done.load(Ordering::SeqCst) >= PER_CLIENT
    })
    .await;
    let before = (east.hits(), west.hits());
    assert!(
        before.0 > 0 && before.1 > 0,
        "both regions served: {before:?}"
    );

    let killed = Instant::now();
    east.kill();
    let stopped = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (door, stopped) = (door.clone(), stopped.clone());
        tokio::spawn(async move {
            loop {
                if door
                    .status()
                    .iter()
                    .any(|s| s.backend.contains("eastus") && s.suspect)
                {
                    stopped.store(true, Ordering::SeqCst);
                    return killed.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("the load loop ends")
            .unwrap();
    }
    let took = tokio::time::timeout(harness::BOUND, watcher)
        .await
        .expect("the front door stopped trying the dead region")
        .unwrap();
    let status = door.status();
    let dead = status
        .iter()
        .find(|s| s.backend.contains("eastus"))
        .unwrap();
    println!(
        "front door failover: stopped trying the killed region {:.1} ms after the kill; {} request(s) it failed in flight, each retried on the other region; {} client requests, {} failed",
        took.as_secs_f64() * 1000.0,
        dead.failed,
        4 * PER_CLIENT,
        failures.load(Ordering::SeqCst),
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0, "{status:?}");
    assert!(stopped.load(Ordering::SeqCst));
    assert!(west.hits() > before.1, "the other region took the load");

    // Back up: the next probe (woken by the failure) finds it and traffic returns.
    east.revive().await;
    until("eastus back", || door.status().iter().all(|s| !s.suspect)).await;
}

/// A rule for `pattern` that caches, keyed by `query`.
fn cached(name: &str, pattern: &str, query: QueryKeys, compression: bool) -> Rule {
    Rule {
        name: name.into(),
        patterns: vec![pattern.into()],
        action: Action::Forward {
            pool: 0,
            path: None,
            protocol: Forwarding::HttpOnly,
            cache: Some(RouteCache {
                query,
                compression,
                ..RouteCache::default()
            }),
        },
        ..forward_all(0)
    }
}

/// curl's `-w FORMAT` for one request for `path` with extra arguments.
fn curl_with(fd: SocketAddr, path: &str, extra: &[&str], format: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", format])
        .args(["--resolve", &format!("{HOST}:{}:127.0.0.1", fd.port())])
        .args(extra)
        .arg(format!("http://{HOST}:{}{path}", fd.port()))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caching_rule_serves_hits_and_keys_query_strings_as_front_door_does() {
    let east = Region::start("eastus").await;
    let rules = vec![
        cached(
            "ignore",
            "/ignore/*",
            QueryKeys::Whitelist(Vec::new()),
            false,
        ),
        cached("use", "/use/*", QueryKeys::All, false),
        cached(
            "except",
            "/except/*",
            QueryKeys::Except(vec!["utm".into()]),
            false,
        ),
        cached(
            "only",
            "/only/*",
            QueryKeys::Whitelist(vec!["id".into()]),
            false,
        ),
        Rule {
            name: "nocache".into(),
            patterns: vec!["/nocache/*".into()],
            ..forward_all(0)
        },
    ];
    let cfg = door(
        vec![pool("p", vec![east.backend(1, 50)], no_probe_soon())],
        rules,
        false,
    );
    let (door, fd, _proxy) = start(cfg).await;
    let w = |path: &str| curl_w(fd, path, "%{http_code} %header{x-cache} %header{echo-path}");
    // IgnoreQueryString: the first request's query goes to the backend; later ones are
    // answered with what it stored, whatever their query.
    assert_eq!(w("/ignore/a?x=1"), "200 TCP_MISS /ignore/a?x=1");
    assert_eq!(w("/ignore/a?x=2"), "200 TCP_HIT /ignore/a?x=1");
    assert_eq!(w("/ignore/a"), "200 TCP_HIT /ignore/a?x=1");
    // UseQueryString: every unique URL, parameters in any order.
    assert_eq!(w("/use/a?x=1&y=2"), "200 TCP_MISS /use/a?x=1&y=2");
    assert_eq!(w("/use/a?y=2&x=1"), "200 TCP_HIT /use/a?x=1&y=2");
    assert_eq!(w("/use/a?x=2"), "200 TCP_MISS /use/a?x=2");
    // IgnoreSpecifiedQueryStrings / IncludeSpecifiedQueryStrings.
    assert_eq!(
        w("/except/a?id=1&utm=a"),
        "200 TCP_MISS /except/a?id=1&utm=a"
    );
    assert_eq!(
        w("/except/a?utm=b&id=1"),
        "200 TCP_HIT /except/a?id=1&utm=a"
    );
    assert_eq!(
        w("/except/a?id=2&utm=a"),
        "200 TCP_MISS /except/a?id=2&utm=a"
    );
    assert_eq!(w("/only/a?id=1&z=1"), "200 TCP_MISS /only/a?id=1&z=1");
    assert_eq!(w("/only/a?z=2&id=1"), "200 TCP_HIT /only/a?id=1&z=1");
    assert_eq!(w("/only/a?id=2"), "200 TCP_MISS /only/a?id=2");
    // Cache-Control: private is honoured; a rule without caching says so.
    assert_eq!(w("/use/private"), "200 PRIVATE_NOSTORE /use/private");
    assert_eq!(w("/use/private"), "200 PRIVATE_NOSTORE /use/private");
    assert_eq!(w("/nocache/a"), "200 CONFIG_NOCACHE /nocache/a");
    assert_eq!(w("/nocache/a"), "200 CONFIG_NOCACHE /nocache/a");
    // Without compression on the route, the backend gets the encodings the client takes
    // (normalised) and each is a variant of its own.
    let ae = |extra: &[&str]| {
        curl_with(
            fd,
            "/use/ae",
            extra,
            "%{http_code} %header{x-cache} %header{echo-ae}",
        )
    };
    assert_eq!(
        ae(&["-H", "Accept-Encoding: gzip, deflate"]),
        "200 TCP_MISS gzip"
    );
    assert_eq!(ae(&[]), "200 TCP_MISS ");
    assert_eq!(ae(&["-H", "Accept-Encoding: gzip"]), "200 TCP_HIT gzip");
    assert_eq!(ae(&[]), "200 TCP_HIT ");
    assert_eq!(east.hits(), 13, "one backend request per miss");
    // Only GET is cached: HEAD and POST reach the backend every time.
    let other = |m: &str| curl_with(fd, "/use/a?x=1&y=2", &["-X", m], "%{http_code}");
    assert_eq!(other("POST"), "200");
    assert_eq!(
        curl_with(fd, "/use/a?x=1&y=2", &["-I"], "%{http_code}"),
        "200"
    );
    assert_eq!(east.hits(), 15);
    // Front Door's headers, not CloudFront's.
    let h = curl_w(
        fd,
        "/use/a?x=1&y=2",
        "%header{x-azure-ref}|%header{x-amz-cf-id}|%header{via}",
    );
    let (azure_ref, rest) = h.split_once('|').unwrap();
    assert!(azure_ref.len() > 10, "{h}");
    assert_eq!(rest, "|");
    let stats = door.cache_stats();
    let use_rule = stats.iter().find(|(n, _)| n == "use").unwrap();
    // Misses: two URLs, two encodings of a third, the private answer twice.
    assert_eq!((use_rule.1.hits, use_rule.1.misses), (4, 6), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caching_rule_compresses_listed_types_and_collapses_concurrent_misses() {
    let east = Region::with_delay("eastus", Duration::from_millis(300)).await;
    let cfg = door(
        vec![pool("p", vec![east.backend(1, 50)], no_probe_soon())],
        vec![cached("zip", "/*", QueryKeys::Whitelist(Vec::new()), true)],
        false,
    );
    let (_door, fd, _proxy) = start(cfg).await;
    let f = "%{http_code} %header{content-encoding} %header{x-cache} %{size_download}";
    // Brotli before gzip; the plain copy is a variant of its own.
    assert_eq!(
        curl_with(fd, "/big", &["-H", "Accept-Encoding: gzip, br"], f)
            .split(' ')
            .take(3)
            .collect::<Vec<_>>(),
        ["200", "br", "TCP_MISS"]
    );
    assert_eq!(
        curl_with(fd, "/big", &["-H", "Accept-Encoding: gzip"], f)
            .split(' ')
            .take(3)
            .collect::<Vec<_>>(),
        ["200", "gzip", "TCP_MISS"]
    );
    let plain = curl_with(fd, "/big", &[], f);
    assert!(plain.starts_with("200  TCP_MISS 7168"), "{plain}");
    let compressed = curl_with(fd, "/big", &["--compressed"], f);
    assert!(compressed.starts_with("200 br TCP_HIT"), "{compressed}");
    // A body under 1 KB is not compressed.
    assert!(
        curl_with(fd, "/small", &["-H", "Accept-Encoding: gzip"], f).starts_with("200  TCP_MISS"),
    );
    let before = east.hits();
    // Five clients at once for one key: one backend request.
    let clients: Vec<_> = (0..5)
        .map(|_| tokio::task::spawn_blocking(move || curl_w(fd, "/together", "%{http_code}")))
        .collect();
    for c in clients {
        assert_eq!(c.await.unwrap(), "200");
    }
    assert_eq!(east.hits() - before, 1, "concurrent misses collapse");
}

/// The failover test's load with caching on: every request a new URL (so a miss the pool
/// must answer) while one region dies, and a URL cached before the death still a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_killed_under_load_with_caching_on_costs_no_client_a_request() {
    let east = Region::with_delay("eastus", Duration::from_millis(2)).await;
    let west = Region::with_delay("westus", Duration::from_millis(2)).await;
    let cfg = door(
        vec![pool(
            "main-backend-pool",
            vec![east.backend(1, 50), west.backend(1, 50)],
            Some(probe(Duration::from_secs(120))),
        )],
        vec![cached("cached", "/*", QueryKeys::All, false)],
        false,
    );
    let (door, fd, _proxy) = start(cfg).await;
    // Fill a few URLs before the death; some from each region.
    for i in 0..10 {
        assert!(curl_w(fd, &format!("/kept?{i}"), "%{http_code}") == "200");
    }

    const PER_CLIENT: usize = 300;
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (failures, done) = (failures.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut client = harness::Client::to(fd);
            for i in 0..PER_CLIENT {
                let req = Request::get(format!("/load?c={c}&i={i}"))
                    .header("host", HOST)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let reply = client.send(req).await;
                if reply.status != StatusCode::OK || reply.header("x-cache") != Some("TCP_MISS") {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    until("a quarter of the load ran", || {
        done.load(Ordering::SeqCst) >= PER_CLIENT
    })
    .await;
    let before = (east.hits(), west.hits());
    assert!(
        before.0 > 0 && before.1 > 0,
        "both regions served: {before:?}"
    );
    east.kill();
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("the load loop ends")
            .unwrap();
    }
    let status = door.status();
    let dead = status
        .iter()
        .find(|s| s.backend.contains("eastus"))
        .unwrap();
    println!(
        "front door failover with caching on: {} client requests (each a cache miss), {} failed; {} request(s) the killed region failed in flight, each retried on the other region",
        4 * PER_CLIENT,
        failures.load(Ordering::SeqCst),
        dead.failed,
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0, "{status:?}");
    assert!(
        status
            .iter()
            .any(|s| s.backend.contains("eastus") && s.suspect),
        "the dead region left selection: {status:?}"
    );
    assert!(west.hits() > before.1, "the other region took the load");
    // What was stored before the death is still served, whoever filled it.
    for i in 0..10 {
        assert_eq!(
            curl_w(fd, &format!("/kept?{i}"), "%{http_code} %header{x-cache}"),
            "200 TCP_HIT"
        );
    }
}

/// Front Door configured to reach `region` over HTTPS only, verifying against `pki`'s root
/// (names too when `check_names`), probing over HTTPS.
fn https_door(
    region: &Region,
    pki: &harness::Pki,
    check_names: bool,
    protocol: Forwarding,
) -> FrontDoorConfig {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let backend = BackendConfig {
        https_addr: Some(region.addr),
        certificate_name_check: check_names,
        ..region.backend(1, 50)
    };
    let mut p = pool("p", vec![backend], Some(probe(Duration::from_millis(200))));
    if let Some(pr) = &mut p.probe {
        pr.https = true;
    }
    let rule = Rule {
        action: Action::Forward {
            pool: 0,
            path: None,
            protocol,
            cache: None,
        },
        ..forward_all(0)
    };
    FrontDoorConfig {
        backend_tls: Some(BackendTls::new(roots).unwrap()),
        ..door(vec![p], vec![rule], false)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_are_reached_over_https_with_their_certificate_verified() {
    let pki = harness::Pki::new();
    let good = Region::tls("eastus", &pki, &["app-eastus.azurewebsites.net"]).await;
    let (door, fd, _proxy) = start(https_door(&good, &pki, true, Forwarding::HttpsOnly)).await;
    assert_eq!(
        curl_many(fd, "/", 3, &[]).await,
        vec![(200, "app-eastus.azurewebsites.net".into()); 3]
    );
    // Probes go over HTTPS too, and succeed.
    until("probed over HTTPS", || door.status()[0].probes >= 2).await;
    assert!(
        good.probes.lock().unwrap().len() >= 2,
        "the probes reached it"
    );
    let s = &door.status()[0];
    assert!(
        s.probes >= 2 && s.probe_failures == 0 && s.probed_healthy,
        "{s:?}"
    );

    // A certificate for another name: refused with the name check on, as Front Door does
    // (503 when no backend is left), accepted with it off.
    let wrong = Region::tls("westus", &pki, &["other.example.com"]).await;
    let (door, fd, _p2) = start(https_door(&wrong, &pki, true, Forwarding::HttpsOnly)).await;
    assert_eq!(curl_w(fd, "/", "%{http_code}"), "503");
    assert_eq!(wrong.hits(), 0);
    until("its probes fail", || door.status()[0].probe_failures >= 1).await;
    let (_door, fd, _p3) = start(https_door(&wrong, &pki, false, Forwarding::HttpsOnly)).await;
    assert_eq!(curl_w(fd, "/", "%{http_code}"), "200");

    // A certificate from a root the front door does not trust: refused even without the
    // name check.
    let stranger = harness::Pki::new();
    let untrusted = Region::tls(
        "northeurope",
        &stranger,
        &["app-northeurope.azurewebsites.net"],
    )
    .await;
    let (_door, fd, _p4) = start(https_door(&untrusted, &pki, false, Forwarding::HttpsOnly)).await;
    assert_eq!(curl_w(fd, "/", "%{http_code}"), "503");
    assert_eq!(untrusted.hits(), 0);

    // MatchRequest: an HTTP client's request goes to the backend's HTTP address.
    let plain = Region::start("eastus2").await;
    let mut cfg = https_door(&good, &pki, true, Forwarding::MatchRequest);
    cfg.pools[0].backends[0].addr = plain.addr;
    if let Some(pr) = &mut cfg.pools[0].probe {
        pr.https = false;
    }
    let (_door, fd, _p5) = start(cfg).await;
    let before = good.hits();
    assert_eq!(curl_w(fd, "/", "%{http_code}"), "200");
    assert_eq!((plain.hits(), good.hits() - before), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caching_rule_sets_the_affinity_cookie_only_on_answers_it_does_not_share() {
    let (a, b) = (Region::start("eastus").await, Region::start("westus").await);
    let cfg = door(
        vec![pool(
            "p",
            vec![a.backend(1, 50), b.backend(1, 50)],
            no_probe_soon(),
        )],
        vec![cached("cached", "/*", QueryKeys::All, false)],
        true,
    );
    let (_door, fd, _proxy) = start(cfg).await;
    let f = "%{http_code} %header{x-cache} %header{set-cookie}";
    // Stored and shared: no cookie, on the miss or the hit.
    assert_eq!(curl_w(fd, "/shared", f), "200 TCP_MISS ");
    assert_eq!(curl_w(fd, "/shared", f), "200 TCP_HIT ");
    // Not stored (Cache-Control: private): Front Door's cookie, and the client sticks.
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap().to_owned();
    let first = curl_many(fd, "/private", 1, &["-c", &jar]).await;
    assert!(
        std::fs::read_to_string(&jar)
            .unwrap()
            .contains("\tASLBSA\t")
    );
    let got = counts(&curl_many(fd, "/private", 10, &["-b", &jar]).await);
    assert_eq!(
        got.get(&format!("200 {}", first[0].1)),
        Some(&10),
        "{got:?}"
    );
}
