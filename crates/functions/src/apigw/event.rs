//! The Lambda proxy integration events: REST API payload 1.0 and HTTP API payload 2.0, every
//! field filled as API Gateway documents it.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use meridian_config::sam::{ApiKind, PayloadFormat};

use super::route::{Matched, percent_decode};

/// What the event builders need to know about one request.
#[derive(Debug)]
pub(crate) struct RequestInfo<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    pub source_ip: String,
    pub protocol: &'static str,
    pub request_id: String,
    pub time: OffsetDateTime,
    pub region: &'a str,
    pub account_id: &'a str,
}

/// The request's fields as API Gateway (and a function URL) hands them to the function:
/// the mesh gateway's own fields (`x-envoy-*`) are not the client's and go; the forwarding
/// fields API Gateway adds are there (`X-Forwarded-Port` from the address the client
/// reached, `X-Amzn-Trace-Id` when the client sent none).
pub(crate) fn client_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out: HeaderMap = headers
        .iter()
        .filter(|(n, _)| !n.as_str().starts_with("x-envoy-"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    if !out.contains_key("x-forwarded-port") {
        let port = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.rsplit_once(':'))
            .map(|(_, p)| p)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or("80");
        if let Ok(v) = http::HeaderValue::from_str(port) {
            out.insert("x-forwarded-port", v);
        }
    }
    if !out.contains_key("x-amzn-trace-id") {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let r: u128 = rand::random();
        let id = format!("Root=1-{now:08x}-{:024x}", r & ((1u128 << 96) - 1));
        if let Ok(v) = http::HeaderValue::from_str(&id) {
            out.insert("x-amzn-trace-id", v);
        }
    }
    out
}

/// `09/Apr/2015:12:34:56 +0000`, as `requestTime` is written.
pub(crate) fn request_time(t: OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS[usize::from(u8::from(t.month())).saturating_sub(1)];
    format!(
        "{:02}/{m}/{:04}:{:02}:{:02}:{:02} +0000",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub(crate) fn epoch_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// `content-type` → `Content-Type`, as REST API events show header names.
pub(crate) fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        upper = c == '-';
    }
    out
}

pub(crate) fn text_content_type(ct: &str) -> bool {
    let ct = ct.to_ascii_lowercase();
    ct.starts_with("text/")
        || [
            "json",
            "xml",
            "javascript",
            "x-www-form-urlencoded",
            "yaml",
            "graphql",
            "csv",
        ]
        .iter()
        .any(|t| ct.contains(t))
}

fn media_type_matches(pattern: &str, ct: &str) -> bool {
    let pattern = pattern.replace("~1", "/");
    let ct = ct.split(';').next().unwrap_or_default().trim();
    match pattern.split_once('/') {
        Some(("*", "*")) => true,
        Some((t, "*")) => ct.split('/').next() == Some(t),
        _ => pattern.eq_ignore_ascii_case(ct),
    }
}

/// The body as the event carries it, and whether it is base64.
fn event_body(info: &RequestInfo<'_>, m: &Matched<'_>) -> (Option<String>, bool) {
    if info.body.is_empty() {
        return (None, false);
    }
    let ct = info
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let utf8 = std::str::from_utf8(info.body).ok();
    let binary = match m.route.route.kind {
        ApiKind::Rest => m
            .route
            .api
            .binary_media_types
            .iter()
            .any(|p| media_type_matches(p, ct)),
        ApiKind::Http => !ct.is_empty() && !text_content_type(ct),
    };
    match utf8 {
        Some(s) if !binary => (Some(s.to_owned()), false),
        _ => (
            Some(base64::engine::general_purpose::STANDARD.encode(info.body)),
            true,
        ),
    }
}

/// Query parameters in order, decoded.
pub(crate) fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn null_if_empty(m: Map<String, Value>) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

pub(crate) fn user_agent(h: &HeaderMap) -> Value {
    h.get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |s| Value::String(s.to_owned()))
}

fn path_params(m: &Matched<'_>) -> Map<String, Value> {
    m.params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn stage_vars(m: &Matched<'_>) -> Map<String, Value> {
    m.route
        .api
        .stage_variables
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// Payload format 1.0 (REST APIs, and HTTP APIs that ask for it).
pub(crate) fn v1(info: &RequestInfo<'_>, m: &Matched<'_>) -> Value {
    let mut headers = Map::new();
    let mut multi: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, value) in info.headers {
        let n = title_case(name.as_str());
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert(n.clone(), Value::String(v.clone()));
        multi.entry(n).or_default().push(Value::String(v));
    }
    let mut qs = Map::new();
    let mut mqs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in query_pairs(info.raw_query) {
        qs.insert(k.clone(), Value::String(v.clone()));
        mqs.entry(k).or_default().push(Value::String(v));
    }
    let route = &m.route.route;
    let api = &m.route.api;
    let resource = route.path.clone().unwrap_or_else(|| "$default".into());
    let path = percent_decode(info.raw_path);
    let stage = api.stage.clone();
    let domain = format!("{}.execute-api.{}.amazonaws.com", api.id, info.region);
    let (body, b64) = event_body(info, m);
    let context_path = if stage == "$default" {
        path.clone()
    } else {
        format!("/{stage}{path}")
    };
    let mut ev = json!({
        "resource": resource,
        "path": path,
        "httpMethod": info.method,
        "headers": null_if_empty(headers),
        "multiValueHeaders": null_if_empty(multi.into_iter().map(|(k, v)| (k, Value::Array(v))).collect()),
        "queryStringParameters": null_if_empty(qs),
        "multiValueQueryStringParameters": null_if_empty(mqs.into_iter().map(|(k, v)| (k, Value::Array(v))).collect()),
        "pathParameters": null_if_empty(path_params(m)),
        "stageVariables": null_if_empty(stage_vars(m)),
        "requestContext": {
            "accountId": info.account_id,
            "apiId": api.id,
            "domainName": domain,
            "domainPrefix": api.id,
            "extendedRequestId": info.request_id,
            "httpMethod": info.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": info.source_ip,
                "user": null,
                "userAgent": user_agent(info.headers),
                "userArn": null,
            },
            "path": context_path,
            "protocol": info.protocol,
            "requestId": info.request_id,
            "requestTime": request_time(info.time),
            "requestTimeEpoch": epoch_ms(info.time),
            "resourceId": resource_id(&resource),
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": b64,
    });
    if route.kind == ApiKind::Http
        && let Value::Object(o) = &mut ev
    {
        o.insert("version".into(), Value::String("1.0".into()));
    }
    ev
}

/// A stable 6-character resource id for a resource path (REST `resourceId`).
fn resource_id(path: &str) -> String {
    let mut h: u32 = 2_166_136_261;
    for b in path.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
    }
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|i| char::from(alphabet[((h >> (i * 5)) % 36) as usize]))
        .collect()
}

