//! Listeners: accept loops that serve HTTP/1.1 (Meridian's own fast path, [`crate::h1`]) and,
//! through hyper, HTTP/2 (h2c prior knowledge, or ALPN after the gateway's TLS handshake,
//! where SNI picks the Gateway server), upgrades and what else the fast path leaves to it. A
//! listener given a stop signal closes gracefully when it fires: it stops accepting, and each
//! of its connections finishes the requests in flight, then closes (HTTP/1.1 answers them with
//! `Connection: close`, HTTP/2 sends GOAWAY).

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::authn::Connection;
use crate::downstream::{ListenerCtx, ListenerKind, handle};
use crate::error::Error;
use crate::record::ConnectionSecurity;

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
            let _ = tcp.set_nodelay(true);
            let ctx = ctx.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                match tls_port {
                    None if matches!(ctx.kind, ListenerKind::Inbound { .. }) => {
                        crate::authn::accept(tcp, ctx, peer, stop).await;
                    }
                    None => {
                        let conn = plain_connection(&ctx);
                        serve(tcp, ctx, peer, conn, stop).await;
                    }
                    Some(port) => serve_tls(tcp, ctx, peer, port, stop).await,
                }
            });
        }
    });
}

/// What a connection of a listener without mesh TLS proves: nothing.
fn plain_connection(ctx: &ListenerCtx) -> Arc<Connection> {
    Connection::plain(match ctx.kind {
        ListenerKind::Inbound { .. } => ConnectionSecurity::None,
        _ => ConnectionSecurity::Unknown,
    })
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

/// Serves a connection with hyper (HTTP/1.1 with upgrades, HTTP/2).
pub(crate) async fn serve_hyper<I>(
    io: I,
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    connection: Arc<Connection>,
    stop: Option<watch::Receiver<bool>>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Boxed: hyper moves a stream's future several times (into its HTTP/2 stream task, the
    // task cell...); a pointer moves cheaply, several kilobytes of state do not.
    let svc = service_fn(move |req| Box::pin(handle(ctx.clone(), peer, connection.clone(), req)));
    let builder = auto::Builder::new(TokioExecutor::new());
    let io = TokioIo::new(crate::coalesce::Coalesce::new(io));
    let conn = builder.serve_connection_with_upgrades(io, svc);
    let Some(mut stop) = stop else {
        let _ = conn.await;
        return;
    };
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        s = stop.wait_for(|v| *v) => {
            // A dropped sender is no stop order: serve on.
            if s.is_ok() {
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    let _ = conn.await;
}

async fn serve_tls(
    tcp: TcpStream,
    ctx: Arc<ListenerCtx>,
    peer: SocketAddr,
    port: u16,
    stop: Option<watch::Receiver<bool>>,
) {
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
    let Ok(start) = acceptor.await else { return };
    let config = {
        let state = ctx.state.load();
        let sni = start.client_hello().server_name().map(str::to_owned);
        let Some(gw) = state.snapshot.gateway(port) else {
            return;
        };
        let Some(server) = gw.server_for_sni(sni.as_deref()) else {
            return;
        };
        let Some(index) = gw.servers.iter().position(|s| std::ptr::eq(s, server)) else {
            return;
        };
        match state.gateway_tls.get(&(port, index)) {
            Some(c) => c.clone(),
            None => return,
        }
    };
    let Ok(tls) = start.into_stream(config).await else {
        return;
    };
    let conn = plain_connection(&ctx);
    serve(tls, ctx, peer, conn, stop).await;
}
