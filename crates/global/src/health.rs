//! Health checks as Route 53 runs them (`aws_route53_health_check`).
//!
//! * HTTP/HTTPS: TCP connect within 4 s, then a status line within 2 s; healthy when the
//!   status is 2xx or 3xx. HTTPS does not validate the certificate.
//! * HTTP_STR_MATCH/HTTPS_STR_MATCH: as above, and the search string (case-sensitive) must
//!   appear within the first 5,120 bytes of the body, read within 2 s of the status.
//! * TCP: connect within 10 s.
//! * CALCULATED: healthy while at least `child_health_threshold` children are healthy.
//! * A check flips only after `failure_threshold` consecutive results the other way (the
//!   same count both ways); a new check is healthy until then. `invert_healthcheck` flips
//!   the result; a disabled check is always healthy, as Route 53 treats it.
//!
//! Route 53 aggregates a dozen checkers (healthy while more than 18 % report healthy); on one
//! machine one checker per check runs, so its threshold alone decides. Statuses live in
//! atomics that the DNS reads per query without a lock; a checker that stops leaves the last
//! status in place rather than flipping an endpoint to unhealthy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use meridian_config::terraform::resources::aws_dns::HealthCheck;
use meridian_http_client::{Body, Connection, Protocol};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Route 53's connect timeout for HTTP(S) checks.
pub const HTTP_CONNECT: Duration = Duration::from_secs(4);
/// Route 53's timeout for the status line (and the body of a string match) after connecting.
pub const HTTP_RESPONSE: Duration = Duration::from_secs(2);
/// Route 53's connect timeout for TCP checks.
pub const TCP_CONNECT: Duration = Duration::from_secs(10);
/// How much of the body a string match searches.
pub const SEARCH_WINDOW: usize = 5_120;
/// Nesting bound for calculated checks.
const MAX_DEPTH: u8 = 4;

/// What one check probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// An HTTP(S) GET, optionally searching the body.
    Http {
        /// Over TLS.
        tls: bool,
        /// `search_string` of the `_STR_MATCH` types.
        search: Option<String>,
    },
    /// A TCP connect.
    Tcp,
    /// The children's statuses.
    Calculated {
        /// Indexes of the children in the table.
        children: Vec<usize>,
        /// How many must be healthy.
        threshold: usize,
    },
    /// Set from outside (an alias target's health), not probed.
    External,
}

/// One check: its configuration and its current status.
#[derive(Debug)]
pub struct Check {
    /// Its id (`aws_route53_health_check`'s `id`, or a target's name).
    pub id: String,
    /// What it probes.
    pub probe: Probe,
    /// Host (an address or a name) and port.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `resource_path`.
    pub path: String,
    /// Between checks.
    pub interval: Duration,
    /// Consecutive results that flip the status.
    pub threshold: u32,
    /// `invert_healthcheck`.
    pub invert: bool,
    /// `disabled`: always healthy.
    pub disabled: bool,
    healthy: AtomicBool,
    streak: AtomicU32,
    checks: AtomicU32,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Check {
    fn new(id: String, probe: Probe) -> Self {
        Check {
            id,
            probe,
            host: String::new(),
            port: 0,
            path: "/".into(),
            interval: Duration::from_secs(30),
            threshold: 3,
            invert: false,
            disabled: false,
            healthy: AtomicBool::new(true),
            streak: AtomicU32::new(0),
            checks: AtomicU32::new(0),
            last_error: std::sync::Mutex::new(None),
        }
    }

    /// Records one probe result; flips the status after `threshold` results in a row.
    pub fn record(&self, ok: bool, error: Option<String>) {
        let ok = ok != self.invert;
        self.checks.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = error;
        }
        if ok == self.healthy.load(Ordering::Relaxed) {
            self.streak.store(0, Ordering::Relaxed);
            return;
        }
        let n = self.streak.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.threshold.max(1) {
            self.healthy.store(ok, Ordering::Relaxed);
            self.streak.store(0, Ordering::Relaxed);
            tracing::info!(check = %self.id, healthy = ok, "health check changed status");
        }
    }

