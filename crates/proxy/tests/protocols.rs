//! End-to-end: protocols through a sidecar and the gateway — WebSocket upgrades, HTTP/2 with
//! trailers (gRPC's framing), gateway TLS (SIMPLE with SNI and ALPN h2, MUTUAL) and
//! httpsRedirect.

mod harness;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use harness::{BOUND, Behaviour, Client, Mesh, Pki, origin};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GRPC_APP: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 50051, name: grpc}]
---
apiVersion: v1
kind: Service
metadata: {name: ws}
spec:
  selector: {app: ws}
  ports: [{port: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["grpc.example.com", "ws.example.com"]
  gateways: [edge]
  http:
  - match: [{authority: {prefix: grpc.example.com}}]
    route: [{destination: {host: echo, port: {number: 50051}}}]
  - route: [{destination: {host: ws, port: {number: 80}}}]
"#;

type TrailerBody =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A gRPC-framed echo origin (h2c): answers each message with the same bytes, then
/// `grpc-status: 0` in trailers.
async fn grpc_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().expect("v"));
                    trailers.insert("grpc-message", "ok".parse().expect("v"));
                    let frames = vec![Ok(Frame::data(body)), Ok(Frame::trailers(trailers))];
                    let mut resp: Response<TrailerBody> =
                        Response::new(StreamBody::new(futures_util::stream::iter(frames)));
                    resp.headers_mut()
                        .insert("content-type", "application/grpc".parse().expect("v"));
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

fn grpc_frame(msg: &[u8]) -> Bytes {
    let mut b = vec![0u8];
    b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    b.extend_from_slice(msg);
    Bytes::from(b)
}

/// A gRPC unary call over h2c to `addr` for `authority`; returns the message and grpc-status.
async fn grpc_call(addr: SocketAddr, authority: &str) -> (Bytes, Option<String>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let req = Request::post(format!("http://{authority}/echo.Echo/Say"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(grpc_frame(b"hello mesh")))
        .expect("request");
    let resp = tokio::time::timeout(BOUND, sender.send_request(req))
        .await
        .expect("bound")
        .expect("response");
    assert_eq!(resp.status(), 200);
    let collected = resp.into_body().collect().await.expect("body");
    let status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (collected.to_bytes(), status)
}

async fn grpc_mesh() -> Mesh {
    let mut mesh = Mesh::new(GRPC_APP).await;
    let addr = grpc_origin().await;
    let fake = harness::Origin {
        name: "grpc".into(),
        addr,
        hits: Arc::default(),
        seen: Arc::default(),
    };
    let r = mesh.replica("echo", &[("app", "echo")], 50051, &fake);
    mesh.proxy.start_inbound(&r).await.expect("inbound");
    let ws = origin("ws", Behaviour::default()).await;
    let r = mesh.replica("ws", &[("app", "ws")], 80, &ws);
    mesh.proxy.start_inbound(&r).await.expect("inbound");
    mesh.settle().await;
    mesh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_trailers_cross_a_sidecar_and_the_gateway() {
    let mesh = grpc_mesh().await;
    let sidecar = mesh.sidecar(&[]).await;
    let (msg, status) = grpc_call(sidecar, "echo:50051").await;
    assert_eq!(msg, grpc_frame(b"hello mesh"));
    assert_eq!(status.as_deref(), Some("0"));

    let gateway = mesh.gateway().await;
    let (msg, status) = grpc_call(gateway[&80], "grpc.example.com").await;
    assert_eq!(msg, grpc_frame(b"hello mesh"));
    assert_eq!(status.as_deref(), Some("0"));
}

async fn websocket_echo(addr: SocketAddr, url: &str, host: Option<&str>) {
    let mut client = Client::to(addr);
    let mut b = Request::get(url)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(h) = host {
        b = b.header("host", h);
    }
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let resp = sender
        .send_request(b.body(Full::new(Bytes::new())).expect("request"))
        .await
        .expect("response");
    assert_eq!(resp.status(), 101);
    let upgraded = hyper::upgrade::on(resp).await.expect("upgraded");
    let mut io = TokioIo::new(upgraded);
    for msg in [&b"ping"[..], b"a longer websocket message"] {
        io.write_all(msg).await.expect("write");
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(BOUND, io.read_exact(&mut buf))
            .await
            .expect("bound")
            .expect("read");
        assert_eq!(buf, msg);
    }
    drop(client.get(url, &[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_through_a_sidecar_and_the_gateway() {
    let mesh = grpc_mesh().await;
    let sidecar = mesh.sidecar(&[]).await;
    websocket_echo(sidecar, "http://ws/chat", None).await;
    let gateway = mesh.gateway().await;
    websocket_echo(gateway[&80], "/chat", Some("ws.example.com")).await;
}

fn client_config(pki: &Pki, client: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).expect("ca"))
        .expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![
                    rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes())
                        .expect("cert"),
                ],
                rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
            )
            .expect("client auth"),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// GET over TLS with SNI `host`, speaking whatever ALPN chose; returns (status, body, alpn h2).
async fn tls_get(
    addr: SocketAddr,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<(u16, String, bool), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name =
        rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let req = Request::get(format!("https://{host}/hello"))
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = if h2 {
        let (mut s, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let (mut parts, body) = req.into_parts();
        parts.headers.remove("host");
        s.send_request(Request::from_parts(parts, body))
            .await
            .map_err(|e| e.to_string())?
    } else {
        let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        s.send_request(req).await.map_err(|e| e.to_string())?
    };
    let status = resp.status().as_u16();
    let xfp = resp.headers().get("echo-x-forwarded-proto").cloned();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status == 200 {
        assert_eq!(xfp.as_ref().and_then(|v| v.to_str().ok()), Some("https"));
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), h2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_terminates_tls_by_sni_and_redirects_plain_http() {
    let pki = Pki::new();
    let (app_crt, app_key, _, _) = pki.leaf("app", &["myapp.example.com"]);
    let (adm_crt, adm_key, _, _) = pki.leaf("admin", &["admin.example.com"]);
    let (client_crt, client_key) = {
        let (_, _, c, k) = pki.leaf("client", &["client.example.com"]);
        (c, k)
    };
    let ca = pki.ca_file();
    let yaml = format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: myapp}}
spec:
  selector: {{app: myapp}}
  ports: [{{port: 80, name: http, targetPort: 3000}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: ["myapp.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: "{app_crt}", privateKey: "{app_key}"}}
  - port: {{number: 443, name: https-admin, protocol: HTTPS}}
    hosts: ["admin.example.com"]
    tls: {{mode: MUTUAL, serverCertificate: "{adm_crt}", privateKey: "{adm_key}", caCertificates: "{ca}"}}
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["myapp.example.com"]
    tls: {{httpsRedirect: true}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge}}
spec:
  hosts: ["myapp.example.com", "admin.example.com"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: myapp}}}}]
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let app = origin("myapp", Behaviour::default()).await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &app);
    mesh.settle().await;
    let ports = mesh.gateway().await;

    let (status, body, h2) = tls_get(ports[&443], "myapp.example.com", client_config(&pki, None))
        .await
        .expect("simple tls");
    assert_eq!((status, body.as_str(), h2), (200, "myapp", true));

    let refused = tls_get(ports[&443], "admin.example.com", client_config(&pki, None)).await;
    assert!(
        refused.is_err(),
        "MUTUAL without a client certificate: {refused:?}"
    );
    let (status, _, _) = tls_get(
        ports[&443],
        "admin.example.com",
        client_config(&pki, Some((&client_crt, &client_key))),
    )
    .await
    .expect("mutual tls");
    assert_eq!(status, 200);

    let mut plain = Client::to(ports[&80]);
    let r = plain
        .get("/cart?id=1", &[("host", "myapp.example.com")])
        .await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://myapp.example.com/cart?id=1")
    );
}

