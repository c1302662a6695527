//! Route tables: virtual hosts by domain (exact, then the longest wildcard suffix, then `*`),
//! as Envoy's `RouteConfiguration` selects them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::route::HttpRoute;

/// A virtual host: domains and their ordered rules.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHost {
    /// Name (the host it was built for).
    pub name: String,
    /// Rules, first match wins.
    pub routes: Vec<HttpRoute>,
    /// A Gateway server with `httpsRedirect`: every request gets a 301 to https.
    pub https_redirect: bool,
}

/// Domain → virtual host (index into [`super::Snapshot::virtual_hosts`]).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    exact: BTreeMap<String, usize>,
    /// `(suffix with leading dot, host)`, longest suffix first.
    wildcard: Vec<(String, usize)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catch_all: Option<usize>,
}

impl RouteTable {
    /// Adds a domain unless it is already there (the first binding wins).
    pub fn insert(&mut self, domain: &str, host: usize) {
        let domain = domain.to_ascii_lowercase();
        if domain == "*" {
            self.catch_all.get_or_insert(host);
        } else if let Some(suffix) = domain.strip_prefix('*') {
            if !self.wildcard.iter().any(|(s, _)| s == suffix) {
                self.wildcard.push((suffix.to_owned(), host));
                self.wildcard
                    .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
            }
        } else {
            self.exact.entry(domain).or_insert(host);
        }
    }

    /// The virtual host for a request host (port already removed).
    pub fn lookup(&self, host: &str) -> Option<usize> {
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.lookup_lower(&host.to_ascii_lowercase());
        }
        self.lookup_lower(host)
    }

    fn lookup_lower(&self, host: &str) -> Option<usize> {
        if let Some(h) = self.exact.get(host) {
            return Some(*h);
        }
        for (suffix, h) in &self.wildcard {
            if host.len() > suffix.len() && host.ends_with(suffix.as_str()) {
                return Some(*h);
            }
        }
        self.catch_all
    }

    /// The virtual host currently bound to exactly `domain`.
    pub fn get(&self, domain: &str) -> Option<usize> {
        let domain = domain.to_ascii_lowercase();
        if domain == "*" {
            return self.catch_all;
        }
        if let Some(suffix) = domain.strip_prefix('*') {
            return self
                .wildcard
                .iter()
                .find(|(s, _)| s == suffix)
                .map(|(_, h)| *h);
        }
        self.exact.get(&domain).copied()
    }

    /// Number of domains.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len() + usize::from(self.catch_all.is_some())
    }

    /// True when no domain is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits `host[:port]` (and `[v6]:port`).
pub fn split_authority(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (h, port);
        }
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (authority, None),
        },
        _ => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        t.insert("myapp.example.com", 0);
        t.insert("*.example.com", 1);
        t.insert("*.dev.example.com", 2);
        t
    }

    #[test_case("myapp.example.com", Some(0); "exact")]
    #[test_case("MyApp.Example.com", Some(0); "case insensitive")]
    #[test_case("shop.example.com", Some(1); "wildcard")]
    #[test_case("a.dev.example.com", Some(2); "longest wildcard")]
    #[test_case("example.com", None; "wildcard needs a label")]
    #[test_case("other.org", None; "no host")]
    fn lookup(host: &str, expected: Option<usize>) {
        assert_eq!(table().lookup(host), expected);
    }

    #[test]
    fn catch_all_is_last() {
        let mut t = table();
        t.insert("*", 9);
        assert_eq!(t.lookup("other.org"), Some(9));
        assert_eq!(t.lookup("myapp.example.com"), Some(0));
    }

    #[test_case("myapp", ("myapp", None); "bare")]
    #[test_case("myapp:8080", ("myapp", Some(8080)); "with port")]
    #[test_case("[::1]:80", ("::1", Some(80)); "v6")]
    fn authority(text: &str, expected: (&str, Option<u16>)) {
        assert_eq!(split_authority(text), expected);
    }
}