    /// Sets the status at once (an external target's health).
    pub fn set(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }
}

/// Every check of a configuration, by index.
#[derive(Debug, Default)]
pub struct Table {
    checks: Vec<Check>,
}

/// A check's status, for `meridian global health` and the admin API.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Id.
    pub id: String,
    /// Type, as Route 53 names it.
    pub kind: String,
    /// What it probes.
    pub target: String,
    /// Current status.
    pub healthy: bool,
    /// Probes run so far.
    pub checks: u32,
    /// Why the last probe failed.
    pub last_error: Option<String>,
}

impl Table {
    /// Builds the table from the configuration's checks; `external` adds a settable slot per
    /// alias target whose health is decided outside (a load balancer's gateway).
    pub fn new(specs: &[HealthCheck], external: &[String]) -> Self {
        let mut checks: Vec<Check> = Vec::new();
        for s in specs {
            let t = s.check_type.to_ascii_uppercase();
            let probe = match t.as_str() {
                "HTTP" | "HTTPS" | "HTTP_STR_MATCH" | "HTTPS_STR_MATCH" => Probe::Http {
                    tls: t.starts_with("HTTPS"),
                    search: t
                        .ends_with("_STR_MATCH")
                        .then(|| s.search_string.clone().unwrap_or_default()),
                },
                "TCP" => Probe::Tcp,
                "CALCULATED" => Probe::Calculated {
                    children: Vec::new(),
                    threshold: usize::try_from(s.child_health_threshold).unwrap_or(0),
                },
                // CLOUDWATCH_METRIC and RECOVERY_CONTROL have nothing to probe here: they keep
                // the initial status (healthy), which the config loader warns about.
                _ => Probe::External,
            };
            let mut c = Check::new(s.id.clone(), probe);
            c.host = s
                .ip_address
                .clone()
                .or_else(|| s.fqdn.clone())
                .unwrap_or_default();
            c.port = u16::try_from(s.port).unwrap_or(80);
            c.path = if s.resource_path.is_empty() {
                "/".into()
            } else {
                s.resource_path.clone()
            };
            c.interval =
                Duration::from_secs(u64::try_from(s.request_interval.max(1)).unwrap_or(30));
            c.threshold = u32::try_from(s.failure_threshold.max(1)).unwrap_or(3);
            c.invert = s.invert;
            c.disabled = s.disabled;
            checks.push(c);
        }
        // Children by id, now that every check has an index.
        for (i, s) in specs.iter().enumerate() {
            if let Probe::Calculated { children, .. } = &mut checks[i].probe {
                *children = s
                    .children
                    .iter()
                    .filter_map(|id| specs.iter().position(|o| &o.id == id))
                    .collect();
            }
        }
        for name in external {
            checks.push(Check::new(name.clone(), Probe::External));
        }
        Table { checks }
    }

