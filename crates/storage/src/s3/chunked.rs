//! The `aws-chunked` content encoding, decoded as it streams.
//!
//! ```text
//! body    = *chunk last-chunk *trailer CRLF
//! chunk   = hex-size [";chunk-signature=" hex-sig] CRLF data CRLF
//! last    = "0" [";chunk-signature=" hex-sig] CRLF
//! trailer = name ":" value CRLF          (x-amz-checksum-*, x-amz-trailer-signature)
//! ```
//!
//! A strict, bounded state machine: lines end in CRLF, a size line holds at most 16 hex
//! digits and one `chunk-signature` extension, at most 4 KiB per line and 16 trailer lines,
//! nothing after the final empty line. It never buffers a chunk's data: data is handed out as
//! it arrives, and the caller hashes it for the chunk's signature, which it checks at
//! [`Item::ChunkEnd`]. Input may be split anywhere.

use bytes::{Bytes, BytesMut};

const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16;

/// Why a body is not valid `aws-chunked`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A size line that is not `hex[;chunk-signature=sig]`.
    #[error("invalid chunk header: {0}")]
    Header(String),
    /// A line longer than the bound, or too many trailers.
    #[error("chunk header or trailer too long")]
    TooLong,
    /// Data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
    /// A trailer line without `:`.
    #[error("invalid trailer: {0}")]
    Trailer(String),
    /// Bytes after the end of the body.
    #[error("data after the final chunk")]
    Trailing,
    /// The body ended inside a chunk.
    #[error("the body ended before its final chunk")]
    Truncated,
}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A chunk starts (size 0 is the last chunk).
    ChunkStart {
        /// Its data length.
        size: u64,
        /// Its `chunk-signature`, when signed.
        signature: Option<String>,
    },
    /// Some of the current chunk's data.
    Data(Bytes),
    /// The current chunk's data is complete.
    ChunkEnd,
    /// A trailer header (lower-case name).
    Trailer(String, String),
    /// The body is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataCrlf,
    Trailers(usize),
    Done,
}

/// The decoder.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    state: State,
    pending_end: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            state: State::Size,
            pending_end: false,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether the final empty line was read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes a CRLF-terminated line, without its CRLF; `None` when it has not arrived.
    fn line(&mut self) -> Result<Option<BytesMut>, ChunkError> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(i) if i > MAX_LINE => Err(ChunkError::TooLong),
            Some(i) => {
                let line = self.buf.split_to(i);
                let _ = self.buf.split_to(2);
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE + 1 => Err(ChunkError::TooLong),
            None => Ok(None),
        }
    }

    /// The next item from the bytes pushed so far; `Ok(None)` when more input is needed.
    pub fn poll_item(&mut self) -> Result<Option<Item>, ChunkError> {
        if self.pending_end {
            self.pending_end = false;
            self.state = State::Trailers(0);
            return Ok(Some(Item::ChunkEnd));
        }
        match self.state {
            State::Size => {
                let Some(line) = self.line()? else {
                    return Ok(None);
                };
                let (size, signature) = parse_size(&line)?;
                if size == 0 {
                    self.pending_end = true;
                } else {
                    self.state = State::Data(size);
                }
                Ok(Some(Item::ChunkStart { size, signature }))
            }
            State::Data(left) => {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                let data = self.buf.split_to(n).freeze();
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCrlf
                } else {
                    State::Data(left)
                };
                Ok(Some(Item::Data(data)))
            }
            State::DataCrlf => {
                if self.buf.len() < 2 {
                    return Ok(None);
                }
                if &self.buf[..2] != b"\r\n" {
                    return Err(ChunkError::MissingCrlf);
                }
                let _ = self.buf.split_to(2);
                self.state = State::Size;
                Ok(Some(Item::ChunkEnd))
            }
            State::Trailers(n) => {
                let Some(line) = self.line()? else {
                    return Ok(None);
                };
                if line.is_empty() {
                    self.state = State::Done;
                    if !self.buf.is_empty() {
                        return Err(ChunkError::Trailing);
                    }
                    return Ok(Some(Item::End));
                }
                if n >= MAX_TRAILERS {
                    return Err(ChunkError::TooLong);
                }
                let text = std::str::from_utf8(&line)
                    .map_err(|_| ChunkError::Trailer(String::from_utf8_lossy(&line).into()))?;
                let Some((name, value)) = text.split_once(':') else {
                    return Err(ChunkError::Trailer(text.to_owned()));
                };
                self.state = State::Trailers(n + 1);
                Ok(Some(Item::Trailer(
                    name.trim().to_ascii_lowercase(),
                    value.trim().to_owned(),
                )))
            }
            State::Done => {
                if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ChunkError::Trailing)
                }
            }
        }
    }

    /// Called at the end of the input: the body must be complete.
    pub fn finish(&self) -> Result<(), ChunkError> {
        if self.state == State::Done && self.buf.is_empty() {
            Ok(())
        } else {
            Err(ChunkError::Truncated)
        }
    }
}

