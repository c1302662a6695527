//! Whether a response may be stored and for how long: RFC 9111's rules for a shared cache
//! (`s-maxage`, `max-age`, `Expires`, heuristic freshness, `no-store`, `private`,
//! `no-cache`, `must-revalidate`, RFC 5861's `stale-while-revalidate`/`stale-if-error`,
//! RFC 9213's `CDN-Cache-Control`), and CloudFront's minimum/default/maximum TTLs on top
//! of them as its developer guide tabulates ("Managing how long content stays in the
//! cache").

use http::HeaderMap;
use http::header::{self, HeaderName};

/// The greatest delta-seconds a cache must represent (RFC 9111 §1.2.2): larger values and
/// overflows become this.
pub const DELTA_MAX: u64 = 2_147_483_648;

/// `CDN-Cache-Control` (RFC 9213): when present it replaces `Cache-Control` for a CDN.
pub static CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// A cache's response directives, from `Cache-Control` (or a targeted field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `max-age` (an invalid value is 0: RFC 9111 §4.2.1 encourages treating it as stale).
    pub max_age: Option<u64>,
    /// `s-maxage`.
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (with or without field names: the whole response is revalidated).
    pub no_cache: bool,
    /// `private` (with or without field names: a shared cache does not store it).
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `stale-while-revalidate` (RFC 5861).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861).
    pub stale_if_error: Option<u64>,
}

impl Directives {
    /// Parses every line of `name` in `headers`; the first occurrence of a directive wins.
    pub fn parse(headers: &HeaderMap, name: &HeaderName) -> Option<Directives> {
        let mut lines = headers.get_all(name).iter().peekable();
        lines.peek()?;
        // `CDN-Cache-Control` is a Structured Field (RFC 9213): a value of the wrong type
        // makes the directive ignored, where `Cache-Control` treats it as stale.
        let structured = name == CDN_CACHE_CONTROL;
        let seconds = |value: Option<&str>| {
            if structured {
                value
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .map(|v| delta(Some(v)))
            } else {
                Some(delta(value))
            }
        };
        let mut d = Directives::default();
        let mut seen: Vec<String> = Vec::new();
        for line in lines {
            let Ok(text) = std::str::from_utf8(line.as_bytes()) else {
                continue;
            };
            let items = split_directives(text);
            // An invalid Structured Field is ignored whole.
            if structured && !items.iter().all(|(n, _)| sf_key(n)) {
                return None;
            }
            for (name, value) in items {
                let name = name.to_ascii_lowercase();
                if seen.contains(&name) {
                    continue;
                }
                seen.push(name.clone());
                match name.as_str() {
                    "max-age" => d.max_age = seconds(value),
                    "s-maxage" => d.s_maxage = seconds(value),
                    "no-store" => d.no_store = true,
                    "no-cache" => d.no_cache = true,
                    "private" => d.private = true,
                    "public" => d.public = true,
                    "must-revalidate" => d.must_revalidate = true,
                    "proxy-revalidate" => d.proxy_revalidate = true,
                    "stale-while-revalidate" => d.stale_while_revalidate = seconds(value),
                    "stale-if-error" => d.stale_if_error = seconds(value),
                    _ => {}
                }
            }
        }
        Some(d)
    }

    /// The directives a CDN obeys: `CDN-Cache-Control` when the origin sent one, else
    /// `Cache-Control` (RFC 9213 §2.1), else none.
    pub fn of_response(headers: &HeaderMap) -> Directives {
        Directives::parse(headers, &CDN_CACHE_CONTROL)
            .or_else(|| Directives::parse(headers, &header::CACHE_CONTROL))
            .unwrap_or_default()
    }
}

/// `name[=value]` pairs of a directive list; commas inside quoted strings do not split.
fn split_directives(text: &str) -> Vec<(&str, Option<&str>)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut quoted = false;
    let mut i = 0;
    while i <= bytes.len() {
        let end = i == bytes.len();
        if !end && bytes[i] == b'"' {
            quoted = !quoted;
        } else if !end && quoted && bytes[i] == b'\\' {
            i += 1;
        } else if end || (!quoted && bytes[i] == b',') {
            let item = text.get(start..i.min(bytes.len())).unwrap_or("").trim();
            if !item.is_empty() {
                match item.split_once('=') {
                    Some((n, v)) => out.push((n.trim(), Some(v.trim()))),
                    None => out.push((item, None)),
                }
            }
            start = i + 1;
        }
        i += 1;
    }
    out
}

