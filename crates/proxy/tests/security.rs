//! Zero trust between sidecars, with real listeners, real certificates and real clients:
//! auto mTLS sidecar to sidecar, PeerAuthentication at the connection (openssl s_client and
//! curl against a STRICT port), refused certificates by reason, AuthorizationPolicy as a
//! matrix of callers, methods and paths, and certificates renewing under load.

mod harness;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use harness::{BOUND, Behaviour, Client, Origin, origin, snapshot};
use meridian_control::endpoints::{
    EndpointPublisher, EndpointState, EndpointTable, PortMapping, ReplicaEndpoint, WorkloadKind,
    WorkloadRef,
};
use meridian_identity::{
    ALPN_HTTP11, CertificateAuthority, ExpectedPeer, Rejection, TrustDomain, WorkloadIdentity,
};
use meridian_proxy::{Caller, InboundListener, MeshIdentity, Proxy, ProxyOptions};
use tokio::net::TcpStream;

const SERVICE: &str = r"
apiVersion: v1
kind: Service
metadata: {name: myapp, namespace: default}
spec:
  selector: {app: myapp}
  ports: [{name: http, port: 80, targetPort: 3000}]
";

/// A proxy with a CA, one `myapp` replica (service account `myapp`) behind its inbound
/// sidecar, and callers.
struct Secured {
    _dir: tempfile::TempDir,
    ca: Arc<CertificateAuthority>,
    proxy: Proxy,
    _publisher: EndpointPublisher,
    inbound: InboundListener,
    origin: Origin,
}

impl Secured {
    async fn start(policies: &str, ttl: Duration) -> Secured {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Arc::new(
            CertificateAuthority::load_or_create(
                dir.path(),
                TrustDomain::new("cluster.local").expect("td"),
            )
            .expect("ca"),
        );
        let (publisher, watch) = meridian_control::endpoints::channel();
        let proxy = Proxy::new(
            snapshot(&format!("{SERVICE}---\n{policies}"), 1),
            watch,
            ProxyOptions {
                mesh_identity: Some(MeshIdentity {
                    ca: ca.clone(),
                    workload_cert_ttl: ttl,
                }),
                ..ProxyOptions::default()
            },
        );
        let origin = origin("myapp", Behaviour::default()).await;
        let replica = ReplicaEndpoint {
            workload: WorkloadRef {
                kind: WorkloadKind::Deployment,
                namespace: "default".to_owned(),
                name: "myapp".to_owned(),
            },
            replica: "myapp-0".to_owned(),
            labels: BTreeMap::from([("app".to_owned(), "myapp".to_owned())]),
            service_account: "myapp".to_owned(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: vec![PortMapping {
                name: Some("http".to_owned()),
                declared: 3000,
                actual: origin.addr.port(),
            }],
            state: EndpointState::Ready,
        };
        let _ = publisher.send(Arc::new(EndpointTable {
            version: 1,
            replicas: vec![replica.clone()],
        }));
        let deadline = tokio::time::Instant::now() + BOUND;
        while proxy.endpoints_version() < 1 {
            assert!(tokio::time::Instant::now() < deadline, "table not applied");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let inbound = proxy.start_inbound(&replica).await.expect("inbound")[0];
        Secured {
            _dir: dir,
            ca,
            proxy,
            _publisher: publisher,
            inbound,
            origin,
        }
    }

    /// The outbound listener of a workload running as `service_account`.
    async fn caller(&self, name: &str, service_account: &str) -> SocketAddr {
        self.proxy
            .start_outbound(Caller {
                workload: Arc::from(format!("default/{name}")),
                namespace: "default".to_owned(),
                labels: BTreeMap::from([("app".to_owned(), name.to_owned())]),
                service_account: service_account.to_owned(),
            })
            .await
            .expect("outbound")
    }

    /// A certificate for `sa` as PEM files, for openssl and curl.
    fn cert_files(&self, sa: &str) -> (tempfile::TempDir, String, String, String) {
        let id = self
            .ca
            .trust_domain()
            .workload_id("default", sa)
            .expect("id");
        let cert = self.ca.issue(&id, Duration::from_secs(600)).expect("issue");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |f: &str| dir.path().join(f).display().to_string();
        std::fs::write(path("cert.pem"), cert.chain_pem()).expect("write");
        std::fs::write(path("key.pem"), cert.key_pem()).expect("write");
        std::fs::write(path("ca.pem"), self.ca.trust_bundle().to_pem()).expect("write");
        let (c, k, b) = (path("cert.pem"), path("key.pem"), path("ca.pem"));
        (dir, c, k, b)
    }
}

/// Whether an outside program can run; with `CI` set, a missing one fails the test.
fn have(program: &str) -> bool {
    let found = Command::new(program)
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is required in CI (apt-get install {program})"
        );
        eprintln!("skipping: {program} is not installed");
    }
    found
}