fn parse_size(line: &[u8]) -> Result<(u64, Option<String>), ChunkError> {
    let bad = || ChunkError::Header(String::from_utf8_lossy(line).into_owned());
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let (size, ext) = match text.split_once(';') {
        Some((s, e)) => (s, Some(e)),
        None => (text, None),
    };
    if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let size = u64::from_str_radix(size, 16).map_err(|_| bad())?;
    let signature = match ext {
        None => None,
        Some(e) => {
            let sig = e.strip_prefix("chunk-signature=").ok_or_else(bad)?;
            if sig.is_empty() || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            Some(sig.to_owned())
        }
    };
    Ok((size, signature))
}

/// A whole decoded body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The data.
    pub data: Vec<u8>,
    /// The trailers.
    pub trailers: Vec<(String, String)>,
    /// The chunk signatures, in order.
    pub signatures: Vec<String>,
}

/// Decodes a whole body fed `split` bytes at a time (for tests and the fuzz target).
pub fn decode_all(body: &[u8], split: usize) -> Result<Decoded, ChunkError> {
    let mut d = Decoder::new();
    let (mut data, mut trailers, mut sigs) = (Vec::new(), Vec::new(), Vec::new());
    let step = split.max(1);
    let mut fed = 0;
    loop {
        match d.poll_item()? {
            Some(Item::ChunkStart { signature, .. }) => sigs.extend(signature),
            Some(Item::Data(b)) => data.extend_from_slice(&b),
            Some(Item::Trailer(k, v)) => trailers.push((k, v)),
            Some(Item::ChunkEnd | Item::End) => {}
            None if fed < body.len() => {
                let end = (fed + step).min(body.len());
                d.push(&body[fed..end]);
                fed = end;
            }
            None => break,
        }
    }
    d.finish()?;
    Ok(Decoded {
        data,
        trailers,
        signatures: sigs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_unsigned_with_a_trailer_split_anywhere() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for split in 1..body.len() {
            let d = decode_all(body, split).unwrap();
            assert_eq!(d.data, b"hello world");
            assert_eq!(
                d.trailers,
                [("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
            );
            assert!(d.signatures.is_empty());
        }
    }

    #[test]
    fn decodes_signed_chunks() {
        let body = b"3;chunk-signature=ab12\r\nabc\r\n0;chunk-signature=cd34\r\n\r\n";
        let d = decode_all(body, 7).unwrap();
        assert_eq!(d.data, b"abc");
        assert!(d.trailers.is_empty());
        assert_eq!(d.signatures, ["ab12", "cd34"]);
    }

    #[test]
    fn refuses_malformed_bodies() {
        for (body, want) in [
            (&b"3\r\nabcd\r\n0\r\n\r\n"[..], ChunkError::MissingCrlf),
            (b"zz\r\nab\r\n", ChunkError::Header("zz".into())),
            (
                b"3;foo=bar\r\nabc\r\n",
                ChunkError::Header("3;foo=bar".into()),
            ),
            (b"0\r\n\r\nextra", ChunkError::Trailing),
            (b"3\r\nab", ChunkError::Truncated),
            (
                b"0\r\nnocolon\r\n\r\n",
                ChunkError::Trailer("nocolon".into()),
            ),
            (
                b"11111111111111111\r\n",
                ChunkError::Header("11111111111111111".into()),
            ),
        ] {
            assert_eq!(decode_all(body, 1000).unwrap_err(), want, "{body:?}");
        }
        let long = vec![b'1'; MAX_LINE + 10];
        assert_eq!(decode_all(&long, 10_000).unwrap_err(), ChunkError::TooLong);
    }
}
