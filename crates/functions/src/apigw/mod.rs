//! API Gateway in front of the functions: `Api` events as a REST API with the Lambda proxy
//! integration (payload 1.0), `HttpApi` events as an HTTP API (payload 2.0 by default).
//!
//! [`ApiGateway::handle`] takes any `http::Request` so the mesh gateway can mount it; the
//! client address comes from a [`ClientAddr`] extension when the caller sets one.

mod cors;
pub(crate) mod event;
mod response;
pub(crate) mod route;
pub mod url;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Limited};

use meridian_config::sam::{ApiKind, PayloadFormat};

use crate::error::FunctionsError;
use crate::host::FunctionHost;
use crate::invocation::{InvokeRequest, Outcome};

pub use response::HttpResponse as GatewayResponse;
pub(crate) use route::Router;

/// The largest request body API Gateway accepts (10 MB).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// The client's address, set as a request extension by whoever accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// One route served, for listings (`meridian up` prints them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteInfo {
    /// `GET`, `ANY`...
    pub method: String,
    /// Path template, or `$default`.
    pub path: String,
    /// The function it invokes.
    pub function: String,
    /// `rest` or `http`.
    pub api: ApiKind,
    /// The API's stage.
    pub stage: String,
}

/// Invokes `function` with an API event, carrying the request's `X-Amzn-Trace-Id` on.
pub(crate) async fn invoke_with_event(
    host: &FunctionHost,
    function: &str,
    event: &serde_json::Value,
    headers: &http::HeaderMap,
) -> Result<crate::invocation::InvokeResult, FunctionsError> {
    let trace_id = headers
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    host.invoke(
        function,
        InvokeRequest {
            payload: Bytes::from(event.to_string()),
            trace_id,
            ..InvokeRequest::default()
        },
    )
    .await
}

/// The API Gateway of a [`FunctionHost`]: always serves the routes in force.
#[derive(Debug, Clone)]
pub struct ApiGateway {
    host: FunctionHost,
}

/// The phases of a gateway request, named once for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayPhase {
    /// Finding the route.
    Route,
    /// Reading the request body.
    ReadBody,
    /// Invoking the function.
    Invoke,
    /// Mapping the function's result to a response.
    MapResponse,
}

impl GatewayPhase {
    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Route => "route",
            Self::ReadBody => "read_body",
            Self::Invoke => "invoke",
            Self::MapResponse => "map_response",
        }
    }
}

impl ApiGateway {
    /// The gateway of `host`.
    pub fn new(host: FunctionHost) -> Self {
        Self { host }
    }

