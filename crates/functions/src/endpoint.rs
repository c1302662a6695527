//! Serving the plane on a listener of its own (tests, `meridian up` without the mesh
//! gateway): the Invoke API under `/2015-03-31/functions`, everything else through the API
//! Gateway routes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::apigw::{ApiGateway, ClientAddr};
use crate::host::FunctionHost;
use crate::invoke;

/// A running endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Binds `addr` (use port 0 for any) and serves `host` until dropped.
    pub async fn start(host: FunctionHost, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, host, std::future::pending()));
        Ok(Self { addr, task })
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the Invoke API and the API Gateway routes of `host` on `listener` until
/// `shutdown` completes.
pub async fn serve(listener: TcpListener, host: FunctionHost, shutdown: impl Future<Output = ()>) {
    let gateway = ApiGateway::new(host.clone());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let host = host.clone();
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    let host = host.clone();
                    let gateway = gateway.clone();
                    async move {
                        req.extensions_mut().insert(ClientAddr(peer));
                        let resp = if invoke::is_invoke_api(req.uri().path()) {
                            invoke::handle(&host, req).await
                        } else {
                            gateway.handle(req).await
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
