//! The ingress gateway as an edge facing clients it cannot trust, with real listeners and
//! real clients (curl for TLS, raw sockets for the shapes no polite client sends):
//! who the client is (spoofed `X-Forwarded-For`, trusted hops 0/1/2, the PROXY protocol),
//! `connection.sni` and `destination.ip` in AuthorizationPolicy, every MUTUAL TLS setting
//! (SANs, certificate and SPKI pins, CRLs reloaded from disk, versions, cipher suites), and
//! the bounds on connections (slow heads, idle keep-alive, handshakes, connection limits,
//! thousands of idle connections beside a working client).

mod harness;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{BOUND, Behaviour, Client, Mesh, Origin, Pki, origin};
use meridian_proxy::{ConnectionLimits, GatewayTopology, ProxyOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SERVICE: &str = r"
apiVersion: v1
kind: Service
metadata: {name: myapp}
spec:
  selector: {app: myapp}
  ports: [{port: 80, name: http, targetPort: 3000}]
";

fn plain_gateway(policies: &str) -> String {
    format!(
        r#"{SERVICE}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["myapp.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge}}
spec:
  hosts: ["myapp.example.com"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: myapp}}}}]
---
{policies}
"#
    )
}

/// A gateway over one `myapp` replica; returns the mesh, the origin and the gateway's
/// address for `declared`.
async fn gateway(yaml: &str, options: ProxyOptions, declared: u16) -> (Mesh, Origin, SocketAddr) {
    let mut mesh = Mesh::with_options(yaml, options).await;
    let app = origin("myapp", Behaviour::default()).await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &app);
    mesh.settle().await;
    let ports = mesh.gateway().await;
    let addr = ports[&declared];
    (mesh, app, addr)
}

const ALLOW_TEN_SLASH_EIGHT: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-internal, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - from: [{source: {remoteIpBlocks: ["10.0.0.0/8"]}}]
"#;

fn with_hops(n: u32) -> ProxyOptions {
    ProxyOptions {
        gateway_topology: GatewayTopology {
            num_trusted_proxies: n,
            proxy_protocol: false,
        },
        ..ProxyOptions::default()
    }
}

