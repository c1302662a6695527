//! Header handling every proxy owes its peers: hop-by-hop headers removed (RFC 9110 §7.6.1),
//! `x-forwarded-for`/`-proto`, `x-request-id` and Envoy's attempt count.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `x-request-id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-forwarded-for`.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`.
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-envoy-external-address`: the trusted client address, set by the gateway.
pub static X_ENVOY_EXTERNAL_ADDRESS: HeaderName =
    HeaderName::from_static("x-envoy-external-address");
/// `x-envoy-attempt-count`.
pub static X_ENVOY_ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-envoy-attempt-count");
/// `x-envoy-overloaded`.
pub static X_ENVOY_OVERLOADED: HeaderName = HeaderName::from_static("x-envoy-overloaded");
/// `x-meridian-unreached`: set by an inbound sidecar on its local reply when the replica
/// behind it refused the connection, so the request was never processed. The calling sidecar
/// takes it as a connect failure (retry-safe, local origin), as Istio's caller would see a
/// refused connection when a pod's sidecar dies with its app. Inbound sidecars strip it from
/// what replicas answer, so only a sidecar can say it.
pub static X_MERIDIAN_UNREACHED: HeaderName = HeaderName::from_static("x-meridian-unreached");
/// `proxy-connection` (non-standard, sent by some clients).
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
/// `keep-alive`.
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

static ATTEMPTS: [HeaderValue; 8] = [
    HeaderValue::from_static("1"),
    HeaderValue::from_static("2"),
    HeaderValue::from_static("3"),
    HeaderValue::from_static("4"),
    HeaderValue::from_static("5"),
    HeaderValue::from_static("6"),
    HeaderValue::from_static("7"),
    HeaderValue::from_static("8"),
];

/// The attempt count as a header value, without formatting for the usual counts.
pub fn attempt_value(n: u32) -> HeaderValue {
    ATTEMPTS
        .get(n.saturating_sub(1) as usize)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(n))
}

/// Removes hop-by-hop headers, and those the `Connection` header names. With `upgrade` the
/// `Connection`/`Upgrade` pair is kept so a WebSocket handshake passes through. `te:
/// trailers` is kept (gRPC needs it).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of them: one pass over the names (enum comparisons for
    // standard headers) is much cheaper than seven hashed removals.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // Every `Connection` field line counts: a second one's tokens are as hop-by-hop as the
    // first's (RFC 9110 §5.3), and forwarding them would leak internal headers upstream.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|t| !t.eq_ignore_ascii_case("close") && !t.eq_ignore_ascii_case("keep-alive"))
        .filter(|t| !(upgrade && t.eq_ignore_ascii_case("upgrade")))
        .filter_map(|t| HeaderName::from_bytes(t.to_ascii_lowercase().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    if !upgrade {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::PROXY_AUTHENTICATE);
    if let Some(te) = headers.get(header::TE)
        && !te.as_bytes().eq_ignore_ascii_case(b"trailers")
    {
        headers.remove(header::TE);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::UPGRADE
        || name == header::TRANSFER_ENCODING
        || name == header::PROXY_AUTHENTICATE
        || name == header::TE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// Whether a request asks for a protocol upgrade (WebSocket).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// A new request id (UUID v4 text). The bits come from a per-thread SplitMix64 sequence
/// seeded from the OS once: ids must be unique, not secret, and a ChaCha refill per request
/// cost more than the rest of the id.
pub fn new_request_id() -> HeaderValue {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(rand::random());
    }
    let next = || {
        STATE.with(|s| {
            let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            s.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&next().to_le_bytes());
    b[8..].copy_from_slice(&next().to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Where each byte's two digits go in 8-4-4-4-12.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let mut out = [b'-'; 36];
    for (byte, at) in b.iter().zip(AT) {
        out[at] = HEX[(byte >> 4) as usize];
        out[at + 1] = HEX[(byte & 0xf) as usize];
    }
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(header::TE, "trailers".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key("x-private"));
        assert!(!h.contains_key(header::CONNECTION));
        assert!(!h.contains_key("keep-alive"));
        assert!(h.contains_key(header::TE));
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn every_connection_field_line_names_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, "keep-alive".parse().unwrap());
        h.append(header::CONNECTION, "x-internal, x-other".parse().unwrap());
        h.insert("x-internal", "secret".parse().unwrap());
        h.insert("x-other", "1".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key("x-internal"));
        assert!(!h.contains_key("x-other"));
        assert!(h.contains_key("x-kept"));
        let mut up = HeaderMap::new();
        up.append(header::CONNECTION, "keep-alive".parse().unwrap());
        up.append(header::CONNECTION, "Upgrade".parse().unwrap());
        up.insert(header::UPGRADE, "websocket".parse().unwrap());
        assert!(is_upgrade(&up));
    }

    #[test]
    fn request_ids_are_uuids() {
        let id = new_request_id();
        let s = id.to_str().unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_ne!(new_request_id(), id);
        assert_eq!(attempt_value(2), "2");
        assert_eq!(attempt_value(12), "12");
    }
}
