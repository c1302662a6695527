//! The admin API's requests as typed values: the node parses what arrives, the CLI renders
//! what it sends, so the two cannot disagree on a path or a parameter.
//!
//! | method | path | request |
//! |---|---|---|
//! | GET | `/healthz` | [`AdminRequest::Health`] |
//! | GET | `/api/v1/status` | [`AdminRequest::Status`] |
//! | GET | `/api/v1/replicas` | [`AdminRequest::Replicas`] |
//! | GET | `/api/v1/resources` | [`AdminRequest::Resources`] |
//! | GET | `/api/v1/snapshot` | [`AdminRequest::Snapshot`] |
//! | GET | `/api/v1/functions` | [`AdminRequest::Functions`] |
//! | GET | `/api/v1/functions/keys` | [`AdminRequest::FunctionKeys`] |
//! | POST | `/api/v1/functions/keys/rotate` `{"app", "function"?, "name"?}` | [`AdminRequest::RotateFunctionKey`] |
//! | GET | `/api/v1/tables` | [`AdminRequest::Tables`] |
//! | GET | `/api/v1/tables/{name}/scan[?limit=N]` | [`AdminRequest::TableScan`] |
//! | GET | `/api/v1/buckets` | [`AdminRequest::Buckets`] |
//! | GET | `/api/v1/clusters[?name=]` | [`AdminRequest::Clusters`] |
//! | GET | `/api/v1/global/health` | [`AdminRequest::GlobalHealth`] |
//! | GET | `/api/v1/cdn/distributions` | [`AdminRequest::Distributions`] |
//! | POST | `/api/v1/cdn/distributions/{id}/invalidate` `{"paths": [...]}` | [`AdminRequest::Invalidate`] |
//! | GET | `/api/v1/dns/query?name=N[&type=T&from=IP]` | [`AdminRequest::DnsQuery`] |
//! | GET | `/api/v1/global/frontdoor` | [`AdminRequest::FrontDoor`] |
//! | POST | `/api/v1/global/failover-test` `{"region": R}` | [`AdminRequest::FailoverTest`] |
//! | GET | `/api/v1/logs/{replica}[?follow&since=SECS&tail=N]` | [`AdminRequest::Logs`] |
//! | POST | `/api/v1/workloads/{name}/scale` `{"replicas": N}` | [`AdminRequest::Scale`] |
//! | POST | `/api/v1/workloads/{name}/rollout/restart` | [`AdminRequest::RolloutRestart`] |
//! | POST | `/api/v1/workloads/{name}/rollout/undo` `[{"revision": N}]` | [`AdminRequest::RolloutUndo`] |
//! | POST | `/api/v1/workloads/{name}/rollout/resume` | [`AdminRequest::RolloutResume`] |
//! | GET | `/api/v1/workloads/{name}/rollout/status[?timeout=SECS]` | [`AdminRequest::RolloutStatus`] |
//! | GET | `/api/v1/workloads/{name}/rollout/history` | [`AdminRequest::RolloutHistory`] |
//! | GET | `/api/v1/ca/roots` | [`AdminRequest::CaRoots`] |
//! | GET | `/api/v1/ca/workloads/{name}` | [`AdminRequest::CaWorkload`] |
//! | POST | `/api/v1/ca/reload` | [`AdminRequest::CaReload`] |
//!
//! Parameters of state-changing requests travel in a JSON body, never in the query string
//! (a URL ends up in logs, histories and `Referer`s); a body of another shape, or a query
//! string on such a request, is a 400 naming what is expected.

use http::{Method, StatusCode};

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// What `meridian logs` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new lines.
    pub follow: bool,
    /// Only lines from the last this many seconds.
    pub since_secs: Option<u64>,
    /// Only the last this many lines.
    pub tail: Option<usize>,
}

