//! Function URLs (`FunctionUrlConfig`): each function's own endpoint, chosen by the URL's
//! host (`<url id>.lambda-url.<region>.on.aws`, or `.localhost` on this machine), invoked
//! with the payload 2.0 event Lambda sends (route key `$default`), answered as an HTTP
//! API maps a 2.0 response. `AuthType: AWS_IAM` needs a request signed for the `lambda`
//! service with a key the node knows ([`Verifier`]); `Cors` answers preflights and adds the
//! CORS fields to responses, as Lambda does in the function's place.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use serde_json::{Map, Value, json};

use meridian_config::sam::FunctionUrl;

use super::cors::{add_cors, preflight};
use super::event::{V2Fields, epoch_ms, request_time, text_content_type, user_agent, v2_fields};
use super::{ClientAddr, GatewayResponse, MAX_REQUEST_BYTES, invoke_with_event, response};
use crate::error::FunctionsError;
use crate::host::FunctionHost;
use crate::invocation::Outcome;

/// Checks an `AWS_IAM` function URL's request: the caller's account id when its SigV4
/// signature (service `lambda`) is good, else the reason it is refused.
pub type Verifier =
    Arc<dyn Fn(&http::request::Parts, &Bytes) -> Result<String, String> + Send + Sync>;

/// The function URLs of a [`FunctionHost`]: always those of the functions in force.
#[derive(Clone)]
pub struct FunctionUrls {
    host: FunctionHost,
    verifier: Option<Verifier>,
}

impl std::fmt::Debug for FunctionUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionUrls").finish_non_exhaustive()
    }
}

/// A function URL served: its id, its function, and how it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlInfo {
    /// The URL's id (its host's first label).
    pub id: String,
    /// The function's name.
    pub function: String,
    /// `AWS_IAM` (else `NONE`).
    pub iam: bool,
}

