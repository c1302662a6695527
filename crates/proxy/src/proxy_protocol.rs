//! The PROXY protocol (HAProxy's, versions 1 and 2) on gateway listeners whose
//! `gatewayTopology.proxyProtocol` is set: a load balancer in front opens each connection
//! with a header naming the client, which then becomes the connection's downstream address
//! (Envoy's `proxy_protocol` listener filter). A connection without a valid header is
//! refused, as Envoy refuses it: trusting the peer instead would let a client that reaches
//! the gateway directly pose as the load balancer's clients.
//!
//! The header is read with ordinary reads (it may share a segment with the first request),
//! bounded in size and in time; the bytes after it are handed on with the connection.

use std::io;
use std::net::{IpAddr, SocketAddr};

use bytes::{Bytes, BytesMut};
use ppp::{HeaderResult, PartialResult};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest header accepted: a v1 header is at most 107 bytes; v2 headers carry TLVs,
/// which real load balancers keep well under this.
const MAX_HEADER: usize = 4096;

/// What a PROXY header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The client's address.
    Client(SocketAddr),
    /// `LOCAL` (v2) or `UNKNOWN` (v1): the sender speaks for itself (health checks); the
    /// connection's own address stands.
    Local,
}

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    #[error("no PROXY protocol header: {0}")]
    Invalid(String),
    #[error("PROXY protocol header longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("connection closed before the PROXY protocol header ended")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads a PROXY header from the start of `io`; returns what it says and the bytes that
/// followed it.
pub(crate) async fn read<I: AsyncRead + Unpin>(
    io: &mut I,
) -> Result<(Source, Bytes), ProxyHeaderError> {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        if buf.len() >= MAX_HEADER {
            return Err(ProxyHeaderError::TooLong);
        }
        buf.reserve(256);
        let n = io.read_buf(&mut buf).await?;
        let parsed = parse(&buf);
        match parsed {
            Ok(Some((source, len))) => {
                let rest = buf.split_off(len).freeze();
                return Ok((source, rest));
            }
            Ok(None) if n == 0 => return Err(ProxyHeaderError::Closed),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Parses a complete header at the start of `bytes`: what it says and its length; `None`
/// while more bytes could complete it.
pub(crate) fn parse_prefix(bytes: &[u8]) -> Result<Option<(Source, usize)>, ProxyHeaderError> {
    if bytes.len() > MAX_HEADER {
        return parse(&bytes[..MAX_HEADER]);
    }
    parse(bytes)
}

fn parse(bytes: &[u8]) -> Result<Option<(Source, usize)>, ProxyHeaderError> {
    // A v1 header is text up to CRLF (107 bytes at most); until its line ends, a cut address
    // would read as an invalid one.
    let v1_prefix = b"PROXY ";
    let n = bytes.len().min(v1_prefix.len());
    if bytes[..n] == v1_prefix[..n] && !bytes.contains(&b'\n') && bytes.len() < 108 {
        return Ok(None);
    }
    let result = HeaderResult::parse(bytes);
    if result.is_incomplete() {
        return Ok(None);
    }
    match result {
        HeaderResult::V1(Ok(h)) => {
            let len = h.header.len();
            let source = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Source::Client(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Source::Client(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                ppp::v1::Addresses::Unknown => Source::Local,
            };
            Ok(Some((source, len)))
        }
        HeaderResult::V2(Ok(h)) => {
            let len = h.len();
            let source = match (h.command, h.addresses) {
                (ppp::v2::Command::Local, _) => Source::Local,
                (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(a)) => {
                    Source::Client(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(a)) => {
                    Source::Client(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                // A UNIX or unspecified source has no address to stand for the client.
                (ppp::v2::Command::Proxy, _) => Source::Local,
            };
            Ok(Some((source, len)))
        }
        HeaderResult::V1(Err(e)) => Err(ProxyHeaderError::Invalid(e.to_string())),
        HeaderResult::V2(Err(e)) => Err(ProxyHeaderError::Invalid(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
        ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (src, dst),
        )
        .build()
        .expect("header")
    }

    #[tokio::test]
    async fn v1_header_then_the_request() {
        let wire = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\nGET / HTTP/1.1\r\n\r\n".to_vec();
        let (source, rest) = read(&mut wire.as_slice()).await.expect("header");
        assert_eq!(
            source,
            Source::Client("203.0.113.7:51000".parse().expect("addr"))
        );
        assert_eq!(&rest[..], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn v2_header_arriving_in_pieces() {
        let src: SocketAddr = "[2001:db8::7]:4000".parse().expect("addr");
        let mut wire = v2(src, "[2001:db8::1]:443".parse().expect("addr"));
        wire.extend_from_slice(b"\x16\x03\x01");
        let (client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut client = client;
            for chunk in wire.chunks(5) {
                client.write_all(chunk).await.expect("write");
                tokio::task::yield_now().await;
            }
            client
        });
        let (source, rest) = read(&mut server).await.expect("header");
        assert_eq!(source, Source::Client(src));
        // What followed in the last piece is kept.
        assert!(b"\x16\x03\x01".starts_with(&rest));
        drop(writer.await);
    }

    #[tokio::test]
    async fn v1_header_arriving_in_pieces() {
        let wire = b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\nGET".to_vec();
        let (client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut client = client;
            for chunk in wire.chunks(3) {
                client.write_all(chunk).await.expect("write");
                tokio::task::yield_now().await;
            }
            client
        });
        let (source, rest) = read(&mut server).await.expect("header");
        assert_eq!(
            source,
            Source::Client("[2001:db8::7]:4000".parse().expect("addr"))
        );
        assert!(b"GET".starts_with(&rest));
        drop(writer.await);
    }

    #[tokio::test]
    async fn unknown_and_local_leave_the_peer() {
        let (source, _) = read(&mut &b"PROXY UNKNOWN\r\n"[..]).await.expect("header");
        assert_eq!(source, Source::Local);
    }

    #[tokio::test]
    async fn a_request_without_a_header_is_refused() {
        let err = read(&mut &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..])
            .await
            .expect_err("refused");
        assert!(matches!(err, ProxyHeaderError::Invalid(_)), "{err}");
    }

    #[tokio::test]
    async fn an_endless_header_is_refused() {
        let mut wire = b"PROXY TCP4 ".to_vec();
        wire.resize(10 * MAX_HEADER, b'1');
        let err = read(&mut wire.as_slice()).await.expect_err("refused");
        assert!(
            matches!(
                err,
                ProxyHeaderError::TooLong | ProxyHeaderError::Invalid(_)
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_closed_connection_mid_header() {
        let err = read(&mut &b"PROXY TCP4 1.2.3.4"[..])
            .await
            .expect_err("refused");
        assert!(matches!(err, ProxyHeaderError::Closed), "{err}");
    }
}
