//! A route's policies on a request's way, as Istio's VirtualService states them: CORS (a
//! preflight answered here, an allowed origin remembered for the response's headers) and
//! fault injection (a delay waited here, then an abort answered here).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use meridian_control::snapshot::{AbortStatus, CorsPolicy, Fault, HttpRoute, UnmatchedPreflights};

use super::{Trace, respond, roll_percent};
use crate::body::ResponseBody;
use crate::error::ProxyError;
use crate::record::ResponseFlags;

/// What the route's CORS policy makes of a request.
pub(super) enum Cors {
    /// A preflight, answered here.
    Reply(Response<ResponseBody>),
    /// The request goes on; the response allows this origin when there is one.
    Forward(Option<HeaderValue>),
}

/// The route's CORS policy for a request with an `Origin`: a preflight is answered (allowed,
/// or ignored when the policy says so), an allowed origin is kept for the response.
#[inline(always)]
pub(super) fn cors(route: &HttpRoute, parts: &http::request::Parts) -> Cors {
    if let Some(cors) = &route.cors
        && let Some(origin) = parts.headers.get(header::ORIGIN)
    {
        let allowed = origin.to_str().is_ok_and(|o| cors.allows(o));
        let preflight = parts.method == Method::OPTIONS
            && parts
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            if allowed {
                return Cors::Reply(preflight_response(cors, origin.clone()));
            }
            if cors.unmatched_preflights == UnmatchedPreflights::Ignore {
                return Cors::Reply(respond(StatusCode::OK, Bytes::new()));
            }
        } else if allowed {
            return Cors::Forward(Some(origin.clone()));
        }
    }
    Cors::Forward(None)
}

fn preflight_response(cors: &CorsPolicy, origin: HeaderValue) -> Response<ResponseBody> {
    let mut resp = respond(StatusCode::OK, Bytes::new());
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if let Some(v) = &cors.allow_methods {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
    }
    if let Some(v) = &cors.allow_headers {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    if let Some(v) = &cors.max_age {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, v.clone());
    }
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    resp
}

/// The CORS headers of a forwarded response, for an origin the route allows.
pub(super) fn cors_response_headers(cors: &CorsPolicy, origin: HeaderValue, h: &mut HeaderMap) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if let Some(v) = &cors.expose_headers {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
    }
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// Injects the route's fault: its delay, when drawn, is waited here; its abort, when drawn,
/// is the answer (`Some` for a gRPC status, an error for an HTTP one).
pub(super) async fn inject(
    fault: &Fault,
    trace: &mut Trace,
) -> Result<Option<Response<ResponseBody>>, ProxyError> {
    if let Some(delay) = &fault.delay
        && roll_percent(delay.percentage)
    {
        trace.flags.insert(ResponseFlags::DELAY_INJECTED);
        tokio::time::sleep(delay.duration).await;
    }
    if let Some(abort) = &fault.abort
        && roll_percent(abort.percentage)
    {
        return match abort.status {
            AbortStatus::Http(status) => Err(ProxyError::FaultAbort(status)),
            AbortStatus::Grpc(code) => {
                trace.flags.insert(ResponseFlags::FAULT_INJECTED);
                Ok(Some(grpc_abort(code)))
            }
        };
    }
    Ok(None)
}

fn grpc_abort(code: u32) -> Response<ResponseBody> {
    let mut resp = respond(StatusCode::OK, Bytes::new());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(code));
    h.insert(
        "grpc-message",
        HeaderValue::from_static("fault filter abort"),
    );
    resp
}