    /// Every route in force.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.host
            .registry()
            .router
            .routes()
            .map(|r| RouteInfo {
                method: r.route.method.to_string(),
                path: r.route.path.clone().unwrap_or_else(|| "$default".into()),
                function: r.function.clone(),
                api: r.route.kind,
                stage: r.api.stage.clone(),
            })
            .collect()
    }

    /// True when a request with this method and path has a route (so a shared gateway can
    /// decide whether to hand it here).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.host.registry().router.find(method, path).is_some()
    }

    /// Serves one request: route, build the proxy event, invoke, map the result.
    pub async fn handle<B>(&self, req: Request<B>) -> GatewayResponse
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let registry = self.host.registry();
        let router = &registry.router;
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let origin = req
            .headers()
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // A preflight for an API with CORS is answered in the function's place.
        if cors::is_preflight(req.method(), req.headers())
            && let Some(origin) = &origin
        {
            let wanted = req
                .headers()
                .get(http::header::ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if let Some(c) = router
                .find(wanted, &path)
                .and_then(|m| m.route.api.cors.clone())
            {
                return cors::preflight(&c, origin, req.headers());
            }
        }
        let Some(matched) = router.find(&method, &path) else {
            tracing::debug!(phase = GatewayPhase::Route.as_str(), %method, %path, "no route");
            return if router.has_rest() || router.is_empty() {
                response::message(StatusCode::FORBIDDEN, "Missing Authentication Token")
            } else {
                response::message(StatusCode::NOT_FOUND, "Not Found")
            };
        };
        let kind = matched.route.route.kind;
        // An HTTP API adds the CORS fields to its responses (a REST API leaves them to the
        // function).
        let cors = matched
            .route
            .api
            .cors
            .clone()
            .filter(|_| kind == ApiKind::Http);
        let payload_format = matched.route.route.payload;
        let source_ip = req
            .extensions()
            .get::<ClientAddr>()
            .map_or_else(|| "127.0.0.1".to_owned(), |a| a.0.ip().to_string());
        let protocol = match req.version() {
            http::Version::HTTP_2 => "HTTP/2.0",
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let (mut parts, body) = req.into_parts();
        parts.headers = event::client_headers(&parts.headers);
        let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                tracing::debug!(phase = GatewayPhase::ReadBody.as_str(), error = %e, "request body refused");
                return response::message(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long");
            }
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let info = event::RequestInfo {
            method: &method,
            raw_path: &path,
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            source_ip,
            protocol,
            request_id: request_id.clone(),
            time: time::OffsetDateTime::now_utc(),
            region: &router.region,
            account_id: &router.account_id,
        };
        let ev = event::build(&info, &matched);
        let function = matched.route.function.clone();
        drop(registry);
        let result = invoke_with_event(&self.host, &function, &ev, &parts.headers).await;
        let mut resp = match result {
            Ok(r) => match &r.outcome {
                Outcome::Success(p) => {
                    let mapped = match payload_format {
                        PayloadFormat::V1 => response::v1(p),
                        PayloadFormat::V2 => response::v2(p),
                    };
                    match mapped {
                        Ok(resp) => resp,
                        Err(e) => {
                            tracing::warn!(
                                phase = GatewayPhase::MapResponse.as_str(),
                                %function,
                                "Execution failed due to configuration error: Malformed Lambda proxy response ({e})"
                            );
                            response::message(StatusCode::BAD_GATEWAY, "Internal server error")
                        }
                    }
                }
                Outcome::FunctionError { error_type, .. } => {
                    tracing::debug!(phase = GatewayPhase::Invoke.as_str(), %function, %error_type, "function error");
                    match kind {
                        ApiKind::Rest => {
                            response::message(StatusCode::BAD_GATEWAY, "Internal server error")
                        }
                        ApiKind::Http => response::message(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Internal Server Error",
                        ),
                    }
                }
            },
            Err(FunctionsError::Throttled { .. }) => {
                response::message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
            }
            Err(e) => {
                tracing::warn!(phase = GatewayPhase::Invoke.as_str(), %function, error = %e, "invoke failed");
                response::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        };
        let id_header = match kind {
            ApiKind::Rest => "x-amzn-requestid",
            ApiKind::Http => "apigw-requestid",
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(id_header, v);
        }
        if let (Some(c), Some(origin)) = (&cors, &origin) {
            cors::add_cors(c, origin, resp.headers_mut());
        }
        resp
    }

    /// The proxy event a request would produce, without invoking anything (for tests and
    /// `generate-event`). `None` when no route matches.
    pub fn event_for(&self, req: &Request<Bytes>, source_ip: &str) -> Option<serde_json::Value> {
        let registry = self.host.registry();
        let router = &registry.router;
        let path = req.uri().path();
        let matched = router.find(req.method().as_str(), path)?;
        let info = event::RequestInfo {
            method: req.method().as_str(),
            raw_path: path,
            raw_query: req.uri().query().unwrap_or_default(),
            headers: req.headers(),
            body: req.body(),
            source_ip: source_ip.to_owned(),
            protocol: "HTTP/1.1",
            request_id: uuid::Uuid::new_v4().to_string(),
            time: time::OffsetDateTime::now_utc(),
            region: &router.region,
            account_id: &router.account_id,
        };
        Some(event::build(&info, &matched))
    }
}