/// Runs `openssl s_client` with an HTTP request on stdin; returns stdout+stderr.
fn s_client(addr: SocketAddr, extra: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-tls1_3",
            "-showcerts",
            // Stay until the server closes (the request says Connection: close), rather
            // than quitting when stdin ends before the answer arrived.
            "-ign_eof",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin
            .write_all(b"GET /via-openssl HTTP/1.1\r\nHost: myapp\r\nConnection: close\r\n\r\n");
    }
    let out = child.wait_with_output().expect("openssl output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_port_refuses_plaintext_and_certless_tls_and_accepts_mesh_certificates() {
    let strict = r"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
";
    let mesh = Secured::start(strict, Duration::from_secs(3600)).await;
    let port = mesh.inbound.listen;

    // The sidecars speak mTLS on their own: the workload sees the caller's identity.
    let sidecar = mesh.caller("sleep", "sleep").await;
    let reply = Client::to(sidecar).get("http://myapp/hello", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "myapp");
    let xfcc = reply
        .header("echo-x-forwarded-client-cert")
        .unwrap_or_default();
    assert!(
        xfcc.contains("URI=spiffe://cluster.local/ns/default/sa/sleep")
            && xfcc.contains("By=spiffe://cluster.local/ns/default/sa/myapp"),
        "{xfcc}"
    );

    // A forged client-cert header never reaches the workload.
    let reply = Client::to(sidecar)
        .get(
            "http://myapp/",
            &[(
                "x-forwarded-client-cert",
                "URI=spiffe://cluster.local/ns/default/sa/admin",
            )],
        )
        .await;
    let xfcc = reply
        .header("echo-x-forwarded-client-cert")
        .unwrap_or_default();
    assert!(!xfcc.contains("sa/admin"), "{xfcc}");

    // Plaintext is refused at the connection.
    let hits = mesh.origin.hits();
    let plain = tokio::time::timeout(BOUND, async {
        let tcp = TcpStream::connect(port).await.expect("connect");
        let (mut s, conn) = hyper::client::conn::http1::handshake::<
            _,
            http_body_util::Empty<bytes::Bytes>,
        >(hyper_util::rt::TokioIo::new(tcp))
        .await
        .expect("handshake");
        tokio::spawn(conn);
        s.send_request(
            http::Request::get("/")
                .header("host", "myapp")
                .body(http_body_util::Empty::new())
                .expect("req"),
        )
        .await
    })
    .await
    .expect("bounded");
    assert!(plain.is_err(), "plaintext got an answer: {plain:?}");
    assert_eq!(mesh.origin.hits(), hits);

    // TLS from a client with the wrong identity expectation, an expired certificate, or a
    // certificate of another root: each refused with its reason.
    let id = |sa: &str| {
        mesh.ca
            .trust_domain()
            .workload_id("default", sa)
            .expect("id")
    };
    let bundle = mesh.ca.trust_bundle();
    let connect = |identity: WorkloadIdentity, expected: ExpectedPeer| async move {
        let config = identity
            .client_config(expected, &[ALPN_HTTP11])
            .expect("client config");
        let tcp = TcpStream::connect(port).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from("myapp").expect("name");
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        // TLS 1.3: the server judges the client's certificate after the client's Finished;
        // its verdict arrives with the first read.
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        tls.write_all(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n")
            .await?;
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf).await?;
        Ok::<_, std::io::Error>(n)
    };
    let good = WorkloadIdentity::fixed(
        bundle.clone(),
        mesh.ca
            .issue(&id("sleep"), Duration::from_secs(60))
            .expect("issue"),
    )
    .expect("identity");
    let err = connect(good.clone(), ExpectedPeer::Exactly(id("reviews")))
        .await
        .expect_err("wrong server identity accepted");
    assert_eq!(
        Rejection::from_io_error(&err).map(|r| r.as_str()),
        Some("wrong_identity")
    );
    assert!(
        connect(good, ExpectedPeer::Exactly(id("myapp")))
            .await
            .is_ok()
    );

    let now = SystemTime::now();
    let expired = WorkloadIdentity::fixed(
        bundle.clone(),
        mesh.ca
            .issue_with_validity(
                &id("sleep"),
                now - Duration::from_secs(7200),
                now - Duration::from_secs(3600),
            )
            .expect("issue"),
    )
    .expect("identity");
    let err = connect(expired, ExpectedPeer::Exactly(id("myapp")))
        .await
        .expect_err("expired certificate accepted");
    assert_eq!(
        Rejection::from_io_error(&err).map(|r| r.as_str()),
        Some("expired")
    );

    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_ca = CertificateAuthority::load_or_create(
        other_dir.path(),
        TrustDomain::new("cluster.local").expect("td"),
    )
    .expect("ca");
    let foreign = WorkloadIdentity::fixed(
        bundle.clone(),
        other_ca
            .issue(&id("sleep"), Duration::from_secs(60))
            .expect("issue"),
    )
    .expect("identity");
    let err = connect(foreign, ExpectedPeer::Exactly(id("myapp")))
        .await
        .expect_err("certificate of another root accepted");
    assert_eq!(
        Rejection::from_io_error(&err).map(|r| r.as_str()),
        Some("unknown_root")
    );

    let not_yet = WorkloadIdentity::fixed(
        bundle,
        mesh.ca
            .issue_with_validity(
                &id("sleep"),
                now + Duration::from_secs(3600),
                now + Duration::from_secs(7200),
            )
            .expect("issue"),
    )
    .expect("identity");
    assert!(
        connect(not_yet, ExpectedPeer::Exactly(id("myapp")))
            .await
            .is_err()
    );

    // Real clients: curl in plaintext fails; openssl without a client certificate fails;
    // with a mesh certificate it gets through and shows the SPIFFE ID.
    if have("curl") {
        let out = Command::new("curl")
            .args(["-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://{port}/"))
            .output()
            .expect("curl");
        assert!(!out.status.success(), "plain curl succeeded");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "000");
    }
    if have("openssl") {
        let (_files, cert, key, ca) = mesh.cert_files("sleep");
        let without = tokio::task::spawn_blocking(move || s_client(port, &[]))
            .await
            .expect("join");
        assert!(!without.contains("HTTP/1.1 200"), "{without}");
        assert!(
            without.contains("alert") || without.contains("error"),
            "{without}"
        );
        let with = tokio::task::spawn_blocking(move || {
            s_client(port, &["-cert", &cert, "-key", &key, "-CAfile", &ca])
        })
        .await
        .expect("join");
        assert!(with.contains("HTTP/1.1 200"), "{with}");
        assert!(with.contains("Verify return code: 0 (ok)"), "{with}");
        // The server's certificate, as openssl reads it.
        let pem_start = with
            .find("-----BEGIN CERTIFICATE-----")
            .expect("server certificate");
        let pem_end = with.find("-----END CERTIFICATE-----").expect("end") + 25;
        let mut x509 = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl x509");
        {
            use std::io::Write as _;
            x509.stdin
                .take()
                .expect("stdin")
                .write_all(&with.as_bytes()[pem_start..pem_end])
                .expect("write");
        }
        let san =
            String::from_utf8_lossy(&x509.wait_with_output().expect("x509").stdout).into_owned();
        assert!(
            san.contains("URI:spiffe://cluster.local/ns/default/sa/myapp"),
            "{san}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_accepts_both_and_disable_gets_plaintext_from_sidecars() {
    let mesh = Secured::start("", Duration::from_secs(3600)).await;
    let port = mesh.inbound.listen;
    // No policy: PERMISSIVE. Plaintext reaches the workload, without an identity.
    let reply = Client::to(port)
        .get("http://myapp/", &[("host", "myapp")])
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("echo-x-forwarded-client-cert").is_none());
    // The sidecar still chooses mTLS.
    let sidecar = mesh.caller("sleep", "sleep").await;
    let reply = Client::to(sidecar).get("http://myapp/", &[]).await;
    assert!(
        reply
            .header("echo-x-forwarded-client-cert")
            .is_some_and(|x| x.contains("sa/sleep"))
    );

    // DISABLE on the workload's port: auto mTLS falls back to plaintext, and TLS is refused.
    let disable = r"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: plain, namespace: default}
spec:
  selector: {matchLabels: {app: myapp}}
  mtls: {mode: STRICT}
  portLevelMtls:
    3000: {mode: DISABLE}
";
    mesh.proxy
        .swap(snapshot(&format!("{SERVICE}---\n{disable}"), 2))
        .await;
    let reply = Client::to(sidecar).get("http://myapp/second", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("echo-x-forwarded-client-cert").is_none());
    let reply = Client::to(port)
        .get("http://myapp/", &[("host", "myapp")])
        .await;
    assert_eq!(reply.status, 200);
}

