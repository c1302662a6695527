//! The web dashboard, served by the admin listener from assets embedded in the binary
//! (`crates/meridian/assets/dashboard`: the page, its script and style, and Cytoscape.js
//! vendored as a minified file, so no CDN is involved). In debug builds rust-embed reads the
//! files from disk, so the page can be edited without a rebuild.
//!
//! The page polls `/api/v1/graph` every two seconds and draws the service graph (workloads,
//! services and the gateway as nodes; edges with requests per second, success rate, p99, and
//! marked mTLS — the lock — when the destination side saw mutual TLS or the DestinationRule
//! asks for it), the canary split of each route, each replica's health and the recent errors.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/dashboard/"]
struct Assets;

/// An asset by its path under `/dashboard/` (`""` is the page).
pub(crate) fn asset(path: &str) -> Response<BoxBody<Bytes, Infallible>> {
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(file) = Assets::get(path) else {
        let mut r = Response::new(Full::new(Bytes::from_static(b"not found\n")).boxed());
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let content_type = match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    let mut r = Response::new(Full::new(Bytes::from(file.data.into_owned())).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_vendored_cytoscape() {
        let page = asset("");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(asset("cytoscape.min.js").status(), StatusCode::OK);
        assert_eq!(asset("nope.js").status(), StatusCode::NOT_FOUND);
        assert_eq!(asset("../Cargo.toml").status(), StatusCode::NOT_FOUND);
    }
}
