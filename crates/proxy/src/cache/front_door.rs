//! Azure Front Door's caching rules where they differ from CloudFront's, for an edge whose
//! [`Dialect`](super::Dialect) is Front Door's (a front door route with caching on). From
//! Azure's "Caching with Azure Front Door" (front-door-caching.md) unless said otherwise:
//!
//! * Only `GET` is cached; the front door sends every other method to its backends.
//! * Lifetime: `Cache-Control: s-maxage`, then `max-age`, then `Expires`. `private`,
//!   `no-cache` and `no-store` are honoured: not stored, whatever the route says. Without
//!   `Cache-Control` (or `Expires`) a response is kept for a duration "randomly determined
//!   between one and three days". No lifetime exceeds 366 days.
//! * Classic `cache_duration` is the *minimum* cache duration ("this override won't work if
//!   the cache control header from the origin has a greater TTL").
//! * Azure lists no cacheable statuses. The 1–3 day default applies to the statuses RFC 9110
//!   §15.1 calls heuristically cacheable, less the 404/405/414/501 a failing or foreign
//!   backend answers (a day of 404 after one bad deploy is not what a Front Door user
//!   expects); other statuses are stored only with an explicit lifetime, never a 5xx.
//! * Query strings ([`super::key`]): ignored (the default, forwarded to the backend on the
//!   miss), every unique URL with parameters in any order, or named parameters included or
//!   excluded (Standard/Premium; classic `StripOnly`/`StripAllExcept`).
//! * Compression of a content type on Front Door's list (or the route's
//!   `content_types_to_compress`), 1 KB to 8 MB, Brotli before gzip.
//! * Request fields not forwarded when caching: `Content-Length`, `Transfer-Encoding`,
//!   `Accept`, `Accept-Charset`, `Accept-Language`.
//! * `X-Cache` on every response: `TCP_HIT`, `TCP_MISS`, `PRIVATE_NOSTORE` (not stored
//!   because of `private` or `no-store`), `CONFIG_NOCACHE` (a route without caching, set by
//!   the front door itself).
//! * `Set-Cookie` is removed from a cacheable response, kept on one that is not.

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::policy::{self, Directives, Freshness};

/// A Front Door route's caching settings beyond the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caching {
    /// Classic `cache_duration`, seconds: the least lifetime a cacheable response gets.
    pub min_duration: Option<u64>,
    /// Content types compressed (Front Door's list when empty).
    pub content_types: Vec<String>,
}

/// The longest lifetime Front Door keeps anything: 366 days.
pub const MAX_LIFETIME: u64 = 366 * 86_400;
/// The default lifetime's bounds: one to three days.
pub const DEFAULT_LIFETIME: std::ops::RangeInclusive<u64> = 86_400..=3 * 86_400;

/// Request fields Front Door does not forward to a backend when caching.
pub(crate) const NOT_FORWARDED: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "accept",
    "accept-charset",
    "accept-language",
];

/// The content types Front Door compresses (classic's fixed list; Standard/Premium's
/// default for `content_types_to_compress`).
pub const CONTENT_TYPES: &[&str] = &[
    "application/eot",
    "application/font",
    "application/font-sfnt",
    "application/javascript",
    "application/json",
    "application/opentype",
    "application/otf",
    "application/pkcs7-mime",
    "application/truetype",
    "application/ttf",
    "application/vnd.ms-fontobject",
    "application/xhtml+xml",
    "application/xml",
    "application/xml+rss",
    "application/x-font-opentype",
    "application/x-font-truetype",
    "application/x-font-ttf",
    "application/x-httpd-cgi",
    "application/x-mpegurl",
    "application/x-opentype",
    "application/x-otf",
    "application/x-perl",
    "application/x-ttf",
    "application/x-javascript",
    "font/eot",
    "font/ttf",
    "font/otf",
    "font/opentype",
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
    "text/x-script",
    "text/x-component",
    "text/x-java-source",
];

/// The smallest and largest bodies Front Door compresses: 1 KB and 8 MB, inclusive.
const COMPRESS_BYTES: std::ops::RangeInclusive<usize> = 1024..=8 << 20;