fn forbidden() -> GatewayResponse {
    let mut r = http::Response::new(Full::new(Bytes::from_static(br#"{"Message":"Forbidden"}"#)));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl FunctionUrls {
    /// The URLs of `host`'s functions; `verifier` checks `AWS_IAM` ones (without it they
    /// refuse every request).
    pub fn new(host: FunctionHost, verifier: Option<Verifier>) -> Self {
        Self { host, verifier }
    }

    /// The function URLs in force.
    pub fn urls(&self) -> Vec<UrlInfo> {
        let registry = self.host.registry();
        registry
            .pools
            .values()
            .filter_map(|p| {
                let url = p.spec.url.as_ref()?;
                Some(UrlInfo {
                    id: url.id.clone(),
                    function: p.spec.name.clone(),
                    iam: url.iam,
                })
            })
            .collect()
    }

    /// The function and URL configuration a host names (its first label is the URL's id).
    fn find(&self, host: &str) -> Option<(String, FunctionUrl)> {
        let id = host.split(['.', ':']).next()?.to_ascii_lowercase();
        let registry = self.host.registry();
        registry.pools.values().find_map(|p| {
            let url = p.spec.url.as_ref().filter(|u| u.id == id)?;
            Some((p.spec.name.clone(), url.clone()))
        })
    }

    /// Serves one request to a function URL.
    pub async fn handle<B>(&self, req: Request<B>) -> GatewayResponse
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("")
            .to_owned();
        let Some((function, url)) = self.find(&host) else {
            return response::message(
                StatusCode::NOT_FOUND,
                &format!("no function URL is served at {host}"),
            );
        };
        let source_ip = req
            .extensions()
            .get::<ClientAddr>()
            .map_or_else(|| "127.0.0.1".to_owned(), |a| a.0.ip().to_string());
        let (mut parts, body) = req.into_parts();
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // A preflight is Lambda's to answer when the URL has a CORS configuration.
        if super::cors::is_preflight(&parts.method, &parts.headers)
            && let (Some(cors), Some(origin)) = (&url.cors, &origin)
        {
            return preflight(cors, origin, &parts.headers);
        }
        let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => return response::message(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long"),
        };
        let account = if url.iam {
            let Some(verify) = &self.verifier else {
                return forbidden();
            };
            match verify(&parts, &body) {
                Ok(account) => account,
                Err(reason) => {
                    tracing::debug!(%function, %reason, "function URL: request refused");
                    return forbidden();
                }
            }
        } else {
            "anonymous".to_owned()
        };
        parts.headers = super::event::client_headers(&parts.headers);
        let config = self.host.config();
        let request_id = uuid::Uuid::new_v4().to_string();
        let event = event(&EventInfo {
            url_id: &url.id,
            region: &config.region,
            account: &account,
            parts: &parts,
            body: &body,
            source_ip: &source_ip,
            request_id: &request_id,
        });
        let result = invoke_with_event(&self.host, &function, &event, &parts.headers).await;
        let mut resp = match result {
            Ok(r) => match &r.outcome {
                // A streamed response (`streamifyResponse`), sent whole.
                Outcome::Success(p) if r.content_type.is_some() => {
                    streamed(r.content_type.as_deref().unwrap_or_default(), p)
                }
                Outcome::Success(p) => response::v2(p).unwrap_or_else(|e| {
                    tracing::warn!(%function, "function URL: malformed response ({e})");
                    response::message(StatusCode::BAD_GATEWAY, "Internal Server Error")
                }),
                Outcome::FunctionError { .. } => {
                    response::message(StatusCode::BAD_GATEWAY, "Internal Server Error")
                }
            },
            Err(FunctionsError::Throttled { .. }) => {
                response::message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
            }
            Err(e) => {
                tracing::warn!(%function, error = %e, "function URL: invoke failed");
                response::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        if let (Some(cors), Some(origin)) = (&url.cors, &origin) {
            add_cors(cors, origin, resp.headers_mut());
        }
        resp
    }
}

/// The content type of a streamed response that starts with an HTTP prelude.
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// A streamed response as a function URL answers it: with `HttpResponseStream.from`, a JSON
/// prelude (`statusCode`, `headers`, `cookies`) and eight NUL bytes before the body;
/// otherwise 200 with the stream's content type.
fn streamed(content_type: &str, payload: &Bytes) -> GatewayResponse {
    let (prelude, body) = if content_type == HTTP_INTEGRATION {
        match payload.windows(8).position(|w| w == [0u8; 8]) {
            Some(at) => (
                serde_json::from_slice::<Value>(&payload[..at]).ok(),
                payload.slice(at + 8..),
            ),
            None => (None, payload.clone()),
        }
    } else {
        (None, payload.clone())
    };
    let mut r = http::Response::new(Full::new(body));
    let Some(prelude) = prelude else {
        let ct = if content_type == HTTP_INTEGRATION {
            "application/octet-stream"
        } else {
            content_type
        };
        if let Ok(v) = HeaderValue::from_str(ct) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        return r;
    };
    *r.status_mut() = prelude["statusCode"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    if let Some(fields) = prelude["headers"].as_object() {
        for (name, value) in fields {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                h.insert(n, v);
            }
        }
    }
    for cookie in prelude["cookies"].as_array().into_iter().flatten() {
        if let Some(v) = cookie.as_str().and_then(|c| HeaderValue::from_str(c).ok()) {
            h.append(header::SET_COOKIE, v);
        }
    }
    r
}

/// What the function URL event is made of.
struct EventInfo<'a> {
    url_id: &'a str,
    region: &'a str,
    account: &'a str,
    parts: &'a http::request::Parts,
    body: &'a Bytes,
    source_ip: &'a str,
    request_id: &'a str,
}

/// The payload 2.0 event of a function URL request, as Lambda builds it.
fn event(info: &EventInfo<'_>) -> Value {
    let p = info.parts;
    let raw_query = p.uri.query().unwrap_or_default();
    let V2Fields {
        headers,
        cookies,
        query: qs,
    } = v2_fields(&p.headers, raw_query);
    let now = time::OffsetDateTime::now_utc();
    let protocol = match p.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut ev = Map::new();
    ev.insert("version".into(), json!("2.0"));
    ev.insert("routeKey".into(), json!("$default"));
    ev.insert("rawPath".into(), json!(p.uri.path()));
    ev.insert("rawQueryString".into(), json!(raw_query));
    if !cookies.is_empty() {
        ev.insert("cookies".into(), Value::Array(cookies));
    }
    ev.insert("headers".into(), json!(headers));
    if !qs.is_empty() {
        ev.insert("queryStringParameters".into(), json!(qs));
    }
    ev.insert(
        "requestContext".into(),
        json!({
            "accountId": info.account,
            "apiId": info.url_id,
            "domainName": format!("{}.lambda-url.{}.on.aws", info.url_id, info.region),
            "domainPrefix": info.url_id,
            "http": {
                "method": p.method.as_str(),
                "path": p.uri.path(),
                "protocol": protocol,
                "sourceIp": info.source_ip,
                "userAgent": user_agent(&p.headers).as_str().unwrap_or_default(),
            },
            "requestId": info.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": request_time(now),
            "timeEpoch": epoch_ms(now),
        }),
    );
    if !info.body.is_empty() {
        let ct = p
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        match std::str::from_utf8(info.body) {
            Ok(text) if ct.is_empty() || text_content_type(ct) => {
                ev.insert("body".into(), json!(text));
                ev.insert("isBase64Encoded".into(), json!(false));
            }
            _ => {
                ev.insert(
                    "body".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(info.body)),
                );
                ev.insert("isBase64Encoded".into(), json!(true));
            }
        }
    } else {
        ev.insert("isBase64Encoded".into(), json!(false));
    }
    Value::Object(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: Request<()>) -> http::request::Parts {
        req.into_parts().0
    }

    #[test]
    fn events_are_lambdas_function_url_events() {
        let p = parts(
            Request::post("/orders/7?x=1&x=2&y=%20z")
                .header("host", "abc123.lambda-url.us-east-1.localhost:8486")
                .header("content-type", "application/json")
                .header("cookie", "a=1; b=2")
                .header("user-agent", "curl/8")
                .body(())
                .unwrap(),
        );
        let body = Bytes::from_static(br#"{"n":1}"#);
        let ev = event(&EventInfo {
            url_id: "abc123",
            region: "us-east-1",
            account: "anonymous",
            parts: &p,
            body: &body,
            source_ip: "127.0.0.1",
            request_id: "r-1",
        });
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["routeKey"], "$default");
        assert_eq!(ev["rawPath"], "/orders/7");
        assert_eq!(ev["rawQueryString"], "x=1&x=2&y=%20z");
        assert_eq!(ev["queryStringParameters"], json!({"x": "1,2", "y": " z"}));
        assert_eq!(ev["cookies"], json!(["a=1", "b=2"]));
        assert!(ev["headers"].get("cookie").is_none());
        assert_eq!(ev["body"], r#"{"n":1}"#);
        assert_eq!(ev["isBase64Encoded"], false);
        let rc = &ev["requestContext"];
        assert_eq!(rc["domainName"], "abc123.lambda-url.us-east-1.on.aws");
        assert_eq!(
            (&rc["accountId"], &rc["stage"]),
            (&json!("anonymous"), &json!("$default"))
        );
        assert_eq!(rc["http"]["method"], "POST");
        assert_eq!(rc["http"]["userAgent"], "curl/8");
        assert!(ev.get("pathParameters").is_none() && ev.get("stageVariables").is_none());
    }

    #[test]
    fn streamed_responses_are_answered_with_their_prelude() {
        let mut payload =
            br#"{"statusCode":201,"headers":{"content-type":"text/html"},"cookies":["a=1"]}"#
                .to_vec();
        payload.extend([0u8; 8]);
        payload.extend(b"<p>hi</p>");
        let r = streamed(HTTP_INTEGRATION, &Bytes::from(payload));
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html");
        assert_eq!(r.headers()[header::SET_COOKIE], "a=1");
        let body = body_text(r);
        assert_eq!(body, "<p>hi</p>");
        let plain = streamed("text/plain", &Bytes::from_static(b"hi"));
        assert_eq!(
            (
                plain.status(),
                plain.headers()[header::CONTENT_TYPE].to_str().unwrap()
            ),
            (StatusCode::OK, "text/plain")
        );
    }

    fn body_text(r: GatewayResponse) -> String {
        let bytes = collected(r.into_body());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn collected(body: Full<Bytes>) -> Bytes {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async { body.collect().await.unwrap().to_bytes() })
    }
}
