//! The upstream side of HTTP/1.1 without a connection task: a pooled connection is owned by
//! the request using it. The request head (with a buffered body) goes out in one write, the
//! response head is parsed once, and the body is read by whoever consumes the response — the
//! downstream connection, or hyper's server through [`RawBody`]'s `Body` impl — after which
//! the connection goes back to its endpoint's pool. No channel, no wake-up of another task.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::chunked::{Chunk, Decoder};
use super::head::{self, Framing, Scratch, WireLength};
use crate::body::{BodyError, RequestBody};
use crate::error::ProxyError;
use crate::pool::{ConnGuard, ConnInfo};

/// Room made for a response head (most fit in one read with room to spare).
const HEAD_READ: usize = 4 * 1024;

/// Room made for a body of unknown length.
const STREAM_READ: usize = 16 * 1024;

/// The most room made for one read (a long body with a known length).
const MAX_READ: usize = 64 * 1024;

/// Below this much spare room the read buffer grows before a read.
const MIN_SPARE: usize = 1024;

/// An idle connection keeps a read buffer up to this size; a larger one (grown for a long
/// body) is given back, so idle connections stay small.
const IDLE_BUFFER: usize = 16 * 1024;

/// Request bodies up to this size are copied behind the head, for one write.
const INLINE_BODY: usize = 16 * 1024;

/// The byte stream to an endpoint.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (DestinationRule TLS origination, mesh mTLS).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An HTTP/1.1 connection to an endpoint, idle in its pool or carrying one exchange.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: Stream,
    /// Bytes read and not consumed yet.
    buf: BytesMut,
    scratch: Scratch,
    /// The request head being written.
    out: Vec<u8>,
    /// Uses and age, for the pool's limits.
    pub(crate) info: ConnInfo,
    /// Its place in the circuit breakers, released when the connection closes.
    _guard: ConnGuard,
}

impl Connection {
    /// A connection over an established stream.
    pub(crate) fn new(stream: Stream, info: ConnInfo, guard: ConnGuard) -> Box<Connection> {
        Box::new(Connection {
            stream,
            buf: BytesMut::new(),
            scratch: Scratch::default(),
            out: Vec::new(),
            info,
            _guard: guard,
        })
    }

    /// Whether an idle connection can carry another request: nothing arrived while it was
    /// idle (neither the peer's close nor stray bytes). When nothing happened, the socket's
    /// readiness says so without a system call.
    pub(crate) fn is_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut self.stream)
            .poll_read(&mut cx, &mut probe)
            .is_pending()
    }

    /// Reads what the socket has, making room for about `want` bytes (sized to what is
    /// expected: small buffers for small messages, large reads for long bodies).
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < MIN_SPARE.min(want) {
            self.buf.reserve(want.clamp(MIN_SPARE, MAX_READ));
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.buf)
    }

    async fn fill(&mut self, want: usize) -> io::Result<usize> {
        poll_fn(|cx| self.poll_fill(cx, want)).await
    }
}

/// A failed exchange.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What went wrong.
    pub(crate) error: ProxyError,
    /// The request, when its body was not consumed (so it can be sent again elsewhere).
    pub(crate) request: Option<Request<RequestBody>>,
    /// A reused connection that the peer had closed: nothing was processed, and the request
    /// (given back) may go out again on a new connection.
    pub(crate) stale: bool,
}

fn reset(e: &io::Error) -> ProxyError {
    ProxyError::UpstreamReset(e.to_string())
}

/// Methods a client may repeat without changing the outcome (RFC 9110 §9.2.2).
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// How the request body is framed on the wire.
fn wire_length(req: &Request<RequestBody>) -> WireLength {
    match req.body() {
        RequestBody::Full(Some(b)) => WireLength::Length(b.len() as u64),
        RequestBody::Stream(s) => match s.size_hint().exact() {
            Some(n) => WireLength::Length(n),
            None => WireLength::Chunked,
        },
        RequestBody::Empty | RequestBody::Full(None) => {
            // A body-less POST still says so, as hyper's client does.
            let says = req.headers().contains_key(header::CONTENT_LENGTH)
                || matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
            if says {
                WireLength::Length(0)
            } else {
                WireLength::None
            }
        }
    }
}

