//! Who the client is: Envoy's *trusted client address* and the `X-Forwarded-For` a proxy
//! appends to. AuthorizationPolicy's `remoteIpBlocks` and the access log's client address
//! read it, so getting it wrong is an authorization bypass.
//!
//! * At the ingress gateway (Envoy's `use_remote_address: true`) the client is the downstream
//!   connection's address — the PROXY protocol's source when the listener expects one —
//!   unless the mesh trusts `numTrustedProxies` hops in front of the gateway; then it is the
//!   N-th address from the right of `X-Forwarded-For`, and the connection's address when the
//!   header holds fewer than N. What a client writes itself is never trusted.
//! * At an inbound sidecar (`use_remote_address: false`) the client is the rightmost
//!   `X-Forwarded-For` entry, put there by the gateway or sidecar in front, else the peer.
//!
//! Every `X-Forwarded-For` field line counts: a second line is the same list continued
//! (RFC 9110 §5.3), so a client cannot hide an entry from the parser by splitting the header.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::HeaderValue;

use crate::headers::X_FORWARDED_FOR;

/// How the gateway learns its clients' addresses: Istio's `gatewayTopology`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayTopology {
    /// Proxies in front of the gateway whose `X-Forwarded-For` entries are trusted
    /// (`numTrustedProxies`; 0: the connection's peer is the client).
    pub num_trusted_proxies: u32,
    /// Connections open with a PROXY protocol header (v1 or v2) naming the client
    /// (`proxyProtocol: {}`); a connection without one is refused.
    pub proxy_protocol: bool,
}

/// The `X-Forwarded-For` entries, left to right, over every field line.
fn entries(headers: &HeaderMap) -> impl DoubleEndedIterator<Item = &str> {
    headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// The trusted client address at the gateway: `downstream` (the connection's address, or the
/// PROXY protocol's source), or with `trusted_hops` N > 0 the N-th `X-Forwarded-For` entry from
/// the right when there is one and it is an address.
pub fn gateway_client(headers: &HeaderMap, downstream: IpAddr, trusted_hops: u32) -> IpAddr {
    if trusted_hops == 0 {
        return downstream;
    }
    let n = usize::try_from(trusted_hops).unwrap_or(usize::MAX);
    entries(headers)
        .rev()
        .nth(n - 1)
        .and_then(parse_entry)
        .unwrap_or(downstream)
}

/// The trusted client address behind a sidecar: the rightmost `X-Forwarded-For` entry, else
/// the peer.
pub fn sidecar_client(headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    entries(headers)
        .next_back()
        .and_then(parse_entry)
        .unwrap_or(peer)
}

/// An entry is an address, possibly with a port (`[::1]:80`, `10.0.0.1:3456`), as some
/// proxies write it.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(sa) = entry.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    None
}

/// Appends `ip` to `X-Forwarded-For`, folding every field line into one.
pub fn append(headers: &mut HeaderMap, ip: IpAddr) {
    let mut value = String::new();
    for e in entries(headers) {
        value.push_str(e);
        value.push_str(", ");
    }
    value.push_str(&ip.to_string());
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(
                X_FORWARDED_FOR.clone(),
                HeaderValue::from_str(l).expect("value"),
            );
        }
        h
    }

    const PEER: &str = "192.0.2.5";

    // Envoy's examples (headers.rst, x-forwarded-for), and the spoofing shapes.
    #[test_case(&["203.0.113.128, 203.0.113.10, 203.0.113.1"], 0, PEER; "edge: XFF ignored")]
    #[test_case(&["203.0.113.128, 203.0.113.10, 203.0.113.1"], 2, "203.0.113.10"; "two trusted hops")]
    #[test_case(&["203.0.113.128, 203.0.113.10, 203.0.113.1"], 1, "203.0.113.1"; "one trusted hop")]
    #[test_case(&["203.0.113.1"], 2, PEER; "fewer entries than hops")]
    #[test_case(&["10.1.2.3"], 0, PEER; "spoofed by the client")]
    #[test_case(&["10.1.2.3", "203.0.113.1"], 1, "203.0.113.1"; "a second field line continues the list")]
    #[test_case(&["10.1.2.3, not-an-ip"], 1, PEER; "garbage falls back to the peer")]
    #[test_case(&["10.1.2.3:5555"], 1, "10.1.2.3"; "an entry with a port")]
    #[test_case(&[], 1, PEER; "no header")]
    fn gateway(lines: &[&str], hops: u32, want: &str) {
        let peer: IpAddr = PEER.parse().expect("ip");
        assert_eq!(
            gateway_client(&xff(lines), peer, hops),
            want.parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn sidecar_takes_the_rightmost_entry_of_every_line() {
        let peer: IpAddr = PEER.parse().expect("ip");
        assert_eq!(
            sidecar_client(&xff(&["203.0.113.9, 10.0.0.1"]), peer),
            "10.0.0.1".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(
            sidecar_client(&xff(&["203.0.113.9", "10.0.0.2"]), peer),
            "10.0.0.2".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(sidecar_client(&HeaderMap::new(), peer), peer);
    }

    #[test]
    fn append_folds_lines() {
        let mut h = xff(&["1.1.1.1", "2.2.2.2, 3.3.3.3"]);
        append(&mut h, "192.0.2.5".parse().expect("ip"));
        let all: Vec<_> = h.get_all(&X_FORWARDED_FOR).iter().collect();
        assert_eq!(all, ["1.1.1.1, 2.2.2.2, 3.3.3.3, 192.0.2.5"]);
        let mut empty = HeaderMap::new();
        append(&mut empty, "::1".parse().expect("ip"));
        assert_eq!(empty.get(&X_FORWARDED_FOR).expect("xff"), "::1");
    }
}
