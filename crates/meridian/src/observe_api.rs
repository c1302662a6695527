//! The observability routes of the admin listener, mounted by one call from `admin.rs`:
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/api/v1/stat?kind=deploy\|svc\|route\|edge&window=SECS` | golden signals (`meridian stat`) |
//! | GET | `/api/v1/tap?workload=&to=&method=&path=&errors&reporter=&max=N` | live requests, one JSON object per line (`meridian tap`, `top`) |
//! | GET | `/api/v1/graph?window=SECS` | the service graph, canary splits, replicas, recent errors (dashboard) |
//! | GET | `/`, `/dashboard/...` | the dashboard |

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use meridian_control::snapshot::{ClusterTarget, RouteAction, Snapshot};
use serde::Serialize;

use meridian_observe::StatKey;
use meridian_observe::directory::GATEWAY_WORKLOAD;
use meridian_observe::tap::{TapEvent, TapFilter};
use meridian_observe::window::Signals;

use crate::node::Node;

type Body = BoxBody<Bytes, Infallible>;

/// The longest window asked for (the history kept).
const MAX_WINDOW: u64 = 60;

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn json<T: Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(mut v) => {
            v.push(b'\n');
            full(StatusCode::OK, "application/json", v)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    full(status, "application/json", body)
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut r = full(StatusCode::FOUND, "text/plain", "");
    r.headers_mut()
        .insert(header::LOCATION, header::HeaderValue::from_static(to));
    r
}

/// `key=value` pairs of a query string, form-decoded (`+` is a space).
fn params(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn window_of(p: &HashMap<String, String>) -> Duration {
    Duration::from_secs(
        p.get("window")
            .and_then(|w| w.trim_end_matches('s').parse::<u64>().ok())
            .unwrap_or(MAX_WINDOW)
            .clamp(1, MAX_WINDOW),
    )
}

/// The answer for an observability route, or `None` for any other path.
pub(crate) fn respond<B>(req: &Request<B>, node: &Node) -> Option<Response<Body>> {
    let path = req.uri().path();
    let is_ours = path == "/"
        || path == "/dashboard"
        || path.starts_with("/dashboard/")
        || matches!(path, "/api/v1/stat" | "/api/v1/tap" | "/api/v1/graph");
    if !is_ours {
        return None;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Some(error(StatusCode::METHOD_NOT_ALLOWED, "use GET"));
    }
    let p = params(req.uri().query());
    Some(match path {
        "/" | "/dashboard" => redirect("/dashboard/"),
        "/api/v1/stat" => stat(node, &p),
        "/api/v1/tap" => tap(node, &p),
        "/api/v1/graph" => json(&graph(node, window_of(&p))),
        _ => crate::dashboard::asset(path.trim_start_matches("/dashboard/")),
    })
}

/// One row of `meridian stat`.
#[derive(Debug, Serialize)]
pub(crate) struct StatRow {
    pub(crate) name: String,
    pub(crate) namespace: String,
    /// `ready/desired` for workloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) meshed: Option<String>,
    /// For routes: the service, subset, configured weights and observed share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) weights: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    #[serde(flatten)]
    pub(crate) signals: Signals,
}

fn split_id(id: &str) -> (String, String) {
    match id.split_once('/') {
        Some((ns, n)) => (ns.to_owned(), n.to_owned()),
        None => (String::new(), id.to_owned()),
    }
}

fn short_service(fqdn: &str) -> (String, String) {
    let mut parts = fqdn.splitn(3, '.');
    let name = parts.next().unwrap_or(fqdn).to_owned();
    let ns = parts.next().unwrap_or("").to_owned();
    (ns, name)
}

/// Configured weights per cluster: `virtualservice#rule weight%`.
fn weights(snap: &Snapshot) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for vh in &snap.virtual_hosts {
        for route in &vh.routes {
            let RouteAction::Forward(w) = &route.action else {
                continue;
            };
            let total = w.total_weight.max(1);
            for d in &w.destinations {
                let clusters: Vec<usize> = match &d.target {
                    ClusterTarget::Cluster(c) => vec![*c],
                    ClusterTarget::ByPort(ports) => ports.iter().map(|(_, c)| *c).collect(),
                    ClusterTarget::Missing(_) | ClusterTarget::Dynamic(_) => Vec::new(),
                };
                let pct = if w.destinations.len() == 1 {
                    100
                } else {
                    d.weight * 100 / total
                };
                for c in clusters {
                    if let Some(cl) = snap.cluster(c) {
                        let label = format!(
                            "{}#{} {pct}%",
                            route.origin.virtual_service, route.origin.index
                        );
                        let v = out.entry(cl.name.clone()).or_default();
                        if !v.contains(&label) {
                            v.push(label);
                        }
                    }
                }
            }
        }
    }
    out
}

