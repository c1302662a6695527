//! Large cached bodies sent with `sendfile(2)`: on a plain TCP connection the response head
//! goes out with `MSG_MORE` (so it leaves in the same segment as the first body bytes) and
//! the body straight from its sealed file ([`crate::sealed`]), the kernel taking the file's
//! pages instead of a copy of them from user memory.

use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _};

use nix::sys::socket::{MsgFlags, send};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::body::FileRegion;
use crate::rewind::Rewind;

/// What the HTTP/1.1 server may do with the TCP socket under a client stream: send it file
/// bytes when what is written reaches the client as it is (not through TLS), and wait on its
/// readiness while idle when nothing is buffered above it.
pub(crate) trait FileSink {
    /// The socket, when file bytes may be sent on it.
    fn tcp(&self) -> Option<&TcpStream>;

    /// The socket, when its readiness says whether the stream has bytes to read (nothing
    /// buffered above it): an idle connection then waits for it without a read buffer.
    fn idle_socket(&self) -> Option<&TcpStream> {
        None
    }
}

impl FileSink for TcpStream {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }

    fn idle_socket(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl<I: FileSink> FileSink for Rewind<I> {
    fn tcp(&self) -> Option<&TcpStream> {
        // The bytes read again are on the read side only; writes go to the stream itself.
        self.get_ref().tcp()
    }
}

impl<I> FileSink for tokio_rustls::server::TlsStream<I> {
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// Writes `head`, then the region's bytes from its file.
pub(crate) async fn send_file(
    sock: &TcpStream,
    head: &[u8],
    region: &FileRegion,
) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    // nix names no `MSG_MORE`; the flag is libc's.
    let more = MsgFlags::from_bits_retain(nix::libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL;
    let mut head = head;
    while !head.is_empty() {
        let n = write_with(sock, &mut || send(fd, head, more)).await?;
        head = &head[n..];
    }
    // `sendfile` takes no `MSG_NOSIGNAL`: a client gone mid-body gives `EPIPE` because Rust
    // programs start with `SIGPIPE` ignored (and nothing in Meridian restores it).
    let file = region.file.fd();
    let mut offset = i64::try_from(region.offset).map_err(io::Error::other)?;
    let end = offset + i64::try_from(region.bytes.len()).map_err(io::Error::other)?;
    while offset < end {
        let count = usize::try_from(end - offset).map_err(io::Error::other)?;
        let n = write_with(sock, &mut || {
            nix::sys::sendfile::sendfile64(sock.as_fd(), file, Some(&mut offset), count)
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// Runs a non-blocking write when the socket is writable, waiting for it as often as the
/// write would block.
async fn write_with(
    sock: &TcpStream,
    write: &mut (dyn FnMut() -> nix::Result<usize> + Send),
) -> io::Result<usize> {
    loop {
        match sock.try_io(Interest::WRITABLE, || write().map_err(io::Error::from)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => sock.writable().await?,
            done => return done,
        }
    }
}