/// Policies of the matrix: `sleep` may GET and POST under /api, nobody may touch
/// /api/admin except with DELETE denied to all, and HEAD is audited.
const MATRIX_POLICIES: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-sleep-api, namespace: default}
spec:
  selector: {matchLabels: {app: myapp}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]
    to: [{operation: {methods: [GET, POST], paths: ["/api/*"]}}]
  - from: [{source: {namespaces: [default]}}]
    to: [{operation: {methods: [GET], paths: [/health]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: ["/api/admin*"]}}]
  - when: [{key: "request.headers[x-block]", values: ["yes"]}]
"#;

/// Caller, its name, method, path, headers, expected status.
type Case<'a> = (
    SocketAddr,
    &'a str,
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    u16,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_policy_matrix() {
    let mesh = Secured::start(MATRIX_POLICIES, Duration::from_secs(3600)).await;
    let sleep = mesh.caller("sleep", "sleep").await;
    let other = mesh.caller("other", "other").await;
    let cases: &[Case] = &[
        (sleep, "sleep", "GET", "/api/users", &[], 200),
        (sleep, "sleep", "POST", "/api/users", &[], 200),
        (sleep, "sleep", "DELETE", "/api/users", &[], 403),
        (sleep, "sleep", "GET", "/other", &[], 403),
        (sleep, "sleep", "GET", "/api/admin/keys", &[], 403),
        (
            sleep,
            "sleep",
            "GET",
            "/api/users",
            &[("x-block", "yes")],
            403,
        ),
        (sleep, "sleep", "GET", "/health", &[], 200),
        (other, "other", "GET", "/api/users", &[], 403),
        (other, "other", "GET", "/health", &[], 200),
        (other, "other", "POST", "/health", &[], 403),
    ];
    for (addr, who, method, path, headers, expected) in cases {
        let mut b = http::Request::builder()
            .method(*method)
            .uri(format!("http://myapp{path}"));
        for (k, v) in *headers {
            b = b.header(*k, *v);
        }
        let reply = Client::to(*addr)
            .send(
                b.body(http_body_util::Full::new(bytes::Bytes::new()))
                    .expect("req"),
            )
            .await;
        assert_eq!(
            reply.status.as_u16(),
            *expected,
            "{who} {method} {path} {headers:?}: {}",
            reply.body
        );
        if *expected == 403 {
            assert_eq!(reply.body, "RBAC: access denied");
        }
    }
    // Plaintext callers have no principal: only the namespace-free paths of DENY apply, and
    // the ALLOW rules (principal, namespace) never match.
    let reply = Client::to(mesh.inbound.listen)
        .get("http://myapp/health", &[("host", "myapp")])
        .await;
    assert_eq!(reply.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_renew_under_load_without_a_failed_request() {
    // A 3 s lifetime renews every 1.5 s; one request per upstream connection makes every
    // request a handshake, many of them across renewals.
    let one_per_connection = r"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp, namespace: default}
spec:
  host: myapp
  trafficPolicy:
    connectionPool:
      http: {maxRequestsPerConnection: 1}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
";
    let mesh = Secured::start(one_per_connection, Duration::from_secs(3)).await;
    let sidecar = mesh.caller("sleep", "sleep").await;
    let server = mesh
        .proxy
        .workload_identity("default", "myapp")
        .expect("identity");
    let client = mesh
        .proxy
        .workload_identity("default", "sleep")
        .expect("identity");
    let (mut server_renewals, mut client_renewals) = (server.subscribe(), client.subscribe());
    let first_serial = server.certificate().info().expect("info").serial;

    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(7);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (ok, failed) = (ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut c = Client::to(sidecar);
            while tokio::time::Instant::now() < deadline {
                let r = c.get("http://myapp/load", &[]).await;
                if r.status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed: {} {}", r.status, r.body);
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let renewed = |rx: &mut tokio::sync::watch::Receiver<u64>| *rx.borrow_and_update();
    assert!(
        renewed(&mut server_renewals) >= 2,
        "server certificate renewed too rarely"
    );
    assert!(
        renewed(&mut client_renewals) >= 2,
        "client certificate renewed too rarely"
    );
    assert_ne!(
        server.certificate().info().expect("info").serial,
        first_serial
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "only {} requests",
        ok.load(Ordering::Relaxed)
    );
}