pub(crate) fn stat_rows(node: &Node, kind: &str, window: Duration) -> Result<Vec<StatRow>, String> {
    let obs = &node.observer;
    let stats = obs.stats();
    let mut rows = Vec::new();
    match kind {
        "deploy" | "deployment" | "deployments" | "deploy/" | "workload" | "workloads" | "po" => {
            let signals: HashMap<String, Signals> = stats
                .iter()
                .filter_map(|(k, g)| match k {
                    StatKey::Deploy(id) => Some((id.clone(), g.window(window))),
                    _ => None,
                })
                .collect();
            for w in node.supervisor.workloads() {
                let id = format!("{}/{}", w.workload.namespace, w.workload.name);
                rows.push(StatRow {
                    name: w.workload.name.clone(),
                    namespace: w.workload.namespace.clone(),
                    meshed: Some(format!("{}/{}", w.ready, w.desired)),
                    service: None,
                    subset: None,
                    weights: None,
                    share: None,
                    source: None,
                    signals: signals.get(&id).copied().unwrap_or_default(),
                });
            }
        }
        "svc" | "service" | "services" => {
            let dir = obs.directory();
            let signals: HashMap<String, Signals> = stats
                .iter()
                .filter_map(|(k, g)| match k {
                    StatKey::Service(s) => Some((s.clone(), g.window(window))),
                    _ => None,
                })
                .collect();
            for s in dir.services.values() {
                rows.push(StatRow {
                    name: s.name.clone(),
                    namespace: s.namespace.clone(),
                    meshed: None,
                    service: Some(s.fqdn.clone()),
                    subset: None,
                    weights: None,
                    share: None,
                    source: None,
                    signals: signals.get(&s.fqdn).copied().unwrap_or_default(),
                });
            }
        }
        "route" | "routes" | "rt" => {
            let dir = obs.directory();
            let weights = weights(&node.proxy.snapshot());
            let mut per_service: BTreeMap<String, Vec<(String, Signals)>> = BTreeMap::new();
            for (k, g) in &stats {
                if let StatKey::Route(cluster) = k {
                    let service = dir
                        .clusters
                        .get(cluster)
                        .map_or_else(|| "unknown".to_owned(), |c| c.service.clone());
                    per_service
                        .entry(service)
                        .or_default()
                        .push((cluster.clone(), g.window(window)));
                }
            }
            for (service, clusters) in per_service {
                // The canary split is between subsets; a subset-less cluster (a route
                // naming just the host) is shown without a share.
                let in_split = |c: &str| dir.clusters.get(c).is_some_and(|c| c.subset.is_some());
                let total: u64 = clusters
                    .iter()
                    .filter(|(c, _)| in_split(c))
                    .map(|(_, s)| s.requests)
                    .sum();
                let (ns, name) = short_service(&service);
                for (cluster, s) in clusters {
                    let subset = dir.clusters.get(&cluster).and_then(|c| c.subset.clone());
                    rows.push(StatRow {
                        name: format!("{name}/{}", subset.as_deref().unwrap_or("-")),
                        namespace: ns.clone(),
                        meshed: None,
                        service: Some(service.clone()),
                        subset,
                        weights: Some(weights.get(&cluster).cloned().unwrap_or_default()),
                        share: (total > 0 && in_split(&cluster))
                            .then(|| s.requests as f64 / total as f64),
                        source: None,
                        signals: s,
                    });
                }
            }
        }
        "edge" | "edges" => {
            for (k, g) in &stats {
                if let StatKey::ClientEdge { source, service } = k {
                    let (ns, name) = short_service(service);
                    rows.push(StatRow {
                        name,
                        namespace: ns,
                        meshed: None,
                        service: Some(service.clone()),
                        subset: None,
                        weights: None,
                        share: None,
                        source: Some(source.clone()),
                        signals: g.window(window),
                    });
                }
            }
        }
        other => {
            return Err(format!(
                "unknown resource kind \"{other}\"; use deploy, svc, route or edge"
            ));
        }
    }
    Ok(rows)
}

fn stat(node: &Node, p: &HashMap<String, String>) -> Response<Body> {
    let window = window_of(p);
    let kind = p.get("kind").map_or("deploy", String::as_str);
    match stat_rows(node, kind, window) {
        Ok(rows) => json(&serde_json::json!({
            "kind": kind,
            "window_seconds": window.as_secs(),
            "rows": rows,
        })),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

fn tap(node: &Node, p: &HashMap<String, String>) -> Response<Body> {
    let filter = TapFilter {
        workload: p.get("workload").filter(|s| !s.is_empty()).cloned(),
        to: p.get("to").filter(|s| !s.is_empty()).cloned(),
        method: p.get("method").filter(|s| !s.is_empty()).cloned(),
        path: p.get("path").filter(|s| !s.is_empty()).cloned(),
        errors: p.contains_key("errors"),
        reporter: p.get("reporter").filter(|s| !s.is_empty()).cloned(),
    };
    let max = p.get("max").and_then(|m| m.parse::<u64>().ok());
    let mut watcher = node.observer.watch();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(256);
    tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            let event = tokio::select! {
                e = watcher.rx.recv() => e,
                _ = tx.closed() => return,
            };
            let event = match event {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            if !filter.matches(&event) {
                continue;
            }
            let Ok(mut line) = serde_json::to_vec(&*event) else {
                continue;
            };
            line.push(b'\n');
            if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() {
                return;
            }
            sent += 1;
            if max.is_some_and(|m| sent >= m) {
                return;
            }
        }
    });
    let body = StreamBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))).boxed();
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

