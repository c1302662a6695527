//! Cache keys from a behaviour's cache policy, as CloudFront builds them: the path, the
//! query strings, headers and cookies the policy names, and `Accept-Encoding` normalised to
//! the encodings the edge compresses with (`br`, `gzip`).

use http::header::{self, HeaderMap, HeaderName};
use http::{Method, Version};

/// Which query strings are in the key (and forwarded to the origin).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueryKeys {
    /// None: the origin gets no query string (`query_string = false`).
    #[default]
    None,
    /// All of them, in the order the viewer sent them.
    All,
    /// All are forwarded; only these are in the key.
    Whitelist(Vec<String>),
    /// All are forwarded; all but these are in the key (Front Door's
    /// `IgnoreSpecifiedQueryStrings`).
    Except(Vec<String>),
}

/// Which cookies are in the key (and forwarded to the origin).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CookieKeys {
    /// None (`forward = "none"`): no `Cookie` to the origin, no `Set-Cookie` stored.
    #[default]
    None,
    /// All of them.
    All,
    /// These names (CloudFront's `*` and `?` wildcards allowed).
    Whitelist(Vec<String>),
}

/// A behaviour's cache key policy.
#[derive(Debug, Clone, Default)]
pub struct KeyPolicy {
    /// Query strings.
    pub query: QueryKeys,
    /// Header names (lowercase), forwarded and in the key.
    pub headers: Vec<HeaderName>,
    /// Cookies.
    pub cookies: CookieKeys,
    /// Gzip is an encoding of the key (`compress = true` or the policy's setting).
    pub gzip: bool,
    /// Brotli is an encoding of the key.
    pub brotli: bool,
    /// Every viewer header goes to the origin (none is in the key: the origin's `Vary`
    /// selects among variants), as a plain RFC 9111 reverse proxy does.
    pub forward_all_headers: bool,
    /// The key's query parameters are sorted, so that their order does not matter (Front
    /// Door's); CloudFront keys them in the viewer's order.
    pub unordered_query: bool,
    /// The origin gets only the query strings in the key (a cache policy's whitelist or
    /// exception list, with no origin request policy), not all of them (`forwarded_values`).
    pub forward_keyed_query_only: bool,
}

/// A request's key, and what of the request goes to the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// The key.
    pub key: String,
    /// Path and query as the invalidation paths see them.
    pub path: String,
    /// The query forwarded to the origin.
    pub origin_query: Option<String>,
    /// The normalised `Accept-Encoding` (`br,gzip`, `br`, `gzip` or none).
    pub encoding: Option<&'static str>,
    /// The cache behaviour that applies (0: the default one, else the ordered one's
    /// position plus one).
    pub behavior: usize,
}

impl KeyPolicy {
    /// The key of a request for `path` (already mapped by the default root object).
    pub fn key(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        version: Version,
    ) -> RequestKey {
        let mut key = String::with_capacity(path.len() + 16);
        // OPTIONS responses are cached apart from GET and HEAD.
        if method == Method::OPTIONS {
            key.push_str("OPTIONS ");
        }
        key.push_str(path);
        let (key_query, origin_query) = match (&self.query, query) {
            (QueryKeys::None, _) | (_, None) => (None, None),
            (QueryKeys::All, Some(q)) => (Some(q.to_owned()), Some(q.to_owned())),
            (QueryKeys::Whitelist(names) | QueryKeys::Except(names), Some(q)) => {
                let keep = matches!(self.query, QueryKeys::Whitelist(_));
                let kept: Vec<&str> = q
                    .split('&')
                    .filter(|p| {
                        let name = p.split_once('=').map_or(*p, |(n, _)| n);
                        !p.is_empty() && names.iter().any(|w| w == name) == keep
                    })
                    .collect();
                let keyed = (!kept.is_empty()).then(|| kept.join("&"));
                let forwarded = if self.forward_keyed_query_only {
                    keyed.clone()
                } else {
                    Some(q.to_owned())
                };
                (keyed, forwarded)
            }
        };
        let key_query = match key_query {
            Some(q) if self.unordered_query => {
                let mut params: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
                params.sort_unstable();
                (!params.is_empty()).then(|| params.join("&"))
            }
            other => other,
        };
        let mut inval_path = path.to_owned();
        if let Some(q) = &key_query {
            key.push('?');
            key.push_str(q);
            inval_path.push('?');
            inval_path.push_str(q);
        }
        for name in &self.headers {
            key.push('\n');
            key.push_str(name.as_str());
            key.push(':');
            for v in headers.get_all(name) {
                key.push_str(&String::from_utf8_lossy(v.as_bytes()));
                key.push(',');
            }
        }
        match &self.cookies {
            CookieKeys::None => {}
            wanted => {
                key.push_str("\ncookie:");
                for (n, v) in cookies(headers) {
                    let keep = match wanted {
                        CookieKeys::All => true,
                        CookieKeys::Whitelist(w) => w.iter().any(|p| wildcard(p, n)),
                        CookieKeys::None => false,
                    };
                    if keep {
                        key.push_str(n);
                        key.push('=');
                        key.push_str(v);
                        key.push(';');
                    }
                }
            }
        }
        let encoding = self.encoding(headers, version);
        if let Some(e) = encoding {
            key.push_str("\nae:");
            key.push_str(e);
        }
        RequestKey {
            key,
            path: inval_path,
            origin_query,
            encoding,
            behavior: 0,
        }
    }

