//! Listeners: accept loops that serve HTTP/1.1 (Meridian's own fast path, [`crate::h1`]) and,
//! through hyper, HTTP/2 (h2c prior knowledge, or ALPN after the gateway's TLS handshake,
//! where SNI picks the Gateway server), upgrades and what else the fast path leaves to it. A
//! listener given a stop signal closes gracefully when it fires: it stops accepting, and each
//! of its connections finishes the requests in flight, then closes (HTTP/1.1 answers them with
//! `Connection: close`, HTTP/2 sends GOAWAY).
//!
//! A connection's way, once: accepted within the listener's connection budget; at a gateway
//! port, its PROXY protocol header read (when the topology says so) and its TLS handshake
//! done, both within the handshake timeout; at an inbound sidecar, classified and held to
//! PeerAuthentication ([`crate::authn`]); then served, with the request-head and idle
//! timeouts of [`crate::limits`] on either codec.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::authn::Connection;
use crate::downstream::{ListenerCtx, ListenerKind, handle};
use crate::error::Error;
use crate::limits::ConnectionBudget;
use crate::proxy_protocol::{self, Source};
use crate::record::ConnectionSecurity;
use crate::rewind::Rewind;

/// Binds a listener, naming the address in the error.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Serves connections until shutdown, or until `stop` fires (then gracefully).
pub(crate) fn spawn(
    listener: TcpListener,
    ctx: Arc<ListenerCtx>,
    tls_port: Option<u16>,
    mut shutdown: watch::Receiver<bool>,
    stop: Option<watch::Receiver<bool>>,
) {
    let name = listener
        .local_addr()
        .map_or_else(|_| "listener".to_owned(), |a| a.to_string());
    let budget = ConnectionBudget::new(ctx.limits.max_connections);
    tokio::spawn(async move {
        let mut stop_accept = stop.clone();
        loop {
            let stopped = async {
                match &mut stop_accept {
                    Some(s) => {
                        let _ = s.wait_for(|v| *v).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => return,
                () = stopped => return,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(permit) = budget.admit(&name) else {
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let ctx = ctx.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match (&ctx.kind, tls_port) {
                    (ListenerKind::Inbound { .. }, _) => {
                        crate::authn::accept(tcp, ctx, peer, stop).await;
                    }
                    (ListenerKind::Gateway { .. }, _) => {
                        gateway(tcp, ctx, peer, tls_port, stop).await
                    }
                    (
                        ListenerKind::Edge {
                            tls: Some(config), ..
                        }
                        | ListenerKind::FrontDoor {
                            tls: Some(config), ..
                        },
                        _,
                    ) => {
                        let config = config.clone();
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        let handshake = tokio::time::timeout(
                            ctx.limits.tls_handshake_timeout,
                            acceptor.accept(tcp),
                        );
                        if let Ok(Ok(tls)) = handshake.await {
                            let conn = Connection::plain(ConnectionSecurity::Unknown);
                            serve(tls, ctx, peer, conn, stop).await;
                        }
                    }
                    _ => {
                        let conn = Connection::plain(ConnectionSecurity::Unknown);
                        serve(tcp, ctx, peer, conn, stop).await;
                    }
                }
            });
        }
    });
}

/// A gateway connection: the PROXY protocol header when expected, TLS when the port
/// terminates it, then HTTP.
async fn gateway(
    mut tcp: TcpStream,
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    tls_port: Option<u16>,
    stop: Option<watch::Receiver<bool>>,
) {
    let local = tcp.local_addr().ok();
    let (prefix, proxied) = if ctx.topology.proxy_protocol {
        let read = tokio::time::timeout(
            ctx.limits.tls_handshake_timeout,
            proxy_protocol::read(&mut tcp),
        );
        match read.await {
            Ok(Ok((Source::Client(client), rest))) => (rest, Some(client)),
            Ok(Ok((Source::Local, rest))) => (rest, None),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "gateway: connection refused");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "gateway: no PROXY protocol header in time");
                return;
            }
        }
    } else {
        (Bytes::new(), None)
    };
    let Some(port) = tls_port else {
        let conn = Arc::new(Connection {
            security: ConnectionSecurity::Unknown,
            local,
            proxied,
            ..Connection::default()
        });
        if prefix.is_empty() && !ctx.topology.proxy_protocol {
            serve(tcp, ctx, peer, conn, stop).await;
        } else {
            serve(Rewind::new(prefix, tcp), ctx, peer, conn, stop).await;
        }
        return;
    };
    let io = Rewind::new(prefix, tcp);
    let handshake =
        tokio::time::timeout(ctx.limits.tls_handshake_timeout, handshake(io, &ctx, port));
    let (tls, sni) = match handshake.await {
        Ok(Some(done)) => done,
        Ok(None) => return,
        Err(_) => {
            tracing::debug!(%peer, "gateway: TLS handshake did not finish in time");
            return;
        }
    };
    let conn = Arc::new(Connection {
        security: ConnectionSecurity::Unknown,
        sni,
        local,
        proxied,
        ..Connection::default()
    });
    serve(tls, ctx, peer, conn, stop).await;
}

