//! Write coalescing for the connections hyper serves (HTTP/2 above all).
//!
//! The `h2` crate writes a DATA frame of 256 bytes or more straight from its payload with
//! vectored I/O, and flushes before it buffers the next frame: every such response is one
//! system call, however many are ready together (measured: one `writev` per response at 100
//! concurrent streams on one connection). Behind [`Coalesce`], `h2` sees a stream without
//! vectored writes, so it copies payloads under 1 KiB into its own buffer and writes many
//! frames at once; the few bytes it then writes separately (a frame head before a large
//! payload) wait here and leave with that payload in one vectored write. Everything buffered
//! is written on `poll_flush`, which `h2`, hyper's HTTP/1.1 and tunnels all call when they
//! have nothing more to send, so nothing is delayed past the point the writer asked for.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes smaller than this are buffered; larger ones go out at once (with what is buffered,
/// in one vectored write).
const SMALL: usize = 4 * 1024;

/// The most bytes buffered before a write is forced.
const LIMIT: usize = 16 * 1024;

/// A stream whose small writes are gathered until the next flush or a large write.
#[derive(Debug)]
pub(crate) struct Coalesce<I> {
    io: I,
    buf: Vec<u8>,
}

impl<I> Coalesce<I> {
    pub(crate) fn new(io: I) -> Coalesce<I> {
        Coalesce {
            io,
            buf: Vec::new(),
        }
    }
}

impl<I: AsyncWrite + Unpin> Coalesce<I> {
    /// Writes out what is buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut done = 0;
        let result = loop {
            if done == self.buf.len() {
                break Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.io).poll_write(cx, &self.buf[done..]) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => done += n,
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        self.buf.drain(..done);
        result
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Coalesce<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Coalesce<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.len() < SMALL && this.buf.len() + data.len() <= LIMIT {
            this.buf.extend_from_slice(data);
            return Poll::Ready(Ok(data.len()));
        }
        // What is buffered goes first, with as much of `data` as the socket takes.
        while !this.buf.is_empty() {
            let slices = [IoSlice::new(&this.buf), IoSlice::new(data)];
            let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, &slices))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if n >= this.buf.len() {
                let of_data = n - this.buf.len();
                this.buf.clear();
                if of_data > 0 {
                    return Poll::Ready(Ok(of_data));
                }
            } else {
                this.buf.drain(..n);
            }
        }
        if data.len() < SMALL {
            this.buf.extend_from_slice(data);
            return Poll::Ready(Ok(data.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, data)
    }

    /// Reported as not vectored, so `h2` copies small payloads into one buffer instead of
    /// writing each from where it lies (see the module's documentation).
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stream that records each write it receives (as one system call would be).
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
        /// At most this many bytes accepted per write (a full socket buffer).
        accept: Option<usize>,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let n = this.accept.map_or(data.len(), |a| a.min(data.len()));
            this.writes.push(data[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let n = this.accept.map_or(all.len(), |a| a.min(all.len()));
            this.writes.push(all[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn small_writes_leave_together_on_flush() {
        let mut c = Coalesce::new(Recorder::default());
        for part in [&b"frame one"[..], b"frame two", b"frame three"] {
            c.write_all(part).await.unwrap();
        }
        assert!(c.io.writes.is_empty(), "nothing written before the flush");
        c.flush().await.unwrap();
        assert_eq!(c.io.writes, vec![b"frame oneframe twoframe three".to_vec()]);
    }

    #[tokio::test]
    async fn a_large_write_takes_the_buffered_head_along() {
        let mut c = Coalesce::new(Recorder::default());
        let payload = vec![7u8; 3 * SMALL];
        c.write_all(b"head").await.unwrap();
        c.write_all(&payload).await.unwrap();
        c.flush().await.unwrap();
        let mut expected = b"head".to_vec();
        expected.extend_from_slice(&payload);
        assert_eq!(c.io.writes, vec![expected]);
    }

    #[tokio::test]
    async fn partial_writes_keep_every_byte_in_order() {
        let mut c = Coalesce::new(Recorder {
            accept: Some(5),
            ..Recorder::default()
        });
        let mut sent = Vec::new();
        for i in 0..50u8 {
            let part = vec![i; usize::from(i) * 300];
            c.write_all(&part).await.unwrap();
            sent.extend_from_slice(&part);
        }
        c.shutdown().await.unwrap();
        let got: Vec<u8> = c.io.writes.concat();
        assert_eq!(got, sent);
        assert!(c.io.writes.iter().all(|w| w.len() <= 5));
    }

    #[tokio::test]
    async fn the_buffer_is_bounded_without_a_flush() {
        let mut c = Coalesce::new(Recorder::default());
        for _ in 0..100 {
            c.write_all(&[1u8; 1000]).await.unwrap();
            assert!(c.buf.len() <= LIMIT);
        }
        assert!(!c.io.writes.is_empty(), "a full buffer was written out");
    }

    #[tokio::test]
    async fn reads_pass_through() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut c = Coalesce::new(a);
        b.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        c.write_all(b"pong").await.unwrap();
        c.flush().await.unwrap();
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
    }
}
