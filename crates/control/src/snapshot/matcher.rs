//! Compiled request matchers: Istio's `HTTPMatchRequest` with every regex compiled once and
//! every header name parsed once, evaluated against a borrowed view of the request.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName};
use regex::Regex;
use serde::{Serialize, Serializer};

use super::format;

/// A compiled RE2-style regex that must match the whole value (Envoy's `safe_regex`).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source` anchored at both ends.
    pub fn full(source: &str) -> Result<Pattern, regex::Error> {
        Ok(Pattern {
            source: source.to_owned(),
            regex: Regex::new(&format!("^(?:{source})$"))?,
        })
    }

    /// Compiles `source` as written (for rewrites, which replace every match).
    pub fn search(source: &str) -> Result<Pattern, regex::Error> {
        Ok(Pattern {
            source: source.to_owned(),
            regex: Regex::new(source)?,
        })
    }

    /// The regex as written in the manifest.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The compiled regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Whether it matches `value`.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// `StringMatch`, compiled.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StringMatcher {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Full regex match.
    Regex(Pattern),
}

impl StringMatcher {
    /// Case-sensitive match.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatcher::Exact(e) => value == e,
            StringMatcher::Prefix(p) => value.starts_with(p.as_str()),
            StringMatcher::Regex(r) => r.is_match(value),
        }
    }

    /// Match ignoring ASCII case for exact and prefix (`ignoreUriCase`); regexes are as
    /// written (they can use `(?i)`).
    pub fn matches_ignore_case(&self, value: &str) -> bool {
        match self {
            StringMatcher::Exact(e) => value.eq_ignore_ascii_case(e),
            StringMatcher::Prefix(p) => value
                .as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())),
            StringMatcher::Regex(r) => r.is_match(value),
        }
    }

    /// The prefix, when this is a prefix match (rewrites replace it).
    pub fn prefix(&self) -> Option<&str> {
        match self {
            StringMatcher::Prefix(p) => Some(p),
            _ => None,
        }
    }
}

/// The `uri` condition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UriMatcher {
    /// The condition.
    pub matcher: StringMatcher,
    /// `ignoreUriCase`.
    pub ignore_case: bool,
}

impl UriMatcher {
    /// Whether the path (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        if self.ignore_case {
            self.matcher.matches_ignore_case(path)
        } else {
            self.matcher.matches(path)
        }
    }
}

/// A header condition (`headers` or, inverted, `withoutHeaders`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatcher {
    /// Header name (lower case).
    #[serde(serialize_with = "format::header_name")]
    pub name: HeaderName,
    /// The value condition; `None` means "present".
    pub value: Option<StringMatcher>,
    /// True for `withoutHeaders`: the request matches when this condition does not.
    pub invert: bool,
}

impl HeaderMatcher {
    /// Evaluates the condition; several values of one header are joined with `,` as Envoy
    /// does.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&self.name).iter();
        let base = match values.next() {
            None => false,
            Some(first) => match &self.value {
                None => true,
                Some(m) => match values.next() {
                    None => first.to_str().is_ok_and(|v| m.matches(v)),
                    Some(second) => {
                        let mut joined = String::from_utf8_lossy(first.as_bytes()).into_owned();
                        for v in std::iter::once(second).chain(values) {
                            joined.push(',');
                            joined.push_str(&String::from_utf8_lossy(v.as_bytes()));
                        }
                        m.matches(&joined)
                    }
                },
            },
        };
        base != self.invert
    }
}

/// A query parameter condition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryMatcher {
    /// Parameter name.
    pub name: String,
    /// The value condition; `None` means "present".
    pub value: Option<StringMatcher>,
}

impl QueryMatcher {
    /// Looks the first parameter of that name up in the raw query string.
    pub fn matches(&self, query: Option<&str>) -> bool {
        let Some(query) = query else { return false };
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k == self.name {
                return self.value.as_ref().is_none_or(|m| m.matches(v));
            }
        }
        false
    }
}

/// What a matcher sees of a request. Borrowed: building it costs no allocation.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Method.
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Authority as sent (host and optional port).
    pub authority: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// Raw query, without `?`.
    pub query: Option<&'a str>,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// The destination port the request is for.
    pub port: u16,
    /// Labels of the calling workload.
    pub source_labels: &'a BTreeMap<String, String>,
    /// Namespace of the calling workload.
    pub source_namespace: &'a str,
}

/// One `HTTPMatchRequest`: every set condition must hold.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMatch {
    /// `name`, for logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<UriMatcher>,
    /// Scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatcher>,
    /// Method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatcher>,
    /// Authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatcher>,
    /// Header conditions, `withoutHeaders` included (inverted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatcher>,
    /// Query conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<QueryMatcher>,
    /// Destination port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Calling workload labels (all must be present with these values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<(String, String)>,
    /// Calling workload namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
}

