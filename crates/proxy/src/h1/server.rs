//! The downstream side of HTTP/1.1: one task per client connection reads a request head,
//! parses it once, reads a `Content-Length` body (up to the buffering limit), serves the
//! request through the shared lifecycle ([`crate::downstream::serve`]) and writes the response
//! head and body itself, batching what is ready into one write. Requests are answered in
//! order, so pipelined requests wait in the read buffer. A client that closes its connection
//! while a request is in flight cancels that request.
//!
//! RFC 9112 framing is enforced: conflicting `Content-Length` values, `Content-Length` with
//! `Transfer-Encoding`, more than one `Host`, malformed heads (400) and oversized heads (431)
//! are answered and the connection closed. At a head the fast path does not serve, the
//! connection is given back with every unread byte, for hyper to serve from then on
//! ([`crate::server`]): HTTP/2 (prior knowledge), upgrades, `CONNECT`, HTTP/1.0, chunked or
//! large request bodies, and expectations other than `100-continue`.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::client::put_trailers;
use super::head::{self, RequestParse, Scratch, WireLength};
use super::interim;
use super::sendfile::FileSink;
use crate::body::{BodyError, InBody, ResponseBody};
use crate::connection::Connection;
use crate::downstream::{BUFFER_LIMIT, ListenerCtx};
use crate::limits::ConnectionLimits;
use crate::rewind::Rewind;

/// Read buffer size (grown for larger heads and bodies).
const READ_SIZE: usize = 4 * 1024;

/// Below this much spare room the read buffer grows before a read.
const MIN_SPARE: usize = 1024;

/// Body bytes gathered behind the head for one write; larger chunks are written from where
/// they lie.
const GATHER: usize = 16 * 1024;

/// Room reserved for a response head.
const HEAD_ROOM: usize = 1024;

/// The most bytes read ahead (pipelined requests) while a response is awaited.
const PIPELINE_LIMIT: usize = 64 * 1024;

/// How long a client may leave a request body it started without sending more of it (each
/// read; the head has a deadline of its own, [`ConnectionLimits::request_head_timeout`]).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A client connection.
struct Downstream<I> {
    io: I,
    /// Bytes read and not consumed.
    buf: BytesMut,
    scratch: Scratch,
    limits: ConnectionLimits,
    /// When the head being read must be complete; `None` while idle between requests.
    head_deadline: Option<tokio::time::Instant>,
}

/// How reading the next request ended.
// Returned once per request and matched at once: boxing the head would cost an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
enum Next {
    /// A request to serve.
    Request(head::RequestHead),
    /// A request for hyper: the connection goes there with its unread bytes.
    HandOver(head::Elsewhere),
    /// The connection is done (closed, failed, or refused with an error status).
    Done,
}

