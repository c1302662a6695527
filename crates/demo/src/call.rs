//! `--call URL`: the demo app as a middle tier. Before answering, it calls each URL (through
//! its sidecar when `HTTP_PROXY` is set, as a meshed application does) and passes on the
//! headers Istio asks applications to propagate so that a trace stays whole.

use std::time::Duration;

use http::{HeaderMap, Request, Uri, header};
use meridian_http_client::Body;

/// The headers Istio's documentation lists for applications to copy from the incoming
/// request to their outgoing ones.
const PROPAGATED: [&str; 10] = [
    "x-request-id",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "user-type",
];

/// How long one upstream call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What an upstream call gave: its status and body (JSON when it is JSON), or why it failed.
#[derive(Debug, serde::Serialize)]
pub(crate) struct CallResult {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

/// Where to connect for `uri`: the proxy from `HTTP_PROXY` unless `NO_PROXY` names the host,
/// else the host itself.
fn connect_target(uri: &Uri, env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let host = uri.host()?;
    let port = uri.port_u16().unwrap_or(80);
    let no_proxy = env("NO_PROXY")
        .or_else(|| env("no_proxy"))
        .unwrap_or_default();
    let bypass = no_proxy
        .split(',')
        .map(str::trim)
        .any(|h| !h.is_empty() && (h == "*" || h == host));
    let proxy = env("HTTP_PROXY").or_else(|| env("http_proxy"));
    match proxy.filter(|_| !bypass) {
        Some(p) => {
            let p: Uri = p.parse().ok()?;
            Some(format!("{}:{}", p.host()?, p.port_u16().unwrap_or(80)))
        }
        None => Some(format!("{host}:{port}")),
    }
}

/// Calls `uri` with the propagated headers of `incoming`.
pub(crate) async fn call(uri: &Uri, incoming: &HeaderMap) -> CallResult {
    let url = uri.to_string();
    match tokio::time::timeout(CALL_TIMEOUT, send(uri, incoming)).await {
        Ok(Ok((status, body))) => CallResult { url, status, body },
        Ok(Err(e)) => CallResult {
            url,
            status: 0,
            body: serde_json::Value::String(e),
        },
        Err(_) => CallResult {
            url,
            status: 0,
            body: serde_json::Value::String("timed out".into()),
        },
    }
}

async fn send(uri: &Uri, incoming: &HeaderMap) -> Result<(u16, serde_json::Value), String> {
    let env = |k: &str| std::env::var(k).ok();
    let target = connect_target(uri, &env).ok_or_else(|| format!("cannot call {uri}"))?;
    let authority = uri.authority().map_or("", |a| a.as_str());
    let mut req = Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(header::HOST, authority)
        .body(Body::default())
        .map_err(|e| e.to_string())?;
    for name in PROPAGATED {
        for v in incoming.get_all(name) {
            req.headers_mut().append(name, v.clone());
        }
    }
    let resp = meridian_http_client::request(target.as_str(), req, usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    let body = serde_json::from_slice(resp.body())
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(resp.body()).into()));
    Ok((resp.status().as_u16(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_through_the_proxy_unless_no_proxy_names_the_host() {
        let uri: Uri = "http://ratings/".parse().expect("uri");
        let env = |k: &str| match k {
            "HTTP_PROXY" => Some("http://127.0.0.1:4000".to_owned()),
            "NO_PROXY" => Some("localhost,127.0.0.1".to_owned()),
            _ => None,
        };
        assert_eq!(
            connect_target(&uri, &env).as_deref(),
            Some("127.0.0.1:4000")
        );
        let local: Uri = "http://127.0.0.1:9/".parse().expect("uri");
        assert_eq!(connect_target(&local, &env).as_deref(), Some("127.0.0.1:9"));
        assert_eq!(
            connect_target(&uri, &|_: &str| None).as_deref(),
            Some("ratings:80")
        );
    }
}