impl RequestMatch {
    /// Whether the request satisfies every condition. Cheap conditions first.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        if let Some(p) = self.port
            && p != req.port
        {
            return false;
        }
        if let Some(m) = &self.method
            && !m.matches(req.method)
        {
            return false;
        }
        if let Some(u) = &self.uri
            && !u.matches(req.path)
        {
            return false;
        }
        if let Some(m) = &self.scheme
            && !m.matches(req.scheme)
        {
            return false;
        }
        if let Some(m) = &self.authority
            && !m.matches(req.authority)
        {
            return false;
        }
        if let Some(ns) = &self.source_namespace
            && ns != req.source_namespace
        {
            return false;
        }
        if !self
            .source_labels
            .iter()
            .all(|(k, v)| req.source_labels.get(k) == Some(v))
        {
            return false;
        }
        if !self.headers.iter().all(|h| h.matches(req.headers)) {
            return false;
        }
        self.query_params.iter().all(|q| q.matches(req.query))
    }

    /// ANDs a delegate's match into this (the root's) one: the delegate's conditions win where
    /// both set the same field, as Istio's `mergeHTTPMatchRequest` does.
    pub fn merged_with(&self, delegate: &RequestMatch) -> RequestMatch {
        let mut out = self.clone();
        if delegate.name.is_some() {
            out.name.clone_from(&delegate.name);
        }
        if delegate.uri.is_some() {
            out.uri.clone_from(&delegate.uri);
        }
        if delegate.scheme.is_some() {
            out.scheme.clone_from(&delegate.scheme);
        }
        if delegate.method.is_some() {
            out.method.clone_from(&delegate.method);
        }
        if delegate.authority.is_some() {
            out.authority.clone_from(&delegate.authority);
        }
        if delegate.port.is_some() {
            out.port = delegate.port;
        }
        if delegate.source_namespace.is_some() {
            out.source_namespace.clone_from(&delegate.source_namespace);
        }
        out.headers.extend(delegate.headers.iter().cloned());
        out.query_params
            .extend(delegate.query_params.iter().cloned());
        out.source_labels
            .extend(delegate.source_labels.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn view<'a>(
        path: &'a str,
        headers: &'a HeaderMap,
        labels: &'a BTreeMap<String, String>,
    ) -> RequestView<'a> {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        RequestView {
            method: "GET",
            scheme: "http",
            authority: "myapp",
            path,
            query,
            headers,
            port: 80,
            source_labels: labels,
            source_namespace: "default",
        }
    }

    #[test_case(StringMatcher::Exact("/a".into()), "/a", true; "exact hit")]
    #[test_case(StringMatcher::Exact("/a".into()), "/ab", false; "exact miss")]
    #[test_case(StringMatcher::Prefix("/api".into()), "/api/v1", true; "prefix hit")]
    #[test_case(StringMatcher::Prefix("/api".into()), "/API/v1", false; "prefix is case sensitive")]
    #[test_case(StringMatcher::Regex(Pattern::full(r"\d+").unwrap()), "123", true; "regex full")]
    #[test_case(StringMatcher::Regex(Pattern::full(r"\d+").unwrap()), "a123", false; "regex is anchored")]
    fn string_matchers(m: StringMatcher, value: &str, expected: bool) {
        assert_eq!(m.matches(value), expected);
    }

    #[test_case("/API/v1", true; "upper case prefix")]
    #[test_case("/ap", false; "shorter than prefix")]
    fn ignore_uri_case(path: &str, expected: bool) {
        let u = UriMatcher {
            matcher: StringMatcher::Prefix("/api".into()),
            ignore_case: true,
        };
        assert_eq!(u.matches(path), expected);
    }

    #[test_case(None, false, &[("user-type", "premium")], true; "present")]
    #[test_case(None, false, &[], false; "absent")]
    #[test_case(None, true, &[], true; "without present header, absent")]
    #[test_case(Some("premium"), false, &[("user-type", "premium")], true; "exact value")]
    #[test_case(Some("premium"), true, &[("user-type", "premium")], false; "without exact value")]
    #[test_case(Some("premium"), true, &[("user-type", "basic")], true; "without other value")]
    #[test_case(Some("a,b"), false, &[("user-type", "a"), ("user-type", "b")], true; "values joined")]
    fn header_conditions(value: Option<&str>, invert: bool, sent: &[(&str, &str)], expected: bool) {
        let mut headers = HeaderMap::new();
        for (k, v) in sent {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let m = HeaderMatcher {
            name: HeaderName::from_static("user-type"),
            value: value.map(|v| StringMatcher::Exact(v.into())),
            invert,
        };
        assert_eq!(m.matches(&headers), expected);
    }

    #[test_case("/?a=1&b=2", "b", Some("2"), true; "second param")]
    #[test_case("/?flag", "flag", Some(""), true; "key without value is empty")]
    #[test_case("/?flag", "flag", None, true; "present")]
    #[test_case("/", "flag", None, false; "no query")]
    fn query_conditions(path: &str, name: &str, exact: Option<&str>, expected: bool) {
        let headers = HeaderMap::new();
        let labels = BTreeMap::new();
        let v = view(path, &headers, &labels);
        let q = QueryMatcher {
            name: name.into(),
            value: exact.map(|e| StringMatcher::Exact(e.into())),
        };
        assert_eq!(q.matches(v.query), expected);
    }

    #[test]
    fn source_labels_use_the_caller() {
        let headers = HeaderMap::new();
        let mut labels = BTreeMap::new();
        labels.insert("app".to_owned(), "frontend".to_owned());
        let m = RequestMatch {
            source_labels: vec![("app".into(), "frontend".into())],
            ..RequestMatch::default()
        };
        assert!(m.matches(&view("/", &headers, &labels)));
        let other = BTreeMap::new();
        assert!(!m.matches(&view("/", &headers, &other)));
    }

    #[test]
    fn merge_keeps_root_conditions_and_adds_the_delegates() {
        let root = RequestMatch {
            uri: Some(UriMatcher {
                matcher: StringMatcher::Prefix("/api".into()),
                ignore_case: false,
            }),
            port: Some(80),
            ..RequestMatch::default()
        };
        let delegate = RequestMatch {
            uri: Some(UriMatcher {
                matcher: StringMatcher::Prefix("/api/v2".into()),
                ignore_case: false,
            }),
            ..RequestMatch::default()
        };
        let merged = root.merged_with(&delegate);
        assert_eq!(merged.port, Some(80));
        assert_eq!(
            merged.uri.as_ref().and_then(|u| u.matcher.prefix()),
            Some("/api/v2")
        );
    }
}
