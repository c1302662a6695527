//! A small harness that reads like the scenario it runs: real origins on 127.0.0.1:0, a
//! real proxy, real HTTP clients; every wait bounded.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use meridian_control::endpoints::{
    EndpointPublisher, EndpointState, EndpointTable, PortMapping, ReplicaEndpoint, WorkloadKind,
    WorkloadRef,
};
use meridian_control::snapshot::{Snapshot, compile};
use meridian_proxy::{Caller, GatewayPorts, Proxy, ProxyOptions};
use tokio::net::{TcpListener, TcpStream};

/// Every wait in these tests is bounded by this.
pub const BOUND: Duration = Duration::from_secs(20);

/// How an origin behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Answer every second request with 503.
    pub fail_every_other: bool,
    /// Wait before answering.
    pub delay: Option<Duration>,
}

/// A test origin: answers with its name, echoes request headers as `echo-<name>`.
#[derive(Debug, Clone)]
pub struct Origin {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Origin {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Starts an origin speaking HTTP/1.1 and h2c, with WebSocket-style echo on upgrade.
pub async fn origin(name: &str, behaviour: Behaviour) -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = listener.local_addr().expect("origin addr");
    let o = Origin {
        name: name.to_owned(),
        addr,
        hits: Arc::new(AtomicUsize::new(0)),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let served = o.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let o = served.clone();
            let b = behaviour.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| answer(o.clone(), b.clone(), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    o
}

async fn answer(
    o: Origin,
    b: Behaviour,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = o.hits.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut seen) = o.seen.lock() {
        let mut h = req.headers().clone();
        h.insert(
            "x-seen-path",
            req.uri()
                .path_and_query()
                .map_or("/".to_owned(), |p| p.to_string())
                .parse()
                .expect("path"),
        );
        seen.push(h);
    }
    if let Some(d) = b.delay {
        tokio::time::sleep(d).await;
    }
    if req.headers().contains_key(http::header::UPGRADE) {
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let mut io = TokioIo::new(up);
                let (mut r, mut w) = tokio::io::split(&mut io);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.headers_mut()
            .insert("connection", "upgrade".parse().expect("h"));
        resp.headers_mut()
            .insert("upgrade", "websocket".parse().expect("h"));
        return Ok(resp);
    }
    let mut resp = Response::new(Full::new(Bytes::from(o.name.clone())));
    for (k, v) in req.headers() {
        if let Ok(name) = http::HeaderName::from_bytes(format!("echo-{}", k.as_str()).as_bytes()) {
            resp.headers_mut().append(name, v.clone());
        }
    }
    if let Some(pq) = req.uri().path_and_query()
        && let Ok(v) = pq.as_str().parse()
    {
        resp.headers_mut().insert("echo-path", v);
    }
    if b.fail_every_other && n.is_multiple_of(2) {
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    Ok(resp)
}

/// Compiles manifests.
pub fn snapshot(yaml: &str, version: u64) -> Arc<Snapshot> {
    let bundle = meridian_config::load_str(
        Path::new("/tmp/meridian-proxy-test/test.yaml"),
        yaml,
        meridian_config::LoadOptions::default(),
    );
    let msgs: Vec<String> = bundle.diagnostics().map(|d| d.message.clone()).collect();
    Arc::new(compile(&bundle, version).unwrap_or_else(|e| panic!("{e}: {msgs:#?}")))
}

/// A proxy, its endpoint table, and the replicas published so far.
pub struct Mesh {
    pub proxy: Proxy,
    publisher: EndpointPublisher,
    replicas: Vec<ReplicaEndpoint>,
}

impl Mesh {
    pub async fn new(yaml: &str) -> Mesh {
        Mesh::with_options(yaml, ProxyOptions::default()).await
    }

    pub async fn with_options(yaml: &str, options: ProxyOptions) -> Mesh {
        let (publisher, watch) = meridian_control::endpoints::channel();
        let proxy = Proxy::new(snapshot(yaml, 1), watch, options);
        Mesh {
            proxy,
            publisher,
            replicas: Vec::new(),
        }
    }

    /// Publishes a ready replica of `workload` with `labels`, serving on `origin`, declared
    /// container port `declared`.
    pub fn replica(
        &mut self,
        workload: &str,
        labels: &[(&str, &str)],
        declared: u16,
        origin: &Origin,
    ) -> ReplicaEndpoint {
        let r = ReplicaEndpoint {
            workload: WorkloadRef {
                kind: WorkloadKind::Deployment,
                namespace: "default".to_owned(),
                name: workload.to_owned(),
            },
            replica: format!("{workload}-{}", origin.name),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            service_account: "default".to_owned(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: vec![PortMapping {
                name: Some("http".to_owned()),
                declared,
                actual: origin.addr.port(),
            }],
            state: EndpointState::Ready,
        };
        self.replicas.push(r.clone());
        self.publish();
        r
    }

    /// Changes a replica's traffic state.
    pub fn set_state(&mut self, replica: &str, state: EndpointState) {
        for r in &mut self.replicas {
            if r.replica == replica {
                r.state = state;
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let version = self.publisher.borrow().version + 1;
        let _ = self.publisher.send(Arc::new(EndpointTable {
            version,
            replicas: self.replicas.clone(),
        }));
    }

    /// Waits (bounded) until the proxy has applied the latest endpoint table.
    pub async fn settle(&self) {
        let wanted = self.publisher.borrow().version;
        let deadline = tokio::time::Instant::now() + BOUND;
        while self.proxy.endpoints_version() < wanted {
            assert!(
                tokio::time::Instant::now() < deadline,
                "endpoint table not applied"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// An outbound listener for a caller with these labels.
    pub async fn sidecar(&self, labels: &[(&str, &str)]) -> SocketAddr {
        let caller = Caller {
            workload: Arc::from("default/client"),
            namespace: "default".to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            service_account: "default".to_owned(),
        };
        self.proxy
            .start_outbound(caller)
            .await
            .expect("outbound listener")
    }

    /// Gateway listeners on free ports.
    pub async fn gateway(&self) -> BTreeMap<u16, SocketAddr> {
        self.proxy
            .start_gateway_listeners(GatewayPorts::Ephemeral)
            .await
            .expect("gateway listeners")
    }
}

/// A reply, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP/1.1 keep-alive client bound to one proxy address.
pub struct Client {
    addr: SocketAddr,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Client {
    pub fn to(addr: SocketAddr) -> Client {
        Client { addr, sender: None }
    }

    async fn sender(&mut self) -> &mut http1::SendRequest<Full<Bytes>> {
        let reuse = match &mut self.sender {
            Some(s) => !s.is_closed() && s.ready().await.is_ok(),
            None => false,
        };
        if !reuse {
            let tcp = TcpStream::connect(self.addr)
                .await
                .expect("connect to proxy");
            let (s, conn) = http1::handshake(TokioIo::new(tcp))
                .await
                .expect("handshake");
            tokio::spawn(async move {
                let _ = conn.with_upgrades().await;
            });
            self.sender = Some(s);
        }
        self.sender.as_mut().expect("sender")
    }

    /// Sends `req` and reads the reply.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Reply {
        let fut = async {
            let resp = self
                .sender()
                .await
                .send_request(req)
                .await
                .expect("response");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("body").to_bytes();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        };
        tokio::time::timeout(BOUND, fut)
            .await
            .expect("reply within bound")
    }

    /// `GET url` with headers.
    pub async fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Reply {
        let mut b = Request::get(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Full::new(Bytes::new())).expect("request"))
            .await
    }
}

/// A record sink that keeps every request record, in order.
#[derive(Debug, Default)]
pub struct Records(pub Mutex<Vec<meridian_proxy::RequestRecord>>);

impl meridian_proxy::RecordSink for Records {
    fn record(&self, record: meridian_proxy::RequestRecord) {
        if let Ok(mut r) = self.0.lock() {
            r.push(record);
        }
    }
}

/// A test certificate authority writing PEM files into a folder of its own: leaves for
/// servers and clients (with chosen serial numbers), and revocation lists.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    next_serial: std::sync::atomic::AtomicU64,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test ca");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca");
        Pki {
            dir: tempfile::tempdir().expect("tempdir"),
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
            next_serial: std::sync::atomic::AtomicU64::new(1000),
        }
    }

    /// Issues a leaf and writes `name.crt`/`name.key`; returns (cert path, key path, pem, key pem).
    pub fn leaf(&self, name: &str, sans: &[&str]) -> (String, String, String, String) {
        let (crt, key, pem, key_pem, _) = self.leaf_with_serial(name, sans);
        (crt, key, pem, key_pem)
    }

    /// Like [`Pki::leaf`], also returning the certificate's serial number.
    pub fn leaf_with_serial(
        &self,
        name: &str,
        sans: &[&str],
    ) -> (String, String, String, String, u64) {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("params");
        let serial = self.next_serial.fetch_add(1, Ordering::SeqCst);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let crt = self.dir.path().join(format!("{name}.crt"));
        let k = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&crt, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        (
            crt.display().to_string(),
            k.display().to_string(),
            cert.pem(),
            key.serialize_pem(),
            serial,
        )
    }

    pub fn ca_file(&self) -> String {
        let p = self.dir.path().join("ca.crt");
        std::fs::write(&p, &self.ca_pem).expect("write");
        p.display().to_string()
    }

    /// Writes (or rewrites) `name` with a revocation list revoking `serials`.
    pub fn write_crl(&self, name: &str, crl_number: u64, serials: &[u64]) -> String {
        let params = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2025, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: rcgen::SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(*s),
                    revocation_time: rcgen::date_time_ymd(2025, 6, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer).expect("crl");
        let p = self.dir.path().join(name);
        std::fs::write(&p, crl.pem().expect("pem")).expect("write");
        p.display().to_string()
    }
}