/// Serves HTTP/1.1 on a connection until it closes (`None`), or until the first request the
/// fast path does not serve: then the connection comes back with its unread bytes, that
/// request first, for hyper.
pub(crate) async fn serve<I>(
    io: I,
    ctx: &ListenerCtx,
    peer: SocketAddr,
    conn: &Arc<Connection>,
    stop: &mut Option<watch::Receiver<bool>>,
) -> Option<Rewind<I>>
where
    I: AsyncRead + AsyncWrite + FileSink + Unpin + Send + 'static,
{
    let mut d = Downstream {
        io,
        buf: BytesMut::new(),
        scratch: Scratch::default(),
        limits: ctx.limits,
        // The first request's head is due from accept (as nginx's client_header_timeout).
        head_deadline: Some(tokio::time::Instant::now() + ctx.limits.request_head_timeout),
    };
    let interim = Arc::new(interim::Queue::default());
    loop {
        let head = match d.next_request(stop).await {
            Ok(Next::Request(h)) => h,
            Ok(Next::HandOver(why)) => {
                tracing::trace!(%peer, reason = why.as_str(), "connection handed to hyper");
                let Downstream { io, buf, .. } = d;
                return Some(Rewind::new(buf.freeze(), io));
            }
            Ok(Next::Done) | Err(_) => return None,
        };
        let Ok(body) = d.read_body(&head).await else {
            return None;
        };
        let head_request = head.parts.method == Method::HEAD;
        let req = Request::from_parts(head.parts, InBody::Buffered(body));
        // A client that leaves while its request is in flight cancels it, upstream
        // connection included (as hyper and Envoy do): nobody is left to answer. Interim
        // responses the upstream sends meanwhile are written as they come.
        //
        // The request's future (several kilobytes: every listener kind's lifecycle) is boxed
        // for the request's time only, and freed before the response is written: a
        // keep-alive connection between requests holds its own small state, not room for a
        // request. One allocation per request saves about 5.5 KB per open connection; it
        // costs 1-3 % of the edge's 4 KiB hits and nothing measurable on a sidecar.
        let resp = {
            let mut serving = Box::pin(crate::downstream::serve(ctx, peer, conn, req));
            let mut serving = poll_fn(|cx| interim.poll_in_scope(serving.as_mut(), cx));
            loop {
                tokio::select! {
                    biased;
                    resp = &mut serving => break resp,
                    () = interim.ready() => {
                        if d.write_interim(&interim).await.is_err() {
                            return None;
                        }
                    }
                    () = d.gone() => {
                        tracing::debug!(%peer, "client closed the connection before the response");
                        return None;
                    }
                }
            }
        };
        if d.write_interim(&interim).await.is_err() {
            return None;
        }
        // A stop order (the replica is leaving) closes the connection after this exchange.
        let close = head.close || stop.as_ref().is_some_and(|s| *s.borrow());
        if d.write_response(resp, head_request, close).await.is_err() || close {
            let _ = d.io.shutdown().await;
            return None;
        }
    }
}

