//! Health probes: one check (HTTP or HTTPS GET, TCP connect, a command, gRPC health
//! checking) and the Kubernetes state machines around it (thresholds, startup gating), plus
//! Compose's healthcheck. Probes are timers: between checks nothing runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use meridian_config::compose::{HealthTest, Healthcheck};
use meridian_control::endpoints::PortMapping;
use meridian_http_client::{Body, Connection, Error as ClientError, Protocol, Tls};
use prost::Message as _;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::process::{Spawner, describe_exit, signal_group};
use crate::workload::{PortRef, ProbeAction, ProbeSpec};

/// What a check needs about the replica.
#[derive(Debug, Clone)]
pub(crate) struct ProbeTarget {
    pub(crate) ports: Vec<PortMapping>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) inherit_env: bool,
    pub(crate) working_dir: Option<PathBuf>,
    pub(crate) spawner: Arc<Spawner>,
}

impl ProbeTarget {
    /// The real port for a probe's port: a declared container port maps to the replica's
    /// port, a named one by its name; any other number is used as written.
    fn port(&self, p: &PortRef) -> Result<u16, String> {
        match p {
            PortRef::Number(n) => Ok(self
                .ports
                .iter()
                .find(|m| m.declared == *n)
                .map_or(*n, |m| m.actual)),
            PortRef::Name(name) => self
                .ports
                .iter()
                .find(|m| m.name.as_deref() == Some(name.as_str()))
                .map(|m| m.actual)
                .ok_or_else(|| format!("no container port named \"{name}\"")),
        }
    }
}

/// Runs one check: `Ok(())` passes, `Err` says why it failed.
pub(crate) async fn check(
    action: &ProbeAction,
    timeout: Duration,
    t: &ProbeTarget,
) -> Result<(), String> {
    match action {
        ProbeAction::Http {
            port,
            path,
            host,
            scheme,
            headers,
        } => {
            let port = t.port(port)?;
            let host = host.as_deref().unwrap_or("127.0.0.1");
            let url = format!("{}://{host}:{port}{path}", scheme.to_ascii_lowercase());
            let tls = scheme == "HTTPS";
            match tokio::time::timeout(timeout, http_get(host, port, path, headers, tls)).await {
                Ok(Ok(status)) if (200..400).contains(&status) => Ok(()),
                Ok(Ok(status)) => Err(format!("HTTP probe failed with statuscode: {status}")),
                Ok(Err(e)) => Err(format!("Get \"{url}\": {e}")),
                Err(_) => Err(format!(
                    "Get \"{url}\": context deadline exceeded (timeout {}s)",
                    timeout.as_secs_f64()
                )),
            }
        }
        ProbeAction::Tcp { port, host } => {
            let port = t.port(port)?;
            let host = host.as_deref().unwrap_or("127.0.0.1");
            match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("dial tcp {host}:{port}: {e}")),
                Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
            }
        }
        ProbeAction::Exec(argv) => exec(argv, timeout, t).await,
        ProbeAction::Grpc { port, service } => {
            let port = t.port(&PortRef::Number(*port))?;
            let addr = format!("127.0.0.1:{port}");
            match tokio::time::timeout(timeout, grpc_health(&addr, service)).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "timeout: health rpc did not complete within {}s",
                    timeout.as_secs_f64()
                )),
            }
        }
    }
}

/// TLS as the kubelet's HTTPS probes use it: the server's certificate is not verified
/// (Kubernetes documents that it skips verification), the handshake's signatures are.
fn probe_tls() -> tokio_rustls::TlsConnector {
    static CONFIG: std::sync::OnceLock<Option<Arc<rustls::ClientConfig>>> =
        std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some(Arc::new(config))
    });
    let config = config.clone().unwrap_or_else(|| {
        // The default protocol versions are always available with the default provider.
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    });
    tokio_rustls::TlsConnector::from(config)
}