/// A request of the admin API (see the module's table).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminRequest {
    /// Liveness.
    Health,
    /// Revision, uptime, workloads, data-plane sync.
    Status,
    /// Every replica.
    Replicas,
    /// The resources in force.
    Resources,
    /// The compiled snapshot.
    Snapshot,
    /// The functions loaded.
    Functions,
    /// The Azure Functions apps' keys (master, host and function keys).
    FunctionKeys,
    /// Replaces one key of an Azure Functions app: the master key, a host key (no function),
    /// or a function's key.
    RotateFunctionKey {
        /// The app.
        app: String,
        /// The function whose key to replace; `None` for a host key or the master key.
        function: Option<String>,
        /// The key's name (`default`), or `_master` for the master key.
        name: String,
    },
    /// The DynamoDB tables: items, size, indexes, stream.
    Tables,
    /// One page of a table's items (a DynamoDB Scan).
    TableScan {
        /// The table.
        table: String,
        /// The most items to return.
        limit: Option<u32>,
    },
    /// The S3 buckets: objects and bytes.
    Buckets,
    /// The Route 53 health checks and their statuses.
    GlobalHealth,
    /// The CloudFront distributions served, with their caches' figures.
    Distributions,
    /// Invalidates paths of a distribution (CloudFront's grammar: a trailing `*`).
    Invalidate {
        /// The distribution id.
        distribution: String,
        /// The paths.
        paths: Vec<String>,
    },
    /// How the DNS answers a query, and why (Route 53's "test DNS answer").
    DnsQuery {
        /// The name asked.
        name: String,
        /// The record type (A when absent).
        rtype: Option<String>,
        /// The querier's address (the node's loopback when absent).
        from: Option<String>,
    },
    /// The Front Doors' backends: region, gateway, health, counters.
    FrontDoor,
    /// Takes a region's gateway out, measures how long DNS and the front door take to
    /// route around it, and puts it back.
    FailoverTest {
        /// The region (`us-east`, `eastus`, `us-east-1`).
        region: String,
    },
    /// Upstream clusters whose name contains the filter.
    Clusters {
        /// Name filter.
        name: Option<String>,
    },
    /// A replica's (or workload's) log lines.
    Logs {
        /// Replica or workload.
        replica: String,
        /// What to read.
        options: LogOptions,
    },
    /// Scales a workload.
    Scale {
        /// The workload.
        workload: String,
        /// Replicas wanted.
        replicas: u32,
    },
    /// Restarts a rollout.
    RolloutRestart {
        /// The workload.
        workload: String,
    },
    /// Rolls back to the previous (or a given) revision.
    RolloutUndo {
        /// The workload.
        workload: String,
        /// The revision to go back to.
        revision: Option<u64>,
    },
    /// Resumes a paused rollout.
    RolloutResume {
        /// The workload.
        workload: String,
    },
    /// Streams progress until the rollout ends.
    RolloutStatus {
        /// The workload.
        workload: String,
        /// How long to wait, in seconds.
        timeout_secs: Option<u64>,
    },
    /// The workload's revisions.
    RolloutHistory {
        /// The workload.
        workload: String,
    },
    /// The CA's roots.
    CaRoots,
    /// A workload's current certificate.
    CaWorkload {
        /// The workload.
        workload: String,
    },
    /// Rereads the CA's files.
    CaReload,
}

/// A request the API does not take, with the status it is answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// 400, 404 or 405.
    pub status: StatusCode,
    /// What is wrong and what to send instead.
    pub message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateBody {
    paths: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    app: String,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    replicas: u32,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionBody {
    region: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UndoBody {
    revision: Option<u64>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

/// A JSON body of type `T` (an empty body reads as `{}` when `T` allows it).
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], expected: &str) -> Result<T, ApiError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad(format!("the body must be {expected}: {e}")))
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn number<T: std::str::FromStr>(
    pairs: &[(String, String)],
    key: &str,
) -> Result<Option<T>, ApiError> {
    match pairs.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("{key}={v:?} is not a whole number"))),
    }
}

