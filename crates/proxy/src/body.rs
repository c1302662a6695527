//! Body types without boxing: what the proxy receives from clients, sends upstream and
//! answers downstream. Upstream bodies stream frame by frame (trailers included) and hand
//! their connection back to the pool when they end; a recorded response sends its request
//! record when its body ends, with the bytes sent and the gRPC status of its trailers.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::h1::client::RawBody;
use crate::pool::Lease;
use crate::record::{RecordSink, RequestRecord, ResponseFlags};
use crate::sealed::SealedFile;

/// Why a response body stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The upstream connection failed mid-body.
    #[error(transparent)]
    Upstream(#[from] hyper::Error),
    /// The upstream connection failed mid-body (HTTP/1.1).
    #[error("upstream connection: {0}")]
    Io(#[source] std::io::Error),
    /// The upstream closed its connection before the body ended.
    #[error("upstream closed the connection before the body ended")]
    Closed,
    /// The upstream's chunked framing was invalid.
    #[error("upstream body: {0}")]
    Framing(&'static str),
    /// The route timeout elapsed before the body ended (Envoy's route timeout covers the
    /// whole response).
    #[error("upstream request timeout")]
    Timeout,
}

/// A request body as the client sent it: streamed by hyper, or already read whole by the
/// HTTP/1.1 fast path.
#[derive(Debug)]
pub(crate) enum InBody {
    /// hyper's body.
    Incoming(Incoming),
    /// The whole body (none when empty).
    Buffered(Option<Bytes>),
}

impl InBody {
    /// The body to send upstream, streamed or buffered as it came.
    pub(crate) fn into_request_body(self) -> RequestBody {
        match self {
            InBody::Incoming(b) if b.is_end_stream() => RequestBody::Empty,
            InBody::Incoming(b) => RequestBody::Stream(b),
            InBody::Buffered(None) => RequestBody::Empty,
            InBody::Buffered(b) => RequestBody::Full(b),
        }
    }
}

impl Body for InBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            InBody::Incoming(b) => Pin::new(b).poll_frame(cx),
            InBody::Buffered(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            InBody::Incoming(b) => b.is_end_stream(),
            InBody::Buffered(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            InBody::Incoming(b) => b.size_hint(),
            InBody::Buffered(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// An upstream response body: read straight from an HTTP/1.1 connection, or from hyper's
/// HTTP/2 client.
#[derive(Debug)]
pub struct UpstreamBody(Upstream);

#[derive(Debug)]
enum Upstream {
    Http1(RawBody),
    Hyper(Incoming),
}

impl UpstreamBody {
    pub(crate) fn http1(body: RawBody) -> UpstreamBody {
        UpstreamBody(Upstream::Http1(body))
    }

    pub(crate) fn hyper(body: Incoming) -> UpstreamBody {
        UpstreamBody(Upstream::Hyper(body))
    }

    /// The HTTP/1.1 connection, once the body ended and the connection may be reused.
    fn take_reusable(&mut self) -> Option<Box<crate::h1::client::Connection>> {
        match &mut self.0 {
            Upstream::Http1(b) => b.take_reusable(),
            Upstream::Hyper(_) => None,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().0 {
            Upstream::Http1(b) => Pin::new(b).poll_frame(cx),
            Upstream::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(BodyError::from),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Upstream::Http1(b) => b.is_end_stream(),
            Upstream::Hyper(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Upstream::Http1(b) => b.size_hint(),
            Upstream::Hyper(b) => b.size_hint(),
        }
    }
}

/// A request body sent upstream.
#[derive(Debug)]
pub enum RequestBody {
    /// No body.
    Empty,
    /// A buffered body (small enough to retry and mirror).
    Full(Option<Bytes>),
    /// The client's body, streamed.
    Stream(Incoming),
}

impl RequestBody {
    /// A copy for a retry or a mirror, when the body is not streamed.
    pub fn try_clone(&self) -> Option<RequestBody> {
        match self {
            RequestBody::Empty => Some(RequestBody::Empty),
            RequestBody::Full(b) => Some(RequestBody::Full(b.clone())),
            RequestBody::Stream(_) => None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RequestBody::Stream(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full(b) => b.is_none(),
            RequestBody::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            RequestBody::Stream(s) => s.size_hint(),
        }
    }
}

/// A response body sent downstream.
#[derive(Debug)]
pub enum ResponseBody {
    /// A local reply or direct response.
    Full(Option<Bytes>),
    /// The upstream's body, streamed; its lease returns the connection when it ends.
    Upstream {
        /// The body.
        body: UpstreamBody,
        /// The connection and the endpoint's active-request slot.
        lease: Option<Lease>,
        /// The route timeout's deadline, when the route has one.
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    },
    /// A body whose request is recorded when it ends.
    Recorded(Box<Recorded>),
    /// A cached body mapped from a sealed file: read as bytes, or sent from the file
    /// ([`ResponseBody::take_file`]).
    Sealed(Option<FileRegion>),
}

/// Bytes of a sealed file, and a view of them.
#[derive(Debug)]
pub struct FileRegion {
    /// The bytes (a view of the file's mapping).
    pub(crate) bytes: Bytes,
    /// The file.
    pub(crate) file: Arc<SealedFile>,
    /// Where `bytes` start in the file.
    pub(crate) offset: usize,
}

/// A response body and the record of its request, completed and sent to the sink when the
/// body ends or is dropped (Envoy logs and counts a request when its stream ends): the
/// duration then runs to the last byte, and the bytes and gRPC status are what was sent.
#[derive(Debug)]
pub struct Recorded {
    body: ResponseBody,
    record: Option<RequestRecord>,
    sink: Arc<dyn RecordSink>,
}

impl Recorded {
    fn finish(&mut self) {
        if let Some(mut r) = self.record.take() {
            r.duration = r.start.elapsed();
            self.sink.record(r);
        }
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The `grpc-status` field of a trailers block or a trailers-only response's head.
pub(crate) fn grpc_status(fields: &http::HeaderMap) -> Option<u8> {
    fields
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl ResponseBody {
    /// A body with these bytes.
    pub fn full(bytes: Bytes) -> ResponseBody {
        if bytes.is_empty() {
            ResponseBody::Full(None)
        } else {
            ResponseBody::Full(Some(bytes))
        }
    }

    /// No body.
    pub fn empty() -> ResponseBody {
        ResponseBody::Full(None)
    }

    /// `bytes`, which are those of `file` from `offset` on.
    pub(crate) fn sealed(bytes: Bytes, file: Arc<SealedFile>, offset: usize) -> ResponseBody {
        debug_assert!(offset + bytes.len() <= file.len());
        if bytes.is_empty() {
            return ResponseBody::Full(None);
        }
        ResponseBody::Sealed(Some(FileRegion {
            bytes,
            file,
            offset,
        }))
    }

    /// The whole rest of the body as a region of a sealed file, taken out (the body is then
    /// at its end), when that is what it is: the writer sends it from the file and reports
    /// the bytes with [`ResponseBody::sent`].
    pub(crate) fn take_file(&mut self) -> Option<FileRegion> {
        match self {
            ResponseBody::Sealed(r) => r.take(),
            ResponseBody::Recorded(r) => r.body.take_file(),
            ResponseBody::Full(_) | ResponseBody::Upstream { .. } => None,
        }
    }

    /// Counts `n` bytes sent from a region [`ResponseBody::take_file`] gave.
    pub(crate) fn sent(&mut self, n: usize) {
        if let ResponseBody::Recorded(r) = self
            && let Some(rec) = r.record.as_mut()
        {
            rec.response_bytes += n as u64;
        }
    }
}

impl ResponseBody {
    /// This body, sending `record` to `sink` when it ends (its duration, response bytes and
    /// gRPC status are filled in then).
    pub(crate) fn recorded(self, record: RequestRecord, sink: Arc<dyn RecordSink>) -> ResponseBody {
        ResponseBody::Recorded(Box::new(Recorded {
            body: self,
            record: Some(record),
            sink,
        }))
    }

    /// A streamed upstream body.
    pub fn upstream(
        body: UpstreamBody,
        lease: Lease,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> ResponseBody {
        ResponseBody::Upstream {
            body,
            lease: Some(lease),
            deadline,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Sealed(r) => Poll::Ready(r.take().map(|r| Ok(Frame::data(r.bytes)))),
            ResponseBody::Upstream {
                body,
                lease,
                deadline,
            } => {
                if let Some(d) = deadline
                    && d.as_mut().poll(cx).is_ready()
                {
                    if let Some(l) = lease.take() {
                        l.release(false);
                    }
                    return Poll::Ready(Some(Err(BodyError::Timeout)));
                }
                let polled = Pin::new(&mut *body).poll_frame(cx);
                match &polled {
                    Poll::Ready(None) => {
                        if let Some(mut l) = lease.take() {
                            if let Some(conn) = body.take_reusable() {
                                l.hold(conn);
                            }
                            l.release(true);
                        }
                    }
                    Poll::Ready(Some(Err(_))) => {
                        if let Some(l) = lease.take() {
                            l.release(false);
                        }
                    }
                    _ => {}
                }
                polled
            }
            ResponseBody::Recorded(r) => {
                let polled = Pin::new(&mut r.body).poll_frame(cx);
                match &polled {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(rec) = r.record.as_mut() {
                            if let Some(data) = frame.data_ref() {
                                rec.response_bytes += data.len() as u64;
                            } else if let Some(trailers) = frame.trailers_ref() {
                                rec.grpc_status = grpc_status(trailers).or(rec.grpc_status);
                            }
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        if let (BodyError::Timeout, Some(rec)) = (e, r.record.as_mut()) {
                            rec.flags.insert(ResponseFlags::UPSTREAM_REQUEST_TIMEOUT);
                        }
                        r.finish();
                    }
                    Poll::Ready(None) => r.finish(),
                    Poll::Pending => {}
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Sealed(r) => r.is_none(),
            ResponseBody::Upstream { body, .. } => body.is_end_stream(),
            ResponseBody::Recorded(r) => r.body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ResponseBody::Sealed(r) => {
                SizeHint::with_exact(r.as_ref().map_or(0, |r| r.bytes.len() as u64))
            }
            ResponseBody::Upstream { body, .. } => body.size_hint(),
            ResponseBody::Recorded(r) => r.body.size_hint(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let ResponseBody::Upstream { body, lease, .. } = self
            && let Some(mut l) = lease.take()
        {
            // A body never polled because it was empty still leaves a reusable connection;
            // one dropped half-way does not.
            let ended = body.is_end_stream();
            if ended && let Some(conn) = body.take_reusable() {
                l.hold(conn);
            }
            l.release(ended);
        }
    }
}