/// Accepts any server certificate; checks the handshake's signatures with the provider.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    tls: bool,
) -> Result<u16, String> {
    let tls = if tls {
        let server_name = rustls_pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| format!("invalid host {host:?}: {e}"))?;
        Some(Tls {
            connector: probe_tls(),
            server_name,
        })
    } else {
        None
    };
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut conn = Connection::connect(addr.as_str(), tls.as_ref(), Protocol::Http1)
        .await
        .map_err(|e| match e {
            ClientError::Connect { source, .. } => format!("dial tcp {host}:{port}: {source}"),
            e => e.to_string(),
        })?;
    let mut req = http::Request::get(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .header(http::header::USER_AGENT, "meridian-probe/1")
        .header(http::header::ACCEPT, "*/*");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Body::default()).map_err(|e| e.to_string())?;
    let resp = conn.send(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    // Read (a bounded amount of) the body so the server sees a normal exchange.
    let _ = tokio::time::timeout(
        Duration::from_millis(200),
        meridian_http_client::read_body(resp.into_body(), 64 * 1024),
    )
    .await;
    Ok(status)
}

/// The gRPC health checking protocol (`grpc.health.v1.Health/Check`) over h2c, as the
/// kubelet's gRPC probe: passes only when the server answers `SERVING`.
async fn grpc_health(addr: &str, service: &str) -> Result<(), String> {
    let mut conn = Connection::connect(addr, None, Protocol::Http2)
        .await
        .map_err(|e| match e {
            ClientError::Connect { source, .. } => {
                format!("failed to connect service {addr:?}: {source}")
            }
            e => format!("failed to connect service {addr:?}: {e}"),
        })?;
    // A HealthCheckRequest in one length-prefixed gRPC message.
    let msg = HealthCheckRequest {
        service: service.to_owned(),
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
    body.extend_from_slice(&msg);
    let req = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header(http::header::USER_AGENT, "meridian-probe/1")
        .body(Body::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = conn
        .send(req)
        .await
        .map_err(|e| format!("rpc error: {e}"))?;
    {
        if resp.status() != http::StatusCode::OK {
            return Err(format!(
                "rpc error: the server answered HTTP {} (not a gRPC server?)",
                resp.status()
            ));
        }
        // A trailers-only answer carries the status in its head.
        let head = resp.headers().clone();
        let collected = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("rpc error: {e}"))?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let field = |name: &str| {
            trailers
                .get(name)
                .or_else(|| head.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let code = field("grpc-status")
            .and_then(|c| c.trim().parse::<u32>().ok())
            .ok_or("rpc error: no grpc-status in the answer")?;
        if code != 0 {
            let desc = field("grpc-message").unwrap_or_default();
            let name = grpc_code_name(code);
            return Err(if code == 12 {
                format!(
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): rpc error: code = {name} desc = {desc}"
                )
            } else {
                format!("rpc error: code = {name} desc = {desc}")
            });
        }
        let data = collected.to_bytes();
        let status = health_status(&data).ok_or("rpc error: malformed HealthCheckResponse")?;
        match status {
            1 => Ok(()),
            s => Err(format!(
                "service unhealthy (responded with {:?})",
                match s {
                    0 => "UNKNOWN",
                    2 => "NOT_SERVING",
                    3 => "SERVICE_UNKNOWN",
                    _ => "an unknown status",
                }
            )),
        }
    }
}

/// `HealthCheckResponse.status` (field 1) from a gRPC message: its 5-byte prefix, then the
/// protobuf fields (unknown ones skipped). An absent status is 0 (`UNKNOWN`).
fn health_status(data: &[u8]) -> Option<i32> {
    let (prefix, rest) = data.split_at_checked(5)?;
    if prefix[0] != 0 {
        return None; // compressed: never asked for
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let msg = rest.get(..len)?;
    HealthCheckResponse::decode(msg).ok().map(|r| r.status)
}

fn grpc_code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code as usize).copied().unwrap_or("Unknown")
}

async fn exec(argv: &[String], timeout: Duration, t: &ProbeTarget) -> Result<(), String> {
    let Some((prog, args)) = argv.split_first() else {
        return Err("exec probe has no command".into());
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if !t.inherit_env {
        cmd.env_clear();
    }
    cmd.envs(&t.env);
    if let Some(d) = &t.working_dir {
        cmd.current_dir(d);
    }
    let (mut child, _group) = t
        .spawner
        .spawn(cmd)
        .await
        .map_err(|e| format!("exec {prog}: {e}"))?;
    let pgid = child.id();
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let run = async {
        let mut text = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.take(4096).read_to_end(&mut text).await;
        }
        if let Some(e) = err.as_mut() {
            let _ = e.take(4096).read_to_end(&mut text).await;
        }
        (child.wait().await, text)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), text)) => {
            let text = String::from_utf8_lossy(&text);
            let last = text.trim().lines().last().unwrap_or_default().to_owned();
            if last.is_empty() {
                Err(format!("command {prog} failed: {}", describe_exit(&status)))
            } else {
                Err(format!(
                    "command {prog} failed: {}: {last}",
                    describe_exit(&status)
                ))
            }
        }
        Ok((Err(e), _)) => Err(format!("command {prog}: {e}")),
        Err(_) => {
            if let Some(p) = pgid {
                signal_group(p, nix::sys::signal::Signal::SIGKILL);
            }
            Err(format!(
                "command {prog} timed out after {}s",
                timeout.as_secs_f64()
            ))
        }
    }
}

