//! Sending a request to an endpoint: the transport seam (plaintext, TLS origination with ALPN,
//! the mesh's mTLS), HTTP/1.1 through the proxy's own client ([`crate::h1::client`]) and
//! HTTP/2 through hyper's, and the error classification retries need.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::body::{RequestBody, UpstreamBody};
use crate::error::ProxyError;
use crate::h1::client;
use crate::headers::X_MERIDIAN_UNREACHED;
use crate::outlier::Outcome;
use crate::pool::{Conn, Endpoint, Lease, Protocol};

/// How bytes reach an endpoint.
#[derive(Clone)]
pub enum Transport {
    /// Plain TCP.
    Plain,
    /// TLS (DestinationRule `SIMPLE`/`MUTUAL`; mesh mTLS plugs in here).
    Tls(TlsTransport),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Plain => f.write_str("Plain"),
            Transport::Tls(t) => write!(f, "Tls({:?})", t.server_name),
        }
    }
}

/// A TLS client configuration and the name to verify.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct TlsTransport {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl TlsTransport {
    /// A transport from a rustls client config (its ALPN list decides h2 vs http/1.1).
    pub fn new(
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    ) -> TlsTransport {
        TlsTransport {
            connector: TlsConnector::from(config),
            server_name,
        }
    }

    /// Runs the handshake over `tcp`.
    pub async fn connect(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// What a send needs from the cluster's policy.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    /// Protocol to use.
    pub protocol: Protocol,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Idle connections older than this are not reused.
    pub idle_timeout: Option<Duration>,
    /// Requests per HTTP/1.1 connection (0: unlimited).
    pub max_requests_per_connection: u32,
}

/// A failed send: the error, and the request when it was never sent (so a retry may reuse
/// it even with a streamed body).
pub type SendFailure = (ProxyError, Option<Request<RequestBody>>);

/// Sends `req` on a pooled (or new) connection to `endpoint`, within its cluster's circuit
/// breakers, and tells the cluster's outlier detector how it went.
pub async fn send(
    endpoint: &Arc<Endpoint>,
    mut req: Request<RequestBody>,
    opts: SendOptions,
) -> Result<(Response<UpstreamBody>, Lease), SendFailure> {
    let mut lease = match Lease::new(endpoint.clone(), opts.max_requests_per_connection) {
        Ok(l) => l,
        Err(e) => return Err((e, Some(req))),
    };
    let detector = &endpoint.cluster().detector;
    loop {
        let (conn, reused) = match endpoint
            .checkout(opts.protocol, opts.connect_timeout, opts.idle_timeout)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                if matches!(e, ProxyError::ConnectFailure { .. }) {
                    detector.record(endpoint, Outcome::ConnectFailed);
                }
                return Err((e, Some(req)));
            }
        };
        let result = match conn {
            Conn::H1(conn) => match client::exchange(conn, req, reused).await {
                Ok(resp) => {
                    let resp = resp.map(UpstreamBody::http1);
                    return match unreached(endpoint, &resp) {
                        Some(e) => Err((e, None)),
                        None => Ok((resp, lease)),
                    };
                }
                Err(client::Failure {
                    request: Some(r),
                    stale: true,
                    ..
                }) => {
                    // A pooled connection the peer had closed: once more on a new one.
                    req = r;
                    continue;
                }
                Err(f) => {
                    detector.record(endpoint, Outcome::ConnectFailed);
                    return Err((f.error, f.request));
                }
            },
            Conn::H2(mut sender, slot) => {
                lease.hold_stream(slot);
                match sender.try_send_request(req).await {
                    Ok(resp) => {
                        let resp = resp.map(UpstreamBody::hyper);
                        return match unreached(endpoint, &resp) {
                            Some(e) => Err((e, None)),
                            None => Ok((resp, lease)),
                        };
                    }
                    Err(e) => e,
                }
            }
        };
        let mut failure = result;
        let unsent = failure.take_message();
        let error = classify(&failure.into_error());
        match unsent {
            // A pooled connection the peer had closed: try once more on a new one.
            Some(r) if reused => req = r,
            other => {
                detector.record(endpoint, Outcome::ConnectFailed);
                return Err((error, other));
            }
        }
    }
}

/// Counts an endpoint's answer for outlier detection. A replica's inbound sidecar saying the
/// replica refused the connection makes it a connect failure instead: the request was never
/// processed, so the caller may retry it as Istio's would.
fn unreached<B>(endpoint: &Endpoint, resp: &Response<B>) -> Option<ProxyError> {
    let detector = &endpoint.cluster().detector;
    if endpoint.is_sidecar() && resp.headers().contains_key(&X_MERIDIAN_UNREACHED) {
        detector.record(endpoint, Outcome::ConnectFailed);
        return Some(ProxyError::ConnectFailure {
            addr: endpoint.addr.to_string(),
            reason: "the replica behind this sidecar refused the connection".to_owned(),
        });
    }
    detector.record(endpoint, Outcome::Status(resp.status().as_u16()));
    None
}

/// Sends an upgrade request (WebSocket) on a dedicated HTTP/1.1 connection.
pub async fn send_upgrade(
    endpoint: &Arc<Endpoint>,
    req: Request<RequestBody>,
    connect_timeout: Duration,
) -> Result<(Response<hyper::body::Incoming>, Lease), SendFailure> {
    let lease = match Lease::new(endpoint.clone(), 1) {
        Ok(l) => l,
        Err(e) => return Err((e, Some(req))),
    };
    let mut sender = match endpoint.connect_upgrade(connect_timeout).await {
        Ok(s) => s,
        Err(e) => return Err((e, Some(req))),
    };
    match sender.try_send_request(req).await {
        Ok(resp) => Ok((resp, lease)),
        Err(mut e) => {
            let unsent = e.take_message();
            Err((classify(&e.into_error()), unsent))
        }
    }
}

/// Maps a hyper error to the data-plane error retries and flags understand.
pub fn classify(e: &hyper::Error) -> ProxyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>()
            && h2.reason() == Some(h2::Reason::REFUSED_STREAM)
        {
            return ProxyError::RefusedStream;
        }
        source = s.source();
    }
    ProxyError::UpstreamReset(e.to_string())
}