fn decode_segment(s: &str) -> String {
    percent_decode(s)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn encode_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl AdminRequest {
    /// Parses a request for one of the routes of the module's table; `Ok(None)` for a path
    /// outside them (the node's other endpoints may answer it).
    pub fn parse(
        method: &Method,
        path: &str,
        query: Option<&str>,
        body_bytes: &[u8],
    ) -> Result<Option<AdminRequest>, ApiError> {
        let segs: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(decode_segment)
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let pairs = query_pairs(query);
        // A state-changing route: POST, no query string; checked before its body is read.
        let writing = || -> Result<(), ApiError> {
            if method != Method::POST {
                return Err(ApiError {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    message: format!("{path} takes POST"),
                });
            }
            if !pairs.is_empty() {
                return Err(ApiError::bad(
                    "a request that changes state takes its parameters in a JSON body, not the query string",
                ));
            }
            Ok(())
        };
        let write = |req: AdminRequest| -> Result<Option<AdminRequest>, ApiError> { Ok(Some(req)) };
        let read = |req: AdminRequest| -> Result<Option<AdminRequest>, ApiError> {
            if method != Method::GET && method != Method::HEAD {
                return Err(ApiError {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    message: format!("{} takes GET", req.path()),
                });
            }
            Ok(Some(req))
        };
        match segs.as_slice() {
            ["healthz"] => read(AdminRequest::Health),
            ["api", "v1", "status"] => read(AdminRequest::Status),
            ["api", "v1", "replicas"] => read(AdminRequest::Replicas),
            ["api", "v1", "resources"] => read(AdminRequest::Resources),
            ["api", "v1", "snapshot"] => read(AdminRequest::Snapshot),
            ["api", "v1", "functions"] => read(AdminRequest::Functions),
            ["api", "v1", "functions", "keys"] => read(AdminRequest::FunctionKeys),
            ["api", "v1", "functions", "keys", "rotate"] => {
                writing()?;
                let b: RotateBody = body(
                    body_bytes,
                    r#"{"app": "...", "function": "...", "name": "default"}"#,
                )?;
                write(AdminRequest::RotateFunctionKey {
                    app: b.app,
                    function: b.function,
                    name: b.name.unwrap_or_else(|| "default".into()),
                })
            }
            ["api", "v1", "tables"] => read(AdminRequest::Tables),
            ["api", "v1", "buckets"] => read(AdminRequest::Buckets),
            ["api", "v1", "global", "health"] => read(AdminRequest::GlobalHealth),
            ["api", "v1", "global", "frontdoor"] => read(AdminRequest::FrontDoor),
            ["api", "v1", "global", "failover-test"] => {
                writing()?;
                let b: RegionBody = body(body_bytes, r#"{"region": "us-east"}"#)?;
                write(AdminRequest::FailoverTest { region: b.region })
            }
            ["api", "v1", "cdn", "distributions"] => read(AdminRequest::Distributions),
            ["api", "v1", "cdn", "distributions", d, "invalidate"] if !d.is_empty() => {
                writing()?;
                let b: InvalidateBody =
                    body(body_bytes, r#"{"paths": ["/index.html", "/images/*"]}"#)?;
                write(AdminRequest::Invalidate {
                    distribution: (*d).to_owned(),
                    paths: b.paths,
                })
            }
            ["api", "v1", "dns", "query"] => {
                let get = |k: &str| {
                    pairs
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.clone())
                        .filter(|v| !v.is_empty())
                };
                let Some(name) = get("name") else {
                    return Err(ApiError::bad("name is required (?name=app.example.com)"));
                };
                read(AdminRequest::DnsQuery {
                    name,
                    rtype: get("type"),
                    from: get("from"),
                })
            }
            ["api", "v1", "tables", t, "scan"] if !t.is_empty() => read(AdminRequest::TableScan {
                table: (*t).to_owned(),
                limit: number(&pairs, "limit")?,
            }),
            ["api", "v1", "clusters"] => read(AdminRequest::Clusters {
                name: pairs
                    .iter()
                    .find(|(k, _)| k == "name")
                    .map(|(_, v)| v.clone())
                    .filter(|v| !v.is_empty()),
            }),
            ["api", "v1", "logs", replica] if !replica.is_empty() => read(AdminRequest::Logs {
                replica: (*replica).to_owned(),
                options: LogOptions {
                    follow: pairs.iter().any(|(k, _)| k == "follow"),
                    since_secs: number(&pairs, "since")?,
                    tail: number(&pairs, "tail")?,
                },
            }),
            ["api", "v1", "workloads", w, rest @ ..] if !w.is_empty() => {
                let workload = (*w).to_owned();
                match rest {
                    ["scale"] => {
                        writing()?;
                        let b: ScaleBody = body(body_bytes, r#"{"replicas": N}"#)?;
                        write(AdminRequest::Scale {
                            workload,
                            replicas: b.replicas,
                        })
                    }
                    ["rollout", "restart"] => {
                        writing()?;
                        let _: EmptyBody = body(body_bytes, "empty")?;
                        write(AdminRequest::RolloutRestart { workload })
                    }
                    ["rollout", "undo"] => {
                        writing()?;
                        let b: UndoBody = body(body_bytes, r#"empty or {"revision": N}"#)?;
                        write(AdminRequest::RolloutUndo {
                            workload,
                            revision: b.revision,
                        })
                    }
                    ["rollout", "resume"] => {
                        writing()?;
                        let _: EmptyBody = body(body_bytes, "empty")?;
                        write(AdminRequest::RolloutResume { workload })
                    }
                    ["rollout", "status"] => read(AdminRequest::RolloutStatus {
                        workload,
                        timeout_secs: number(&pairs, "timeout")?,
                    }),
                    ["rollout", "history"] => read(AdminRequest::RolloutHistory { workload }),
                    ["rollout", other] => Err(ApiError {
                        status: StatusCode::NOT_FOUND,
                        message: format!(
                            "unknown rollout action {other:?}; use restart, undo, resume, status or history"
                        ),
                    }),
                    _ => Ok(None),
                }
            }
            ["api", "v1", "ca", "roots"] => read(AdminRequest::CaRoots),
            ["api", "v1", "ca", "workloads", w] if !w.is_empty() => {
                read(AdminRequest::CaWorkload {
                    workload: (*w).to_owned(),
                })
            }
            ["api", "v1", "ca", "reload"] => {
                writing()?;
                let _: EmptyBody = body(body_bytes, "empty")?;
                write(AdminRequest::CaReload)
            }
            _ => Ok(None),
        }
    }

    /// Whether the request changes state (and so needs the token).
    pub fn changes_state(&self) -> bool {
        matches!(
            self,
            AdminRequest::Scale { .. }
                | AdminRequest::FailoverTest { .. }
                | AdminRequest::RolloutRestart { .. }
                | AdminRequest::RolloutUndo { .. }
                | AdminRequest::RolloutResume { .. }
                | AdminRequest::CaReload
                | AdminRequest::RotateFunctionKey { .. }
                | AdminRequest::Invalidate { .. }
        )
    }

    /// Whether the request needs the token: it changes state, or reads a table's items
    /// (which the DynamoDB API gives only to signed requests).
    pub fn needs_token(&self) -> bool {
        self.changes_state()
            || matches!(
                self,
                AdminRequest::TableScan { .. } | AdminRequest::FunctionKeys
            )
    }

    /// The method to send it with.
    pub fn method(&self) -> Method {
        if self.changes_state() {
            Method::POST
        } else {
            Method::GET
        }
    }

    /// The path without the query string.
    pub fn path(&self) -> String {
        let w = |w: &str, rest: &str| format!("/api/v1/workloads/{}/{rest}", encode_segment(w));
        match self {
            AdminRequest::Health => "/healthz".to_owned(),
            AdminRequest::Status => "/api/v1/status".to_owned(),
            AdminRequest::Replicas => "/api/v1/replicas".to_owned(),
            AdminRequest::Resources => "/api/v1/resources".to_owned(),
            AdminRequest::Snapshot => "/api/v1/snapshot".to_owned(),
            AdminRequest::Functions => "/api/v1/functions".to_owned(),
            AdminRequest::FunctionKeys => "/api/v1/functions/keys".to_owned(),
            AdminRequest::RotateFunctionKey { .. } => "/api/v1/functions/keys/rotate".to_owned(),
            AdminRequest::Tables => "/api/v1/tables".to_owned(),
            AdminRequest::Buckets => "/api/v1/buckets".to_owned(),
            AdminRequest::GlobalHealth => "/api/v1/global/health".to_owned(),
            AdminRequest::Distributions => "/api/v1/cdn/distributions".to_owned(),
            AdminRequest::Invalidate { distribution, .. } => format!(
                "/api/v1/cdn/distributions/{}/invalidate",
                encode_segment(distribution)
            ),
            AdminRequest::DnsQuery { .. } => "/api/v1/dns/query".to_owned(),
            AdminRequest::FrontDoor => "/api/v1/global/frontdoor".to_owned(),
            AdminRequest::FailoverTest { .. } => "/api/v1/global/failover-test".to_owned(),
            AdminRequest::TableScan { table, .. } => {
                format!("/api/v1/tables/{}/scan", encode_segment(table))
            }
            AdminRequest::Clusters { .. } => "/api/v1/clusters".to_owned(),
            AdminRequest::Logs { replica, .. } => {
                format!("/api/v1/logs/{}", encode_segment(replica))
            }
            AdminRequest::Scale { workload, .. } => w(workload, "scale"),
            AdminRequest::RolloutRestart { workload } => w(workload, "rollout/restart"),
            AdminRequest::RolloutUndo { workload, .. } => w(workload, "rollout/undo"),
            AdminRequest::RolloutResume { workload } => w(workload, "rollout/resume"),
            AdminRequest::RolloutStatus { workload, .. } => w(workload, "rollout/status"),
            AdminRequest::RolloutHistory { workload } => w(workload, "rollout/history"),
            AdminRequest::CaRoots => "/api/v1/ca/roots".to_owned(),
            AdminRequest::CaWorkload { workload } => {
                format!("/api/v1/ca/workloads/{}", encode_segment(workload))
            }
            AdminRequest::CaReload => "/api/v1/ca/reload".to_owned(),
        }
    }

    /// The path with its query string, and the JSON body, as the CLI sends them.
    pub fn render(&self) -> (String, Vec<u8>) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let mut body = Vec::new();
        match self {
            AdminRequest::Clusters { name: Some(n) } => {
                query.append_pair("name", n);
            }
            AdminRequest::DnsQuery { name, rtype, from } => {
                query.append_pair("name", name);
                if let Some(t) = rtype {
                    query.append_pair("type", t);
                }
                if let Some(f) = from {
                    query.append_pair("from", f);
                }
            }
            AdminRequest::Logs { options, .. } => {
                if options.follow {
                    query.append_key_only("follow");
                }
                if let Some(s) = options.since_secs {
                    query.append_pair("since", &s.to_string());
                }
                if let Some(t) = options.tail {
                    query.append_pair("tail", &t.to_string());
                }
            }
            AdminRequest::RolloutStatus {
                timeout_secs: Some(t),
                ..
            } => {
                query.append_pair("timeout", &t.to_string());
            }
            AdminRequest::TableScan { limit: Some(n), .. } => {
                query.append_pair("limit", &n.to_string());
            }
            AdminRequest::Scale { replicas, .. } => {
                body = serde_json::json!({ "replicas": replicas })
                    .to_string()
                    .into_bytes();
            }
            AdminRequest::FailoverTest { region } => {
                body = serde_json::json!({ "region": region })
                    .to_string()
                    .into_bytes();
            }
            AdminRequest::RotateFunctionKey {
                app,
                function,
                name,
            } => {
                body = serde_json::json!({ "app": app, "function": function, "name": name })
                    .to_string()
                    .into_bytes();
            }
            AdminRequest::Invalidate { paths, .. } => {
                body = serde_json::json!({ "paths": paths })
                    .to_string()
                    .into_bytes();
            }
            AdminRequest::RolloutUndo {
                revision: Some(r), ..
            } => {
                body = serde_json::json!({ "revision": r })
                    .to_string()
                    .into_bytes();
            }
            _ => {}
        }
        let query = query.finish();
        let path = if query.is_empty() {
            self.path()
        } else {
            format!("{}?{query}", self.path())
        };
        (path, body)
    }
}

#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Parses arbitrary bytes as an HTTP request head and body, runs the access checks and
    /// the route parser, and checks that a parsed request renders to one that parses back
    /// the same.
    pub fn check(data: &[u8]) {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(at)) = req.parse(data) else {
            return;
        };
        let (Some(method), Some(target)) = (req.method, req.path) else {
            return;
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return;
        };
        let mut map = http::HeaderMap::new();
        for h in req.headers.iter() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(h.name.as_bytes()),
                http::HeaderValue::from_bytes(h.value),
            ) {
                map.append(n, v);
            }
        }
        let token = crate::AdminToken::from_hex(&"ab".repeat(32))
            .unwrap_or_else(|| unreachable!("a valid token literal"));
        let admin = std::net::SocketAddr::from(([127, 0, 0, 1], 15000));
        let _ = crate::access::check(&method, &map, admin, &token);
        let (path, query) = target
            .split_once('?')
            .map_or((target, None), |(p, q)| (p, Some(q)));
        let body = &data[at.min(data.len())..];
        if let Ok(Some(parsed)) = AdminRequest::parse(&method, path, query, body) {
            let (rendered, body) = parsed.render();
            let (p, q) = rendered
                .split_once('?')
                .map_or((rendered.as_str(), None), |(p, q)| (p, Some(q)));
            let again = AdminRequest::parse(&parsed.method(), p, q, &body);
            assert_eq!(again, Ok(Some(parsed)), "rendered as {rendered}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn post(path: &str, body: &str) -> Result<Option<AdminRequest>, ApiError> {
        let (p, q) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        AdminRequest::parse(&Method::POST, p, q, body.as_bytes())
    }

    #[test]
    fn scale_takes_a_json_body() {
        assert_eq!(
            post("/api/v1/workloads/myapp/scale", r#"{"replicas": 3}"#),
            Ok(Some(AdminRequest::Scale {
                workload: "myapp".into(),
                replicas: 3
            }))
        );
    }

    #[test_case("/api/v1/workloads/myapp/scale?replicas=0", "", "JSON body"; "query parameters")]
    #[test_case("/api/v1/workloads/myapp/scale", "", "replicas"; "no body")]
    #[test_case("/api/v1/workloads/myapp/scale", r#"{"replicas": -1}"#, "replicas"; "negative")]
    #[test_case("/api/v1/workloads/myapp/scale", r#"{"replicas": 1, "x": 2}"#, "unknown field"; "unknown field")]
    #[test_case("/api/v1/workloads/myapp/rollout/undo", "not json", "body must be"; "not json")]
    fn bad_writes_are_400s_that_say_what_to_send(path: &str, body: &str, says: &str) {
        let err = post(path, body).expect_err("refused");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains(says), "{}", err.message);
    }

    #[test]
    fn a_write_route_read_with_get_is_405() {
        let err =
            AdminRequest::parse(&Method::GET, "/api/v1/ca/reload", None, b"").expect_err("refused");
        assert_eq!(err.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn every_request_renders_to_itself() {
        let all = [
            AdminRequest::Health,
            AdminRequest::Status,
            AdminRequest::Clusters {
                name: Some("outbound|80||a b".into()),
            },
            AdminRequest::Logs {
                replica: "web-7f9c/0".into(),
                options: LogOptions {
                    follow: true,
                    since_secs: Some(300),
                    tail: Some(10),
                },
            },
            AdminRequest::Scale {
                workload: "deployment/web".into(),
                replicas: 0,
            },
            AdminRequest::RolloutUndo {
                workload: "web".into(),
                revision: Some(2),
            },
            AdminRequest::RolloutUndo {
                workload: "web".into(),
                revision: None,
            },
            AdminRequest::RolloutStatus {
                workload: "web".into(),
                timeout_secs: Some(600),
            },
            AdminRequest::CaWorkload {
                workload: "default/web".into(),
            },
            AdminRequest::CaReload,
            AdminRequest::FrontDoor,
            AdminRequest::FailoverTest {
                region: "us-east".into(),
            },
            AdminRequest::Tables,
            AdminRequest::Buckets,
            AdminRequest::GlobalHealth,
            AdminRequest::Distributions,
            AdminRequest::Invalidate {
                distribution: "E2EXAMPLE".into(),
                paths: vec!["/index.html".into(), "/images/*".into()],
            },
            AdminRequest::DnsQuery {
                name: "app.example.com".into(),
                rtype: Some("AAAA".into()),
                from: Some("10.1.0.0/16".into()),
            },
            AdminRequest::DnsQuery {
                name: "app.example.com".into(),
                rtype: None,
                from: None,
            },
            AdminRequest::TableScan {
                table: "my.Table-1".into(),
                limit: Some(10),
            },
            AdminRequest::TableScan {
                table: "Users".into(),
                limit: None,
            },
            AdminRequest::FunctionKeys,
            AdminRequest::RotateFunctionKey {
                app: "azure".into(),
                function: Some("HttpTrigger".into()),
                name: "default".into(),
            },
            AdminRequest::RotateFunctionKey {
                app: "azure".into(),
                function: None,
                name: "_master".into(),
            },
        ];
        for r in all {
            let (path, body) = r.render();
            let (p, q) = path
                .split_once('?')
                .map_or((path.as_str(), None), |(p, q)| (p, Some(q)));
            assert_eq!(
                AdminRequest::parse(&r.method(), p, q, &body),
                Ok(Some(r.clone())),
                "{path}"
            );
        }
    }

    #[test]
    fn other_paths_are_left_to_other_endpoints() {
        assert_eq!(
            AdminRequest::parse(&Method::GET, "/metrics", None, b""),
            Ok(None)
        );
        assert_eq!(
            AdminRequest::parse(&Method::GET, "/api/v1/graph", Some("window=60"), b""),
            Ok(None)
        );
    }
}
