//! The Lambda Invoke API (`POST /2015-03-31/functions/{FunctionName}/invocations`) and the
//! read-only function listing, so `aws lambda invoke --endpoint-url` and boto3's `lambda`
//! client work against Meridian unmodified.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use meridian_config::sam::FunctionSpec;

use crate::error::FunctionsError;
use crate::host::FunctionHost;
use crate::invocation::{InvokeRequest, Outcome};

/// The Invoke API's path prefix.
pub const PREFIX: &str = "/2015-03-31/functions";
/// `InvokeWithResponseStream`'s path prefix.
pub const STREAM_PREFIX: &str = "/2021-11-15/functions";
/// Lambda's limit on a synchronous request payload.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// Lambda's limit on an asynchronous (`Event`) payload.
pub const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Wait for the result.
    RequestResponse,
    /// Queue it; answer 202 at once.
    Event,
    /// Check the request only; answer 204.
    DryRun,
}

impl InvocationType {
    fn parse(h: &HeaderMap) -> Result<Self, FunctionsError> {
        match h.get("x-amz-invocation-type").map(HeaderValue::as_bytes) {
            None | Some(b"RequestResponse") => Ok(Self::RequestResponse),
            Some(b"Event") => Ok(Self::Event),
            Some(b"DryRun") => Ok(Self::DryRun),
            Some(other) => Err(FunctionsError::InvalidInvocationType {
                value: String::from_utf8_lossy(other).into_owned(),
            }),
        }
    }
}

type Resp = Response<Full<Bytes>>;

/// Splits a FunctionName path parameter (name, `name:qualifier`, full or partial ARN).
fn parse_name(raw: &str) -> (String, Option<String>) {
    let decoded = crate::apigw::route::percent_decode(raw);
    let parts: Vec<&str> = decoded.split(':').collect();
    let (name, qual) = match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, rest @ ..] => (*name, rest.first().copied()),
        [_, "function", name, rest @ ..] => (*name, rest.first().copied()),
        [name, qual] => (*name, Some(*qual)),
        _ => (decoded.as_str(), None),
    };
    (name.to_owned(), qual.map(str::to_owned))
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn configuration(host: &FunctionHost, f: &FunctionSpec) -> serde_json::Value {
    serde_json::json!({
        "FunctionName": f.name,
        "FunctionArn": host.arn(&f.name),
        "Runtime": f.runtime.to_string(),
        "Handler": f.handler,
        "CodeSize": 0,
        "Description": "",
        "Timeout": f.timeout.as_secs(),
        "MemorySize": f.memory_mb,
        "Version": "$LATEST",
        "PackageType": if matches!(f.code, meridian_config::sam::Code::Layout(_)) { "Image" } else { "Zip" },
        "Architectures": [f.architecture],
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "Environment": { "Variables": f.environment },
        "Role": format!("arn:aws:iam::{}:role/{}-role", host.config().account_id, f.name),
    })
}

fn query_qualifier<B>(req: &Request<B>) -> Option<String> {
    req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|p| p.strip_prefix("Qualifier="))
            .map(crate::apigw::route::percent_decode)
    })
}

/// True for paths this API serves.
pub fn is_invoke_api(path: &str) -> bool {
    path.starts_with(PREFIX) || path.starts_with(STREAM_PREFIX)
}

/// Serves one Invoke API request.
pub async fn handle<B>(host: &FunctionHost, req: Request<B>) -> Resp
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path().to_owned();
    if let Some(rest) = path.strip_prefix(STREAM_PREFIX) {
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        if let (&Method::POST, [name, "response-streaming-invocations"]) =
            (req.method(), segs.as_slice())
        {
            let (name, qualifier) = parse_name(name);
            let qualifier = qualifier.or_else(|| query_qualifier(&req));
            return invoke(host, &name, qualifier.as_deref(), req, true)
                .await
                .unwrap_or_else(|e| e.to_response());
        }
    }
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, []) => {
            let fns: Vec<_> = host
                .functions()
                .iter()
                .filter_map(|s| host.function(&s.name))
                .map(|f| configuration(host, &f))
                .collect();
            json_response(StatusCode::OK, serde_json::json!({ "Functions": fns }))
        }
        (&Method::GET, [name]) | (&Method::GET, [name, "configuration"]) => {
            let (name, _) = parse_name(name);
            match host.function(&name) {
                Some(f) if segs.len() == 2 => {
                    json_response(StatusCode::OK, configuration(host, &f))
                }
                Some(f) => json_response(
                    StatusCode::OK,
                    serde_json::json!({
                        "Configuration": configuration(host, &f),
                        "Code": { "RepositoryType": "S3", "Location": "" },
                    }),
                ),
                None => FunctionsError::NotFound {
                    arn: host.arn(&name),
                }
                .to_response(),
            }
        }
        (&Method::POST, [name, "invocations"]) => {
            let (name, qualifier) = parse_name(name);
            let qualifier = qualifier.or_else(|| query_qualifier(&req));
            invoke(host, &name, qualifier.as_deref(), req, false)
                .await
                .unwrap_or_else(|e| e.to_response())
        }
        _ => {
            let mut r = json_response(
                StatusCode::NOT_FOUND,
                serde_json::json!({"Type": "User", "message": "Unknown operation"}),
            );
            r.headers_mut().insert(
                "x-amzn-ErrorType",
                HeaderValue::from_static("UnknownOperationException"),
            );
            r
        }
    }
}

