//! The admin listener: Prometheus metrics and federation (from the telemetry plane), the
//! dashboard and its API, and the JSON API that `meridian ps`, `logs`, `scale`, `rollout` and
//! `ca` talk to, whose requests [`meridian_admin::AdminRequest`] lists.
//!
//! Who may call it is [`meridian_admin::access`]'s: every request names the admin address in
//! `Host` and comes from no foreign `Origin`; state-changing ones carry the node's token. The
//! Prometheus endpoints skip the `Host` check (a federating Prometheus may name this node by
//! a DNS name) but not the `Origin` one.
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
use meridian_admin::{AdminRequest, AdminToken, LogOptions};
use meridian_telemetry::admin::AdminEndpoints;
use meridian_telemetry::federate::Federation;
use meridian_workloads::{LogQuery, RolloutPhase};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::node::Node;

type Body = BoxBody<Bytes, Infallible>;

/// Serves the admin API on `listener` until the process ends; state-changing requests need
/// `token`.
pub(crate) fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    federation: Federation,
    token: AdminToken,
) {
    let telemetry = Arc::new(AdminEndpoints::new(node.registry.clone(), federation));
    let admin = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let token = Arc::new(token);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let node = node.clone();
            let telemetry = telemetry.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let node = node.clone();
                    let telemetry = telemetry.clone();
                    let token = token.clone();
                    async move {
                        Ok::<_, Infallible>(route(req, &node, &telemetry, admin, &token).await)
                    }
                });
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10));
                let _ = builder
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
    /// The DynamoDB API: where it listens and which key to use.
    dynamodb: DynamoStatus,
    /// The S3 API: where it listens and which key to use.
    s3: S3Status,
}

#[derive(Serialize)]
struct S3Status {
    url: String,
    access_key_id: Option<String>,
    buckets: usize,
}

#[derive(Serialize)]
struct DynamoStatus {
    url: String,
    access_key_id: Option<String>,
    /// The file that holds the access keys' secrets.
    key_file: Option<String>,
    tables: usize,
}

async fn route(
    req: Request<Incoming>,
    node: &Node,
    telemetry: &AdminEndpoints,
    admin: SocketAddr,
    token: &AdminToken,
) -> Response<Body> {
    // Prometheus' endpoints: open to any Host, never to a foreign page.
    if let Some(r) = telemetry.respond(req.method(), req.uri()) {
        let foreign = req
            .headers()
            .get_all(header::ORIGIN)
            .iter()
            .any(|o| o.as_bytes() != format!("http://{admin}").as_bytes());
        if foreign {
            return error(
                StatusCode::FORBIDDEN,
                "a web page of another origin may not read metrics",
            );
        }
        // The distributions' cache families follow the registry's on `/metrics`.
        let mut cdn = match (&node.edge, req.uri().path(), req.method()) {
            (Some(edge), "/metrics" | "/stats/prometheus", &Method::GET) => {
                crate::edge::metrics_text(edge)
            }
            _ => String::new(),
        };
        // The functions' pools and Azure functions.
        if let (Some(f), "/metrics" | "/stats/prometheus", &Method::GET) =
            (&node.functions, req.uri().path(), req.method())
        {
            cdn.push_str(&meridian_functions::metrics::text(&f.host, &f.azure));
        }
        // And the front door's backends.
        if let (Some(fd), "/metrics" | "/stats/prometheus", &Method::GET) =
            (&node.frontdoor, req.uri().path(), req.method())
        {
            cdn.push_str(&crate::frontdoor::metrics_text(fd));
        }
        return r.map(|b| {
            if cdn.is_empty() {
                Full::new(b).boxed()
            } else {
                let mut all = b.to_vec();
                all.extend_from_slice(cdn.as_bytes());
                Full::new(Bytes::from(all)).boxed()
            }
        });
    }
    if let Err(refusal) = meridian_admin::check(req.method(), req.headers(), admin, token) {
        return error(refusal.status(), &refusal.to_string());
    }
    if let Some(r) = crate::observe_api::respond(&req, node) {
        return r;
    }
    let (parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        match http_body_util::Limited::new(body, meridian_admin::request::MAX_BODY)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the body is larger than the admin API takes (64 KiB)",
                );
            }
        }
    } else {
        Bytes::new()
    };
    let path = parts.uri.path();
    let request = match AdminRequest::parse(&parts.method, path, parts.uri.query(), &body) {
        Ok(Some(r)) => r,
        Ok(None) if path.starts_with("/api/") => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("no such API: {} {path}", parts.method),
            );
        }
        Ok(None) => return full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        Err(e) => return error(e.status, &e.message),
    };
    let authorized = || {
        parts
            .headers
            .get(header::AUTHORIZATION)
            .is_some_and(|a| token.accepts(a.as_bytes()))
    };
    if request.needs_token() && !authorized() {
        return error(
            StatusCode::UNAUTHORIZED,
            "this call needs the node's token (Authorization: Bearer, from <state>/admin.token); the meridian CLI sends it",
        );
    }
    answer(request, node).await
}