    /// `Accept-Encoding` normalised as CloudFront does: only `br` and `gzip` the policy
    /// enables, none for HTTP/1.0, a zero `q` refuses.
    pub fn encoding(&self, headers: &HeaderMap, version: Version) -> Option<&'static str> {
        if !(self.gzip || self.brotli) || version < Version::HTTP_11 {
            return None;
        }
        let (mut br, mut gz) = (false, false);
        for line in headers.get_all(header::ACCEPT_ENCODING) {
            let Ok(text) = line.to_str() else { continue };
            for item in text.split(',') {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let refused = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                if refused {
                    continue;
                }
                match coding.as_str() {
                    "br" => br = true,
                    "gzip" => gz = true,
                    _ => {}
                }
            }
        }
        match (br && self.brotli, gz && self.gzip) {
            (true, true) => Some("br,gzip"),
            (true, false) => Some("br"),
            (false, true) => Some("gzip"),
            (false, false) => None,
        }
    }
}

/// The `name=value` pairs of a request's `Cookie` fields.
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (n, v) = c.trim().split_once('=')?;
            Some((n.trim(), v.trim()))
        })
}

/// CloudFront's cookie-name wildcards: `*` any run of characters, `?` one character.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use test_case::test_case;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn compressing() -> KeyPolicy {
        KeyPolicy {
            gzip: true,
            brotli: true,
            ..KeyPolicy::default()
        }
    }

    #[test_case("gzip, deflate, br", Version::HTTP_11, Some("br,gzip") ; "both")]
    #[test_case("deflate, gzip", Version::HTTP_11, Some("gzip") ; "gzip only")]
    #[test_case("BR", Version::HTTP_11, Some("br") ; "case-insensitive")]
    #[test_case("gzip;q=0, br", Version::HTTP_11, Some("br") ; "zero q refuses")]
    #[test_case("identity, deflate", Version::HTTP_11, None ; "others dropped")]
    #[test_case("gzip", Version::HTTP_10, None ; "HTTP/1.0 never compressed")]
    fn accept_encoding(value: &str, version: Version, want: Option<&str>) {
        let got = compressing().encoding(&h(&[("accept-encoding", value)]), version);
        assert_eq!(got, want);
    }

    #[test]
    fn same_normalised_encoding_same_key() {
        let p = compressing();
        let a = p.key(
            &Method::GET,
            "/a",
            None,
            &h(&[("accept-encoding", "gzip, br")]),
            Version::HTTP_11,
        );
        let b = p.key(
            &Method::GET,
            "/a",
            None,
            &h(&[("accept-encoding", "br;q=0.5,deflate,gzip")]),
            Version::HTTP_11,
        );
        assert_eq!(a.key, b.key);
        let c = p.key(
            &Method::GET,
            "/a",
            None,
            &h(&[("accept-encoding", "gzip")]),
            Version::HTTP_11,
        );
        assert_ne!(a.key, c.key);
    }

    #[test]
    fn query_strings() {
        let none = KeyPolicy::default();
        let k = none.key(
            &Method::GET,
            "/a",
            Some("x=1"),
            &HeaderMap::new(),
            Version::HTTP_11,
        );
        assert_eq!((k.key.as_str(), k.origin_query), ("/a", None));
        let all = KeyPolicy {
            query: QueryKeys::All,
            ..KeyPolicy::default()
        };
        let k = all.key(
            &Method::GET,
            "/a",
            Some("x=1&y=2"),
            &HeaderMap::new(),
            Version::HTTP_11,
        );
        assert_eq!(k.key, "/a?x=1&y=2");
        let some = KeyPolicy {
            query: QueryKeys::Whitelist(vec!["y".into()]),
            ..KeyPolicy::default()
        };
        let k = some.key(
            &Method::GET,
            "/a",
            Some("x=1&y=2"),
            &HeaderMap::new(),
            Version::HTTP_11,
        );
        assert_eq!(k.key, "/a?y=2");
        assert_eq!(
            k.origin_query.as_deref(),
            Some("x=1&y=2"),
            "all go to the origin"
        );
        // A cache policy forwards only what it keys on.
        let policy = KeyPolicy {
            query: QueryKeys::Whitelist(vec!["y".into()]),
            forward_keyed_query_only: true,
            ..KeyPolicy::default()
        };
        let k = policy.key(
            &Method::GET,
            "/a",
            Some("x=1&y=2"),
            &HeaderMap::new(),
            Version::HTTP_11,
        );
        assert_eq!(
            (k.key.as_str(), k.origin_query.as_deref()),
            ("/a?y=2", Some("y=2"))
        );
    }

    #[test_case(QueryKeys::Whitelist(Vec::new()), "/a" ; "IgnoreQueryString")]
    #[test_case(QueryKeys::All, "/a?a=3&x=1&y=2" ; "UseQueryString")]
    #[test_case(QueryKeys::Except(vec!["y".into()]), "/a?a=3&x=1" ; "IgnoreSpecifiedQueryStrings")]
    #[test_case(QueryKeys::Whitelist(vec!["y".into(), "a".into()]), "/a?a=3&y=2" ; "IncludeSpecifiedQueryStrings")]
    fn front_door_query_behaviours(query: QueryKeys, want: &str) {
        let p = KeyPolicy {
            query,
            unordered_query: true,
            ..KeyPolicy::default()
        };
        for q in ["y=2&x=1&a=3", "a=3&x=1&y=2"] {
            let k = p.key(
                &Method::GET,
                "/a",
                Some(q),
                &HeaderMap::new(),
                Version::HTTP_11,
            );
            assert_eq!(k.key, want, "{q}");
            // The backend gets the query as the client sent it.
            assert_eq!(k.origin_query.as_deref(), Some(q));
        }
    }

    #[test]
    fn unkeyed_headers_and_cookies_do_not_change_the_key() {
        let p = KeyPolicy::default();
        let a = p.key(
            &Method::GET,
            "/a",
            None,
            &h(&[("x-forwarded-host", "evil.example"), ("cookie", "s=1")]),
            Version::HTTP_11,
        );
        let b = p.key(
            &Method::GET,
            "/a",
            None,
            &HeaderMap::new(),
            Version::HTTP_11,
        );
        assert_eq!(a.key, b.key);
        let keyed = KeyPolicy {
            headers: vec![HeaderName::from_static("x-forwarded-host")],
            cookies: CookieKeys::Whitelist(vec!["s*".into()]),
            ..KeyPolicy::default()
        };
        let a = keyed.key(
            &Method::GET,
            "/a",
            None,
            &h(&[
                ("x-forwarded-host", "evil.example"),
                ("cookie", "sess=1; other=2"),
            ]),
            Version::HTTP_11,
        );
        assert!(
            a.key.contains("evil.example") && a.key.contains("sess=1") && !a.key.contains("other")
        );
    }

    #[test]
    fn options_cached_apart() {
        let p = KeyPolicy::default();
        let g = p.key(
            &Method::GET,
            "/a",
            None,
            &HeaderMap::new(),
            Version::HTTP_11,
        );
        let o = p.key(
            &Method::OPTIONS,
            "/a",
            None,
            &HeaderMap::new(),
            Version::HTTP_11,
        );
        assert_ne!(g.key, o.key);
    }

    #[test_case("s*", "session", true)]
    #[test_case("s?x", "sax", true)]
    #[test_case("s?x", "sx", false)]
    #[test_case("a", "A", false)]
    fn cookie_wildcards(p: &str, n: &str, want: bool) {
        assert_eq!(wildcard(p, n), want);
    }
}
