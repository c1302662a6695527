//! The per-request record: lifecycle phases, timings and Envoy response flags, handed to a
//! [`RecordSink`] when the response headers go out (the seam for telemetry's access logs and
//! metrics). A sink also sees each request as it arrives ([`RecordSink::arrive`]): there it
//! may add headers that travel upstream (trace context, peer metadata) and keep what it needs
//! until the record ([`Carry`]).

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The phases of a request's lifecycle, named once for logs, metrics and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Reading the request head.
    RequestHeaders,
    /// Selecting the virtual host and rule.
    Route,
    /// CORS preflight and origin checks.
    Cors,
    /// Fault injection.
    Fault,
    /// Choosing an endpoint.
    Balance,
    /// Opening (or reusing) an upstream connection.
    Connect,
    /// Sending the request upstream and waiting for its head.
    UpstreamRequest,
    /// Waiting before a retry.
    RetryBackoff,
    /// Sending the response head downstream.
    ResponseHeaders,
    /// Streaming the response body.
    ResponseBody,
    /// Copying bytes of an upgraded connection (WebSocket).
    Tunnel,
    /// Done.
    Done,
}

impl Phase {
    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::RequestHeaders => "request_headers",
            Phase::Route => "route",
            Phase::Cors => "cors",
            Phase::Fault => "fault",
            Phase::Balance => "balance",
            Phase::Connect => "connect",
            Phase::UpstreamRequest => "upstream_request",
            Phase::RetryBackoff => "retry_backoff",
            Phase::ResponseHeaders => "response_headers",
            Phase::ResponseBody => "response_body",
            Phase::Tunnel => "tunnel",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Envoy's response flags (`%RESPONSE_FLAGS%`): telemetry's vocabulary, shared by every plane.
pub use meridian_telemetry::ResponseFlags;

/// Which side of the mesh produced the record (Istio's `reporter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    /// A sidecar's outbound listener or the gateway (the client side).
    Source,
    /// A sidecar's inbound listener (the server side).
    Destination,
}

/// Istio's `connection_security_policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ConnectionSecurity {
    /// Reported by the client side, which does not know (Istio's value at `source`).
    #[default]
    Unknown,
    /// Plaintext, or TLS without a client certificate.
    None,
    /// Mutual TLS with a verified mesh identity.
    MutualTls,
}

impl ConnectionSecurity {
    /// The label value: `unknown`, `none`, `mutual_tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionSecurity::Unknown => "unknown",
            ConnectionSecurity::None => "none",
            ConnectionSecurity::MutualTls => "mutual_tls",
        }
    }
}

impl fmt::Display for ConnectionSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request, as telemetry needs it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Reporter.
    pub reporter: Reporter,
    /// Calling workload (`namespace/name`), when known.
    pub source_workload: Option<Arc<str>>,
    /// Client address.
    pub downstream: SocketAddr,
    /// Method.
    pub method: http::Method,
    /// Authority.
    pub authority: String,
    /// Path and query.
    pub path: String,
    /// Protocol (`HTTP/1.1`, `HTTP/2`).
    pub protocol: http::Version,
    /// Response status.
    pub status: u16,
    /// Response flags.
    pub flags: ResponseFlags,
    /// Cluster name.
    pub cluster: Option<String>,
    /// Endpoint address.
    pub upstream: Option<SocketAddr>,
    /// Tries made.
    pub attempts: u32,
    /// `x-request-id`.
    pub request_id: Option<http::HeaderValue>,
    /// When the request head was read.
    pub start: Instant,
    /// From the request head to the end of the response body (its last byte sent, or the
    /// body dropped); to the response head for a protocol switch (`101`).
    pub duration: Duration,
    /// The last phase reached.
    pub phase: Phase,
    /// Request body bytes, as announced (`Content-Length`; 0 when unknown).
    pub request_bytes: u64,
    /// Response body bytes sent.
    pub response_bytes: u64,
    /// The `grpc-status` of the response's trailers (or of a trailers-only response's head).
    pub grpc_status: Option<u8>,
    /// What the sink returned from [`RecordSink::arrive`] for this request.
    pub carry: Option<Carry>,
    /// The caller's SPIFFE ID proven by mTLS, as the destination saw it (Istio's
    /// `source_principal`).
    pub source_principal: Option<Arc<str>>,
    /// The workload's own SPIFFE ID at the destination (Istio's `destination_principal`).
    pub destination_principal: Option<Arc<str>>,
    /// Istio's `connection_security_policy`.
    pub connection_security: ConnectionSecurity,
    /// Envoy's `%RESPONSE_CODE_DETAILS%` when the proxy refused the request itself for a
    /// policy (`rbac_access_denied_matched_policy[...]`).
    pub response_code_details: Option<String>,
}

/// What a sink keeps about one request from its arrival to its record (a span in progress,
/// request headers an access log prints).
pub type Carry = Arc<dyn Any + Send + Sync>;

/// A request as it arrives on a listener, before routing.
#[derive(Debug)]
pub struct Arrival<'a> {
    /// Reporter of the listener (`Source` for gateways and outbound sidecars).
    pub reporter: Reporter,
    /// The listener's workload: the caller on the source side, the replica's own workload on
    /// the destination side.
    pub workload: &'a crate::Caller,
    /// Whether the listener is a Gateway port.
    pub gateway: bool,
    /// Client address.
    pub downstream: SocketAddr,
    /// Method.
    pub method: &'a http::Method,
    /// URI as received.
    pub uri: &'a http::Uri,
    /// Protocol.
    pub version: http::Version,
    /// The request headers; changes go upstream with the request.
    pub headers: &'a mut http::HeaderMap,
}

/// Receives a record per request (telemetry implements this).
pub trait RecordSink: Send + Sync + fmt::Debug {
    /// Called once per request when its head has been read, before routing. Headers written
    /// here are routed on and sent upstream. What it returns comes back in
    /// [`RequestRecord::carry`].
    fn arrive(&self, _arrival: Arrival<'_>) -> Option<Carry> {
        None
    }

    /// Called once per request when its response ends (when its head is sent, for a
    /// protocol switch).
    fn record(&self, record: RequestRecord);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_as_envoy() {
        let mut f = ResponseFlags::UPSTREAM_CONNECTION_FAILURE;
        f.insert(ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED);
        assert_eq!(f.to_string(), "UF,URX");
        assert_eq!(ResponseFlags::NONE.to_string(), "-");
        assert_eq!(Phase::UpstreamRequest.as_str(), "upstream_request");
    }
}