async fn answer(request: AdminRequest, node: &Node) -> Response<Body> {
    let sup = &node.supervisor;
    match request {
        AdminRequest::Health => full(StatusCode::OK, "text/plain", "ok\n"),
        AdminRequest::Status => json(
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
                dynamodb: {
                    let (id, file) = node.storage.access_key();
                    DynamoStatus {
                        url: node.storage.dynamodb_url(),
                        access_key_id: id,
                        key_file: file.map(|f| f.display().to_string()),
                        tables: node.storage.dynamo.tables().len(),
                    }
                },
                s3: S3Status {
                    url: node.storage.s3_url(),
                    access_key_id: node.storage.access_key().0,
                    buckets: node.storage.buckets().await.map_or(0, |b| b.len()),
                },
            },
        ),
        AdminRequest::Replicas => json(StatusCode::OK, &sup.status()),
        AdminRequest::Snapshot => json(StatusCode::OK, &*node.proxy.snapshot()),
        AdminRequest::Resources => {
            let rev = node.revision();
            let resources: Vec<&meridian_config::Resource> = rev.bundle.resources().collect();
            json(
                StatusCode::OK,
                &serde_json::json!({ "revision": rev.number, "resources": resources }),
            )
        }
        AdminRequest::Functions => json(
            StatusCode::OK,
            &node
                .functions
                .as_ref()
                .map(|f| f.host.functions())
                .unwrap_or_default(),
        ),
        AdminRequest::FunctionKeys => json(
            StatusCode::OK,
            &node
                .functions
                .as_ref()
                .map(|f| f.azure.all_keys())
                .unwrap_or_default(),
        ),
        AdminRequest::RotateFunctionKey {
            app,
            function,
            name,
        } => match node
            .functions
            .as_ref()
            .map(|f| f.azure.rotate(&app, function.as_deref(), &name))
        {
            Some(Ok(value)) => json(
                StatusCode::OK,
                &serde_json::json!({"app": app, "function": function, "name": name, "value": value}),
            ),
            Some(Err(e)) => error(StatusCode::NOT_FOUND, &e.to_string()),
            None => error(StatusCode::NOT_FOUND, "no function apps are served"),
        },
        AdminRequest::Tables => match node.storage.tables().await {
            Ok(t) => json(StatusCode::OK, &t),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        AdminRequest::Buckets => match node.storage.buckets().await {
            Ok(b) => json(StatusCode::OK, &b),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        AdminRequest::GlobalHealth => json(StatusCode::OK, &node.global.health()),
        AdminRequest::FrontDoor => match &node.frontdoor {
            Some(fd) => {
                let backends: Vec<_> = fd.doors.all().iter().flat_map(|d| d.status()).collect();
                let regions: Vec<_> = fd
                    .regions()
                    .await
                    .into_iter()
                    .map(|(region, port, addr, serving)| {
                        serde_json::json!({ "region": region, "gateway_port": port, "addr": addr, "serving": serving })
                    })
                    .collect();
                json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "http": fd.http,
                        "https": fd.https,
                        "front_doors": fd.served(),
                        "regions": regions,
                        "backends": backends,
                    }),
                )
            }
            None => json(
                StatusCode::OK,
                &serde_json::json!({ "front_doors": [], "regions": [], "backends": [] }),
            ),
        },
        AdminRequest::FailoverTest { region } => {
            match crate::frontdoor::failover_test(node, &region).await {
                Ok(report) => json(StatusCode::OK, &report),
                Err(e) => error(StatusCode::BAD_REQUEST, &format!("{e:#}")),
            }
        }
        AdminRequest::Distributions => json(
            StatusCode::OK,
            &node
                .edge
                .as_ref()
                .map(|e| e.summaries())
                .unwrap_or_default(),
        ),
        AdminRequest::Invalidate {
            distribution,
            paths,
        } => match node.edge.as_ref().and_then(|e| e.cdn_api.clone()) {
            None => error(
                StatusCode::NOT_FOUND,
                "no CloudFront distribution is served",
            ),
            Some(api) => match api.invalidate(&distribution, paths).await {
                Ok(id) => json(
                    StatusCode::OK,
                    &serde_json::json!({"distribution": distribution, "id": id, "status": "Completed"}),
                ),
                Err(message) => error(StatusCode::BAD_REQUEST, &message),
            },
        },
        AdminRequest::DnsQuery { name, rtype, from } => {
            dns_query(node, &name, rtype.as_deref(), from.as_deref())
        }
        AdminRequest::TableScan { table, limit } => {
            let mut input = serde_json::json!({ "TableName": table });
            if let Some(n) = limit {
                input["Limit"] = serde_json::json!(n);
            }
            match node.storage.dynamo.call("Scan", &input).await {
                Ok(v) => json(StatusCode::OK, &v),
                Err(e) => {
                    let status = if e.type_name() == "ResourceNotFoundException" {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::BAD_REQUEST
                    };
                    error(status, &e.to_string())
                }
            }
        }
        AdminRequest::Logs { replica, options } => logs(node, &replica, &options),
        AdminRequest::Clusters { name } => clusters(node, name.as_deref()),
        AdminRequest::Scale { workload, replicas } => {
            match sup
                .resolve(&workload)
                .and_then(|id| sup.scale(&id, replicas))
            {
                Ok(()) => json(
                    StatusCode::OK,
                    &serde_json::json!({ "workload": workload, "replicas": replicas }),
                ),
                Err(e @ meridian_workloads::WorkloadError::TooManyReplicas { .. }) => {
                    error(StatusCode::BAD_REQUEST, &e.to_string())
                }
                Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
            }
        }
        AdminRequest::RolloutRestart { workload } => rollout(node, &workload, |id| {
            sup.rollout_restart(id)
                .map(|rev| serde_json::json!({ "revision": rev }))
        }),
        AdminRequest::RolloutUndo { workload, revision } => rollout(node, &workload, |id| {
            sup.rollout_undo(id, revision)
                .map(|rev| serde_json::json!({ "revision": rev }))
        }),
        AdminRequest::RolloutResume { workload } => rollout(node, &workload, |id| {
            sup.rollout_resume(id)
                .map(|()| serde_json::json!({ "resumed": true }))
        }),
        AdminRequest::RolloutHistory { workload } => {
            match sup
                .resolve(&workload)
                .and_then(|id| sup.rollout_history(&id))
            {
                Ok(h) => json(StatusCode::OK, &h),
                Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
            }
        }
        AdminRequest::RolloutStatus {
            workload,
            timeout_secs,
        } => rollout_status(node, &workload, timeout_secs).await,
        AdminRequest::CaRoots => ca_roots(node),
        AdminRequest::CaWorkload { workload } => ca_workload(node, &workload),
        AdminRequest::CaReload => ca_reload(node),
        _ => error(
            StatusCode::NOT_FOUND,
            "this node does not serve that request",
        ),
    }
}

