//! Serving the plane on a listener of its own (tests, `meridian up` without the mesh
//! gateway): the Invoke API under `/2015-03-31/functions`, function URLs by their host
//! (`<id>.lambda-url.<region>...`), everything else through the API Gateway routes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::apigw::url::{FunctionUrls, Verifier};
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
        Self::start_with(host, addr, None).await
    }

    /// As [`Endpoint::start`], with `AWS_IAM` function URLs checked by `verifier`.
    pub async fn start_with(
        host: FunctionHost,
        addr: SocketAddr,
        verifier: Option<Verifier>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let urls = FunctionUrls::new(host.clone(), verifier);
        let task = tokio::spawn(serve_with(listener, host, urls, std::future::pending()));
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
    let urls = FunctionUrls::new(host.clone(), None);
    serve_with(listener, host, urls, shutdown).await;
}

/// Whether a request's host is a function URL's (`<id>.lambda-url.<region>.<domain>`).
fn is_function_url(req: &http::Request<hyper::body::Incoming>) -> bool {
    req.headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .is_some_and(|h| h.to_ascii_lowercase().contains(".lambda-url."))
}

async fn serve_with(
    listener: TcpListener,
    host: FunctionHost,
    urls: FunctionUrls,
    shutdown: impl Future<Output = ()>,
) {
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
        let urls = urls.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    let host = host.clone();
                    let gateway = gateway.clone();
                    let urls = urls.clone();
                    async move {
                        req.extensions_mut().insert(ClientAddr(peer));
                        let resp = if is_function_url(&req) {
                            urls.handle(req).await
                        } else if invoke::is_invoke_api(req.uri().path()) {
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