/// Statuses stored without an explicit lifetime (see the module's notes).
fn default_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 200 | 203 | 204 | 300 | 301 | 308 | 410)
}

/// Whether a response to a `GET` may be stored, and its freshness.
pub fn decide(
    status: StatusCode,
    headers: &HeaderMap,
    authorized: bool,
    c: &Caching,
) -> Option<Freshness> {
    let code = status.as_u16();
    if !(200..500).contains(&code) || code == 206 || code == 304 {
        return None;
    }
    let cc = Directives::of_response(headers);
    if cc.private || cc.no_cache || cc.no_store {
        return None;
    }
    // A shared cache stores an answer to an authorized request only when told it may
    // (RFC 9111 §3.5); Azure documents nothing looser.
    if authorized && !(cc.public || cc.must_revalidate || cc.s_maxage.is_some()) {
        return None;
    }
    let date = headers.get(header::DATE).and_then(policy::http_date);
    let expires = headers
        .get(header::EXPIRES)
        .map(|v| match (policy::http_date(v), date) {
            (Some(e), Some(d)) => e.saturating_sub(d),
            (Some(e), None) => e.saturating_sub(policy::now_secs()),
            (None, _) => 0,
        });
    let explicit = cc.s_maxage.or(cc.max_age).or(expires);
    let lifetime = match (explicit, c.min_duration) {
        (Some(v), Some(min)) => v.max(min),
        (Some(v), None) => v,
        (None, _) if !default_status(status) => return None,
        (None, Some(min)) => min,
        (None, None) => rand::random_range(DEFAULT_LIFETIME),
    };
    Some(Freshness {
        lifetime: lifetime.min(MAX_LIFETIME),
        no_cache: false,
        must_revalidate: cc.must_revalidate || cc.proxy_revalidate,
        stale_while_revalidate: cc.stale_while_revalidate.unwrap_or(0),
        stale_if_error: cc.stale_if_error,
    })
}

/// Compresses a body Front Door would compress with `encoding` (`br` or `gzip`).
pub(crate) fn compress(
    c: &Caching,
    status: StatusCode,
    headers: &mut HeaderMap,
    body: Bytes,
    encoding: &str,
) -> Bytes {
    let listed = if c.content_types.is_empty() {
        super::compress::type_in(headers, CONTENT_TYPES.iter().copied())
    } else {
        super::compress::type_in(headers, c.content_types.iter().map(String::as_str))
    };
    if status != StatusCode::OK
        || !COMPRESS_BYTES.contains(&body.len())
        || headers.contains_key(header::CONTENT_ENCODING)
        || !listed
        || super::compress::no_transform(headers)
    {
        return body;
    }
    super::compress::encode(headers, body, encoding)
}