/// A rollout action on a workload found by name.
fn rollout(
    node: &Node,
    workload: &str,
    action: impl FnOnce(
        &meridian_control::endpoints::WorkloadRef,
    ) -> Result<serde_json::Value, meridian_workloads::WorkloadError>,
) -> Response<Body> {
    let id = match node.supervisor.resolve(workload) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::NOT_FOUND, &e.to_string()),
    };
    match action(&id) {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
    }
}

/// Upstream clusters: circuit breakers (gauges, thresholds, overflows), outlier detection
/// counters, and each endpoint with its ejection state. `?name=` narrows to clusters whose
/// name contains it.
fn clusters(node: &Node, name: Option<&str>) -> Response<Body> {
    let mut all = node.proxy.clusters();
    if let Some(name) = name {
        all.retain(|c| c.name.contains(name));
    }
    json(StatusCode::OK, &all)
}

fn ca_roots(node: &Node) -> Response<Body> {
    use crate::commands::ca::CertView;
    let Some(ca) = node.proxy.certificate_authority() else {
        return error(StatusCode::NOT_FOUND, "this node runs without a mesh CA");
    };
    match ca.root_infos() {
        Ok(roots) => json(
            StatusCode::OK,
            &serde_json::json!({
                "trustDomain": ca.trust_domain().as_str(),
                "source": ca.source().to_string(),
                "roots": roots.iter().map(|(i, until)| CertView::new(i, *until)).collect::<Vec<_>>(),
                "pem": ca.trust_bundle().to_pem(),
            }),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn ca_workload(node: &Node, name: &str) -> Response<Body> {
    use crate::commands::ca::CertView;
    if node.proxy.certificate_authority().is_none() {
        return error(StatusCode::NOT_FOUND, "this node runs without a mesh CA");
    }
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
                "workloadCertTtl": meridian_config::duration::format(node.options.mesh_ca.workload_cert_ttl),
                "chainPem": cert.chain_pem(),
            }),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn ca_reload(node: &Node) -> Response<Body> {
    let Some(ca) = node.proxy.certificate_authority() else {
        return error(StatusCode::NOT_FOUND, "this node runs without a mesh CA");
    };
    match ca.reload() {
        Ok(changed) => json(StatusCode::OK, &serde_json::json!({ "changed": changed })),
        Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
    }
}

fn logs(node: &Node, replica: &str, options: &LogOptions) -> Response<Body> {
    let query = LogQuery {
        follow: options.follow,
        since: options
            .since_secs
            .and_then(|secs| SystemTime::now().checked_sub(Duration::from_secs(secs))),
        tail: options.tail,
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
async fn rollout_status(node: &Node, name: &str, timeout_secs: Option<u64>) -> Response<Body> {
    let sup = &node.supervisor;
    let id = match sup.resolve(name) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let timeout = Duration::from_secs(timeout_secs.unwrap_or(600));
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

/// Route 53's "test DNS answer": what the DNS answers a querier, which records and why.
fn dns_query(node: &Node, name: &str, rtype: Option<&str>, from: Option<&str>) -> Response<Body> {
    let rtype = rtype.unwrap_or("A").to_ascii_uppercase();
    let Ok(qtype) = rtype.parse::<meridian_global::RecordType>() else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("\"{rtype}\" is not a DNS record type"),
        );
    };
    // An address, or a client subnet (its network address answers for it).
    let addr = match from {
        None => std::net::IpAddr::from([127, 0, 0, 1]),
        Some(f) => match f.parse::<std::net::IpAddr>().ok().or_else(|| {
            f.parse::<meridian_global::policy::IpNet>()
                .ok()
                .map(|n| n.network())
        }) {
            Some(a) => a,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("\"{f}\" is not an IP address or a CIDR block"),
                );
            }
        },
    };
    let Some(answer) = node.global.query(name, qtype, addr) else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("\"{name}\" is not a DNS name"),
        );
    };
    let records: Vec<String> = answer.answers.iter().map(ToString::to_string).collect();
    let authority: Vec<String> = answer.authority.iter().map(ToString::to_string).collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "name": name,
            "type": rtype,
            "from": addr.to_string(),
            "rcode": rcode_name(answer.rcode),
            "answers": records,
            "authority": authority,
            "why": answer.trace,
        }),
    )
}

/// The RCODE as dig prints it.
fn rcode_name(code: meridian_global::ResponseCode) -> String {
    use meridian_global::ResponseCode as R;
    match code {
        R::NoError => "NOERROR".into(),
        R::NXDomain => "NXDOMAIN".into(),
        R::Refused => "REFUSED".into(),
        R::ServFail => "SERVFAIL".into(),
        R::FormErr => "FORMERR".into(),
        R::NotImp => "NOTIMP".into(),
        other => other.to_string(),
    }
}
