//! The demo workload shipped with Meridian (`meridian demo-app`): an HTTP/1.1 and HTTP/2
//! (h2c, prior knowledge) server that answers every request with JSON naming its service,
//! version and replica and echoing the request's method, path and headers.
//!
//! It sits at the end of the data flow: the workloads plane runs it as replicas, the proxy
//! routes to it, and tests and benchmarks use it as the origin. Switches make it misbehave
//! on purpose (latency, a share of failures, failing after N requests, slow readiness,
//! crashing, ignoring SIGTERM) so that retries, outlier detection, probes, restarts and
//! rollouts can be shown and tested. `/size/<bytes>` returns a body of that size for
//! throughput benchmarks. With `--call URL` it calls another service before answering
//! (a middle tier, for traces across several hops).

mod call;
mod options;
mod server;

pub use options::{Latency, Options, OptionsError};
pub use server::{DemoServer, serve};

use std::net::SocketAddr;

/// Why the demo app stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A flag or environment variable is wrong.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source} (pass another --port, or free the port)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Runs the demo app with command-line arguments (without the program name), reading
/// `PORT`, `SERVICE_NAME`, `VERSION` and `POD_NAME` from the environment, until SIGTERM or
/// SIGINT (unless `--ignore-sigterm`). Returns the exit code the process should end with
/// (`--exit-after` makes it non-zero).
///
/// ```no_run
/// # async fn f() -> Result<(), meridian_demo::DemoError> {
/// let code = meridian_demo::run(["--latency".into(), "5ms".into()]).await?;
/// std::process::exit(code);
/// # }
/// ```
pub async fn run(args: impl IntoIterator<Item = String>) -> Result<i32, DemoError> {
    let opts = Options::parse(args, |k| std::env::var(k).ok())?;
    let addr = SocketAddr::new(opts.bind, opts.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DemoError::Bind { addr, source })?;
    let server = DemoServer::new(opts);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(DemoError::Signals)?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(DemoError::Signals)?;
    let ignore_term = server.options().ignore_sigterm;
    let exit_after = server.options().exit_after;
    let exit_code = server.options().exit_code;
    let stop = async move {
        let exit = async {
            match exit_after {
                Some(d) => {
                    tokio::time::sleep(d).await;
                    exit_code
                }
                None => std::future::pending().await,
            }
        };
        let signals = async {
            loop {
                tokio::select! {
                    _ = term.recv() => if !ignore_term { return 0 },
                    _ = int.recv() => return 0,
                }
            }
        };
        tokio::select! {
            c = exit => c,
            c = signals => c,
        }
    };
    Ok(serve(listener, server, stop).await)
}
