//! Listeners: accept loops that take each connection through its handshake and hand it, with
//! what the handshake established ([`Connection`]), to the HTTP server of [`crate::server`]
//! (Meridian's own HTTP/1.1, [`crate::h1`], then hyper for HTTP/2, upgrades and what else the
//! fast path leaves to it). A listener given a stop signal closes gracefully when it fires: it
//! stops accepting, and each of its connections finishes the requests in flight, then closes
//! (HTTP/1.1 answers them with `Connection: close`, HTTP/2 sends GOAWAY).
//!
//! A connection's way, in one pass: accepted within the listener's connection budget; its
//! handshake, by listener kind, within the handshake timeout: at a gateway port its PROXY
//! protocol header read (when the topology says so) and TLS terminated by SNI, at an edge or
//! front door TLS terminated, at an inbound sidecar classified and held to
//! PeerAuthentication ([`crate::authn`], which returns the stream and what it proved); then
//! served ([`crate::server`]), with the request-head and idle timeouts of [`crate::limits`]
//! on either codec. Nothing downstream of this module calls back into it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::authn::Accepted;
use crate::connection::Connection;
use crate::downstream::{ListenerCtx, ListenerKind};
use crate::error::Error;
use crate::limits::ConnectionBudget;
use crate::proxy_protocol::{self, Source};
use crate::record::ConnectionSecurity;
use crate::rewind::Rewind;
use crate::server::serve;

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
            // Each stage's future is boxed on its own, and the serving one is made in a
            // statement that ends before it is awaited: the task then holds a pointer, not
            // room for the largest stage, nor what a handshake left behind (a finished TLS
            // handshake's result is kilobytes), for the connection's life.
            tokio::spawn(async move {
                let _permit = permit;
                let serving: Pin<Box<dyn Future<Output = ()> + Send>> = match (&ctx.kind, tls_port)
                {
                    (ListenerKind::Inbound { .. }, _) => {
                        match Box::pin(crate::authn::accept(tcp, &ctx, peer)).await {
                            Some(Accepted::Plaintext(tcp, conn)) => {
                                Box::pin(serve(tcp, ctx, peer, conn, stop))
                            }
                            Some(Accepted::Tls(tls, conn)) => {
                                Box::pin(serve(tls, ctx, peer, conn, stop))
                            }
                            None => return,
                        }
                    }
                    (ListenerKind::Gateway { .. }, _) => {
                        Box::pin(gateway(tcp, ctx, peer, tls_port, stop))
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
                        let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                        let handshake = Box::pin(tokio::time::timeout(
                            ctx.limits.tls_handshake_timeout,
                            acceptor.accept(tcp),
                        ));
                        let Ok(Ok(tls)) = handshake.await else {
                            return;
                        };
                        let conn = Connection::plain(ConnectionSecurity::Unknown);
                        Box::pin(serve(tls, ctx, peer, conn, stop))
                    }
                    _ => {
                        let conn = Connection::plain(ConnectionSecurity::Unknown);
                        Box::pin(serve(tcp, ctx, peer, conn, stop))
                    }
                };
                serving.await;
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
        // Futures are awaited where they are made: a named one would be kept twice in this
        // connection's state.
        match tokio::time::timeout(
            ctx.limits.tls_handshake_timeout,
            proxy_protocol::read(&mut tcp),
        )
        .await
        {
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
    let (tls, sni) =
        match tokio::time::timeout(ctx.limits.tls_handshake_timeout, handshake(io, &ctx, port))
            .await
        {
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