/// A payload 2.0 event's `headers` (repeated fields joined with commas, `Cookie` left out),
/// `cookies` and `queryStringParameters` (repeated names joined with commas), as HTTP APIs
/// and function URLs fill them.
pub(crate) struct V2Fields {
    pub headers: BTreeMap<String, String>,
    pub cookies: Vec<Value>,
    pub query: BTreeMap<String, String>,
}

pub(crate) fn v2_fields(headers: &HeaderMap, raw_query: &str) -> V2Fields {
    let join = |map: &mut BTreeMap<String, String>, k: String, v: String| {
        map.entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    };
    let mut out = V2Fields {
        headers: BTreeMap::new(),
        cookies: Vec::new(),
        query: BTreeMap::new(),
    };
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            out.cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_owned())),
            );
        } else {
            join(&mut out.headers, name.as_str().to_owned(), v);
        }
    }
    for (k, v) in query_pairs(raw_query) {
        join(&mut out.query, k, v);
    }
    out
}

/// Payload format 2.0 (HTTP APIs).
pub(crate) fn v2(info: &RequestInfo<'_>, m: &Matched<'_>) -> Value {
    let V2Fields {
        headers,
        cookies,
        query: qs,
    } = v2_fields(info.headers, info.raw_query);
    let api = &m.route.api;
    let route_key = m.route.route.route_key();
    let (body, b64) = event_body(info, m);
    let mut ev = Map::new();
    ev.insert("version".into(), json!("2.0"));
    ev.insert("routeKey".into(), json!(route_key));
    ev.insert("rawPath".into(), json!(info.raw_path));
    ev.insert("rawQueryString".into(), json!(info.raw_query));
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
            "accountId": info.account_id,
            "apiId": api.id,
            "domainName": format!("{}.execute-api.{}.amazonaws.com", api.id, info.region),
            "domainPrefix": api.id,
            "http": {
                "method": info.method,
                "path": info.raw_path,
                "protocol": info.protocol,
                "sourceIp": info.source_ip,
                "userAgent": user_agent(info.headers).as_str().unwrap_or_default(),
            },
            "requestId": info.request_id,
            "routeKey": route_key,
            "stage": api.stage,
            "time": request_time(info.time),
            "timeEpoch": epoch_ms(info.time),
        }),
    );
    if let Some(b) = body {
        ev.insert("body".into(), Value::String(b));
    }
    let params = path_params(m);
    if !params.is_empty() {
        ev.insert("pathParameters".into(), Value::Object(params));
    }
    ev.insert("isBase64Encoded".into(), Value::Bool(b64));
    let sv = stage_vars(m);
    if !sv.is_empty() {
        ev.insert("stageVariables".into(), Value::Object(sv));
    }
    Value::Object(ev)
}

/// The event for a matched route in its payload format.
pub(crate) fn build(info: &RequestInfo<'_>, m: &Matched<'_>) -> Value {
    match m.route.route.payload {
        PayloadFormat::V1 => v1(info, m),
        PayloadFormat::V2 => v2(info, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_see_the_clients_fields_and_api_gateways() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:3000".parse().unwrap());
        h.insert("x-envoy-peer-metadata-id", "router~x".parse().unwrap());
        h.insert("x-envoy-attempt-count", "1".parse().unwrap());
        h.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
        let out = client_headers(&h);
        assert!(out.keys().all(|k| !k.as_str().starts_with("x-envoy-")));
        assert_eq!(out["x-forwarded-port"], "3000");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1");
        let trace = out["x-amzn-trace-id"].to_str().unwrap();
        assert!(
            trace.starts_with("Root=1-") && trace.len() == 7 + 8 + 1 + 24,
            "{trace}"
        );
    }

    #[test]
    fn request_time_format() {
        let t = time::macros::datetime!(2015-04-09 12:34:56 UTC);
        assert_eq!(request_time(t), "09/Apr/2015:12:34:56 +0000");
    }

    #[test]
    fn header_names_are_title_cased() {
        assert_eq!(title_case("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(title_case("host"), "Host");
    }

    #[test]
    fn binary_media_type_patterns() {
        assert!(media_type_matches("image~1png", "image/png"));
        assert!(media_type_matches("*/*", "text/plain"));
        assert!(media_type_matches("image/*", "image/jpeg; q=1"));
        assert!(!media_type_matches("image/png", "text/plain"));
    }
}