/// A Structured Field key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
fn sf_key(k: &str) -> bool {
    let mut b = k.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'*')
        && b.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.' | b'*')
        })
}

/// A delta-seconds value: digits, optionally quoted; anything else is 0 (stale).
fn delta(value: Option<&str>) -> u64 {
    let Some(v) = value else { return 0 };
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    v.parse::<u64>().map_or(DELTA_MAX, |n| n.min(DELTA_MAX))
}

/// A behaviour's TTLs, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    /// `min_ttl`.
    pub min: u64,
    /// `default_ttl`; `None` is RFC 9111 alone: responses without freshness information
    /// get heuristic freshness or are not stored.
    pub default: Option<u64>,
    /// `max_ttl`.
    pub max: u64,
    /// The error-caching minimum TTL (CloudFront's default 10 s).
    pub error_min: u64,
}

impl Ttls {
    /// CloudFront's defaults: 0, 86400, 31536000, errors 10 s.
    pub const CLOUDFRONT: Ttls = Ttls {
        min: 0,
        default: Some(86_400),
        max: 31_536_000,
        error_min: 10,
    };

    /// RFC 9111 without CDN overrides (what the shared caching test suite expects).
    pub const RFC: Ttls = Ttls {
        min: 0,
        default: None,
        max: DELTA_MAX,
        error_min: 0,
    };

    fn clamp(&self, v: u64) -> u64 {
        v.min(self.max).max(self.min)
    }
}

/// How a stored response may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Freshness lifetime, seconds.
    pub lifetime: u64,
    /// Revalidate before every reuse (`no-cache`).
    pub no_cache: bool,
    /// Never served stale (`must-revalidate`, `proxy-revalidate`, `s-maxage`).
    pub must_revalidate: bool,
    /// `stale-while-revalidate` window, seconds.
    pub stale_while_revalidate: u64,
    /// `stale-if-error` window, seconds (`None`: not given).
    pub stale_if_error: Option<u64>,
}

