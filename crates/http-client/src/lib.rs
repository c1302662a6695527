//! The one HTTP client of the requests Meridian makes itself: the workloads' probes, Route 53
//! health checks, OTLP trace export, the demo workload's calls, the node's requests to its own
//! S3 API and the CLI's calls to the admin API.
//!
//! A [`Connection`] is one HTTP/1.1 or HTTP/2 (prior knowledge, as gRPC's h2c) connection, in
//! clear or over TLS, that carries requests one after another; its driver task ends when the
//! connection is dropped. [`request`] is the one-shot form, [`read_body`] reads an answer up
//! to a bound, and [`blocking`] serves the CLI, which runs no runtime of its own.
//!
//! Timeouts are the caller's: each caller has its own (a probe's `timeoutSeconds`, Route 53's
//! four seconds to connect and two to answer), so they wrap these futures in
//! `tokio::time::timeout` where their semantics say.

use std::fmt;

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

pub mod blocking;

/// The body every request of this client carries: whole, in memory (possibly empty).
pub type Body = Full<Bytes>;

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connection could not be made.
    #[error("connect {addr}: {source}")]
    Connect {
        /// The address as the caller gave it.
        addr: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(#[source] std::io::Error),
    /// The HTTP exchange failed (handshake, request or body).
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built.
    #[error("{0}")]
    Request(#[from] http::Error),
    /// The blocking client's runtime could not start.
    #[error("cannot start the client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Which HTTP the connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge (no upgrade, no ALPN needed), as gRPC clients use h2c.
    Http2,
}

/// TLS for a connection: the connector (its trust decisions are the caller's) and the name
/// the server is asked for.
#[derive(Clone)]
pub struct Tls {
    /// The connector, built from the caller's rustls configuration.
    pub connector: TlsConnector,
    /// The server name sent in SNI and checked by the connector's verifier.
    pub server_name: ServerName<'static>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

enum Sender {
    Http1(http1::SendRequest<Body>),
    Http2(http2::SendRequest<Body>),
}

/// One open connection. Requests go one after another; dropping it closes the connection.
pub struct Connection {
    sender: Sender,
    driver: JoinHandle<()>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.sender {
            Sender::Http1(_) => Protocol::Http1,
            Sender::Http2(_) => Protocol::Http2,
        };
        f.debug_struct("Connection")
            .field("protocol", &protocol)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`, an address, or `(host, port)`), with TLS when given,
    /// and makes the HTTP handshake.
    pub async fn connect<A>(addr: A, tls: Option<&Tls>, protocol: Protocol) -> Result<Self, Error>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|source| Error::Connect {
                addr: addr.to_string(),
                source,
            })?;
        // Requests are small and answered at once: no Nagle delay on them.
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Self::handshake(tcp, protocol).await,
            Some(tls) => {
                let stream = tls
                    .connector
                    .connect(tls.server_name.clone(), tcp)
                    .await
                    .map_err(Error::Tls)?;
                Self::handshake(stream, protocol).await
            }
        }
    }

    /// The HTTP handshake on a stream the caller opened; the connection's driver runs as a
    /// task of the current runtime until the connection closes or is dropped.
    pub async fn handshake<S>(io: S, protocol: Protocol) -> Result<Self, Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        Ok(match protocol {
            Protocol::Http1 => {
                let (sender, conn) = http1::handshake(io).await?;
                let driver = tokio::spawn(async move {
                    let _ = conn.await;
                });
                Connection {
                    sender: Sender::Http1(sender),
                    driver,
                }
            }
            Protocol::Http2 => {
                let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
                let driver = tokio::spawn(async move {
                    let _ = conn.await;
                });
                Connection {
                    sender: Sender::Http2(sender),
                    driver,
                }
            }
        })
    }

    /// Sends a request once the connection can take it; the answer's body streams.
    ///
    /// HTTP/1.1 requests carry an origin-form URI (`/path?query`) and a `Host` field;
    /// HTTP/2 requests an absolute URI, from which the `:authority` is taken.
    pub async fn send(&mut self, req: Request<Body>) -> Result<Response<Incoming>, Error> {
        Ok(match &mut self.sender {
            Sender::Http1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Sender::Http2(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
        })
    }

    /// Sends a request and reads its whole answer, up to `limit` bytes of body (the rest is
    /// left unread; the connection is then not reusable).
    pub async fn exchange(
        &mut self,
        req: Request<Body>,
        limit: usize,
    ) -> Result<Response<Bytes>, Error> {
        let (parts, body) = self.send(req).await?.into_parts();
        let body = read_body(body, limit).await?;
        Ok(Response::from_parts(parts, body))
    }

    /// True once the peer or an error closed the connection: a new one is needed.
    pub fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::Http1(s) => s.is_closed(),
            Sender::Http2(s) => s.is_closed(),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Reads a body to its end or until `limit` bytes, whichever comes first; what lies beyond
/// the limit is not read.
pub async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, Error> {
    let mut out = BytesMut::new();
    while out.len() < limit {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Ok(data) = frame?.into_data() {
            let room = limit - out.len();
            out.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(out.freeze())
}

/// One request on a new HTTP/1.1 connection in clear, its answer read up to `limit` bytes of
/// body; the connection closes afterwards.
pub async fn request<A>(addr: A, req: Request<Body>, limit: usize) -> Result<Response<Bytes>, Error>
where
    A: ToSocketAddrs + fmt::Display,
{
    let mut conn = Connection::connect(addr, None, Protocol::Http1).await?;
    conn.exchange(req, limit).await
}

#[cfg(test)]
mod tests;