/// An origin that speaks only TLS (ALPN h2 and http/1.1) with a certificate for `host`.
async fn tls_origin(pki: &Pki, host: &str) -> SocketAddr {
    use rustls_pki_types::pem::PemObject;
    let (_, _, cert, key) = pki.leaf("origin", &[host]);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")],
        rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
    )
    .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let alpn = tls
                    .get_ref()
                    .1
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                let svc = service_fn(move |req: Request<Incoming>| {
                    let alpn = alpn.clone().unwrap_or_default();
                    async move {
                        let mut resp = Response::new(Full::new(Bytes::from("secure")));
                        resp.headers_mut()
                            .insert("x-alpn", alpn.parse().expect("v"));
                        resp.headers_mut().insert(
                            "echo-host",
                            req.uri()
                                .authority()
                                .map(|a| a.to_string())
                                .or_else(|| {
                                    req.headers()
                                        .get("host")
                                        .and_then(|h| h.to_str().ok())
                                        .map(str::to_owned)
                                })
                                .unwrap_or_default()
                                .parse()
                                .expect("v"),
                        );
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_rules_originate_tls_with_alpn() {
    let pki = Pki::new();
    let ca = pki.ca_file();
    let origin = tls_origin(&pki, "secure.example.com").await;
    let port = origin.port();
    let yaml = format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: secure}}
spec:
  hosts: [secure.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: {port}, name: http2, protocol: HTTP2}}]
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: secure}}
spec:
  host: secure.example.com
  trafficPolicy:
    tls: {{mode: SIMPLE, caCertificates: "{ca}", sni: secure.example.com}}