/// The gateway's TLS handshake: SNI picks the Gateway server, whose configuration answers.
async fn handshake<I>(
    io: I,
    ctx: &ListenerCtx,
    port: u16,
) -> Option<(tokio_rustls::server::TlsStream<I>, Option<String>)>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let start = acceptor.await.ok()?;
    let sni = start.client_hello().server_name().map(str::to_owned);
    let config = {
        let state = ctx.state.load();
        let gw = state.snapshot.gateway(port)?;
        let server = gw.server_for_sni(sni.as_deref())?;
        let index = gw.servers.iter().position(|s| std::ptr::eq(s, server))?;
        state.gateway_tls.get(&(port, index))?.clone()
    };
    match start.into_stream(config).await {
        Ok(tls) => Some((tls, sni)),
        Err(e) => {
            tracing::debug!(error = %e, sni = sni.as_deref().unwrap_or("-"), "gateway: TLS handshake failed");
            None
        }
    }
}

/// Serves HTTP/1.1 and HTTP/2 on an accepted (and, for TLS, terminated) connection: the fast
/// path first, which hands the connection to hyper when it needs to.
pub(crate) async fn serve<I>(
    io: I,
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    connection: Arc<Connection>,
    stop: Option<watch::Receiver<bool>>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if ctx.fast_http1 {
        crate::h1::server::serve(io, ctx, peer, connection, stop).await;
    } else {
        serve_hyper(io, ctx, peer, connection, stop).await;
    }
}

/// What a connection served by hyper is doing, for its idle timeout: bytes moved, and
/// requests whose response head is still being made.
#[derive(Debug, Default)]
struct Activity {
    moved: AtomicU64,
    in_flight: AtomicUsize,
}

/// A request in flight, counted until its future ends or is dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that counts its successful reads and writes into an [`Activity`].
struct Counted<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.moved.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            this.activity.moved.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            this.activity.moved.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Ticks per idle timeout: a connection is closed after four quiet ticks in a row, so
/// between 1 and 1.25 idle timeouts after its last byte.
const IDLE_TICKS: u32 = 4;

/// Serves a connection with hyper (HTTP/1.1 with upgrades, HTTP/2), with hyper's timer
/// wired (so its header read timeout holds), the listener's stream limit, and the idle
/// timeout (a connection with no request in flight and no byte moving is closed
/// gracefully: GOAWAY for HTTP/2).
pub(crate) async fn serve_hyper<I>(
    io: I,
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    connection: Arc<Connection>,
    stop: Option<watch::Receiver<bool>>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = ctx.limits;
    let activity = Arc::new(Activity::default());
    let in_service = activity.clone();
    // Boxed: hyper moves a stream's future several times (into its HTTP/2 stream task, the
    // task cell...); a pointer moves cheaply, several kilobytes of state do not.
    let svc = service_fn(move |req| {
        let ctx = ctx.clone();
        let connection = connection.clone();
        let busy = Busy::new(in_service.clone());
        Box::pin(async move {
            let _busy = busy;
            handle(ctx, peer, connection, req).await
        })
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_head_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams);
    let io = TokioIo::new(Counted {
        io: crate::coalesce::Coalesce::new(io),
        activity: activity.clone(),
    });
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(conn);
    let mut stop = stop;
    let mut ticks = tokio::time::interval(limits.idle_timeout / IDLE_TICKS);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut last_moved = activity.moved.load(Ordering::Relaxed);
    let mut quiet = 0;
    loop {
        let stopped = async {
            match &mut stop {
                Some(s) => s.wait_for(|v| *v).await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            s = stopped => {
                if s {
                    conn.as_mut().graceful_shutdown();
                    break;
                }
                // A dropped sender is no stop order: serve on.
                stop = None;
            }
            _ = ticks.tick() => {
                let moved = activity.moved.load(Ordering::Relaxed);
                if moved != last_moved || activity.in_flight.load(Ordering::Relaxed) > 0 {
                    last_moved = moved;
                    quiet = 0;
                    continue;
                }
                quiet += 1;
                if quiet >= IDLE_TICKS {
                    tracing::trace!(%peer, "idle connection closed");
                    conn.as_mut().graceful_shutdown();
                    break;
                }
            }
        }
    }
    let _ = conn.await;
}