    /// The index of a check by id.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.checks.iter().position(|c| c.id == id)
    }

    /// A check by index.
    pub fn get(&self, i: usize) -> Option<&Check> {
        self.checks.get(i)
    }

    /// Whether check `i` is healthy now (calculated checks are evaluated from their children).
    pub fn healthy(&self, i: usize) -> bool {
        self.healthy_at(i, 0)
    }

    fn healthy_at(&self, i: usize, depth: u8) -> bool {
        let Some(c) = self.checks.get(i) else {
            return true;
        };
        if c.disabled {
            return true;
        }
        match &c.probe {
            Probe::Calculated {
                children,
                threshold,
            } if depth < MAX_DEPTH => {
                let up = children
                    .iter()
                    .filter(|&&k| self.healthy_at(k, depth + 1))
                    .count();
                (up >= *threshold) != c.invert
            }
            _ => c.healthy.load(Ordering::Relaxed),
        }
    }

    /// Sets an external slot (an alias target) by id.
    pub fn set_external(&self, id: &str, healthy: bool) -> bool {
        match self.checks.iter().find(|c| c.id == id) {
            Some(c) if c.probe == Probe::External => {
                c.set(healthy);
                true
            }
            _ => false,
        }
    }

    /// Carries statuses over from the previous table, so a reload does not reset them.
    pub fn inherit(&self, old: &Table) {
        for c in &self.checks {
            if let Some(o) = old.checks.iter().find(|o| o.id == c.id) {
                c.healthy
                    .store(o.healthy.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }

    /// Every check's status.
    pub fn statuses(&self) -> Vec<Status> {
        (0..self.checks.len())
            .map(|i| {
                let c = &self.checks[i];
                let kind = match &c.probe {
                    Probe::Http { tls, search } => format!(
                        "{}{}",
                        if *tls { "HTTPS" } else { "HTTP" },
                        if search.is_some() { "_STR_MATCH" } else { "" }
                    ),
                    Probe::Tcp => "TCP".into(),
                    Probe::Calculated { .. } => "CALCULATED".into(),
                    Probe::External => "TARGET".into(),
                };
                Status {
                    id: c.id.clone(),
                    kind,
                    target: match &c.probe {
                        Probe::Http { .. } | Probe::Tcp => {
                            format!(
                                "{}:{}{}",
                                c.host,
                                c.port,
                                if matches!(c.probe, Probe::Tcp) {
                                    ""
                                } else {
                                    &c.path
                                }
                            )
                        }
                        _ => String::new(),
                    },
                    healthy: self.healthy(i),
                    checks: c.checks.load(Ordering::Relaxed),
                    last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
                }
            })
            .collect()
    }

    /// Starts one checker task per probed check; dropping the result stops them.
    pub fn start(self: &Arc<Self>) -> Checkers {
        let mut tasks = Vec::new();
        for i in 0..self.checks.len() {
            if !matches!(self.checks[i].probe, Probe::Http { .. } | Probe::Tcp) {
                continue;
            }
            let table = Arc::clone(self);
            tasks.push(tokio::spawn(async move {
                let Some(c) = table.checks.get(i) else { return };
                let mut next = tokio::time::Instant::now();
                loop {
                    let started = Instant::now();
                    let result = probe(c).await;
                    tracing::debug!(check = %c.id, ok = result.is_ok(), elapsed = ?started.elapsed(), "health probe");
                    match result {
                        Ok(()) => c.record(true, None),
                        Err(e) => c.record(false, Some(e)),
                    }
                    next += c.interval;
                    tokio::time::sleep_until(next).await;
                }
            }));
        }
        Checkers(tasks)
    }
}

/// The running checkers of one table; stopped when dropped.
#[derive(Debug)]
pub struct Checkers(Vec<JoinHandle<()>>);

impl Drop for Checkers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    // Names Meridian computes live under `.localhost`, the loopback (RFC 6761).
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Ok(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
    }
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

/// Runs one probe of `c` with Route 53's timeouts.
pub async fn probe(c: &Check) -> Result<(), String> {
    let addr = resolve(&c.host, c.port).await?;
    match &c.probe {
        Probe::Tcp => match tokio::time::timeout(TCP_CONNECT, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
            Err(_) => Err(format!("connect {addr}: no connection within 10 s")),
        },
        Probe::Http { tls, search } => {
            let tcp = match tokio::time::timeout(HTTP_CONNECT, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(format!("connect {addr}: {e}")),
                Err(_) => return Err(format!("connect {addr}: no connection within 4 s")),
            };
            let host = if c.host.parse::<IpAddr>().is_ok() {
                c.host.clone()
            } else {
                format!("{}:{}", c.host, c.port)
            };
            if *tls {
                let name = rustls_pki_types::ServerName::try_from(c.host.clone())
                    .map_err(|e| format!("server name {}: {e}", c.host))?;
                let connector = tokio_rustls::TlsConnector::from(tls::config());
                let stream = tokio::time::timeout(HTTP_RESPONSE, connector.connect(name, tcp))
                    .await
                    .map_err(|_| "TLS handshake: no answer within 2 s".to_owned())?
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                http_get(stream, &host, &c.path, search.as_deref()).await
            } else {
                http_get(tcp, &host, &c.path, search.as_deref()).await
            }
        }
        Probe::Calculated { .. } | Probe::External => Ok(()),
    }
}

/// Sends a GET and judges the answer: 2xx/3xx within 2 s, then the search string in the
/// first 5,120 bytes of the body, read within 2 s of the status.
async fn http_get<S>(s: S, host: &str, path: &str, search: Option<&str>) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let req = http::Request::get(path)
        .header(http::header::HOST, host)
        .header(
            http::header::USER_AGENT,
            "Amazon-Route53-Health-Check-Service",
        )
        .header(http::header::ACCEPT, "*/*")
        .header(http::header::CONNECTION, "close")
        .body(Body::default())
        .map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + HTTP_RESPONSE;
    let answer = async {
        let mut conn = Connection::handshake(s, Protocol::Http1).await?;
        let resp = conn.send(req).await?;
        Ok::<_, meridian_http_client::Error>((conn, resp))
    };
    let (_conn, resp) = tokio::time::timeout_at(deadline, answer)
        .await
        .map_err(|_| "no response status within 2 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    if !(200..400).contains(&status) {
        return Err(format!("status {status}"));
    }
    let Some(needle) = search else {
        return Ok(());
    };
    // Route 53 allows the body 2 s after the status; read at most what the window needs,
    // and search what arrived when the time is up.
    let body_deadline = tokio::time::Instant::now() + HTTP_RESPONSE;
    let mut body = resp.into_body();
    let mut window = Vec::with_capacity(SEARCH_WINDOW);
    while window.len() < SEARCH_WINDOW {
        match tokio::time::timeout_at(body_deadline, body.frame()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    let room = SEARCH_WINDOW - window.len();
                    window.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
    }
    if find(&window, needle.as_bytes()).is_some() {
        Ok(())
    } else {
        Err(format!(
            "search string {needle:?} not in the first {SEARCH_WINDOW} bytes of the body"
        ))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

mod tls {
    //! Route 53 does not validate the endpoint's certificate: the verifier accepts any.
    use std::sync::{Arc, OnceLock};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, aws_lc_rs};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    struct AnyCert(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    pub(super) fn config() -> Arc<rustls::ClientConfig> {
        static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                let provider = Arc::new(aws_lc_rs::default_provider());
                let verifier = Arc::new(AnyCert(provider.clone()));
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map(|b| {
                        b.dangerous()
                            .with_custom_certificate_verifier(verifier)
                            .with_no_client_auth()
                    });
                match config {
                    Ok(c) => Arc::new(c),
                    Err(e) => {
                        tracing::error!(error = %e, "TLS for health checks");
                        Arc::new(
                            rustls::ClientConfig::builder_with_provider(Arc::new(
                                aws_lc_rs::default_provider(),
                            ))
                            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
                            .map(|b| {
                                b.with_root_certificates(rustls::RootCertStore::empty())
                                    .with_no_client_auth()
                            })
                            .unwrap_or_else(|_| unreachable_config()),
                        )
                    }
                }
            })
            .clone()
    }

    fn unreachable_config() -> rustls::ClientConfig {
        // The default provider always supports the default versions; this keeps the
        // constructor total without a panic.
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn check(kind: &str, port: u16, search: Option<&str>, threshold: i64) -> HealthCheck {
        HealthCheck {
            id: "hc".into(),
            check_type: kind.into(),
            fqdn: None,
            ip_address: Some("127.0.0.1".into()),
            port: i64::from(port),
            resource_path: "/health".into(),
            request_interval: 10,
            failure_threshold: threshold,
            search_string: search.map(Into::into),
            invert: false,
            disabled: false,
            children: Vec::new(),
            child_health_threshold: 0,
        }
    }

    /// A one-shot HTTP server answering every connection with `response`.
    async fn serve(response: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await;
                let _ = s.write_all(response.as_bytes()).await;
            }
        });
        port
    }

    async fn run(kind: &str, response: &'static str, search: Option<&str>) -> Result<(), String> {
        let port = serve(response).await;
        let t = Table::new(&[check(kind, port, search, 3)], &[]);
        probe(t.get(0).unwrap()).await
    }

    #[test_case("HTTP", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", None => true; "200 is healthy")]
    #[test_case("HTTP", "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", None => true; "3xx is healthy")]
    #[test_case("HTTP", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", None => false; "4xx is unhealthy")]
    #[test_case("HTTP", "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n", None => false; "5xx is unhealthy")]
    #[test_case("HTTP_STR_MATCH", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstatus=up", Some("up") => true; "string found")]
    #[test_case("HTTP_STR_MATCH", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstatus=UP", Some("up") => false; "string match is case-sensitive")]
    #[test_case("HTTP_STR_MATCH", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsta\r\n6\r\ntus=up\r\n0\r\n\r\n", Some("status=up") => true; "string across chunks")]
    #[tokio::test]
    async fn http(kind: &str, response: &'static str, search: Option<&str>) -> bool {
        run(kind, response, search).await.is_ok()
    }

    #[tokio::test]
    async fn string_match_reads_only_the_first_5120_bytes() {
        static LATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let body = LATE.get_or_init(|| {
            let b = format!("{}needle", "x".repeat(SEARCH_WINDOW - 3));
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len())
        });
        let err = run("HTTP_STR_MATCH", body.as_str(), Some("needle"))
            .await
            .unwrap_err();
        assert!(err.contains("first 5120 bytes"), "{err}");
        static EARLY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let body = EARLY.get_or_init(|| {
            let b = format!("{}needle", "x".repeat(SEARCH_WINDOW - 6));
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len())
        });
        run("HTTP_STR_MATCH", body.as_str(), Some("needle"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn tcp_connect_refused_is_unhealthy() {
        // One socket holds the port, bound and never listening, for the whole test, so no
        // other test can take it; a second one on the same port listens, then goes.
        let reusable = || {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.set_reuseport(true).unwrap();
            s
        };
        let held = reusable();
        held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = held.local_addr().unwrap();
        let listening = reusable();
        listening.bind(addr).unwrap();
        let l = listening.listen(8).unwrap();
        let t = Table::new(&[check("TCP", addr.port(), None, 1)], &[]);
        probe(t.get(0).unwrap()).await.unwrap();
        drop(l);
        assert!(probe(t.get(0).unwrap()).await.is_err());
        drop(held);
    }

    #[test]
    fn status_flips_after_threshold_both_ways() {
        let t = Table::new(&[check("HTTP", 1, None, 3)], &[]);
        let c = t.get(0).unwrap();
        assert!(t.healthy(0), "a new check is healthy");
        c.record(false, None);
        c.record(false, None);
        assert!(t.healthy(0));
        c.record(true, None); // the streak restarts
        c.record(false, None);
        c.record(false, None);
        assert!(t.healthy(0));
        c.record(false, None);
        assert!(!t.healthy(0));
        c.record(true, None);
        c.record(true, None);
        assert!(!t.healthy(0));
        c.record(true, None);
        assert!(t.healthy(0));
    }

    #[test]
    fn inverted_and_disabled() {
        let mut spec = check("HTTP", 1, None, 1);
        spec.invert = true;
        let t = Table::new(&[spec.clone()], &[]);
        t.get(0).unwrap().record(true, None);
        assert!(
            !t.healthy(0),
            "a passing probe of an inverted check is unhealthy"
        );
        spec.invert = false;
        spec.disabled = true;
        let t = Table::new(&[spec], &[]);
        t.get(0).unwrap().record(false, None);
        assert!(t.healthy(0), "a disabled check is healthy");
    }

    #[test]
    fn calculated_counts_healthy_children() {
        let mut a = check("HTTP", 1, None, 1);
        a.id = "a".into();
        let mut b = a.clone();
        b.id = "b".into();
        let mut calc = check("CALCULATED", 0, None, 1);
        calc.id = "calc".into();
        calc.children = vec!["a".into(), "b".into()];
        calc.child_health_threshold = 2;
        let t = Table::new(&[a, b, calc], &[]);
        assert!(t.healthy(2));
        t.get(1).unwrap().record(false, None);
        assert!(!t.healthy(2), "one of two children healthy, threshold 2");
    }
}