/// Sends `req` on `conn` and reads the response head. `reused` says whether the connection
/// carried an exchange before (a failure before any answer then means it had gone stale).
pub(crate) async fn exchange(
    mut conn: Box<Connection>,
    mut req: Request<RequestBody>,
    reused: bool,
) -> Result<Response<RawBody>, Failure> {
    let head_request = req.method() == Method::HEAD;
    let length = wire_length(&req);
    let mut out = std::mem::take(&mut conn.out);
    out.clear();
    head::write_request_head(&mut out, req.method(), req.uri(), req.headers(), length);
    let inline = match req.body() {
        RequestBody::Full(Some(b)) if b.len() <= INLINE_BODY => {
            out.extend_from_slice(b);
            true
        }
        RequestBody::Full(Some(_)) | RequestBody::Stream(_) => false,
        RequestBody::Empty | RequestBody::Full(None) => true,
    };
    let written = conn.stream.write_all(&out).await;
    conn.out = out;
    if let Err(e) = written {
        return Err(Failure {
            error: reset(&e),
            request: Some(req),
            stale: reused,
        });
    }
    let mut replayable = true;
    if !inline {
        let sent = match req.body_mut() {
            RequestBody::Full(Some(b)) => conn.stream.write_all(b).await.map_err(|e| reset(&e)),
            RequestBody::Stream(_) => {
                replayable = false;
                let body = std::mem::replace(req.body_mut(), RequestBody::Empty);
                // Boxed: rare on this path, and inline it would enlarge every exchange.
                Box::pin(send_stream(&mut conn, body, length == WireLength::Chunked)).await
            }
            RequestBody::Empty | RequestBody::Full(None) => Ok(()),
        };
        if let Err(error) = sent {
            return Err(Failure {
                error,
                request: replayable.then_some(req),
                stale: false,
            });
        }
    }
    if let Err(e) = conn.stream.flush().await {
        return Err(Failure {
            error: reset(&e),
            request: replayable.then_some(req),
            stale: false,
        });
    }
    let mut answered = false;
    loop {
        match head::parse_response(&mut conn.buf, &mut conn.scratch, head_request) {
            Ok(Some(head)) => {
                let code = head.parts.status.as_u16();
                if code == 101 {
                    return Err(Failure {
                        error: ProxyError::UpstreamProtocol("unexpected 101 response"),
                        request: None,
                        stale: false,
                    });
                }
                if (100..200).contains(&code) {
                    // 103 Early Hints and the like go on to the client, when the task
                    // serves one that can take them; 100 Continue is hop-by-hop.
                    super::interim::relay(head.parts.status, head.parts.headers);
                    answered = true;
                    continue;
                }
                conn.info.uses += 1;
                head::recycle(std::mem::take(req.headers_mut()));
                let body = RawBody::new(conn, head.framing, head.keep_alive);
                return Ok(Response::from_parts(head.parts, body));
            }
            Ok(None) => {}
            Err(e) => {
                return Err(Failure {
                    error: ProxyError::UpstreamProtocol(e.reason()),
                    request: None,
                    stale: false,
                });
            }
        }
        let closed = match conn.fill(HEAD_READ).await {
            Ok(0) => ProxyError::UpstreamReset("connection closed before the response".into()),
            Ok(_) => {
                answered = true;
                continue;
            }
            Err(e) => reset(&e),
        };
        // Closed without a byte of answer on a reused connection: the peer dropped it while
        // idle, as keep-alive races go. A request that can be replayed, and either never
        // reached it or may be repeated safely, goes out again on a new connection.
        let stale = reused && !answered && replayable && idempotent(req.method());
        return Err(Failure {
            error: closed,
            request: stale.then_some(req),
            stale,
        });
    }
}

