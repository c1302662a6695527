//! Data-plane errors and the one place they become what Envoy/Istio users know: a status, a
//! response flag and Envoy's body text, and the `retryOn` conditions that retry them.

use bytes::Bytes;
use http::StatusCode;

use meridian_control::snapshot::RetryOn;

use crate::record::ResponseFlags;

/// What went wrong while proxying a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// No virtual host or rule matched.
    #[error("no route for host \"{0}\"")]
    NoRoute(String),
    /// The route names a cluster that does not exist (unknown host, subset or port).
    #[error("no cluster: {0}")]
    NoCluster(String),
    /// The cluster has no ready endpoint.
    #[error("no healthy upstream for {0}")]
    NoHealthyUpstream(String),
    /// Connecting (or the TLS handshake) failed or timed out.
    #[error("connection to {addr} failed: {reason}")]
    ConnectFailure {
        /// The endpoint.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The connection or stream was reset before response headers.
    #[error("upstream reset before headers: {0}")]
    UpstreamReset(String),
    /// The upstream's response head or framing broke HTTP/1.1 (Envoy's `UPE`).
    #[error("upstream protocol error: {0}")]
    UpstreamProtocol(&'static str),
    /// HTTP/2 `REFUSED_STREAM`: the request was never processed.
    #[error("upstream refused the stream")]
    RefusedStream,
    /// The route or per-try timeout elapsed.
    #[error("upstream request timeout")]
    Timeout,
    /// A fault abort.
    #[error("fault filter abort")]
    FaultAbort(u16),
    /// A connection pool limit was hit (circuit breaking).
    #[error("upstream overflow")]
    Overflow,
    /// The client sent something unusable.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ProxyError {
    /// The `retryOn` conditions under which Envoy retries this error (as its router does):
    /// a failed connect or a refused stream never reached the application; a reset or a
    /// timeout may have. Errors that are not the upstream's (no route, overflow, a fault, a
    /// bad request) are never retried.
    pub fn retried_on(&self) -> RetryOn {
        match self {
            ProxyError::ConnectFailure { .. } => RetryOn::CONNECT_FAILURE
                .union(RetryOn::FIVE_XX)
                .union(RetryOn::GATEWAY_ERROR)
                .union(RetryOn::RESET),
            ProxyError::RefusedStream => RetryOn::REFUSED_STREAM
                .union(RetryOn::FIVE_XX)
                .union(RetryOn::RESET),
            ProxyError::UpstreamReset(_) => RetryOn::RESET.union(RetryOn::FIVE_XX),
            ProxyError::Timeout => RetryOn::FIVE_XX
                .union(RetryOn::GATEWAY_ERROR)
                .union(RetryOn::RESET),
            ProxyError::NoRoute(_)
            | ProxyError::NoCluster(_)
            | ProxyError::NoHealthyUpstream(_)
            | ProxyError::UpstreamProtocol(_)
            | ProxyError::FaultAbort(_)
            | ProxyError::Overflow
            | ProxyError::BadRequest(_) => RetryOn::NONE,
        }
    }

    /// The local reply users know: status, response flag and body.
    pub fn local_reply(&self) -> (StatusCode, ResponseFlags, Bytes) {
        const BEFORE_HEADERS: &str =
            "upstream connect error or disconnect/reset before headers. reset reason: ";
        match self {
            ProxyError::NoRoute(_) => (
                StatusCode::NOT_FOUND,
                ResponseFlags::NO_ROUTE_FOUND,
                Bytes::new(),
            ),
            ProxyError::NoCluster(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlags::NO_CLUSTER_FOUND,
                Bytes::new(),
            ),
            ProxyError::NoHealthyUpstream(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlags::NO_HEALTHY_UPSTREAM,
                Bytes::from_static(b"no healthy upstream"),
            ),
            ProxyError::ConnectFailure { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlags::UPSTREAM_CONNECTION_FAILURE,
                Bytes::from(format!("{BEFORE_HEADERS}connection failure")),
            ),
            ProxyError::UpstreamReset(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlags::UPSTREAM_CONNECTION_TERMINATION,
                Bytes::from(format!("{BEFORE_HEADERS}connection termination")),
            ),
            ProxyError::UpstreamProtocol(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlags::UPSTREAM_PROTOCOL_ERROR,
                Bytes::from(format!("{BEFORE_HEADERS}protocol error")),
            ),
            ProxyError::RefusedStream => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlags::UPSTREAM_REMOTE_RESET,
                Bytes::from(format!("{BEFORE_HEADERS}remote refused stream reset")),
            ),
            ProxyError::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                ResponseFlags::UPSTREAM_REQUEST_TIMEOUT,
                Bytes::from_static(b"upstream request timeout"),
            ),
            ProxyError::FaultAbort(status) => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                ResponseFlags::FAULT_INJECTED,
                Bytes::from_static(b"fault filter abort"),
            ),
            ProxyError::Overflow => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlags::UPSTREAM_OVERFLOW,
                Bytes::from(format!("{BEFORE_HEADERS}overflow")),
            ),
            ProxyError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                ResponseFlags::DOWNSTREAM_PROTOCOL_ERROR,
                Bytes::from_static(b"bad request"),
            ),
        }
    }
}

/// Errors of the proxy's public API (starting listeners, loading certificates).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}; pass another port or offset")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate or key file could not be used.
    #[error("tls file {path}: {reason}")]
    Tls {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The replica has no port to put an inbound listener in front of.
    #[error("replica {0} declares no port")]
    NoPort(String),
    /// The mesh identity (certificate authority, workload certificate) cannot be used.
    #[error("mesh identity: {0}")]
    Identity(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case(ProxyError::NoRoute("x".into()), 404, "NR", ""; "no route")]
    #[test_case(ProxyError::NoHealthyUpstream("c".into()), 503, "UH", "no healthy upstream"; "no healthy")]
    #[test_case(ProxyError::ConnectFailure { addr: "a".into(), reason: "r".into() }, 503, "UF",
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure"; "connect failure")]
    #[test_case(ProxyError::Timeout, 504, "UT", "upstream request timeout"; "timeout")]
    #[test_case(ProxyError::FaultAbort(418), 418, "FI", "fault filter abort"; "abort")]
    fn replies_as_envoy(e: ProxyError, status: u16, flag: &str, body: &str) {
        let (s, f, b) = e.local_reply();
        assert_eq!(s.as_u16(), status);
        assert_eq!(f.to_string(), flag);
        assert_eq!(&b[..], body.as_bytes());
    }

    #[test]
    fn retry_conditions_follow_envoys_router() {
        let connect = ProxyError::ConnectFailure {
            addr: "a".into(),
            reason: "refused".into(),
        };
        assert!(connect.retried_on().contains(RetryOn::CONNECT_FAILURE));
        assert!(
            !ProxyError::UpstreamReset("x".into())
                .retried_on()
                .contains(RetryOn::CONNECT_FAILURE)
        );
        assert!(
            ProxyError::UpstreamReset("x".into())
                .retried_on()
                .contains(RetryOn::RESET)
        );
        assert!(
            ProxyError::RefusedStream
                .retried_on()
                .contains(RetryOn::REFUSED_STREAM)
        );
        assert!(
            !ProxyError::Timeout
                .retried_on()
                .contains(RetryOn::REFUSED_STREAM)
        );
        assert_eq!(ProxyError::Overflow.retried_on(), RetryOn::NONE);
        assert_eq!(ProxyError::NoRoute("h".into()).retried_on(), RetryOn::NONE);
    }
}