/// What the probes of a running process report.
pub(crate) trait ProbeSink: Send + Sync {
    /// Readiness changed.
    fn set_ready(&self, ready: bool);
    /// The startup probe passed (or there is none).
    fn set_started(&self);
    /// A check failed (for `ps` and the log).
    fn probe_failed(&self, which: &'static str, message: &str);
}

/// Why the probes want the process restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestartReason {
    pub(crate) message: String,
    pub(crate) grace: Option<Duration>,
}

/// Runs a container's probes for as long as its process runs; returns when a startup or
/// liveness probe (or a Compose healthcheck) says the process must be restarted.
pub(crate) async fn supervise(
    startup: Option<&ProbeSpec>,
    readiness: Option<&ProbeSpec>,
    liveness: Option<&ProbeSpec>,
    health: Option<&Healthcheck>,
    started_at: Instant,
    target: &ProbeTarget,
    sink: &dyn ProbeSink,
) -> RestartReason {
    if let Some(h) = health {
        return healthcheck(h, started_at, target, sink).await;
    }
    if let Some(s) = startup {
        tokio::time::sleep_until(started_at + s.initial_delay).await;
        let mut tick = interval(s.period);
        let mut failures = 0;
        loop {
            tick.tick().await;
            match check(&s.action, s.timeout, target).await {
                Ok(()) => break,
                Err(e) => {
                    failures += 1;
                    sink.probe_failed("startup", &e);
                    if failures >= s.failure_threshold {
                        return RestartReason {
                            message: format!("startup probe failed {failures} times: {e}"),
                            grace: s.termination_grace,
                        };
                    }
                }
            }
        }
    }
    sink.set_started();
    let ready_loop = async {
        let Some(r) = readiness else {
            sink.set_ready(true);
            return std::future::pending::<()>().await;
        };
        tokio::time::sleep_until(started_at + r.initial_delay).await;
        let mut tick = interval(r.period);
        let (mut ok, mut bad) = (0u32, 0u32);
        let mut ready = false;
        loop {
            tick.tick().await;
            match check(&r.action, r.timeout, target).await {
                Ok(()) => {
                    ok += 1;
                    bad = 0;
                    if !ready && ok >= r.success_threshold {
                        ready = true;
                        sink.set_ready(true);
                    }
                }
                Err(e) => {
                    bad += 1;
                    ok = 0;
                    sink.probe_failed("readiness", &e);
                    if ready && bad >= r.failure_threshold {
                        ready = false;
                        sink.set_ready(false);
                    }
                }
            }
        }
    };
    let live_loop = async {
        let Some(l) = liveness else {
            return std::future::pending::<RestartReason>().await;
        };
        tokio::time::sleep_until(started_at + l.initial_delay).await;
        let mut tick = interval(l.period);
        let mut bad = 0u32;
        loop {
            tick.tick().await;
            match check(&l.action, l.timeout, target).await {
                Ok(()) => bad = 0,
                Err(e) => {
                    bad += 1;
                    sink.probe_failed("liveness", &e);
                    if bad >= l.failure_threshold {
                        return RestartReason {
                            message: format!("liveness probe failed {bad} times: {e}"),
                            grace: l.termination_grace,
                        };
                    }
                }
            }
        }
    };
    tokio::select! {
        () = ready_loop => unreachable_reason(),
        r = live_loop => r,
    }
}