#[derive(Debug, Serialize)]
struct GraphNode {
    id: String,
    kind: &'static str,
    label: String,
    namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ready: Option<String>,
    #[serde(flatten)]
    signals: Signals,
}

#[derive(Debug, Serialize)]
struct GraphEdge {
    source: String,
    target: String,
    mtls: bool,
    #[serde(flatten)]
    signals: Signals,
}

#[derive(Debug, Serialize)]
struct Split {
    virtual_service: String,
    rule: usize,
    host: String,
    destinations: Vec<SplitDestination>,
}

#[derive(Debug, Serialize)]
struct SplitDestination {
    subset: String,
    cluster: String,
    weight: u32,
    share: Option<f64>,
    rps: f64,
    success_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ReplicaRow {
    replica: String,
    workload: String,
    version: Option<String>,
    state: String,
    ready: bool,
    restarts: u32,
    /// Ejected by outlier detection now.
    ejected: bool,
    last_error: Option<String>,
    #[serde(flatten)]
    signals: Signals,
}

#[derive(Debug, Serialize)]
struct Graph {
    window_seconds: u64,
    revision: u64,
    nodes: Vec<GraphNode>,
    edges: Vec<GraphEdge>,
    splits: Vec<Split>,
    replicas: Vec<ReplicaRow>,
    errors: Vec<TapEvent>,
}

fn graph(node: &Node, window: Duration) -> Graph {
    let obs = &node.observer;
    let dir = obs.directory();
    let stats = obs.stats();
    let snap = node.proxy.snapshot();
    let mut nodes: BTreeMap<String, GraphNode> = BTreeMap::new();
    let mut edges = Vec::new();
    let deploy: HashMap<&str, Signals> = stats
        .iter()
        .filter_map(|(k, g)| match k {
            StatKey::Deploy(id) => Some((id.as_str(), g.window(window))),
            _ => None,
        })
        .collect();
    for w in node.supervisor.workloads() {
        let id = format!("{}/{}", w.workload.namespace, w.workload.name);
        let info = dir.workload(&id);
        nodes.insert(
            format!("wl:{id}"),
            GraphNode {
                id: format!("wl:{id}"),
                kind: "workload",
                label: w.workload.name.clone(),
                namespace: w.workload.namespace.clone(),
                version: info.map(|i| i.version.clone()).filter(|v| !v.is_empty()),
                ready: Some(format!("{}/{}", w.ready, w.desired)),
                signals: deploy.get(id.as_str()).copied().unwrap_or_default(),
            },
        );
    }
    let service_signals: HashMap<&str, Signals> = stats
        .iter()
        .filter_map(|(k, g)| match k {
            StatKey::Service(s) => Some((s.as_str(), g.window(window))),
            _ => None,
        })
        .collect();
    for s in dir.services.values() {
        nodes.insert(
            format!("svc:{}", s.fqdn),
            GraphNode {
                id: format!("svc:{}", s.fqdn),
                kind: "service",
                label: s.name.clone(),
                namespace: s.namespace.clone(),
                version: None,
                ready: None,
                signals: service_signals
                    .get(s.fqdn.as_str())
                    .copied()
                    .unwrap_or_default(),
            },
        );
    }
    let mtls_services: std::collections::HashSet<&str> = dir
        .clusters
        .values()
        .filter(|c| c.mtls)
        .map(|c| c.service.as_str())
        .collect();
    // What the destination sides saw over mutual TLS, per (caller, workload).
    let pairs = obs.mtls_pairs();
    let service_workloads = |service: &str| -> std::collections::HashSet<String> {
        dir.replicas
            .values()
            .filter(|r| r.service.as_deref() == Some(service))
            .map(|r| r.workload.id())
            .collect()
    };
    for (k, g) in &stats {
        let (source, target, service, mtls) = match k {
            StatKey::ClientEdge { source, service } => {
                let behind = service_workloads(service);
                let mtls = pairs.iter().any(|(s, d)| s == source && behind.contains(d));
                (
                    format!("wl:{source}"),
                    format!("svc:{service}"),
                    service,
                    mtls,
                )
            }
            StatKey::ServiceEdge {
                service,
                destination,
            } => {
                let mtls = pairs.iter().any(|(_, d)| d == destination);
                (
                    format!("svc:{service}"),
                    format!("wl:{destination}"),
                    service,
                    mtls,
                )
            }
            _ => continue,
        };
        for id in [&source, &target] {
            if !nodes.contains_key(id) {
                let (kind, rest) = id.split_once(':').unwrap_or(("workload", id));
                let gateway = rest == GATEWAY_WORKLOAD;
                let (ns, label) = if kind == "svc" {
                    short_service(rest)
                } else {
                    split_id(rest)
                };
                nodes.insert(
                    id.clone(),
                    GraphNode {
                        id: id.clone(),
                        kind: if gateway {
                            "gateway"
                        } else if kind == "svc" {
                            "service"
                        } else {
                            "workload"
                        },
                        label,
                        namespace: ns,
                        version: None,
                        ready: None,
                        signals: Signals::default(),
                    },
                );
            }
        }
        edges.push(GraphEdge {
            source,
            target,
            mtls: mtls || mtls_services.contains(service.as_str()),
            signals: g.window(window),
        });
    }
    // Canary splits: every rule that splits traffic, with what really went where.
    let route_signals: HashMap<&str, Signals> = stats
        .iter()
        .filter_map(|(k, g)| match k {
            StatKey::Route(c) => Some((c.as_str(), g.window(window))),
            _ => None,
        })
        .collect();
    let mut splits = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for vh in &snap.virtual_hosts {
        for route in &vh.routes {
            let RouteAction::Forward(w) = &route.action else {
                continue;
            };
            if w.destinations.len() < 2
                || !seen.insert((route.origin.virtual_service.clone(), route.origin.index))
            {
                continue;
            }
            let mut dests = Vec::new();
            for d in &w.destinations {
                let cluster = match &d.target {
                    ClusterTarget::Cluster(c) => snap.cluster(*c).map(|c| c.name.clone()),
                    ClusterTarget::ByPort(p) => p
                        .first()
                        .and_then(|(_, c)| snap.cluster(*c))
                        .map(|c| c.name.clone()),
                    ClusterTarget::Missing(_) | ClusterTarget::Dynamic(_) => None,
                }
                .unwrap_or_default();
                let s = route_signals
                    .get(cluster.as_str())
                    .copied()
                    .unwrap_or_default();
                dests.push(SplitDestination {
                    subset: d.subset.clone().unwrap_or_else(|| "-".to_owned()),
                    cluster,
                    weight: d.weight * 100 / w.total_weight.max(1),
                    share: None,
                    rps: s.rps,
                    success_rate: s.success_rate,
                });
            }
            let total: f64 = dests.iter().map(|d| d.rps).sum();
            if total > 0.0 {
                for d in &mut dests {
                    d.share = Some(d.rps / total);
                }
            }
            splits.push(Split {
                virtual_service: route.origin.virtual_service.clone(),
                rule: route.origin.index,
                host: w
                    .destinations
                    .first()
                    .map(|d| d.host.clone())
                    .unwrap_or_default(),
                destinations: dests,
            });
        }
    }
    let replica_signals: HashMap<&str, Signals> = stats
        .iter()
        .filter_map(|(k, g)| match k {
            StatKey::Replica(r) => Some((r.as_str(), g.window(window))),
            _ => None,
        })
        .collect();
    let ejected = obs.ejected();
    let replicas = node
        .supervisor
        .status()
        .into_iter()
        .map(|r| ReplicaRow {
            signals: replica_signals
                .get(r.replica.as_str())
                .copied()
                .unwrap_or_default(),
            workload: format!("{}/{}", r.workload.namespace, r.workload.name),
            ejected: ejected.contains(&r.replica),
            replica: r.replica,
            version: r.version,
            state: r.state.as_str().to_owned(),
            ready: r.ready,
            restarts: r.restarts,
            last_error: r.last_error,
        })
        .collect();
    let mut errors: Vec<TapEvent> = obs.recent_errors().iter().map(|e| (**e).clone()).collect();
    errors.reverse();
    errors.truncate(20);
    Graph {
        window_seconds: window.as_secs(),
        revision: node.revision().number,
        nodes: nodes.into_values().collect(),
        edges,
        splits,
        replicas,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let p = params(Some("to=svc%2Fmyapp&path=/a+b&errors&window=30s"));
        assert_eq!(p["to"], "svc/myapp");
        assert_eq!(p["path"], "/a b");
        assert!(p.contains_key("errors"));
        assert_eq!(window_of(&p), Duration::from_secs(30));
        assert_eq!(
            window_of(&params(Some("window=9999"))),
            Duration::from_secs(60)
        );
        assert_eq!(params(Some("p=%zz%4"))["p"], "%zz%4");
    }
}