/// Status codes a cache understands and may store with explicit freshness.
fn understood(status: u16) -> bool {
    matches!(status, 200..=599) && status != 206 && status != 304
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
fn heuristic_status(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Errors CloudFront caches for the error-caching minimum TTL without freshness headers.
fn cloudfront_error_always(status: u16) -> bool {
    matches!(status, 404 | 414 | 500 | 501 | 502 | 503 | 504)
}

/// Errors CloudFront caches only when the origin gives them a lifetime.
fn cloudfront_error_with_headers(status: u16) -> bool {
    matches!(status, 400 | 403 | 405 | 412 | 415)
}

/// Successful statuses CloudFront caches for the default TTL.
fn cloudfront_default_status(status: u16) -> bool {
    matches!(status, 200 | 203 | 204 | 300 | 301 | 308 | 410)
}

/// Seconds since the epoch of an HTTP date; `None` when the value does not parse.
pub fn http_date(v: &http::HeaderValue) -> Option<u64> {
    let s = v.to_str().ok()?;
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    Some(
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Decides whether a response to a GET may be stored, and its freshness; `authorized` is
/// whether the request carried `Authorization`.
pub fn decide(
    status: u16,
    headers: &HeaderMap,
    authorized: bool,
    ttls: &Ttls,
) -> Option<Freshness> {
    if !understood(status) {
        return None;
    }
    let cc = Directives::of_response(headers);
    let date = headers.get(header::DATE).and_then(http_date);
    // `max-age` wins over `Expires`; an invalid Expires means already expired.
    let expires = headers
        .get(header::EXPIRES)
        .map(|v| match (http_date(v), date) {
            (Some(e), Some(d)) => e.saturating_sub(d),
            (Some(e), None) => e.saturating_sub(now_secs()),
            (None, _) => 0,
        });
    let explicit = cc.s_maxage.or(cc.max_age).or(expires);
    let must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.is_some();
    let fresh = |lifetime: u64, no_cache: bool| Freshness {
        lifetime,
        no_cache,
        must_revalidate,
        stale_while_revalidate: cc.stale_while_revalidate.unwrap_or(0),
        stale_if_error: cc.stale_if_error,
    };
    match ttls.default {
        Some(default) => {
            // CloudFront: with a minimum TTL the origin's refusals are overridden.
            if cc.no_store || cc.private || cc.no_cache {
                return (ttls.min > 0).then(|| fresh(ttls.min, false));
            }
            if authorized && !(cc.public || cc.must_revalidate || cc.s_maxage.is_some()) {
                return None;
            }
            let error = cloudfront_error_always(status) || cloudfront_error_with_headers(status);
            let lifetime = match explicit {
                // An error is cached for the greater of the origin's lifetime and the
                // error-caching minimum TTL.
                Some(v) if error => v.max(ttls.error_min),
                Some(v) => ttls.clamp(v),
                None if cloudfront_error_always(status) => ttls.error_min,
                None if cloudfront_default_status(status) => default.max(ttls.min),
                None => return None,
            };
            // An error-caching minimum TTL of 0 (and no lifetime from the origin) means
            // errors are not cached.
            if error && lifetime == 0 {
                return None;
            }
            Some(fresh(lifetime, false))
        }
        None => {
            if cc.no_store || cc.private {
                return None;
            }
            if authorized && !(cc.public || cc.must_revalidate || cc.s_maxage.is_some()) {
                return None;
            }
            let lifetime = match explicit {
                Some(v) => ttls.clamp(v),
                None => {
                    let heuristic = heuristic_status(status) || cc.public;
                    let last_modified = headers.get(header::LAST_MODIFIED).and_then(http_date);
                    match (heuristic, last_modified) {
                        (true, Some(lm)) => {
                            let base = date.unwrap_or_else(now_secs);
                            ttls.clamp(base.saturating_sub(lm) / 10)
                        }
                        _ if cc.no_cache => 0,
                        _ => return None,
                    }
                }
            };
            Some(fresh(lifetime, cc.no_cache))
        }
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The age of a response when it arrived (RFC 9111 §4.2.3's corrected initial age): the
/// larger of its apparent age by `Date` and its `Age` plus the time the exchange took.
pub fn initial_age(headers: &HeaderMap, request_time: u64, response_time: u64) -> u64 {
    let date = headers.get(header::DATE).and_then(http_date);
    let apparent = date.map_or(0, |d| response_time.saturating_sub(d));
    let age_value = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        // Of a list (`7200, 0`), the first value.
        .map(|v| v.split(',').next().unwrap_or("").trim())
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .map_or(0, |v| {
            v.parse::<u64>().map_or(DELTA_MAX, |n| n.min(DELTA_MAX))
        });
    let corrected = age_value.saturating_add(response_time.saturating_sub(request_time));
    apparent.max(corrected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use test_case::test_case;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test_case("max-age=60", Some(60), None ; "max-age")]
    #[test_case("MAX-AGE=60", Some(60), None ; "names are case-insensitive")]
    #[test_case("max-age=\"60\"", Some(60), None ; "quoted value")]
    #[test_case("max-age=6a", Some(0), None ; "invalid value is stale")]
    #[test_case("max-age", Some(0), None ; "missing value is stale")]
    #[test_case("max-age=99999999999999999999", Some(DELTA_MAX), None ; "overflow is the maximum")]
    #[test_case("max-age=10, max-age=20", Some(10), None ; "first occurrence wins")]
    #[test_case("private=\"a, max-age=5\", s-maxage=7", None, Some(7) ; "commas in quotes do not split")]
    #[test_case(" s-maxage = 30 ,", None, Some(30) ; "whitespace")]
    fn directive_parsing(line: &str, max_age: Option<u64>, s_maxage: Option<u64>) {
        let d = Directives::parse(&headers(&[("cache-control", line)]), &header::CACHE_CONTROL)
            .unwrap();
        assert_eq!((d.max_age, d.s_maxage), (max_age, s_maxage));
    }

    #[test]
    fn directives_across_lines_and_flags() {
        let h = headers(&[
            ("cache-control", "public, no-cache"),
            (
                "cache-control",
                "stale-while-revalidate=5, stale-if-error=9, must-revalidate",
            ),
        ]);
        let d = Directives::parse(&h, &header::CACHE_CONTROL).unwrap();
        assert!(d.public && d.no_cache && d.must_revalidate && !d.no_store);
        assert_eq!(d.stale_while_revalidate, Some(5));
        assert_eq!(d.stale_if_error, Some(9));
    }

    #[test_case("max-age=\"30\"" ; "string")]
    #[test_case("max-age=30.0" ; "decimal")]
    #[test_case("max-age=a" ; "token")]
    #[test_case("max-age=10000, &&&&&" ; "an invalid field")]
    fn cdn_cache_control_values_of_the_wrong_type_are_ignored(v: &str) {
        let d = Directives::of_response(&headers(&[("cdn-cache-control", v)]));
        assert_eq!(d.max_age, None);
    }

    #[test]
    fn cdn_cache_control_replaces_cache_control() {
        let h = headers(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=30"),
        ]);
        let d = Directives::of_response(&h);
        assert_eq!(d.max_age, Some(30));
        assert!(!d.no_store);
    }

    const DATE: &str = "Sun, 06 Dec 2026 00:00:00 GMT";
    const HOUR_LATER: &str = "Sun, 06 Dec 2026 01:00:00 GMT";
    const DAY_EARLIER: &str = "Sat, 05 Dec 2026 00:00:00 GMT";

    fn cf(min: u64, default: u64, max: u64) -> Ttls {
        Ttls {
            min,
            default: Some(default),
            max,
            error_min: 10,
        }
    }

    // CloudFront's table ("Specifying the amount of time that CloudFront caches objects").
    #[test_case(cf(0, 3600, 86400), 200, &[], Some(3600) ; "no headers: default TTL")]
    #[test_case(cf(100, 50, 86400), 200, &[], Some(100) ; "no headers: min above default")]
    #[test_case(cf(0, 3600, 86400), 200, &[("cache-control", "max-age=60")], Some(60) ; "max-age under max")]
    #[test_case(cf(0, 3600, 300), 200, &[("cache-control", "max-age=3600")], Some(300) ; "max-age capped by max TTL")]
    #[test_case(cf(600, 3600, 86400), 200, &[("cache-control", "max-age=60")], Some(600) ; "max-age raised to min TTL")]
    #[test_case(cf(0, 3600, 86400), 200, &[("cache-control", "max-age=60, s-maxage=120")], Some(120) ; "s-maxage wins")]
    #[test_case(cf(0, 3600, 86400), 200, &[("date", DATE), ("expires", HOUR_LATER)], Some(3600) ; "Expires")]
    #[test_case(cf(0, 3600, 1800), 200, &[("date", DATE), ("expires", HOUR_LATER)], Some(1800) ; "Expires capped")]
    #[test_case(cf(0, 3600, 86400), 200, &[("date", DATE), ("expires", HOUR_LATER), ("cache-control", "max-age=5")], Some(5) ; "max-age over Expires")]
    #[test_case(cf(0, 3600, 86400), 200, &[("date", DATE), ("expires", "0")], Some(0) ; "invalid Expires is expired")]
    #[test_case(cf(0, 3600, 86400), 200, &[("cache-control", "no-store")], None ; "no-store min 0")]
    #[test_case(cf(0, 3600, 86400), 200, &[("cache-control", "private, max-age=60")], None ; "private min 0")]
    #[test_case(cf(0, 3600, 86400), 200, &[("cache-control", "no-cache")], None ; "no-cache min 0")]
    #[test_case(cf(30, 3600, 86400), 200, &[("cache-control", "no-store")], Some(30) ; "no-store with min TTL")]
    #[test_case(cf(0, 3600, 86400), 404, &[], Some(10) ; "404 error caching TTL")]
    #[test_case(cf(0, 3600, 86400), 503, &[], Some(10) ; "503 error caching TTL")]
    #[test_case(cf(0, 3600, 86400), 404, &[("cache-control", "max-age=5")], Some(10) ; "error max-age under the error minimum")]
    #[test_case(cf(0, 3600, 86400), 404, &[("cache-control", "max-age=300")], Some(300) ; "error max-age over the error minimum")]
    #[test_case(cf(0, 3600, 86400), 403, &[], None ; "403 without headers is not cached")]
    #[test_case(Ttls { error_min: 0, ..cf(0, 3600, 86400) }, 404, &[], None ; "error minimum 0 does not cache errors")]
    #[test_case(cf(0, 3600, 86400), 403, &[("cache-control", "max-age=30")], Some(30) ; "403 with max-age is cached")]
    #[test_case(cf(0, 3600, 86400), 403, &[], None ; "403 only with max-age")]
    #[test_case(cf(0, 3600, 86400), 403, &[("cache-control", "max-age=20")], Some(20) ; "403 with max-age")]
    #[test_case(cf(0, 3600, 86400), 206, &[("cache-control", "max-age=20")], None ; "partial content not stored")]
    #[test_case(cf(0, 3600, 86400), 302, &[], None ; "302 without freshness")]
    // RFC 9111 alone.
    #[test_case(Ttls::RFC, 200, &[], None ; "rfc no freshness not stored")]
    #[test_case(Ttls::RFC, 200, &[("cache-control", "max-age=60")], Some(60) ; "rfc max-age")]
    #[test_case(Ttls::RFC, 200, &[("date", DATE), ("last-modified", DAY_EARLIER)], Some(8640) ; "rfc heuristic ten percent")]
    #[test_case(Ttls::RFC, 302, &[("date", DATE), ("last-modified", DAY_EARLIER)], None ; "rfc 302 not heuristic")]
    #[test_case(Ttls::RFC, 302, &[("date", DATE), ("last-modified", DAY_EARLIER), ("cache-control", "public")], Some(8640) ; "rfc public allows heuristic")]
    #[test_case(Ttls::RFC, 200, &[("cache-control", "no-cache")], Some(0) ; "rfc no-cache stored for revalidation")]
    #[test_case(Ttls::RFC, 200, &[("cache-control", "private, max-age=60")], None ; "rfc private")]
    #[test_case(Ttls::RFC, 500, &[("cache-control", "max-age=60")], Some(60) ; "rfc error with max-age")]
    fn ttl_table(ttls: Ttls, status: u16, pairs: &[(&str, &str)], want: Option<u64>) {
        let got = decide(status, &headers(pairs), false, &ttls).map(|f| f.lifetime);
        assert_eq!(got, want);
    }

    #[test]
    fn no_cache_and_revalidation_flags() {
        let f = decide(
            200,
            &headers(&[("cache-control", "no-cache, max-age=60")]),
            false,
            &Ttls::RFC,
        )
        .unwrap();
        assert!(f.no_cache);
        let f = decide(
            200,
            &headers(&[("cache-control", "s-maxage=60")]),
            false,
            &Ttls::RFC,
        )
        .unwrap();
        assert!(f.must_revalidate, "s-maxage implies proxy-revalidate");
    }

    #[test_case(&[], true, None ; "authorization without permission")]
    #[test_case(&[("cache-control", "public, max-age=5")], true, Some(5) ; "public permits")]
    #[test_case(&[("cache-control", "s-maxage=5")], true, Some(5) ; "s-maxage permits")]
    fn authorized_requests(pairs: &[(&str, &str)], authorized: bool, want: Option<u64>) {
        let got = decide(200, &headers(pairs), authorized, &Ttls::RFC).map(|f| f.lifetime);
        assert_eq!(got, want);
    }

    #[test_case(&[], 100, 100, 0 ; "no date no age")]
    #[test_case(&[("age", "30")], 100, 102, 32 ; "age plus delay")]
    #[test_case(&[("age", "x")], 100, 100, 0 ; "invalid age ignored")]
    #[test_case(&[("age", "7200, 0")], 100, 100, 7200 ; "the first of a list")]
    #[test_case(&[("date", "Thu, 01 Jan 1970 00:01:00 GMT")], 100, 100, 40 ; "apparent age by date")]
    fn initial_ages(pairs: &[(&str, &str)], request: u64, response: u64, want: u64) {
        assert_eq!(initial_age(&headers(pairs), request, response), want);
    }
}
