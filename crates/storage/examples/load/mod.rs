//! What the load generators (`dynamo-load`, `s3-load`) share: one keep-alive HTTP/1.1
//! connection per client, latency percentiles, and a one-thread runtime whose outcome is
//! printed as one JSON line.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// A new HTTP/1.1 connection to `addr`, its driver spawned.
pub(crate) async fn open(addr: &SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// The `p` quantile (0 to 1) of latencies in microseconds, sorted, in milliseconds.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

/// Runs `work` on a one-thread runtime (the load generator stays on its own core) and prints
/// its answer, or its error as `NAME: error` with exit status 1.
pub(crate) fn main(name: &str, work: impl Future<Output = Result<Value, String>>) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1)
        }
    };
    match rt.block_on(work) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1)
        }
    }
}