/// Streams a request body: as is with a known length, else in chunks (trailers included).
async fn send_stream(
    conn: &mut Connection,
    body: RequestBody,
    chunked: bool,
) -> Result<(), ProxyError> {
    let mut body = std::pin::pin!(body);
    let mut line = Vec::with_capacity(24);
    let mut ended = false;
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| ProxyError::UpstreamReset(format!("request body: {e}")))?;
        match frame.into_data() {
            Ok(data) if chunked => {
                if data.is_empty() {
                    continue;
                }
                line.clear();
                head::put_hex(&mut line, data.len() as u64);
                line.extend_from_slice(b"\r\n");
                write_parts(&mut conn.stream, &[&line, &data, b"\r\n"]).await?;
            }
            Ok(data) => conn.stream.write_all(&data).await.map_err(|e| reset(&e))?,
            Err(frame) => {
                if let (Ok(trailers), true) = (frame.into_trailers(), chunked) {
                    line.clear();
                    line.extend_from_slice(b"0\r\n");
                    put_trailers(&mut line, &trailers);
                    line.extend_from_slice(b"\r\n");
                    conn.stream.write_all(&line).await.map_err(|e| reset(&e))?;
                    ended = true;
                }
            }
        }
    }
    if chunked && !ended {
        conn.stream
            .write_all(b"0\r\n\r\n")
            .await
            .map_err(|e| reset(&e))?;
    }
    Ok(())
}

async fn write_parts(stream: &mut Stream, parts: &[&[u8]]) -> Result<(), ProxyError> {
    for p in parts {
        stream.write_all(p).await.map_err(|e| reset(&e))?;
    }
    Ok(())
}

/// Appends trailer fields as field lines.
pub(crate) fn put_trailers(out: &mut Vec<u8>, trailers: &HeaderMap) {
    for (name, value) in trailers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Where a response body read is.
#[derive(Debug)]
enum State {
    /// This many bytes left.
    Length(u64),
    /// In the chunked coding.
    Chunked(Decoder),
    /// Until the peer closes.
    UntilClose,
    /// Ended (or failed: then the connection is gone).
    Done,
}

/// A response body read straight from its upstream connection; when it ends, the connection
/// may carry the next exchange.
#[derive(Debug)]
pub(crate) struct RawBody {
    conn: Option<Box<Connection>>,
    state: State,
    keep_alive: bool,
}

impl RawBody {
    fn new(conn: Box<Connection>, framing: Framing, keep_alive: bool) -> RawBody {
        let state = match framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Decoder::default()),
            Framing::UntilClose => State::UntilClose,
        };
        RawBody {
            conn: Some(conn),
            state,
            keep_alive,
        }
    }

    /// Whether the body ended.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done | State::Length(0))
    }

    /// The connection, once the body ended and the connection may carry another exchange.
    pub(crate) fn take_reusable(&mut self) -> Option<Box<Connection>> {
        if !self.is_done() || !self.keep_alive {
            return None;
        }
        let mut conn = self.conn.take().filter(|c| c.buf.is_empty())?;
        if conn.buf.capacity() > IDLE_BUFFER {
            conn.buf = BytesMut::new();
        }
        Some(conn)
    }

    fn fail(&mut self, e: BodyError) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.conn = None;
        self.state = State::Done;
        Poll::Ready(Some(Err(e)))
    }
}

impl Body for RawBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Length(left) => {
                    if *left == 0 {
                        this.state = State::Done;
                        return Poll::Ready(None);
                    }
                    if !conn.buf.is_empty() {
                        let n = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(conn.buf.len());
                        *left -= n as u64;
                        if *left == 0 {
                            this.state = State::Done;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(conn.buf.split_to(n).freeze()))));
                    }
                }
                State::Chunked(decoder) => match decoder.decode(&mut conn.buf) {
                    Ok(Chunk::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Chunk::End(trailers)) => {
                        this.state = State::Done;
                        if trailers.is_empty() {
                            return Poll::Ready(None);
                        }
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                    }
                    Ok(Chunk::NeedMore) => {}
                    Err(e) => return this.fail(BodyError::Framing(e.0)),
                },
                State::UntilClose => {
                    if !conn.buf.is_empty() {
                        let all = conn.buf.len();
                        return Poll::Ready(Some(Ok(Frame::data(conn.buf.split_to(all).freeze()))));
                    }
                }
            }
            let want = match this.state {
                State::Length(left) => usize::try_from(left).unwrap_or(MAX_READ),
                _ => STREAM_READ,
            };
            match ready!(conn.poll_fill(cx, want)) {
                Ok(0) if matches!(this.state, State::UntilClose) => {
                    this.state = State::Done;
                    this.keep_alive = false;
                    return Poll::Ready(None);
                }
                Ok(0) => return this.fail(BodyError::Closed),
                Ok(_) => {}
                Err(e) => return this.fail(BodyError::Io(e)),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(n) => SizeHint::with_exact(n),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
