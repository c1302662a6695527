//! The admin listener: Prometheus metrics and federation (from the telemetry plane) and the
//! JSON API that `meridian ps`, `logs`, `scale` and `rollout` talk to.
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/metrics`, `/stats/prometheus`, `/federate` | telemetry |
//! | GET | `/healthz` | liveness of the node |
//! | GET | `/api/v1/status` | revision, uptime, workloads, data plane sync (`endpoints`) |
//! | GET | `/api/v1/replicas` | every replica (`meridian ps`) |
//! | GET | `/api/v1/resources` | the resources in force (`meridian get resources`) |
//! | GET | `/api/v1/snapshot` | the compiled snapshot the data plane serves (`meridian get snapshot`) |
//! | GET | `/api/v1/logs/{replica}?follow&since=SECS&tail=N` | log lines, streamed |
//! | POST | `/api/v1/workloads/{name}/scale?replicas=N` | scale |
//! | POST | `/api/v1/workloads/{name}/rollout/{restart,undo,resume}[?revision=N]` | rollouts |
//! | GET | `/api/v1/workloads/{name}/rollout/status?timeout=SECS` | progress lines until done |
//! | GET | `/api/v1/workloads/{name}/rollout/history` | revisions |
//!
//! Errors are JSON `{"error": "..."}` with a 4xx/5xx status.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use meridian_telemetry::admin::AdminEndpoints;
use meridian_telemetry::federate::Federation;
use meridian_workloads::{LogQuery, RolloutPhase};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::node::Node;

type Body = BoxBody<Bytes, Infallible>;

/// Serves the admin API on `listener` until the process ends.
pub(crate) fn serve(listener: TcpListener, node: Arc<Node>, federation: Federation) {
    let telemetry = Arc::new(AdminEndpoints::new(node.registry.clone(), federation));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let node = node.clone();
            let telemetry = telemetry.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let node = node.clone();
                    let telemetry = telemetry.clone();
                    async move { Ok::<_, Infallible>(route(req, &node, &telemetry).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// Binds the admin address, with an error that says what to do when it is taken.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "the admin port {addr} is taken (is another `meridian up` running?); pass --admin-addr 127.0.0.1:0 for any free port"
            )
        } else {
            anyhow::anyhow!("cannot listen on {addr} for the admin API: {e}")
        }
    })
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec_pretty(value) {
        Ok(mut v) => {
            v.push(b'\n');
            full(status, "application/json", v)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

#[derive(Serialize)]
struct Status {
    revision: u64,
    /// The last revision that could not be put in force, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<crate::node::Refusal>,
    state_dir: String,
    uptime_seconds: u64,
    workloads: Vec<meridian_workloads::RolloutStatus>,
    /// Whether routing and inbound sidecars have caught up with the ready replicas.
    endpoints: crate::node::EndpointSync,
    /// How functions' `MemorySize` is enforced here (cgroup v2 or rlimit), when any run.
    #[serde(skip_serializing_if = "Option::is_none")]
    functions_memory_limit: Option<String>,
}

async fn route(req: Request<Incoming>, node: &Node, telemetry: &AdminEndpoints) -> Response<Body> {
    if let Some(r) = telemetry.respond(req.method(), req.uri()) {
        return r.map(|b| Full::new(b).boxed());
    }
    if let Some(r) = crate::observe::api::respond(&req, node) {
        return r;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let q = query.as_deref();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let sup = &node.supervisor;
    match (&method, segs.as_slice()) {
        (&Method::GET, ["healthz"]) => full(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, ["api", "v1", "status"]) => json(
            StatusCode::OK,
            &Status {
                revision: node.revision().number,
                refused: node.refusal(),
                state_dir: node.state_dir().display().to_string(),
                uptime_seconds: node.started.elapsed().map_or(0, |d| d.as_secs()),
                workloads: sup.workloads(),
                endpoints: node.endpoint_sync(),
                functions_memory_limit: node
                    .functions
                    .as_ref()
                    .map(|f| f.host.memory_enforcement().describe()),
            },
        ),
        (&Method::GET, ["api", "v1", "replicas"]) => json(StatusCode::OK, &sup.status()),
        (&Method::GET, ["api", "v1", "snapshot"]) => json(StatusCode::OK, &*node.proxy.snapshot()),
        (&Method::GET, ["api", "v1", "resources"]) => {
            let rev = node.revision();
            let resources: Vec<&meridian_config::Resource> = rev.bundle.resources().collect();
            json(
                StatusCode::OK,
                &serde_json::json!({ "revision": rev.number, "resources": resources }),
            )
        }
        (&Method::GET, ["api", "v1", "functions"]) => json(
            StatusCode::OK,
            &node
                .functions
                .as_ref()
                .map(|f| f.host.functions())
                .unwrap_or_default(),
        ),
        (&Method::GET, ["api", "v1", "logs", replica]) => logs(node, replica, q),
        (&Method::GET, ["api", "v1", "clusters"]) => clusters(node, q),
        (&Method::POST, ["api", "v1", "workloads", name, "scale"]) => {
            let Some(n) = query_param(q, "replicas").and_then(|v| v.parse::<u32>().ok()) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "replicas=N is required (a whole number)",
                );
            };
            match sup.resolve(name).and_then(|id| sup.scale(&id, n)) {
                Ok(()) => json(
                    StatusCode::OK,
                    &serde_json::json!({ "workload": name, "replicas": n }),
                ),
                Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
            }
        }
        (&Method::POST, ["api", "v1", "workloads", name, "rollout", action]) => {
            let id = match sup.resolve(name) {
                Ok(id) => id,
                Err(e) => return error(StatusCode::NOT_FOUND, &e.to_string()),
            };
            let result = match *action {
                "restart" => sup
                    .rollout_restart(&id)
                    .map(|rev| serde_json::json!({ "revision": rev })),
                "undo" => {
                    let to = query_param(q, "revision").and_then(|v| v.parse::<u64>().ok());
                    sup.rollout_undo(&id, to)
                        .map(|rev| serde_json::json!({ "revision": rev }))
                }
                "resume" => sup
                    .rollout_resume(&id)
                    .map(|()| serde_json::json!({ "resumed": true })),
                other => {
                    return error(
                        StatusCode::NOT_FOUND,
                        &format!("unknown rollout action \"{other}\"; use restart, undo or resume"),
                    );
                }
            };
            match result {
                Ok(v) => json(StatusCode::OK, &v),
                Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
            }
        }
        (&Method::GET, ["api", "v1", "workloads", name, "rollout", "history"]) => {
            match sup.resolve(name).and_then(|id| sup.rollout_history(&id)) {
                Ok(h) => json(StatusCode::OK, &h),
                Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
            }
        }
        (&Method::GET, ["api", "v1", "workloads", name, "rollout", "status"]) => {
            rollout_status(node, name, q).await
        }
        (_, ["api", "v1", "ca", rest @ ..]) => ca_api(node, &method, rest),
        (_, ["api", ..]) => error(
            StatusCode::NOT_FOUND,
            &format!("no such API: {method} {path}"),
        ),
        _ => full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

/// Upstream clusters: circuit breakers (gauges, thresholds, overflows), outlier detection
/// counters, and each endpoint with its ejection state. `?name=` narrows to clusters whose
/// name contains it.
fn clusters(node: &Node, q: Option<&str>) -> Response<Body> {
    let mut all = node.proxy.clusters();
    if let Some(name) = query_param(q, "name").filter(|n| !n.is_empty()) {
        all.retain(|c| c.name.contains(name));
    }
    json(StatusCode::OK, &all)
}

/// The mesh CA: `GET roots`, `GET workloads/{name}` (its current certificate), `POST reload`
/// (after `meridian ca rotate`).
fn ca_api(node: &Node, method: &Method, rest: &[&str]) -> Response<Body> {
    use crate::commands::ca::CertView;
    let Some(ca) = node.proxy.certificate_authority() else {
        return error(StatusCode::NOT_FOUND, "this node runs without a mesh CA");
    };
    match (method, rest) {
        (&Method::GET, ["roots"]) => match ca.root_infos() {
            Ok(roots) => json(
                StatusCode::OK,
                &serde_json::json!({
                    "trustDomain": ca.trust_domain().as_str(),
                    "source": format!("{:?}", ca.source()),
                    "roots": roots.iter().map(|(i, until)| CertView::new(i, *until)).collect::<Vec<_>>(),
                    "pem": ca.trust_bundle().to_pem(),
                }),
            ),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (&Method::GET, ["workloads", name]) => {
            let sup = &node.supervisor;
            let id = match sup.resolve(name) {
                Ok(id) => id,
                Err(e) => return error(StatusCode::NOT_FOUND, &e.to_string()),
            };
            let table = sup.endpoints().borrow().clone();
            let sa = table
                .replicas
                .iter()
                .find(|r| r.workload == id)
                .map_or_else(|| "default".to_owned(), |r| r.service_account.clone());
            let Some(identity) = node.proxy.workload_identity(&id.namespace, &sa) else {
                return error(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "{}/{} has no certificate yet (no sidecar started)",
                        id.namespace, id.name
                    ),
                );
            };
            let cert = identity.certificate();
            match cert.info() {
                Ok(info) => json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "workload": format!("{}/{}", id.namespace, id.name),
                        "identity": identity.id().as_str(),
                        "certificate": CertView::new(&info, None),
                        "workloadCertTtl": format!("{:?}", node.options.mesh_ca.workload_cert_ttl),
                        "chainPem": cert.chain_pem(),
                    }),
                ),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        (&Method::POST, ["reload"]) => match ca.reload() {
            Ok(changed) => json(StatusCode::OK, &serde_json::json!({ "changed": changed })),
            Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            "no such CA API: use GET roots, GET workloads/{name}, POST reload",
        ),
    }
}

fn logs(node: &Node, replica: &str, q: Option<&str>) -> Response<Body> {
    let query = LogQuery {
        follow: query_param(q, "follow").is_some(),
        since: query_param(q, "since")
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|secs| SystemTime::now().checked_sub(Duration::from_secs(secs))),
        tail: query_param(q, "tail").and_then(|s| s.parse().ok()),
    };
    // `meridian logs myapp` means a replica of the workload, as `kubectl logs deploy/myapp`.
    let sup = &node.supervisor;
    let replica = match sup.resolve(replica) {
        Ok(id) => sup
            .status()
            .into_iter()
            .find(|r| r.workload == id)
            .map_or_else(|| replica.to_owned(), |r| r.replica),
        Err(_) => replica.to_owned(),
    };
    let mut reader = match sup.logs(&replica, &query) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    tokio::spawn(async move {
        while let Some(line) = reader.next_line().await {
            let text = format!("{} {}\n", line.time, line.text);
            if tx.send(Ok(Frame::data(Bytes::from(text)))).await.is_err() {
                break;
            }
        }
    });
    let body = StreamBody::new(tokio_stream_from(rx)).boxed();
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Progress lines of a rollout until it completes, stalls or `timeout` passes.
async fn rollout_status(node: &Node, name: &str, q: Option<&str>) -> Response<Body> {
    let sup = &node.supervisor;
    let id = match sup.resolve(name) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let timeout = Duration::from_secs(
        query_param(q, "timeout")
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let sup = sup.clone();
    tokio::spawn(async move {
        let progress = tx.clone();
        let result = sup
            .wait_rollout(&id, timeout, move |s| {
                let _ = progress.try_send(Ok(Frame::data(Bytes::from(s.message() + "\n"))));
            })
            .await;
        let last = match result {
            Ok(s) if s.phase == RolloutPhase::Complete => String::new(),
            Ok(s) => format!("error: {}\n", s.message()),
            Err(e) => format!("error: {e}\n"),
        };
        if !last.is_empty() {
            let _ = tx.send(Ok(Frame::data(Bytes::from(last)))).await;
        }
    });
    let mut r = Response::new(StreamBody::new(tokio_stream_from(rx)).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A `Stream` over an mpsc receiver.
fn tokio_stream_from<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