impl<I> Downstream<I>
where
    I: AsyncRead + AsyncWrite + FileSink + Unpin,
{
    /// Reads until a request head is complete: idle until its first byte (at most the idle
    /// timeout), then the whole head by its deadline, however the bytes trickle in.
    async fn next_request(&mut self, stop: &mut Option<watch::Receiver<bool>>) -> io::Result<Next> {
        loop {
            if !self.buf.is_empty() && self.head_deadline.is_none() {
                self.head_deadline =
                    Some(tokio::time::Instant::now() + self.limits.request_head_timeout);
            }
            match head::parse_request(&mut self.buf, &mut self.scratch, BUFFER_LIMIT) {
                RequestParse::Complete(h) => {
                    self.head_deadline = None;
                    return Ok(Next::Request(h));
                }
                RequestParse::Elsewhere(why) => return Ok(Next::HandOver(why)),
                RequestParse::Reject(r) => {
                    tracing::debug!(reason = r.reason(), "request refused");
                    self.refuse(r.status()).await;
                    return Ok(Next::Done);
                }
                RequestParse::Partial => {}
            }
            let read = match self.head_deadline {
                Some(deadline) => match self.read_until(deadline, stop).await {
                    Some(r) => r,
                    None => return Ok(Next::Done),
                },
                None => {
                    let idle = tokio::time::Instant::now() + self.limits.idle_timeout;
                    match self.read_until(idle, stop).await {
                        Some(r) => r,
                        None => return Ok(Next::Done),
                    }
                }
            };
            if read? == 0 {
                return Ok(Next::Done);
            }
        }
    }

    /// A read by `deadline`; `None` when the deadline passed (the connection closes quietly,
    /// as nginx and Envoy close it) or a stop order came while no request had begun.
    async fn read_until(
        &mut self,
        deadline: tokio::time::Instant,
        stop: &mut Option<watch::Receiver<bool>>,
    ) -> Option<io::Result<usize>> {
        let idle = self.buf.is_empty();
        let read = tokio::time::timeout_at(deadline, async {
            if idle {
                self.read_or_stop(stop).await
            } else {
                self.reserve();
                Some(self.io.read_buf(&mut self.buf).await)
            }
        });
        match read.await {
            Ok(r) => r,
            Err(_) => {
                tracing::debug!(idle, "connection closed: no request in time");
                None
            }
        }
    }

    fn reserve(&mut self) {
        if self.buf.capacity() - self.buf.len() < MIN_SPARE {
            self.buf.reserve(READ_SIZE);
        }
    }

    /// A read while idle; `None` when a stop order came first.
    async fn read_or_stop(
        &mut self,
        stop: &mut Option<watch::Receiver<bool>>,
    ) -> Option<io::Result<usize>> {
        let Some(s) = stop else {
            return Some(self.read_when_ready().await);
        };
        if *s.borrow() {
            return None;
        }
        let stopped = tokio::select! {
            r = self.read_when_ready() => return Some(r),
            changed = s.wait_for(|v| *v) => changed.is_ok(),
        };
        if stopped {
            return None;
        }
        // A dropped sender is no stop order: serve on.
        *stop = None;
        Some(self.read_when_ready().await)
    }

    /// A read with nothing buffered. Over a plain socket the connection holds no read buffer
    /// while idle: it waits for the socket's readiness first, and gives back the buffer of a
    /// read that found nothing. Readiness can be stale (the last read emptied the socket
    /// without meeting `EAGAIN`), so without that an idle keep-alive connection would keep
    /// the buffer of its first wake-up.
    async fn read_when_ready(&mut self) -> io::Result<usize> {
        if self.buf.is_empty()
            && let Some(socket) = self.io.idle_socket()
        {
            let buf = &mut self.buf;
            return poll_fn(|cx| {
                loop {
                    if buf.capacity() > 0 {
                        *buf = BytesMut::new();
                    }
                    // The socket's one reader's waker slot, not the shared waiter list
                    // `readable()` would take a lock on.
                    std::task::ready!(socket.poll_read_ready(cx))?;
                    buf.reserve(READ_SIZE);
                    match socket.try_read_buf(buf) {
                        // `try_read_buf` cleared the stale readiness: wait for the next.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        r => return Poll::Ready(r),
                    }
                }
            })
            .await;
        }
        self.reserve();
        self.io.read_buf(&mut self.buf).await
    }

    /// A read in the middle of a request body, bounded by [`BODY_READ_TIMEOUT`].
    async fn read_bounded(&mut self) -> io::Result<usize> {
        self.reserve();
        match tokio::time::timeout(BODY_READ_TIMEOUT, self.io.read_buf(&mut self.buf)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request read timeout",
            )),
        }
    }

    /// Resolves when the client closes the connection (or it fails). Bytes that arrive
    /// meanwhile (pipelined requests) wait in the read buffer, up to [`PIPELINE_LIMIT`];
    /// past it, reading stops until the response is out.
    async fn gone(&mut self) {
        loop {
            if self.buf.len() >= PIPELINE_LIMIT {
                return std::future::pending().await;
            }
            self.reserve();
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Reads the request's `Content-Length` body (`100 Continue` first when asked for).
    async fn read_body(&mut self, head: &head::RequestHead) -> io::Result<Option<Bytes>> {
        if head.body_len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(head.body_len).unwrap_or(usize::MAX);
        if self.buf.len() < len && head.expect_continue {
            self.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            self.io.flush().await?;
        }
        while self.buf.len() < len {
            self.buf.reserve(len - self.buf.len());
            if self.read_bounded().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Answers a refused head with its status, then the connection closes.
    async fn refuse(&mut self, status: StatusCode) {
        let mut out = Vec::new();
        head::write_response_head(
            &mut out,
            status,
            &HeaderMap::new(),
            WireLength::Length(0),
            true,
        );
        let _ = self.io.write_all(&out).await;
        let _ = self.io.shutdown().await;
    }

    /// Writes a response: the head, then the body in `Content-Length` when its size is
    /// known, else chunked. What is ready goes out in one write; before waiting for more of
    /// the body, what was gathered is sent, so a slow stream reaches the client as it comes.
    /// Writes the interim heads queued (in order), if any.
    async fn write_interim(&mut self, queue: &interim::Queue) -> io::Result<()> {
        let heads = queue.take();
        if heads.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        for (status, headers) in &heads {
            head::write_interim_head(&mut out, *status, headers);
        }
        self.io.write_all(&out).await?;
        self.io.flush().await
    }

    async fn write_response(
        &mut self,
        resp: Response<ResponseBody>,
        head_request: bool,
        close: bool,
    ) -> io::Result<()> {
        let (parts, mut body) = resp.into_parts();
        let code = parts.status.as_u16();
        let bodiless = head_request || (100..200).contains(&code) || code == 204 || code == 304;
        let length = if bodiless {
            WireLength::AsIs
        } else {
            match body.size_hint().exact() {
                Some(n) => WireLength::Length(n),
                None => WireLength::Chunked,
            }
        };
        // Room for the head, and for a body small enough to be gathered behind it. The
        // buffer lives for this response only: a keep-alive connection between requests
        // holds none.
        let gathered = match length {
            WireLength::Length(n) if n <= (GATHER - HEAD_ROOM) as u64 => n as usize,
            _ => 0,
        };
        let mut out = Vec::with_capacity(HEAD_ROOM + gathered);
        head::write_response_head(&mut out, parts.status, &parts.headers, length, close);
        head::recycle(parts.headers);
        let written = if bodiless {
            drop(body);
            self.io.write_all(&out).await
        } else if let Some(sock) = self.io.tcp()
            && let Some(region) = body.take_file()
        {
            let sent = super::sendfile::send_file(sock, &out, &region).await;
            if sent.is_ok() {
                body.sent(region.bytes.len());
            }
            sent
        } else {
            self.write_body(&mut out, &mut body, length == WireLength::Chunked)
                .await
        };
        written?;
        self.io.flush().await
    }

    async fn write_body(
        &mut self,
        out: &mut Vec<u8>,
        body: &mut ResponseBody,
        chunked: bool,
    ) -> io::Result<()> {
        let mut ended = false;
        loop {
            let frame = match poll_now(body) {
                Poll::Ready(f) => f,
                Poll::Pending => {
                    if !out.is_empty() {
                        self.io.write_all(out).await?;
                        out.clear();
                    }
                    poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
                }
            };
            let frame = match frame {
                None => break,
                // Once the head is out, all the client can learn is that the body was cut,
                // by the connection closing before its end: send what came, then close.
                Some(Err(e)) => {
                    let _ = self.io.write_all(out).await;
                    return Err(io::Error::other(e));
                }
                Some(Ok(f)) => f,
            };
            match frame.into_data() {
                Ok(data) => {
                    if data.is_empty() {
                        continue;
                    }
                    if chunked {
                        head::put_hex(out, data.len() as u64);
                        out.extend_from_slice(b"\r\n");
                    }
                    if out.len() + data.len() <= GATHER {
                        out.extend_from_slice(&data);
                    } else {
                        write_both(&mut self.io, out, &data).await?;
                        out.clear();
                    }
                    if chunked {
                        out.extend_from_slice(b"\r\n");
                    }
                }
                Err(frame) => {
                    if let (Ok(trailers), true) = (frame.into_trailers(), chunked) {
                        out.extend_from_slice(b"0\r\n");
                        put_trailers(out, &trailers);
                        out.extend_from_slice(b"\r\n");
                        ended = true;
                    }
                }
            }
        }
        if chunked && !ended {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        self.io.write_all(out).await
    }
}

type Polled = Option<Result<Frame<Bytes>, BodyError>>;

/// Polls a body once without a task's waker: what is ready now, or `Pending`.
fn poll_now(body: &mut ResponseBody) -> Poll<Polled> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(body).poll_frame(&mut cx)
}

/// Writes two buffers, vectored where the stream supports it.
async fn write_both<W: AsyncWrite + Unpin>(io: &mut W, a: &[u8], b: &[u8]) -> io::Result<()> {
    let mut slices = [IoSlice::new(a), IoSlice::new(b)];
    let mut bufs = &mut slices[..];
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = io.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}
