//! Mapping a function's result back to an HTTP response: payload 1.0 (`statusCode`,
//! `headers`, `multiValueHeaders`, `body`, `isBase64Encoded`) and 2.0 (adds `cookies`, and
//! infers a 200 JSON response when the function returns anything without `statusCode`).
//! A malformed result is API Gateway's 502 `{"message": "Internal server error"}`.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;

/// Why a function's result cannot be mapped (logged; the client sees a 502).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Malformed {
    #[error("the response is not JSON")]
    NotJson,
    #[error("the response is not a JSON object")]
    NotObject,
    #[error("statusCode is missing")]
    NoStatus,
    #[error("statusCode {0} is not a valid status")]
    BadStatus(String),
    #[error("body must be a string")]
    BodyNotString,
    #[error("{0} has a value that is not a string")]
    BadHeader(String),
    #[error("isBase64Encoded is set but the body is not base64")]
    BadBase64,
}

/// The response type of the gateway.
pub type HttpResponse = Response<Full<Bytes>>;

/// A JSON error response as API Gateway writes them.
pub(crate) fn message(status: StatusCode, msg: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::json!({ "message": msg }).to_string(),
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn status(v: Option<&Value>) -> Result<StatusCode, Malformed> {
    let v = v.ok_or(Malformed::NoStatus)?;
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    n.and_then(|n| u16::try_from(n).ok())
        .and_then(|n| StatusCode::from_u16(n).ok())
        .ok_or_else(|| Malformed::BadStatus(v.to_string()))
}

fn body(obj: &serde_json::Map<String, Value>) -> Result<Bytes, Malformed> {
    let b64 = match obj.get("isBase64Encoded") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let text = match obj.get("body") {
        None | Some(Value::Null) => return Ok(Bytes::new()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(Malformed::BodyNotString),
    };
    if b64 {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(|_| Malformed::BadBase64)
    } else {
        Ok(Bytes::from(text.clone()))
    }
}

fn add(resp: &mut HttpResponse, name: &str, value: &str) -> Result<(), Malformed> {
    let n =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| Malformed::BadHeader(name.into()))?;
    let v = HeaderValue::from_str(value).map_err(|_| Malformed::BadHeader(name.into()))?;
    resp.headers_mut().append(n, v);
    Ok(())
}

fn headers(resp: &mut HttpResponse, obj: &serde_json::Map<String, Value>) -> Result<(), Malformed> {
    let multi = obj.get("multiValueHeaders").and_then(Value::as_object);
    if let Some(h) = obj.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            // multiValueHeaders win for a name in both, as API Gateway merges them.
            if multi.is_some_and(|m| m.keys().any(|mk| mk.eq_ignore_ascii_case(k))) {
                continue;
            }
            let v = scalar_text(v).ok_or_else(|| Malformed::BadHeader(k.clone()))?;
            add(resp, k, &v)?;
        }
    }
    if let Some(m) = multi {
        for (k, vs) in m {
            let vs = vs
                .as_array()
                .ok_or_else(|| Malformed::BadHeader(k.clone()))?;
            for v in vs {
                let v = scalar_text(v).ok_or_else(|| Malformed::BadHeader(k.clone()))?;
                add(resp, k, &v)?;
            }
        }
    }
    Ok(())
}

/// Payload 1.0 response.
pub(crate) fn v1(payload: &[u8]) -> Result<HttpResponse, Malformed> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| Malformed::NotJson)?;
    let obj = v.as_object().ok_or(Malformed::NotObject)?;
    let st = status(obj.get("statusCode"))?;
    let mut resp = Response::new(Full::new(body(obj)?));
    *resp.status_mut() = st;
    headers(&mut resp, obj)?;
    Ok(resp)
}

/// Payload 2.0 response.
pub(crate) fn v2(payload: &[u8]) -> Result<HttpResponse, Malformed> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| Malformed::NotJson)?;
    let structured = v.as_object().filter(|o| o.contains_key("statusCode"));
    let Some(obj) = structured else {
        // Inference: any JSON without statusCode is a 200 JSON body.
        let text = match &v {
            Value::String(s) => Bytes::from(s.clone()),
            _ => Bytes::copy_from_slice(payload),
        };
        let mut resp = Response::new(Full::new(text));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(resp);
    };
    let st = status(obj.get("statusCode"))?;
    let mut resp = Response::new(Full::new(body(obj)?));
    *resp.status_mut() = st;
    headers(&mut resp, obj)?;
    if let Some(cookies) = obj.get("cookies") {
        let list = cookies
            .as_array()
            .ok_or_else(|| Malformed::BadHeader("cookies".into()))?;
        for c in list {
            let c = c
                .as_str()
                .ok_or_else(|| Malformed::BadHeader("cookies".into()))?;
            add(&mut resp, "set-cookie", c)?;
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(r: HttpResponse) -> String {
        let b = r
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&b).into_owned()
    }

    #[tokio::test]
    async fn v1_merges_headers_and_decodes_base64() {
        let r = v1(br#"{"statusCode":201,"headers":{"a":"1","b":"x"},"multiValueHeaders":{"b":["2","3"]},"body":"aGk=","isBase64Encoded":true}"#)
            .expect("valid");
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["a"], "1");
        let b: Vec<_> = r.headers().get_all("b").iter().collect();
        assert_eq!(b, vec!["2", "3"]);
        assert_eq!(text(r).await, "hi");
    }

    #[test]
    fn v1_rejects_malformed() {
        assert!(matches!(v1(b"nope"), Err(Malformed::NotJson)));
        assert!(matches!(v1(b"\"str\""), Err(Malformed::NotObject)));
        assert!(matches!(v1(br#"{"body":"x"}"#), Err(Malformed::NoStatus)));
        assert!(matches!(
            v1(br#"{"statusCode":200,"body":{"a":1}}"#),
            Err(Malformed::BodyNotString)
        ));
        assert!(matches!(
            v1(br#"{"statusCode":99}"#),
            Err(Malformed::BadStatus(_))
        ));
    }

    #[tokio::test]
    async fn v2_infers_plain_values() {
        let r = v2(br#"{"message":"hi"}"#).expect("valid");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(text(r).await, r#"{"message":"hi"}"#);
        let r = v2(br#""Hello from Lambda!""#).expect("valid");
        assert_eq!(text(r).await, "Hello from Lambda!");
        let r = v2(br#"{"statusCode":302,"cookies":["a=1","b=2"],"headers":{"location":"/x"}}"#)
            .expect("valid");
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
    }
}