static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Rewrites the edge's `X-Cache` in Front Door's words.
pub(crate) fn x_cache(headers: &mut HeaderMap) {
    let Some(v) = headers.get(&X_CACHE).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let value = if v.starts_with("Hit") || v.starts_with("RefreshHit") {
        "TCP_HIT"
    } else {
        let cc = Directives::of_response(headers);
        if cc.private || cc.no_store {
            "PRIVATE_NOSTORE"
        } else {
            "TCP_MISS"
        }
    };
    headers.insert(X_CACHE.clone(), HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
                HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        m
    }

    #[test]
    fn s_maxage_then_max_age_then_expires() {
        let c = Caching::default();
        let life = |pairs: &[(&str, &str)]| {
            decide(StatusCode::OK, &h(pairs), false, &c).map(|f| f.lifetime)
        };
        assert_eq!(
            life(&[("cache-control", "max-age=60, s-maxage=30")]),
            Some(30)
        );
        assert_eq!(life(&[("cache-control", "max-age=60")]), Some(60));
        assert_eq!(
            life(&[
                ("date", "Sun, 06 Dec 2026 12:00:00 GMT"),
                ("expires", "Sun, 06 Dec 2026 12:01:40 GMT")
            ]),
            Some(100)
        );
        assert_eq!(
            life(&[("cache-control", "max-age=99999999")]),
            Some(MAX_LIFETIME)
        );
    }

    #[test]
    fn private_no_cache_and_no_store_are_honoured_even_with_a_duration() {
        let c = Caching {
            min_duration: Some(600),
            ..Caching::default()
        };
        for cc in ["private", "no-cache", "no-store", "max-age=60, private"] {
            assert_eq!(
                decide(StatusCode::OK, &h(&[("cache-control", cc)]), false, &c),
                None,
                "{cc}"
            );
        }
    }

    #[test]
    fn without_a_lifetime_one_to_three_days_and_cache_duration_is_a_minimum() {
        for _ in 0..50 {
            let f = decide(
                StatusCode::OK,
                &HeaderMap::new(),
                false,
                &Caching::default(),
            );
            assert!(
                f.is_some_and(|f| DEFAULT_LIFETIME.contains(&f.lifetime)),
                "{f:?}"
            );
        }
        let c = Caching {
            min_duration: Some(600),
            ..Caching::default()
        };
        let life = |cc: &str| {
            decide(StatusCode::OK, &h(&[("cache-control", cc)]), false, &c).map(|f| f.lifetime)
        };
        assert_eq!(life("max-age=60"), Some(600));
        assert_eq!(life("max-age=6000"), Some(6000));
        assert_eq!(
            decide(StatusCode::OK, &HeaderMap::new(), false, &c).map(|f| f.lifetime),
            Some(600)
        );
    }

    #[test]
    fn errors_are_stored_only_when_told_and_never_5xx() {
        let c = Caching::default();
        assert_eq!(
            decide(StatusCode::NOT_FOUND, &HeaderMap::new(), false, &c),
            None
        );
        assert!(
            decide(
                StatusCode::NOT_FOUND,
                &h(&[("cache-control", "max-age=5")]),
                false,
                &c
            )
            .is_some()
        );
        assert_eq!(
            decide(
                StatusCode::SERVICE_UNAVAILABLE,
                &h(&[("cache-control", "max-age=5")]),
                false,
                &c
            ),
            None
        );
        assert_eq!(
            decide(StatusCode::OK, &h(&[]), true, &c),
            None,
            "authorized"
        );
    }

    #[test]
    fn compresses_its_list_or_the_routes_between_1_kb_and_8_mb() {
        let body = |n: usize| Bytes::from("a".repeat(n));
        let run = |c: &Caching, ct: &str, n: usize| {
            let mut headers = h(&[("content-type", ct)]);
            let out = compress(c, StatusCode::OK, &mut headers, body(n), "gzip");
            (
                out.len() < n,
                headers.contains_key(header::CONTENT_ENCODING),
            )
        };
        let default = Caching::default();
        assert_eq!(
            run(&default, "text/plain; charset=utf-8", 2048),
            (true, true)
        );
        assert_eq!(
            run(&default, "text/plain", 1023),
            (false, false),
            "under 1 KB"
        );
        assert_eq!(
            run(&default, "image/png", 2048),
            (false, false),
            "not on the list"
        );
        let route = Caching {
            content_types: vec!["image/png".into()],
            ..Caching::default()
        };
        assert_eq!(run(&route, "image/png", 2048), (true, true));
        assert_eq!(
            run(&route, "text/plain", 2048),
            (false, false),
            "the route's list only"
        );
    }

    #[test]
    fn x_cache_in_front_doors_words() {
        for (edge, cc, want) in [
            ("Hit from cloudfront", "", "TCP_HIT"),
            ("RefreshHit from cloudfront", "", "TCP_HIT"),
            ("Miss from cloudfront", "max-age=5", "TCP_MISS"),
            ("Miss from cloudfront", "private", "PRIVATE_NOSTORE"),
            ("Miss from cloudfront", "no-store", "PRIVATE_NOSTORE"),
        ] {
            let mut m = h(&[("x-cache", edge), ("cache-control", cc)]);
            x_cache(&mut m);
            assert_eq!(m["x-cache"], want, "{edge} {cc}");
        }
    }
}
