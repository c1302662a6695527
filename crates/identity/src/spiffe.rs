//! SPIFFE names: the trust domain and the `spiffe://` ID every workload certificate carries.
//!
//! The rules are those of the SPIFFE ID specification: lowercase trust domain of letters,
//! digits, `.`, `-`, `_`; path segments of letters, digits, `.`, `-`, `_`, never empty, `.` or
//! `..`; no query, fragment, port or user info; at most 2048 bytes. Meridian's workloads use
//! the Istio shape `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

const SCHEME: &str = "spiffe://";
const MAX_TRUST_DOMAIN_LEN: usize = 255;
const MAX_ID_LEN: usize = 2048;

/// A validated SPIFFE trust domain, e.g. `cluster.local`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Validates a trust domain name.
    ///
    /// ```
    /// # use meridian_identity::TrustDomain;
    /// let td = TrustDomain::new("cluster.local")?;
    /// assert_eq!(td.as_str(), "cluster.local");
    /// # Ok::<(), meridian_identity::Error>(())
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        match check_trust_domain(&name) {
            Ok(()) => Ok(Self(name)),
            Err(reason) => Err(Error::InvalidTrustDomain {
                value: name,
                reason,
            }),
        }
    }

    /// The name, e.g. `cluster.local`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SPIFFE ID of a workload in this trust domain, in Istio's shape
    /// `spiffe://<td>/ns/<namespace>/sa/<service-account>`.
    pub fn workload_id(&self, namespace: &str, service_account: &str) -> Result<SpiffeId, Error> {
        let uri = format!("{SCHEME}{}/ns/{namespace}/sa/{service_account}", self.0);
        if namespace.contains('/') || service_account.contains('/') {
            return Err(Error::InvalidSpiffeId {
                value: uri,
                reason: "namespace and service account must be single path segments",
            });
        }
        SpiffeId::parse(&uri)
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TrustDomain {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// A validated SPIFFE ID with a non-empty path, e.g.
/// `spiffe://cluster.local/ns/default/sa/reviews`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    uri: String,
    /// Byte offset of the path's leading `/` in `uri`.
    path_start: usize,
}

impl SpiffeId {
    /// Parses and validates a `spiffe://` URI.
    ///
    /// ```
    /// # use meridian_identity::SpiffeId;
    /// let id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/reviews")?;
    /// assert_eq!(id.namespace(), Some("default"));
    /// assert_eq!(id.service_account(), Some("reviews"));
    /// # Ok::<(), meridian_identity::Error>(())
    /// ```
    pub fn parse(uri: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidSpiffeId {
            value: uri.to_owned(),
            reason,
        };
        if uri.len() > MAX_ID_LEN {
            return Err(invalid("longer than 2048 bytes"));
        }
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid("does not start with spiffe://"))?;
        let (trust_domain, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        check_trust_domain(trust_domain).map_err(invalid)?;
        if path.is_empty() {
            return Err(invalid("has no path; a workload id names a workload"));
        }
        check_path(path).map_err(invalid)?;
        Ok(Self {
            uri: uri.to_owned(),
            path_start: SCHEME.len() + trust_domain.len(),
        })
    }

    /// The whole URI, e.g. `spiffe://cluster.local/ns/default/sa/reviews`.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The trust domain name, e.g. `cluster.local`.
    pub fn trust_domain(&self) -> &str {
        &self.uri[SCHEME.len()..self.path_start]
    }

    /// Whether this ID belongs to `trust_domain`.
    pub fn is_in(&self, trust_domain: &TrustDomain) -> bool {
        self.trust_domain() == trust_domain.as_str()
    }

    /// The path with its leading `/`, e.g. `/ns/default/sa/reviews`.
    pub fn path(&self) -> &str {
        &self.uri[self.path_start..]
    }

    /// Istio's principal form (the ID without `spiffe://`), as written in an
    /// AuthorizationPolicy's `principals`, e.g. `cluster.local/ns/default/sa/reviews`.
    pub fn principal(&self) -> &str {
        &self.uri[SCHEME.len()..]
    }

    /// The namespace when the path has Istio's shape `/ns/<ns>/sa/<sa>`.
    pub fn namespace(&self) -> Option<&str> {
        self.istio_parts().map(|(ns, _)| ns)
    }

    /// The service account when the path has Istio's shape `/ns/<ns>/sa/<sa>`.
    pub fn service_account(&self) -> Option<&str> {
        self.istio_parts().map(|(_, sa)| sa)
    }

    fn istio_parts(&self) -> Option<(&str, &str)> {
        let mut segments = self.path().strip_prefix('/')?.split('/');
        match (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) {
            (Some("ns"), Some(ns), Some("sa"), Some(sa), None) => Some((ns, sa)),
            _ => None,
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl FromStr for SpiffeId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

fn check_trust_domain(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("trust domain is empty");
    }
    if name.len() > MAX_TRUST_DOMAIN_LEN {
        return Err("trust domain is longer than 255 bytes");
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("trust domain must be lowercase");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(
            "trust domain may hold only lowercase letters, digits, '.', '-' and '_' (no port, user info or query)",
        );
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), &'static str> {
    // `path` starts with '/'; every segment after it must be a non-empty, non-dot name.
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return Err("path has an empty segment or a trailing slash");
        }
        if segment == "." || segment == ".." {
            return Err("path has a '.' or '..' segment");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(
                "path may hold only letters, digits, '.', '-', '_' and '/' (no query or fragment)",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test]
    fn istio_shape_parts() {
        let id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/reviews").unwrap();
        assert_eq!(id.trust_domain(), "cluster.local");
        assert_eq!(id.path(), "/ns/default/sa/reviews");
        assert_eq!(id.principal(), "cluster.local/ns/default/sa/reviews");
        assert_eq!(id.namespace(), Some("default"));
        assert_eq!(id.service_account(), Some("reviews"));
        assert!(id.is_in(&TrustDomain::new("cluster.local").unwrap()));
        assert!(!id.is_in(&TrustDomain::new("other.local").unwrap()));
    }

    #[test]
    fn other_paths_have_no_istio_parts() {
        let id = SpiffeId::parse("spiffe://example.org/frontend/web").unwrap();
        assert_eq!(id.namespace(), None);
        assert_eq!(id.service_account(), None);
        let id = SpiffeId::parse("spiffe://example.org/ns/a/sa/b/extra").unwrap();
        assert_eq!(id.namespace(), None);
    }

    #[test]
    fn workload_id_builds_istio_shape() {
        let td = TrustDomain::new("mesh.test").unwrap();
        let id = td.workload_id("shop", "cart").unwrap();
        assert_eq!(id.as_str(), "spiffe://mesh.test/ns/shop/sa/cart");
        assert!(td.workload_id("shop", "bad/name").is_err());
        assert!(td.workload_id("shop", "").is_err());
    }

    #[test_case("http://cluster.local/ns/a/sa/b", "does not start with spiffe://" ; "wrong scheme")]
    #[test_case("SPIFFE://cluster.local/ns/a/sa/b", "does not start with spiffe://" ; "upper scheme")]
    #[test_case("spiffe:///ns/a/sa/b", "trust domain is empty" ; "empty trust domain")]
    #[test_case("spiffe://Cluster.local/ns/a", "trust domain must be lowercase" ; "upper trust domain")]
    #[test_case("spiffe://cluster.local:8443/ns/a", "trust domain may hold only lowercase letters, digits, '.', '-' and '_' (no port, user info or query)" ; "port")]
    #[test_case("spiffe://user@cluster.local/ns/a", "trust domain may hold only lowercase letters, digits, '.', '-' and '_' (no port, user info or query)" ; "user info")]
    #[test_case("spiffe://cluster.local", "has no path; a workload id names a workload" ; "no path")]
    #[test_case("spiffe://cluster.local/", "path has an empty segment or a trailing slash" ; "root path")]
    #[test_case("spiffe://cluster.local/ns//sa/b", "path has an empty segment or a trailing slash" ; "empty segment")]
    #[test_case("spiffe://cluster.local/ns/a/", "path has an empty segment or a trailing slash" ; "trailing slash")]
    #[test_case("spiffe://cluster.local/ns/../sa", "path has a '.' or '..' segment" ; "dot dot")]
    #[test_case("spiffe://cluster.local/ns/a?x=1", "path may hold only letters, digits, '.', '-', '_' and '/' (no query or fragment)" ; "query")]
    #[test_case("spiffe://cluster.local/ns/a#frag", "path may hold only letters, digits, '.', '-', '_' and '/' (no query or fragment)" ; "fragment")]
    #[test_case("spiffe://cluster.local/ns/%41", "path may hold only letters, digits, '.', '-', '_' and '/' (no query or fragment)" ; "percent encoding")]
    fn refused(uri: &str, reason: &str) {
        match SpiffeId::parse(uri) {
            Err(Error::InvalidSpiffeId { value, reason: got }) => {
                assert_eq!(value, uri);
                assert_eq!(got, reason);
            }
            other => panic!("expected an invalid spiffe id error, got {other:?}"),
        }
    }

    #[test]
    fn too_long_refused() {
        let uri = format!("spiffe://a/{}", "x".repeat(2048));
        assert!(matches!(
            SpiffeId::parse(&uri),
            Err(Error::InvalidSpiffeId {
                reason: "longer than 2048 bytes",
                ..
            })
        ));
        assert!(TrustDomain::new("a".repeat(256)).is_err());
    }

    #[test]
    fn error_message_names_value_and_reason() {
        let err = SpiffeId::parse("spiffe://cluster.local/ns/a/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid spiffe id \"spiffe://cluster.local/ns/a/\": path has an empty segment or a trailing slash"
        );
    }
}
