//! Keep-alive connection pools per endpoint: idle HTTP/1.1 connections in a short per-endpoint
//! list, one shared multiplexed HTTP/2 connection. No global lock: each endpoint has its own,
//! held only to push or pop. Active requests are counted per endpoint for the balancer (and
//! for issue 5's limits).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::body::RequestBody;
use crate::error::ProxyError;
use crate::upstream::Transport;

/// Most idle HTTP/1.1 connections kept per endpoint.
const MAX_IDLE: usize = 512;

/// How a request is sent to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 (prior knowledge over plaintext, ALPN over TLS).
    Http2,
}

/// A connection ready for one request.
#[derive(Debug)]
pub enum Conn {
    /// An HTTP/1.1 connection and how many requests it has carried.
    H1(http1::SendRequest<RequestBody>, u32),
    /// A clone of the endpoint's HTTP/2 connection.
    H2(http2::SendRequest<RequestBody>),
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    uses: u32,
    since: Instant,
}

/// An upstream endpoint: its address, identity and connections.
pub struct Endpoint {
    /// Address connected to.
    pub addr: SocketAddr,
    /// Stable identity (replica and port) used for hashing.
    pub key: String,
    /// When it joined (for warm-up).
    pub since: Instant,
    /// Requests in flight.
    pub active: AtomicU32,
    transport: Transport,
    idle: Mutex<Vec<Idle>>,
    h2: Mutex<Option<http2::SendRequest<RequestBody>>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .field("key", &self.key)
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

impl Endpoint {
    /// A new endpoint without connections.
    pub fn new(addr: SocketAddr, key: String, transport: Transport) -> Endpoint {
        Endpoint {
            addr,
            key,
            since: Instant::now(),
            active: AtomicU32::new(0),
            transport,
            idle: Mutex::new(Vec::new()),
            h2: Mutex::new(None),
        }
    }

    /// Requests in flight.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// A connection: a pooled one when there is one, else a new one. The second value says
    /// whether it was reused (a reused HTTP/1.1 connection may have been closed by the peer;
    /// the caller retries once on a new one).
    pub async fn checkout(
        &self,
        protocol: Protocol,
        connect_timeout: Duration,
        idle_timeout: Option<Duration>,
    ) -> Result<(Conn, bool), ProxyError> {
        match protocol {
            Protocol::Http2 => {
                if let Some(s) = self.shared_h2() {
                    return Ok((Conn::H2(s), true));
                }
            }
            Protocol::Http1 => {
                while let Some(idle) = self.pop_idle() {
                    if idle.sender.is_closed()
                        || idle_timeout.is_some_and(|t| idle.since.elapsed() > t)
                    {
                        continue;
                    }
                    let mut sender = idle.sender;
                    if sender.ready().await.is_ok() {
                        return Ok((Conn::H1(sender, idle.uses), true));
                    }
                }
            }
        }
        self.connect(protocol, connect_timeout)
            .await
            .map(|c| (c, false))
    }

    fn shared_h2(&self) -> Option<http2::SendRequest<RequestBody>> {
        let guard = self.h2.lock().ok()?;
        guard.as_ref().filter(|s| !s.is_closed()).cloned()
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().ok()?.pop()
    }

    /// Takes back an HTTP/1.1 connection after a complete exchange.
    fn put_idle(&self, sender: http1::SendRequest<RequestBody>, uses: u32) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(Idle {
                sender,
                uses,
                since: Instant::now(),
            });
        }
    }

    /// Opens a new connection.
    pub async fn connect(&self, protocol: Protocol, timeout: Duration) -> Result<Conn, ProxyError> {
        let fail = |reason: String| ProxyError::ConnectFailure {
            addr: self.addr.to_string(),
            reason,
        };
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(self.addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(fail(e.to_string())),
            Err(_) => return Err(fail("connect timeout".to_owned())),
        };
        let _ = tcp.set_nodelay(true);
        match &self.transport {
            Transport::Plain => self.handshake(TokioIo::new(tcp), protocol).await,
            Transport::Tls(tls) => {
                let stream = tokio::time::timeout(timeout, tls.connect(tcp))
                    .await
                    .map_err(|_| fail("tls handshake timeout".to_owned()))?
                    .map_err(|e| fail(format!("tls handshake: {e}")))?;
                let negotiated = match stream.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Protocol::Http2,
                    Some(_) => Protocol::Http1,
                    None => protocol,
                };
                self.handshake(TokioIo::new(stream), negotiated).await
            }
        }
    }

    async fn handshake<T>(&self, io: TokioIo<T>, protocol: Protocol) -> Result<Conn, ProxyError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let fail = |e: hyper::Error| ProxyError::ConnectFailure {
            addr: self.addr.to_string(),
            reason: e.to_string(),
        };
        match protocol {
            Protocol::Http1 => {
                let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(fail)?;
                tokio::spawn(async move {
                    let _ = conn.with_upgrades().await;
                });
                Ok(Conn::H1(sender, 0))
            }
            Protocol::Http2 => {
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .adaptive_window(true)
                    .handshake(io)
                    .await
                    .map_err(fail)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                if let Ok(mut slot) = self.h2.lock() {
                    *slot = Some(sender.clone());
                }
                Ok(Conn::H2(sender))
            }
        }
    }

    /// Drops pooled connections (the endpoint left, or issue 5's draining).
    pub fn close_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        if let Ok(mut h2) = self.h2.lock() {
            *h2 = None;
        }
    }
}

/// A request's hold on an endpoint: its active-request slot and, for HTTP/1.1, the
/// connection, returned to the pool when the response body ends.
#[derive(Debug)]
pub struct Lease {
    endpoint: Arc<Endpoint>,
    conn: Option<(http1::SendRequest<RequestBody>, u32)>,
    max_requests_per_connection: u32,
}

impl Lease {
    /// Takes an active-request slot on `endpoint`.
    pub fn new(endpoint: Arc<Endpoint>, max_requests_per_connection: u32) -> Lease {
        endpoint.active.fetch_add(1, Ordering::Relaxed);
        Lease {
            endpoint,
            conn: None,
            max_requests_per_connection,
        }
    }

    /// Attaches the HTTP/1.1 connection that carried the request.
    pub fn hold(&mut self, sender: http1::SendRequest<RequestBody>, uses: u32) {
        self.conn = Some((sender, uses));
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Ends the request; a connection whose exchange completed goes back to the pool.
    pub fn release(mut self, reusable: bool) {
        self.finish(reusable);
    }

    fn finish(&mut self, reusable: bool) {
        if let Some((sender, uses)) = self.conn.take()
            && reusable
            && (self.max_requests_per_connection == 0 || uses < self.max_requests_per_connection)
        {
            self.endpoint.put_idle(sender, uses);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.finish(false);
        self.endpoint.active.fetch_sub(1, Ordering::Relaxed);
    }
}
