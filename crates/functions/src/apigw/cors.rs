//! CORS answered in the function's place, as Lambda does for a function URL's `Cors` and
//! API Gateway for an HTTP API's `CorsConfiguration` (and SAM's preflight method for a REST
//! API's `Cors`): preflights are answered without invoking anything, and responses to an
//! allowed origin get the CORS fields.

use bytes::Bytes;
use http::{HeaderValue, header};
use http_body_util::Full;

use meridian_config::sam::Cors;

use super::GatewayResponse;

/// Whether a preflight asks this (an `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`).
pub(crate) fn is_preflight(method: &http::Method, headers: &http::HeaderMap) -> bool {
    method == http::Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn allowed(list: &[String], value: &str) -> bool {
    list.iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(value))
}

/// The preflight answer: the CORS fields when the origin (and method) are allowed, none
/// otherwise (the browser then refuses), without invoking the function.
pub(crate) fn preflight(cors: &Cors, origin: &str, headers: &http::HeaderMap) -> GatewayResponse {
    let mut r = http::Response::new(Full::new(Bytes::new()));
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if allowed(&cors.allow_origins, origin) && allowed(&cors.allow_methods, method) {
        let h = r.headers_mut();
        add_cors(cors, origin, h);
        if let Ok(v) = HeaderValue::from_str(&cors.allow_methods.join(",")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        if !cors.allow_headers.is_empty()
            && let Ok(v) = HeaderValue::from_str(&cors.allow_headers.join(","))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = cors.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
        }
    }
    r
}

/// The CORS fields of a response to an allowed origin.
pub(crate) fn add_cors(cors: &Cors, origin: &str, h: &mut http::HeaderMap) {
    if !allowed(&cors.allow_origins, origin) {
        return;
    }
    let value = if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        HeaderValue::from_static("*")
    } else {
        match HeaderValue::from_str(origin) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !cors.expose_headers.is_empty()
        && let Ok(v) = HeaderValue::from_str(&cors.expose_headers.join(","))
    {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_answers_preflights_for_allowed_origins_only() {
        let cors = Cors {
            allow_origins: vec!["https://app.example".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["content-type".into()],
            max_age: Some(300),
            ..Cors::default()
        };
        let mut h = http::HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        let ok = preflight(&cors, "https://app.example", &h);
        assert_eq!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert_eq!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_METHODS],
            "GET,POST"
        );
        assert_eq!(ok.headers()[header::ACCESS_CONTROL_MAX_AGE], "300");
        let refused = preflight(&cors, "https://evil.example", &h);
        assert!(
            refused
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }
}