"#
    );
    let mesh = Mesh::new(&yaml).await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let r = client
        .get(&format!("http://secure.example.com:{port}/x"), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "secure");
    assert_eq!(r.header("x-alpn"), Some("h2"));
}

/// An origin that sends its head and a first chunk at once, and the rest after `stall`.
async fn stalling_origin(stall: std::time::Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(move |_req: Request<Incoming>| async move {
                    let chunks = futures_util::stream::unfold(0u8, move |n| async move {
                        match n {
                            0 => Some((Ok::<_, Infallible>(Frame::data(Bytes::from("first"))), 1)),
                            1 => {
                                tokio::time::sleep(stall).await;
                                Some((Ok(Frame::data(Bytes::from("late"))), 2))
                            }
                            _ => None,
                        }
                    });
                    Ok::<_, Infallible>(Response::new(StreamBody::new(chunks)))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_timeout_covers_the_whole_response_body() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: slowbody}
spec:
  selector: {app: slowbody}
  ports: [{port: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: slowbody}
spec:
  hosts: [slowbody]
  http:
  - route: [{destination: {host: slowbody}}]
    timeout: 300ms
"#;
    let mut mesh = Mesh::new(yaml).await;
    let o = harness::Origin {
        name: "slow".into(),
        addr: stalling_origin(std::time::Duration::from_secs(5)).await,
        hits: Arc::default(),
        seen: Arc::default(),
    };
    mesh.replica("slowbody", &[("app", "slowbody")], 80, &o);
    mesh.settle().await;
    let proxy = mesh.sidecar(&[]).await;
    let tcp = TcpStream::connect(proxy).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let started = std::time::Instant::now();
    let resp = sender
        .send_request(
            Request::get("http://slowbody/")
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await
        .expect("head arrives before the deadline");
    assert_eq!(resp.status(), 200);
    let body = tokio::time::timeout(BOUND, resp.into_body().collect())
        .await
        .expect("bound");
    assert!(body.is_err(), "the body is cut at the route timeout");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_recorded_when_their_response_ends_with_bytes_sent_and_grpc_status() {
    let yaml = format!(
        "{GRPC_APP}\n---\n{}",
        r#"apiVersion: v1
kind: Service
metadata: {name: slowbody}
spec:
  selector: {app: slowbody}
  ports: [{port: 80, name: http}]
"#
    );
    let records = Arc::new(harness::Records::default());
    let mut mesh = Mesh::with_options(
        &yaml,
        meridian_proxy::ProxyOptions {
            sink: Some(records.clone()),
            ..meridian_proxy::ProxyOptions::default()
        },
    )
    .await;
    let grpc = harness::Origin {
        name: "grpc".into(),
        addr: grpc_origin().await,
        hits: Arc::default(),
        seen: Arc::default(),
    };
    mesh.replica("echo", &[("app", "echo")], 50051, &grpc);
    let stall = std::time::Duration::from_millis(300);
    let slow = harness::Origin {
        name: "slow".into(),
        addr: stalling_origin(stall).await,
        hits: Arc::default(),
        seen: Arc::default(),
    };
    mesh.replica("slowbody", &[("app", "slowbody")], 80, &slow);
    mesh.settle().await;
    let sidecar = mesh.sidecar(&[]).await;

    // gRPC: the status comes in trailers, after the head; the body has no length.
    let (msg, status) = grpc_call(sidecar, "echo:50051").await;
    assert_eq!(status.as_deref(), Some("0"));
    // A streamed body without length: "first" at once, "late" after the stall.
    let r = Client::to(sidecar).get("http://slowbody/", &[]).await;
    assert_eq!(r.body, "firstlate");

    let deadline = std::time::Instant::now() + BOUND;
    while records.0.lock().expect("records").len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let all = records.0.lock().expect("records");
    assert_eq!(all.len(), 2, "{all:?}");
    let (g, s) = (&all[0], &all[1]);
    assert_eq!(g.grpc_status, Some(0));
    assert_eq!(g.response_bytes, msg.len() as u64);
    assert_eq!(g.flags.to_string(), "-", "complete responses carry no flag");
    assert_eq!(s.flags.to_string(), "-", "complete responses carry no flag");
    assert_eq!(s.grpc_status, None);
    assert_eq!(s.response_bytes, "firstlate".len() as u64);
    assert!(
        s.duration >= stall,
        "the duration runs to the last byte: {:?}",
        s.duration
    );
}
