//! CloudFront's edge compression (`compress = true`): the edge asks the origin for the
//! identity encoding and compresses what the viewer accepts (Brotli before gzip, as the cache
//! key normalises `Accept-Encoding`), under CloudFront's documented conditions: a 200, 403 or
//! 404 with a `Content-Length` between 1,000 and 10,000,000 bytes, a content type on its list,
//! no `Content-Encoding` from the origin, and no `Cache-Control: no-transform` (RFC 9110). A
//! strong `ETag` becomes weak, since the bytes are no longer the origin's.

use std::io::Write as _;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

/// The smallest and largest bodies CloudFront compresses.
pub const MIN_BYTES: usize = 1_000;
/// See [`MIN_BYTES`].
pub const MAX_BYTES: usize = 10_000_000;

/// The content types CloudFront compresses (its "file types that CloudFront compresses").
const TYPES: &[&str] = &[
    "application/dash+xml",
    "application/eot",
    "application/font",
    "application/font-sfnt",
    "application/javascript",
    "application/json",
    "application/opentype",
    "application/otf",
    "application/pdf",
    "application/pkcs7-mime",
    "application/protobuf",
    "application/rss+xml",
    "application/truetype",
    "application/ttf",
    "application/vnd.apple.mpegurl",
    "application/vnd.mapbox-vector-tile",
    "application/vnd.ms-fontobject",
    "application/wasm",
    "application/xhtml+xml",
    "application/xml",
    "application/x-font-opentype",
    "application/x-font-truetype",
    "application/x-font-ttf",
    "application/x-httpd-cgi",
    "application/x-javascript",
    "application/x-mpegurl",
    "application/x-opentype",
    "application/x-otf",
    "application/x-perl",
    "application/x-ttf",
    "font/eot",
    "font/opentype",
    "font/otf",
    "font/ttf",
    "image/svg+xml",
    "text/css",
    "text/csv",
    "text/html",
    "text/javascript",
    "text/js",
    "text/plain",
    "text/richtext",
    "text/tab-separated-values",
    "text/xml",
    "text/x-component",
    "text/x-java-source",
    "text/x-script",
    "vnd.apple.mpegurl",
];

fn compressible_type(headers: &HeaderMap) -> bool {
    type_in(headers, TYPES.iter().copied())
}

/// Whether the response's media type (without parameters) is one of `types`.
pub(crate) fn type_in<'a>(headers: &HeaderMap, mut types: impl Iterator<Item = &'a str>) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    types.any(|t| t.eq_ignore_ascii_case(essence))
}

pub(crate) fn no_transform(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
}

/// Compresses `body` with `encoding` (`br` or `gzip`) when CloudFront would, updating the
/// headers (`Content-Encoding`, `Vary`, a weak `ETag`, no `Content-Length`); otherwise returns
/// it as it is. `had_length` says whether the origin sent a `Content-Length`.
pub fn apply(
    status: StatusCode,
    headers: &mut HeaderMap,
    body: Bytes,
    encoding: &str,
    had_length: bool,
) -> Bytes {
    if !matches!(status.as_u16(), 200 | 403 | 404)
        || !had_length
        || !(MIN_BYTES..=MAX_BYTES).contains(&body.len())
        || headers.contains_key(header::CONTENT_ENCODING)
        || !compressible_type(headers)
        || no_transform(headers)
    {
        return body;
    }
    encode(headers, body, encoding)
}

/// Compresses `body` with `encoding` (`br` or `gzip`) and updates the headers
/// (`Content-Encoding`, `Vary`, a weak `ETag`, no `Content-Length`); the body as it is when
/// the encoder fails or the encoding is neither.
pub fn encode(headers: &mut HeaderMap, body: Bytes, encoding: &str) -> Bytes {
    let encoded = match encoding {
        "br" => {
            let mut out = Vec::with_capacity(body.len() / 3);
            {
                // Quality 5 and a 4 MiB window: most of Brotli's gain at a fraction of its
                // highest setting's time, which matters on a cache miss.
                let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, 5, 22);
                if w.write_all(&body).is_err() {
                    return body;
                }
            }
            out
        }
        "gzip" => {
            let mut w = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 3),
                flate2::Compression::new(6),
            );
            match w.write_all(&body).and_then(|()| w.finish()) {
                Ok(v) => v,
                Err(_) => return body,
            }
        }
        _ => return body,
    };
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(if encoding == "br" { "br" } else { "gzip" }),
    );
    headers.remove(header::CONTENT_LENGTH);
    let varies = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|n| n.trim().eq_ignore_ascii_case("accept-encoding"));
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(tag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok())
        && !tag.starts_with("W/")
        && let Ok(weak) = HeaderValue::from_str(&format!("W/{tag}"))
    {
        headers.insert(header::ETAG, weak);
    }
    Bytes::from(encoded)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
                HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        h
    }

    fn page(n: usize) -> Bytes {
        Bytes::from("<p>hello edge</p>\n".repeat(n / 18 + 1)[..n].to_owned())
    }

    #[test]
    fn compresses_what_cloudfront_compresses_and_round_trips() {
        for enc in ["br", "gzip"] {
            let mut h = headers(&[
                ("content-type", "text/html; charset=utf-8"),
                ("etag", "\"abc\""),
            ]);
            let body = page(5_000);
            let out = apply(StatusCode::OK, &mut h, body.clone(), enc, true);
            assert!(out.len() < body.len() / 4, "{enc}: {}", out.len());
            assert_eq!(h[header::CONTENT_ENCODING], enc);
            assert_eq!(h[header::ETAG], "W/\"abc\"");
            assert_eq!(h[header::VARY], "Accept-Encoding");
            let mut back = Vec::new();
            match enc {
                "br" => brotli::Decompressor::new(&out[..], 4096).read_to_end(&mut back),
                _ => flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut back),
            }
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, body);
        }
    }

    /// Status, origin headers, body size, whether the origin sent a `Content-Length`.
    type Case = (
        StatusCode,
        &'static [(&'static str, &'static str)],
        usize,
        bool,
    );

    #[test]
    fn leaves_alone_what_cloudfront_does_not_compress() {
        let cases: [Case; 7] = [
            (StatusCode::OK, &[("content-type", "text/html")], 999, true),
            (
                StatusCode::OK,
                &[("content-type", "text/html")],
                10_000_001,
                true,
            ),
            (
                StatusCode::OK,
                &[("content-type", "image/png")],
                5_000,
                true,
            ),
            (
                StatusCode::OK,
                &[("content-type", "text/html"), ("content-encoding", "gzip")],
                5_000,
                true,
            ),
            (
                StatusCode::OK,
                &[
                    ("content-type", "text/html"),
                    ("cache-control", "max-age=60, no-transform"),
                ],
                5_000,
                true,
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                &[("content-type", "text/html")],
                5_000,
                true,
            ),
            (
                StatusCode::OK,
                &[("content-type", "text/html")],
                5_000,
                false,
            ),
        ];
        for (status, hs, n, had_length) in cases {
            let mut h = headers(hs);
            let body = page(n);
            let out = apply(status, &mut h, body.clone(), "gzip", had_length);
            assert_eq!(out, body, "{status} {hs:?} {n} {had_length}");
            assert!(!h.contains_key(header::VARY));
        }
        // 403 and 404 pages are compressed too.
        let mut h = headers(&[("content-type", "text/plain")]);
        let out = apply(StatusCode::NOT_FOUND, &mut h, page(2_000), "gzip", true);
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert!(out.len() < 2_000);
    }
}
