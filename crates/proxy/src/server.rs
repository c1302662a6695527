//! HTTP on an accepted connection, its handshake done and what it proved in hand
//! ([`Connection`]): Meridian's own HTTP/1.1 first ([`crate::h1::server`]), which gives the
//! connection back, with its unread bytes, at the first request it does not serve; hyper from
//! then on, or from the start when the listener does not use the fast path (HTTP/2 by prior
//! knowledge or ALPN, upgrades, `CONNECT`, HTTP/1.0, chunked or large request bodies). Hyper
//! runs with its timer wired (so its header read timeout holds), the listener's stream limit
//! and the idle timeout of [`crate::limits`]. Every request goes to the one lifecycle of
//! [`crate::downstream`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::connection::Connection;
use crate::downstream::{ListenerCtx, handle};
use crate::h1::sendfile::FileSink;

/// Serves HTTP/1.1 and HTTP/2 on an accepted (and, for TLS, terminated) connection until it
/// closes: the fast path first, then hyper when the fast path hands the connection over.
pub(crate) async fn serve<I>(
    io: I,
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    connection: Arc<Connection>,
    mut stop: Option<watch::Receiver<bool>>,
) where
    I: AsyncRead + AsyncWrite + FileSink + Unpin + Send + 'static,
{
    if !ctx.fast_http1 {
        serve_hyper(io, ctx, peer, connection, stop).await;
        return;
    }
    if let Some(rest) = crate::h1::server::serve(io, &ctx, peer, &connection, &mut stop).await {
        // Boxed: a connection the fast path keeps does not carry room for hyper's state.
        Box::pin(serve_hyper(rest, ctx, peer, connection, stop)).await;
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
async fn serve_hyper<I>(
    io: I,
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    connection: Arc<Connection>,
    stop: Option<watch::Receiver<bool>>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
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
    // Pinned where it is made: a named future pinned later would be kept twice in this
    // connection's state.
    let mut conn = std::pin::pin!(builder.serve_connection_with_upgrades(io, svc));
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
