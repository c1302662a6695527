//! Who may send a request to the admin API.
//!
//! 1. `Host` must name the admin listener by address: an IP literal or `localhost`, with the
//!    listener's port. A page that rebinds its own domain to 127.0.0.1 still sends its
//!    domain, so it is refused before anything is read.
//! 2. `Origin`, when a browser sends one, must be that same address over `http`: a page of
//!    another origin (or `null`) is refused even for reads, so it cannot learn the state
//!    either.
//! 3. A request that changes state (any method but `GET` and `HEAD`) must carry the node's
//!    token as `Authorization: Bearer <token>`. A browser's cross-origin form or `no-cors`
//!    fetch cannot set that header, and no page can read the token file.
//!
//! The checks run in that order; the first that fails is the answer.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, Method, StatusCode, header};

use crate::token::AdminToken;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No `Host` header.
    #[error("a Host header naming the admin address is required")]
    NoHost,
    /// `Host` names something other than the admin listener.
    #[error("Host {0:?} is not this admin address; use its IP address or localhost")]
    ForeignHost(String),
    /// A page of another origin.
    #[error("Origin {0:?} may not use the admin API")]
    ForeignOrigin(String),
    /// A state-changing request without the token.
    #[error(
        "this request changes state and needs the node's token (Authorization: Bearer, from <state>/admin.token); `meridian` commands send it"
    )]
    Unauthenticated,
}

impl Refusal {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// Checks a request to the admin listener at `admin` (see the module's rules).
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    admin: SocketAddr,
    token: &AdminToken,
) -> Result<(), Refusal> {
    let host = headers
        .get(header::HOST)
        .ok_or(Refusal::NoHost)?
        .to_str()
        .map_err(|_| Refusal::ForeignHost("<not text>".to_owned()))?;
    if !names_admin(host, admin.port()) {
        return Err(Refusal::ForeignHost(host.to_owned()));
    }
    for origin in headers.get_all(header::ORIGIN) {
        let o = origin.to_str().unwrap_or("<not text>");
        let same = o
            .strip_prefix("http://")
            .is_some_and(|h| names_admin(h, admin.port()));
        if !same {
            return Err(Refusal::ForeignOrigin(o.to_owned()));
        }
    }
    if method != Method::GET && method != Method::HEAD {
        let authorized = headers
            .get(header::AUTHORIZATION)
            .is_some_and(|a| token.accepts(a.as_bytes()));
        if !authorized {
            return Err(Refusal::Unauthenticated);
        }
    }
    Ok(())
}

/// Whether `authority` (`host:port`) names a listener on `port` by address: an IP literal
/// (`127.0.0.1`, `[::1]`) or `localhost`, never another name.
fn names_admin(authority: &str, port: u16) -> bool {
    let (host, p) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => (h, p),
        _ => return false,
    };
    if p.parse::<u16>().ok() != Some(port) {
        return false;
    }
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    literal.parse::<IpAddr>().is_ok_and(|ip| match ip {
        // A bare IPv6 address must be bracketed in an authority.
        IpAddr::V6(_) => host.starts_with('['),
        IpAddr::V4(_) => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn token() -> AdminToken {
        AdminToken::from_hex(&"ab".repeat(32)).expect("token")
    }

    const ADMIN: &str = "127.0.0.1:15000";

    fn req(method: Method, headers: &[(&str, &str)]) -> Result<(), Refusal> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        check(&method, &h, ADMIN.parse().expect("addr"), &token())
    }

    #[test_case("127.0.0.1:15000", true; "the address")]
    #[test_case("localhost:15000", true; "localhost")]
    #[test_case("LOCALHOST:15000", true; "case")]
    #[test_case("[::1]:15000", true; "ipv6 loopback")]
    #[test_case("10.0.0.5:15000", true; "another ip literal of the node")]
    #[test_case("evil.example.com:15000", false; "a rebinding domain")]
    #[test_case("127.0.0.1.nip.io:15000", false; "a domain that looks like an ip")]
    #[test_case("127.0.0.1:15001", false; "another port")]
    #[test_case("127.0.0.1", false; "no port")]
    #[test_case("::1:15000", false; "an unbracketed ipv6")]
    #[test_case(":15000", false; "empty host")]
    fn hosts(host: &str, ok: bool) {
        assert_eq!(req(Method::GET, &[("host", host)]).is_ok(), ok, "{host}");
    }

    #[test]
    fn reads_are_open_writes_need_the_token() {
        assert_eq!(req(Method::GET, &[("host", ADMIN)]), Ok(()));
        assert_eq!(
            req(Method::POST, &[("host", ADMIN)]),
            Err(Refusal::Unauthenticated)
        );
        let bearer = token().bearer();
        assert_eq!(
            req(Method::POST, &[("host", ADMIN), ("authorization", &bearer)]),
            Ok(())
        );
        assert_eq!(
            req(
                Method::POST,
                &[
                    ("host", ADMIN),
                    ("authorization", &format!("Bearer {}", "cd".repeat(32)))
                ]
            ),
            Err(Refusal::Unauthenticated)
        );
    }

    #[test]
    fn cross_origin_pages_are_refused_even_with_a_token() {
        let bearer = token().bearer();
        for origin in ["http://evil.example.com", "null", "https://127.0.0.1:15000"] {
            assert_eq!(
                req(
                    Method::POST,
                    &[
                        ("host", ADMIN),
                        ("origin", origin),
                        ("authorization", &bearer)
                    ]
                ),
                Err(Refusal::ForeignOrigin(origin.to_owned())),
                "{origin}"
            );
        }
        assert_eq!(
            req(
                Method::GET,
                &[("host", ADMIN), ("origin", "http://127.0.0.1:15000")]
            ),
            Ok(())
        );
        assert_eq!(req(Method::GET, &[]), Err(Refusal::NoHost));
    }
}
