//! Body types without boxing: what the proxy sends upstream and what it answers downstream.
//! Upstream bodies stream frame by frame (trailers included) and hand their connection back
//! to the pool when they end.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::pool::Lease;

/// Why a response body stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The upstream connection failed mid-body.
    #[error(transparent)]
    Upstream(#[from] hyper::Error),
    /// The route timeout elapsed before the body ended (Envoy's route timeout covers the
    /// whole response).
    #[error("upstream request timeout")]
    Timeout,
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
        body: Incoming,
        /// The connection and the endpoint's active-request slot.
        lease: Option<Lease>,
        /// The route timeout's deadline, when the route has one.
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    },
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
}

impl ResponseBody {
    /// A streamed upstream body.
    pub fn upstream(
        body: Incoming,
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
                let polled = Pin::new(body).poll_frame(cx).map_err(BodyError::from);
                match &polled {
                    Poll::Ready(None) => {
                        if let Some(l) = lease.take() {
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Upstream { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ResponseBody::Upstream { body, .. } => body.size_hint(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let ResponseBody::Upstream { body, lease, .. } = self
            && let Some(l) = lease.take()
        {
            // A body hyper never polled because it was empty still leaves a reusable
            // connection; one dropped half-way does not.
            l.release(body.is_end_stream());
        }
    }
}
