//! The telemetry routes of the admin listener: `/metrics` and `/stats/prometheus` (Envoy's and
//! Istio's path) render the registry; `/federate` serves Prometheus federation.
//!
//! Transport-free: the binary's admin server calls [`AdminEndpoints::respond`] with the
//! request line and writes the response; anything else on that listener is its own business.

use crate::federate::{self, Federation};
use crate::metrics::Registry;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Response, StatusCode, Uri};
use std::time::{SystemTime, UNIX_EPOCH};

/// The paths served here.
pub const PATHS: [&str; 3] = ["/metrics", "/stats/prometheus", "/federate"];

/// The telemetry part of the admin API.
#[derive(Debug, Clone)]
pub struct AdminEndpoints {
    registry: Registry,
    federation: Federation,
}

impl AdminEndpoints {
    /// Endpoints over `registry`, federating with `federation`'s external labels.
    pub fn new(registry: Registry, federation: Federation) -> AdminEndpoints {
        AdminEndpoints {
            registry,
            federation,
        }
    }

    /// The response for a request to one of [`PATHS`], or `None` for any other path.
    pub fn respond(&self, method: &Method, uri: &Uri) -> Option<Response<Bytes>> {
        let path = uri.path();
        if !PATHS.contains(&path) {
            return None;
        }
        if method != Method::GET && method != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(r);
        }
        let mut response = if path == "/federate" {
            self.federate(uri.query())
        } else {
            self.metrics()
        };
        if method == Method::HEAD {
            *response.body_mut() = Bytes::new();
        }
        Some(response)
    }

    /// `/metrics`: every family in the text format 0.0.4.
    pub fn metrics(&self) -> Response<Bytes> {
        let mut body = String::with_capacity(16 * 1024);
        self.registry.render_text(&mut body);
        exposition(body)
    }

    /// `/federate?match[]=...`: 400 with Prometheus' error text for a bad selector.
    pub fn federate(&self, query: Option<&str>) -> Response<Bytes> {
        let selectors = match federate::match_params(query) {
            Ok(s) => s,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut body = String::new();
        if !selectors.is_empty() {
            let samples = federate::samples_from(&self.registry.gather(), now_ms);
            self.federation
                .render(&selectors, samples, now_ms, &mut body);
        }
        exposition(body)
    }
}

fn exposition(body: String) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::exposition::CONTENT_TYPE),
    );
    r
}

/// Go's `http.Error`: plain text, no sniffing.
fn text(status: StatusCode, body: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body.to_owned()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResponseFlags;
    use crate::metrics::{HttpRecord, IstioLabels};
    use std::time::Duration;

    fn endpoints() -> AdminEndpoints {
        let registry = Registry::new();
        registry
            .istio()
            .http(&IstioLabels::default())
            .record(&HttpRecord::http(
                200,
                ResponseFlags::NONE,
                Duration::from_millis(1),
                0,
                0,
            ));
        AdminEndpoints::new(
            registry,
            Federation::new(&[("region", "eu-west")]).expect("valid"),
        )
    }

    #[test]
    fn routes() {
        let e = endpoints();
        for path in ["/metrics", "/stats/prometheus"] {
            let r = e
                .respond(&Method::GET, &path.parse().expect("uri"))
                .expect("ours");
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()[CONTENT_TYPE], crate::exposition::CONTENT_TYPE);
            assert!(
                std::str::from_utf8(r.body())
                    .expect("utf-8")
                    .contains("istio_requests_total{")
            );
        }
        assert!(
            e.respond(&Method::GET, &"/healthz".parse().expect("uri"))
                .is_none()
        );
        let r = e
            .respond(&Method::POST, &"/metrics".parse().expect("uri"))
            .expect("ours");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn federate_ok_and_bad() {
        let e = endpoints();
        let uri: Uri = "/federate?match[]=istio_requests_total"
            .parse()
            .expect("uri");
        let r = e.respond(&Method::GET, &uri).expect("ours");
        let body = std::str::from_utf8(r.body()).expect("utf-8").to_owned();
        assert!(body.starts_with("# TYPE istio_requests_total untyped\nistio_requests_total{"));
        assert!(body.contains(",instance=\"\",region=\"eu-west\"} 1 "));
        let uri: Uri = "/federate?match[]=%7Bx%3D%22%22%7D".parse().expect("uri");
        let r = e.respond(&Method::GET, &uri).expect("ours");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.body(),
            "1:1: parse error: vector selector must contain at least one non-empty matcher\n"
        );
    }
}