async fn status_with_xff(addr: SocketAddr, xff: Option<&str>) -> u16 {
    let mut c = Client::to(addr);
    let mut headers = vec![("host", "myapp.example.com")];
    if let Some(x) = xff {
        headers.push(("x-forwarded-for", x));
    }
    c.get("/", &headers).await.status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_pick_its_own_remote_ip() {
    let yaml = plain_gateway(ALLOW_TEN_SLASH_EIGHT);
    let (_m, app, addr) = gateway(&yaml, ProxyOptions::default(), 80).await;
    // No proxy in front: the peer (127.0.0.1) is the client, whatever the header says.
    assert_eq!(status_with_xff(addr, None).await, 403);
    assert_eq!(status_with_xff(addr, Some("10.1.2.3")).await, 403);
    assert_eq!(status_with_xff(addr, Some("10.1.2.3, 10.9.9.9")).await, 403);
    assert_eq!(app.hits(), 0, "denied requests never reach the workload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_hops_read_x_forwarded_for_from_the_right() {
    let yaml = plain_gateway(ALLOW_TEN_SLASH_EIGHT);
    // One trusted proxy in front: it appended the client, the rightmost entry.
    let (_m1, app, addr) = gateway(&yaml, with_hops(1), 80).await;
    assert_eq!(status_with_xff(addr, Some("10.1.2.3")).await, 200);
    assert_eq!(
        status_with_xff(addr, Some("10.1.2.3, 192.0.2.7")).await,
        403,
        "the entry the trusted proxy wrote is 192.0.2.7; 10.1.2.3 came from the client"
    );
    assert_eq!(
        status_with_xff(addr, None).await,
        403,
        "no header: the peer"
    );
    // What the workload is told: the chain with the peer appended, and the client.
    let seen = app.seen.lock().expect("seen")[0].clone();
    assert_eq!(
        seen.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
        Some("10.1.2.3, 127.0.0.1")
    );
    assert_eq!(
        seen.get("x-envoy-external-address")
            .and_then(|v| v.to_str().ok()),
        Some("10.1.2.3")
    );

    // Two trusted proxies: the second entry from the right.
    let (_m2, _, addr) = gateway(&yaml, with_hops(2), 80).await;
    assert_eq!(
        status_with_xff(addr, Some("10.1.2.3, 192.0.2.7")).await,
        200
    );
    assert_eq!(
        status_with_xff(addr, Some("192.0.2.1, 10.1.2.3")).await,
        403
    );
    assert_eq!(
        status_with_xff(addr, Some("10.1.2.3")).await,
        403,
        "fewer entries than trusted hops: the peer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ip_is_always_the_peer() {
    let deny_loopback = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-loopback, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - from: [{source: {ipBlocks: ["127.0.0.0/8"]}}]
"#;
    let yaml = plain_gateway(deny_loopback);
    let (_m, _, addr) = gateway(&yaml, with_hops(1), 80).await;
    assert_eq!(status_with_xff(addr, Some("10.1.2.3")).await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_names_the_client_and_is_required() {
    let yaml = plain_gateway(ALLOW_TEN_SLASH_EIGHT);
    let options = ProxyOptions {
        gateway_topology: GatewayTopology {
            num_trusted_proxies: 0,
            proxy_protocol: true,
        },
        ..ProxyOptions::default()
    };
    let (_m, _, addr) = gateway(&yaml, options, 80).await;
    let request = "GET / HTTP/1.1\r\nHost: myapp.example.com\r\nConnection: close\r\n\r\n";
    let allowed = raw_exchange(
        addr,
        &format!("PROXY TCP4 10.9.9.9 10.0.0.1 40000 80\r\n{request}"),
    )
    .await;
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");
    let outside = raw_exchange(
        addr,
        &format!("PROXY TCP4 192.0.2.9 10.0.0.1 40000 80\r\n{request}"),
    )
    .await;
    assert!(outside.starts_with("HTTP/1.1 403"), "{outside}");
    let without = raw_exchange(addr, request).await;
    assert_eq!(
        without, "",
        "a connection without the header is closed unanswered"
    );
}

/// Writes `bytes`, reads until the peer closes (bounded).
async fn raw_exchange(addr: SocketAddr, bytes: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(bytes.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(BOUND, tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the gateway neither answered nor closed");
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether curl runs; with `CI` set, a missing one fails the test.
fn have_curl() -> bool {
    let found = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "curl is required in CI"
    );
    found
}

/// `curl` over TLS to `host` at `addr`: the HTTP status, or `Err(exit code)` when the
/// handshake or exchange failed.
async fn curl_tls(addr: SocketAddr, host: &str, ca: &str, extra: &[&str]) -> Result<u16, i32> {
    let url = format!("https://{host}:{}/", addr.port());
    let resolve = format!("{host}:{}:{}", addr.port(), addr.ip());
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "20",
    ])
    .args(["--cacert", ca, "--resolve", &resolve])
    .args(extra)
    .arg(&url)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let out = cmd.output().await.expect("curl runs");
    if !out.status.success() {
        return Err(out.status.code().unwrap_or(-1));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| -1)
}

fn tls_gateway(server_tls: &str, policies: &str) -> String {
    format!(
        r#"{SERVICE}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: ["api.example.com", "blocked.example.com"]
    tls: {server_tls}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge}}
spec:
  hosts: ["api.example.com", "blocked.example.com"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: myapp}}}}]
---
{policies}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_and_destination_ip_reach_authorization() {
    if !have_curl() {
        return;
    }
    let pki = Pki::new();
    let (crt, key, _, _) = pki.leaf("server", &["api.example.com", "blocked.example.com"]);
    let ca = pki.ca_file();
    let policies = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: sni, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - when: [{key: connection.sni, values: ["blocked.example.com"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: local-only, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - when: [{key: destination.ip, values: ["127.0.0.1"]}]
"#;
    let yaml = tls_gateway(
        &format!(r#"{{mode: SIMPLE, serverCertificate: "{crt}", privateKey: "{key}"}}"#),
        policies,
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    assert_eq!(curl_tls(addr, "api.example.com", &ca, &[]).await, Ok(200));
    assert_eq!(
        curl_tls(addr, "blocked.example.com", &ca, &[]).await,
        Ok(403)
    );
}

/// A Secret with the PEM files' contents under `data` (base64), as `kubectl create secret`
/// writes it.
fn tls_secret(name: &str, namespace: &str, keys: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    let data: Vec<String> = keys
        .iter()
        .map(|(k, file)| {
            let pem = std::fs::read(file).expect("pem");
            format!(
                "  {k}: {}",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\ntype: kubernetes.io/tls\ndata:\n{}\n",
        data.join("\n")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_name_serves_the_certificates_of_a_secret() {
    if !have_curl() {
        return;
    }
    let pki = Pki::new();
    let (crt, key, _, _) = pki.leaf("server", &["api.example.com", "blocked.example.com"]);
    let ca = pki.ca_file();
    // SIMPLE: the Secret in istio-system, where Istio's docs put it.
    let secret = tls_secret(
        "api-cert",
        "istio-system",
        &[("tls.crt", crt.as_str()), ("tls.key", key.as_str())],
    );
    let yaml = tls_gateway("{mode: SIMPLE, credentialName: api-cert}", &secret);
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    assert_eq!(curl_tls(addr, "api.example.com", &ca, &[]).await, Ok(200));

    // MUTUAL: client certificates checked against `ca.crt` of the `<name>-cacert` Secret.
    let (client_crt, client_key, _, _) = pki.leaf("client", &["spiffe://example.com/client"]);
    let secrets = format!(
        "{}---\n{}",
        tls_secret(
            "api-cert",
            "default",
            &[("tls.crt", crt.as_str()), ("tls.key", key.as_str())]
        ),
        tls_secret("api-cert-cacert", "default", &[("ca.crt", ca.as_str())])
    );
    let yaml = tls_gateway("{mode: MUTUAL, credentialName: api-cert}", &secrets);
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    let client = ["--cert", &client_crt, "--key", &client_key];
    assert_eq!(
        curl_tls(addr, "api.example.com", &ca, &client).await,
        Ok(200)
    );
    assert!(
        curl_tls(addr, "api.example.com", &ca, &[]).await.is_err(),
        "no client certificate is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_enforces_names_pins_and_revocation() {
    if !have_curl() {
        return;
    }
    let pki = Pki::new();
    let (crt, key, _, _) = pki.leaf("server", &["api.example.com", "blocked.example.com"]);
    let ca = pki.ca_file();
    let (allowed_crt, allowed_key, _, _, allowed_serial) =
        pki.leaf_with_serial("allowed", &["spiffe://example.com/allowed"]);
    let (other_crt, other_key, other_pem, _, _) =
        pki.leaf_with_serial("other", &["spiffe://example.com/other"]);
    let crl = pki.write_crl("crl.pem", 1, &[]);
    let other_info = meridian_identity::CertInfo::from_pem(&other_pem).expect("info");
    let other_hash = other_info[0].fingerprint_sha256.clone();

    // Names: only the allowed SAN gets in.
    let yaml = tls_gateway(
        &format!(
            r#"{{mode: MUTUAL, serverCertificate: "{crt}", privateKey: "{key}", caCertificates: "{ca}", caCrl: "{crl}", subjectAltNames: ["spiffe://example.com/allowed"]}}"#
        ),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    let allowed = ["--cert", &allowed_crt, "--key", &allowed_key];
    let other = ["--cert", &other_crt, "--key", &other_key];
    assert_eq!(
        curl_tls(addr, "api.example.com", &ca, &allowed).await,
        Ok(200)
    );
    assert!(
        curl_tls(addr, "api.example.com", &ca, &other)
            .await
            .is_err(),
        "a certificate the CA signed but with another name is refused"
    );
    assert!(
        curl_tls(addr, "api.example.com", &ca, &[]).await.is_err(),
        "no certificate is refused"
    );

    // Revocation: the CRL file is reread when it changes, without a restart.
    pki.write_crl("crl.pem", 2, &[allowed_serial]);
    assert!(
        curl_tls(addr, "api.example.com", &ca, &allowed)
            .await
            .is_err(),
        "a revoked certificate is refused"
    );
    pki.write_crl("crl.pem", 3, &[]);
    assert_eq!(
        curl_tls(addr, "api.example.com", &ca, &allowed).await,
        Ok(200)
    );

    // Pins: only the pinned certificate.
    let yaml = tls_gateway(
        &format!(
            r#"{{mode: MUTUAL, serverCertificate: "{crt}", privateKey: "{key}", caCertificates: "{ca}", verifyCertificateHash: ["{other_hash}"]}}"#
        ),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    assert_eq!(
        curl_tls(addr, "api.example.com", &ca, &other).await,
        Ok(200)
    );
    assert!(
        curl_tls(addr, "api.example.com", &ca, &allowed)
            .await
            .is_err()
    );
    let spki = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(other_info[0].spki_sha256)
    };
    let yaml = tls_gateway(
        &format!(
            r#"{{mode: MUTUAL, serverCertificate: "{crt}", privateKey: "{key}", caCertificates: "{ca}", verifyCertificateSpki: ["{spki}"]}}"#
        ),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    assert_eq!(
        curl_tls(addr, "api.example.com", &ca, &other).await,
        Ok(200)
    );
    assert!(
        curl_tls(addr, "api.example.com", &ca, &allowed)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_versions_and_cipher_suites_are_enforced() {
    if !have_curl() {
        return;
    }
    let pki = Pki::new();
    let (crt, key, _, _) = pki.leaf("server", &["api.example.com"]);
    let ca = pki.ca_file();
    let files = format!(r#"serverCertificate: "{crt}", privateKey: "{key}""#);

    let yaml = tls_gateway(
        &format!("{{mode: SIMPLE, {files}, minProtocolVersion: TLSV1_3}}"),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    assert_eq!(
        curl_tls(addr, "api.example.com", &ca, &["--tlsv1.3"]).await,
        Ok(200)
    );
    assert!(
        curl_tls(addr, "api.example.com", &ca, &["--tls-max", "1.2"])
            .await
            .is_err(),
        "TLS 1.2 refused below minProtocolVersion TLSV1_3"
    );

    // rcgen's keys are ECDSA P-256: the ECDSA suites apply.
    let yaml = tls_gateway(
        &format!(
            "{{mode: SIMPLE, {files}, maxProtocolVersion: TLSV1_2, cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384]}}"
        ),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    assert!(
        curl_tls(addr, "api.example.com", &ca, &["--tlsv1.3"])
            .await
            .is_err(),
        "TLS 1.3 refused above maxProtocolVersion TLSV1_2"
    );
    assert_eq!(
        curl_tls(
            addr,
            "api.example.com",
            &ca,
            &["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]
        )
        .await,
        Ok(200)
    );
    assert!(
        curl_tls(
            addr,
            "api.example.com",
            &ca,
            &["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"]
        )
        .await
        .is_err(),
        "a suite not listed is refused"
    );
}

/// As Istio, listed cipher suites the TLS cannot serve are left out (validation warns):
/// the server offers the listed ones it can serve, or its defaults when none is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_suites_meridian_cannot_serve_are_left_out() {
    if !have_curl() {
        return;
    }
    let pki = Pki::new();
    let (crt, key, _, _) = pki.leaf("server", &["api.example.com"]);
    let ca = pki.ca_file();
    let files = format!(r#"serverCertificate: "{crt}", privateKey: "{key}""#);
    let tls12 = |suite: &'static str| ["--tls-max", "1.2", "--ciphers", suite];

    let yaml = tls_gateway(
        &format!(
            "{{mode: SIMPLE, {files}, cipherSuites: [ECDHE-ECDSA-AES128-SHA, ECDHE-ECDSA-AES256-GCM-SHA384]}}"
        ),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    assert_eq!(
        curl_tls(
            addr,
            "api.example.com",
            &ca,
            &tls12("ECDHE-ECDSA-AES256-GCM-SHA384")
        )
        .await,
        Ok(200),
        "the servable suite listed is offered"
    );
    assert!(
        curl_tls(
            addr,
            "api.example.com",
            &ca,
            &tls12("ECDHE-ECDSA-AES128-GCM-SHA256")
        )
        .await
        .is_err(),
        "a servable suite not listed is refused"
    );

    let yaml = tls_gateway(
        &format!(
            "{{mode: SIMPLE, {files}, cipherSuites: [ECDHE-ECDSA-AES128-SHA, not-a-cipher-suite]}}"
        ),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, ProxyOptions::default(), 443).await;
    for suite in [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ] {
        assert_eq!(
            curl_tls(addr, "api.example.com", &ca, &tls12(suite)).await,
            Ok(200),
            "no listed suite servable: the default {suite} is offered"
        );
    }
    assert!(
        curl_tls(
            addr,
            "api.example.com",
            &ca,
            &tls12("ECDHE-ECDSA-AES128-SHA")
        )
        .await
        .is_err(),
        "the CBC suite listed is still not offered"
    );
}

fn tight(limits: ConnectionLimits) -> ProxyOptions {
    ProxyOptions {
        edge_limits: limits,
        ..ProxyOptions::default()
    }
}

/// Reads until the peer closes; true when it closed within the bound.
async fn closed_by_peer(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let until = tokio::time::Instant::now() + BOUND;
    loop {
        match tokio::time::timeout_at(until, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_is_cut_at_the_deadline_however_it_trickles() {
    let limits = ConnectionLimits {
        request_head_timeout: Duration::from_secs(1),
        ..ConnectionLimits::EDGE
    };
    let (_m, app, addr) = gateway(&plain_gateway(""), tight(limits), 80).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let head = b"GET / HTTP/1.1\r\nHost: myapp.example.com\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    // One byte every 100 ms: each read is quick, the head would take 9 s to arrive.
    let trickle = async {
        for b in head {
            if tcp.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let cut = tokio::time::timeout(BOUND, trickle).await.unwrap_or(false);
    assert!(
        cut || closed_by_peer(&mut tcp).await,
        "the connection outlived its head deadline"
    );
    assert_eq!(app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_and_silent_handshakes_are_closed() {
    let limits = ConnectionLimits {
        idle_timeout: Duration::from_secs(1),
        tls_handshake_timeout: Duration::from_secs(1),
        ..ConnectionLimits::EDGE
    };
    let (_m, _, addr) = gateway(&plain_gateway(""), tight(limits), 80).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: myapp.example.com\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(BOUND, tcp.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(
        closed_by_peer(&mut tcp).await,
        "an idle keep-alive connection stays open"
    );

    let pki = Pki::new();
    let (crt, key, _, _) = pki.leaf("server", &["api.example.com"]);
    let yaml = tls_gateway(
        &format!(r#"{{mode: SIMPLE, serverCertificate: "{crt}", privateKey: "{key}"}}"#),
        "",
    );
    let (_m, _, addr) = gateway(&yaml, tight(limits), 443).await;
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    assert!(
        closed_by_peer(&mut silent).await,
        "a TLS client that never says hello stays connected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_refuses_at_accept_and_recovers() {
    let limits = ConnectionLimits {
        max_connections: 4,
        ..ConnectionLimits::EDGE
    };
    let (_m, _, addr) = gateway(&plain_gateway(""), tight(limits), 80).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = Client::to(addr);
        assert_eq!(
            c.get("/", &[("host", "myapp.example.com")])
                .await
                .status
                .as_u16(),
            200
        );
        held.push(c);
    }
    let mut refused = TcpStream::connect(addr).await.expect("connect");
    refused
        .write_all(b"GET / HTTP/1.1\r\nHost: myapp.example.com\r\n\r\n")
        .await
        .ok();
    assert!(
        closed_by_peer(&mut refused).await,
        "a fifth connection is closed at accept"
    );
    held.pop();
    // The freed slot is taken again (bounded: the closed connection's task must end first).
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: myapp.example.com\r\nConnection: close\r\n\r\n")
            .await
            .ok();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(BOUND, tcp.read_to_end(&mut out)).await;
        if out.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_do_not_stop_new_clients() {
    // The idle clients live in another process: this one's descriptors hold the gateway's
    // side of each connection.
    let (_m, _, addr) = gateway(&plain_gateway(""), ProxyOptions::default(), 80).await;
    let script = format!(
        r#"
import socket, sys, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for i in range(10000):
    s = socket.create_connection(("{ip}", {port}))
    held.append(s)
print("holding", len(held), flush=True)
sys.stdin.read()
"#,
        ip = addr.ip(),
        port = addr.port()
    );
    let mut idle = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let mut stdout = idle.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while stdout.read(&mut byte).await.unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
    })
    .await;
    assert!(ready.is_ok(), "the idle clients did not connect in time");
    assert_eq!(String::from_utf8_lossy(&line), "holding 10000");
    let mut c = Client::to(addr);
    for _ in 0..20 {
        assert_eq!(
            c.get("/", &[("host", "myapp.example.com")])
                .await
                .status
                .as_u16(),
            200
        );
    }
    drop(idle);
}

/// A route to a wildcard destination (`*.example.com`, a host that ServiceEntries with
/// `resolution: NONE` or `DYNAMIC_DNS` declare) sends each request to the host it names,
/// resolved by DNS, at the destination's port, with the route's own steps applied; an upgrade
/// is tunnelled there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_destination_reaches_the_host_the_request_names() {
    let target = origin("named-host", Behaviour::default()).await;
    let yaml = format!(
        r#"{SERVICE}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: anywhere}}
spec:
  hosts: ["*.example.com"]
  ports: [{{number: {0}, name: http, protocol: HTTP}}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge}}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - timeout: 5s
    headers:
      request: {{set: {{x-route: wildcard}}}}
      response: {{set: {{x-answered-by: wildcard-route}}}}
    route: [{{destination: {{host: "*.example.com", port: {{number: {0}}}}}}}]
"#,
        target.addr.port()
    );
    let (_mesh, app, addr) = gateway(&yaml, ProxyOptions::default(), 80).await;
    let mut c = Client::to(addr);
    // `localhost` is the one name this machine's DNS resolves for certain.
    let r = c.get("/hello", &[("host", "localhost")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(target.hits(), 1);
    assert_eq!(
        app.hits(),
        0,
        "the service's replica is not the destination"
    );
    let seen = target.seen.lock().expect("seen")[0].clone();
    assert_eq!(
        seen.get("host").map(|v| v.as_bytes()),
        Some(&b"localhost"[..])
    );
    // The route's header rules apply, both ways.
    assert_eq!(
        seen.get("x-route").map(|v| v.as_bytes()),
        Some(&b"wildcard"[..])
    );
    assert_eq!(
        r.headers.get("x-answered-by").map(|v| v.as_bytes()),
        Some(&b"wildcard-route"[..])
    );
    // An upgrade is tunnelled to the host the request names.
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let req = http::Request::get("/socket")
        .header("host", "localhost")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), 101);
    let mut io = hyper_util::rt::TokioIo::new(hyper::upgrade::on(resp).await.expect("upgraded"));
    io.write_all(b"ping over the tunnel").await.expect("write");
    let mut echoed = [0u8; 20];
    tokio::time::timeout(BOUND, io.read_exact(&mut echoed))
        .await
        .expect("bound")
        .expect("read");
    assert_eq!(&echoed, b"ping over the tunnel");
    assert_eq!(target.hits(), 2);
    // A name that does not resolve has no upstream.
    let r = c.get("/hello", &[("host", "nothing.invalid")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(target.hits(), 2);
}

/// The route's retry policy applies to a wildcard destination as to any route: a 503 is
/// tried again at the same resolved address, and a route without `5xx` in `retryOn` answers
/// the 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_destination_is_retried_by_the_routes_policy() {
    let target = origin(
        "flaky-host",
        Behaviour {
            fail_every_other: true,
            ..Behaviour::default()
        },
    )
    .await;
    let yaml = format!(
        r#"{SERVICE}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: anywhere}}
spec:
  hosts: ["*.example.com"]
  ports: [{{number: {0}, name: http, protocol: HTTP}}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge}}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - match: [{{uri: {{prefix: /retried}}}}]
    retries: {{attempts: 2, retryOn: 5xx}}
    route: [{{destination: {{host: "*.example.com", port: {{number: {0}}}}}}}]
  - route: [{{destination: {{host: "*.example.com", port: {{number: {0}}}}}}}]
"#,
        target.addr.port()
    );
    let (_mesh, _app, addr) = gateway(&yaml, ProxyOptions::default(), 80).await;
    let mut c = Client::to(addr);
    // The first try gets the origin's 503, the retry its 200.
    let r = c.get("/retried", &[("host", "localhost")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(target.hits(), 2);
    // Istio's default policy does not retry a 503 from a host that answered.
    let r = c.get("/plain", &[("host", "localhost")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(target.hits(), 3);
}