async fn invoke<B>(
    host: &FunctionHost,
    name: &str,
    qualifier: Option<&str>,
    req: Request<B>,
    streaming: bool,
) -> Result<Resp, FunctionsError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let arn = match qualifier {
        Some(q) => format!("{}:{q}", host.arn(name)),
        None => host.arn(name),
    };
    if host.function(name).is_none() || qualifier.is_some_and(|q| q != "$LATEST") {
        return Err(FunctionsError::NotFound { arn });
    }
    let kind = InvocationType::parse(req.headers())?;
    let tail = req
        .headers()
        .get("x-amz-log-type")
        .is_some_and(|v| v.as_bytes() == b"Tail");
    let client_context = req
        .headers()
        .get("x-amz-client-context")
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let trace_id = req
        .headers()
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = if kind == InvocationType::Event {
        MAX_ASYNC_PAYLOAD
    } else {
        MAX_SYNC_PAYLOAD
    };
    let body = Limited::new(req.into_body(), limit + 1)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|_| FunctionsError::PayloadTooLarge {
            size: limit + 1,
            limit,
        })?;
    if body.len() > limit {
        return Err(FunctionsError::PayloadTooLarge {
            size: body.len(),
            limit,
        });
    }
    if !body.is_empty() {
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(|e| {
            FunctionsError::InvalidRequestContent {
                reason: e.to_string(),
            }
        })?;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = InvokeRequest {
        payload: body,
        client_context,
        cognito_identity: None,
        trace_id,
        want_logs: tail,
        request_id: Some(request_id.clone()),
        azure: None,
        attempt: 0,
    };
    let id_header = |r: &mut Resp| {
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            r.headers_mut().insert("x-amzn-RequestId", v);
        }
    };
    match kind {
        InvocationType::DryRun => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            id_header(&mut r);
            Ok(r)
        }
        InvocationType::Event if streaming => Err(FunctionsError::InvalidInvocationType {
            value: "Event".into(),
        }),
        InvocationType::Event => {
            // 202 only once the event is on disk: it survives a restart.
            host.enqueue(name, request).await?;
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::ACCEPTED;
            id_header(&mut r);
            Ok(r)
        }
        InvocationType::RequestResponse if streaming => {
            let result = host.invoke(name, request).await?;
            Ok(stream_response(&result, tail, &request_id))
        }
        InvocationType::RequestResponse => {
            let result = host.invoke(name, request).await?;
            let mut r = Response::new(Full::new(result.outcome.payload().clone()));
            let h = r.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_str(result.content_type.as_deref().unwrap_or("application/json"))
                    .unwrap_or(HeaderValue::from_static("application/json")),
            );
            h.insert(
                "x-amz-executed-version",
                HeaderValue::from_static("$LATEST"),
            );
            if let Outcome::FunctionError { .. } = result.outcome {
                h.insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            if tail
                && let Some(t) = result.log_tail()
                && let Ok(v) = HeaderValue::from_str(
                    &base64::engine::general_purpose::STANDARD.encode(t.as_bytes()),
                )
            {
                h.insert("x-amz-log-result", v);
            }
            id_header(&mut r);
            Ok(r)
        }
    }
}

/// `InvokeWithResponseStream`'s answer: the payload as `PayloadChunk` events, then
/// `InvokeComplete` with the error (if any) and the log tail.
fn stream_response(result: &crate::invocation::InvokeResult, tail: bool, request_id: &str) -> Resp {
    use crate::event_stream::event;
    let mut body = Vec::new();
    let (payload, complete) = match &result.outcome {
        Outcome::Success(p) => (p.clone(), serde_json::json!({})),
        Outcome::FunctionError {
            error_type,
            payload,
        } => (
            Bytes::new(),
            serde_json::json!({
                "ErrorCode": error_type,
                "ErrorDetails": String::from_utf8_lossy(payload),
            }),
        ),
    };
    for chunk in payload.chunks(64 * 1024) {
        body.extend_from_slice(&event("PayloadChunk", "application/octet-stream", chunk));
    }
    let mut complete = complete;
    if tail && let Some(t) = result.log_tail() {
        complete["LogResult"] =
            serde_json::Value::from(base64::engine::general_purpose::STANDARD.encode(t.as_bytes()));
    }
    body.extend_from_slice(&event(
        "InvokeComplete",
        "application/json",
        complete.to_string().as_bytes(),
    ));
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(
            result
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        )
        .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_in_every_form() {
        assert_eq!(parse_name("f"), ("f".into(), None));
        assert_eq!(
            parse_name("f:$LATEST"),
            ("f".into(), Some("$LATEST".into()))
        );
        assert_eq!(
            parse_name("arn:aws:lambda:us-east-1:123456789012:function:f"),
            ("f".into(), None)
        );
        assert_eq!(
            parse_name("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af%3A1"),
            ("f".into(), Some("1".into()))
        );
        assert_eq!(parse_name("123456789012:function:f"), ("f".into(), None));
    }
}
