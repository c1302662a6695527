//! Health probes: one check (HTTP GET, TCP connect, a command) and the Kubernetes state
//! machines around it (thresholds, startup gating), plus Compose's healthcheck. Probes are
//! timers: between checks nothing runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use meridian_config::compose::{HealthTest, Healthcheck};
use meridian_control::endpoints::PortMapping;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};

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
            if scheme != "HTTP" {
                return Err(format!(
                    "Get \"{url}\": HTTPS probes are not supported yet (use scheme HTTP or a tcpSocket probe)"
                ));
            }
            match tokio::time::timeout(timeout, http_get(host, port, path, headers)).await {
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
        ProbeAction::Grpc { port } => Err(format!(
            "gRPC probes are not supported yet (port {port}); use an httpGet or tcpSocket probe"
        )),
    }
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<u16, String> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let mut req = http::Request::get(path).header(http::header::HOST, format!("{host}:{port}"));
    req = req
        .header(http::header::USER_AGENT, "meridian-probe/1")
        .header(http::header::ACCEPT, "*/*");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    // Read (a bounded amount of) the body so the server sees a normal exchange.
    let _ = tokio::time::timeout(Duration::from_millis(200), resp.into_body().collect()).await;
    conn.abort();
    Ok(status)
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
