//! The blocking form, for the CLI: a runtime of one thread opens the connection, and lives as
//! long as the answer's body is being read, which [`BodyReader`] offers as `std::io::Read` so
//! a streamed answer (`logs -f`, `tap`) is read line by line as it arrives.

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::Request;
use http::response::Parts;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::runtime::Runtime;

use crate::{Body, Connection, Error, Protocol};

/// An answer's body as it arrives.
pub struct BodyReader {
    body: Incoming,
    chunk: Bytes,
    // Dropped before the runtime that drives it (fields drop in order).
    _conn: Connection,
    rt: Runtime,
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader")
            .field("buffered", &self.chunk.len())
            .finish_non_exhaustive()
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.body.frame()) {
                None => return Ok(0),
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.chunk = data;
                    }
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

/// Sends one request on a new HTTP/1.1 connection to `addr`, giving up on the connection
/// after `connect_timeout`; returns the answer's head and its body to read.
pub fn request(
    addr: SocketAddr,
    req: Request<Body>,
    connect_timeout: Duration,
) -> Result<(Parts, BodyReader), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let (conn, parts, body) = rt.block_on(async {
        let mut conn = tokio::time::timeout(
            connect_timeout,
            Connection::connect(addr, None, Protocol::Http1),
        )
        .await
        .map_err(|_| Error::Connect {
            addr: addr.to_string(),
            source: std::io::ErrorKind::TimedOut.into(),
        })??;
        let (parts, body) = conn.send(req).await?.into_parts();
        Ok::<_, Error>((conn, parts, body))
    })?;
    Ok((
        parts,
        BodyReader {
            body,
            chunk: Bytes::new(),
            _conn: conn,
            rt,
        },
    ))
}