fn unreachable_reason() -> RestartReason {
    RestartReason {
        message: "readiness loop ended".into(),
        grace: None,
    }
}

fn interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period.max(Duration::from_millis(1)));
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

/// Docker's healthcheck: checks every `interval` (every `start_interval` during
/// `start_period`, where failures do not count); healthy at the first success; unhealthy
/// after `retries` consecutive failures, which in Swarm replaces the task.
async fn healthcheck(
    h: &Healthcheck,
    started_at: Instant,
    target: &ProbeTarget,
    sink: &dyn ProbeSink,
) -> RestartReason {
    let argv = match &h.test {
        HealthTest::Exec(argv) => argv.clone(),
        HealthTest::Shell(cmd) => vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
    };
    let action = ProbeAction::Exec(argv);
    sink.set_started();
    let mut healthy = false;
    let mut failures = 0u32;
    loop {
        let in_start = started_at.elapsed() < h.start_period;
        let wait = if in_start && !healthy {
            h.start_interval
        } else {
            h.interval
        };
        tokio::time::sleep(wait).await;
        match check(&action, h.timeout, target).await {
            Ok(()) => {
                failures = 0;
                if !healthy {
                    healthy = true;
                    sink.set_ready(true);
                }
            }
            Err(e) => {
                sink.probe_failed("healthcheck", &e);
                if started_at.elapsed() < h.start_period && !healthy {
                    continue;
                }
                failures += 1;
                if failures >= h.retries {
                    sink.set_ready(false);
                    return RestartReason {
                        message: format!("unhealthy: healthcheck failed {failures} times: {e}"),
                        grace: None,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case(&[0, 0, 0, 0, 2, 0x08, 0x01], Some(1) ; "serving")]
    #[test_case(&[0, 0, 0, 0, 2, 0x08, 0x02], Some(2) ; "not serving")]
    #[test_case(&[0, 0, 0, 0, 0], Some(0) ; "empty message is unknown")]
    #[test_case(&[0, 0, 0, 0, 5, 0x12, 0x01, b'x', 0x08, 0x01], Some(1) ; "unknown field skipped")]
    #[test_case(&[0, 0, 0, 0, 3, 0x08, 0x01], None ; "length beyond the data")]
    #[test_case(&[1, 0, 0, 0, 2, 0x08, 0x01], None ; "compressed")]
    #[test_case(&[0, 0, 0, 0, 2, 0x08, 0x80], None ; "varint cut")]
    #[test_case(&[0, 0, 0], None ; "short prefix")]
    fn health_responses_decode(data: &[u8], status: Option<i32>) {
        assert_eq!(health_status(data), status);
    }

    #[test]
    fn grpc_codes_are_named() {
        assert_eq!(grpc_code_name(12), "Unimplemented");
        assert_eq!(grpc_code_name(99), "Unknown");
    }
}
