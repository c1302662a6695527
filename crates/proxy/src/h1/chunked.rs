//! The chunked transfer coding (RFC 9112 §7.1), decoded strictly: hexadecimal sizes without
//! overflow, CRLF line ends (a bare LF is refused, so no peer can frame differently from us),
//! extensions skipped within a bound, trailer fields parsed. Bodies are re-encoded by the
//! proxy with its own chunk lines, so nothing unusual a peer sent in the framing reaches the
//! other side.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// The longest chunk-size line (size and extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;

/// The largest trailer section accepted.
const MAX_TRAILERS: usize = 16 * 1024;

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, with this many bytes left.
    Data(u64),
    /// Expecting the CRLF that ends chunk data.
    DataEnd,
    /// After the last chunk: trailer fields, then the final CRLF.
    Trailers,
    /// The body ended.
    Done,
}

/// What the decoder found next.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Chunk data (a slice of the read buffer, not a copy).
    Data(Bytes),
    /// The body ended, with these trailer fields (empty when there were none).
    End(HeaderMap),
    /// More bytes are needed.
    NeedMore,
}

/// A framing error (the connection cannot be used any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked body: {0}")]
pub(crate) struct ChunkError(pub(crate) &'static str);

/// A decoder over a read buffer that it consumes.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { state: State::Size }
    }
}

impl Decoder {
    /// Decodes what `buf` holds, consuming it: data, the end, or a request for more.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Chunk, ChunkError> {
        loop {
            match self.state {
                State::Done => return Ok(Chunk::End(HeaderMap::new())),
                State::Size => {
                    let Some(lf) = buf.iter().take(MAX_SIZE_LINE + 1).position(|b| *b == b'\n')
                    else {
                        if buf.len() > MAX_SIZE_LINE {
                            return Err(ChunkError("chunk-size line too long"));
                        }
                        return Ok(Chunk::NeedMore);
                    };
                    let size = size_line(&buf[..lf])?;
                    let _ = buf.split_to(lf + 1);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Chunk::NeedMore);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let rest = left - n as u64;
                    self.state = if rest == 0 {
                        State::DataEnd
                    } else {
                        State::Data(rest)
                    };
                    return Ok(Chunk::Data(buf.split_to(n).freeze()));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|b| *b != b'\r') {
                            return Err(ChunkError("chunk data not followed by crlf"));
                        }
                        return Ok(Chunk::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkError("chunk data not followed by crlf"));
                    }
                    let _ = buf.split_to(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    if buf.len() >= 2 && &buf[..2] == b"\r\n" {
                        let _ = buf.split_to(2);
                        self.state = State::Done;
                        return Ok(Chunk::End(HeaderMap::new()));
                    }
                    let scan = &buf[..buf.len().min(MAX_TRAILERS + 4)];
                    let end = scan.windows(4).position(|w| w == b"\r\n\r\n");
                    // Only the section itself is looked at: what follows is not ours.
                    let section = &scan[..end.map_or(scan.len(), |e| e + 4)];
                    if section
                        .iter()
                        .enumerate()
                        .any(|(i, b)| *b == b'\n' && (i == 0 || section[i - 1] != b'\r'))
                    {
                        return Err(ChunkError("bare line feed in trailers"));
                    }
                    let Some(end) = end else {
                        if buf.len() > MAX_TRAILERS {
                            return Err(ChunkError("trailer section too large"));
                        }
                        return Ok(Chunk::NeedMore);
                    };
                    let section = buf.split_to(end + 4);
                    self.state = State::Done;
                    return Ok(Chunk::End(trailers(&section)?));
                }
            }
        }
    }
}

/// A chunk-size line without its LF: hex digits, optional extensions, then CR.
fn size_line(line: &[u8]) -> Result<u64, ChunkError> {
    let Some(line) = line.strip_suffix(b"\r") else {
        return Err(ChunkError("chunk-size line not ended by crlf"));
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkError("missing chunk size"));
    }
    let significant = line[..digits].iter().skip_while(|b| **b == b'0').count();
    if significant > 16 {
        return Err(ChunkError("chunk size overflows"));
    }
    let size = line[..digits].iter().fold(0u64, |n, d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d - b'A' + 10,
        };
        (n << 4) | u64::from(v)
    });
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): skipped, but only
    // visible characters, spaces and tabs may appear, and it must start with `;`.
    let ext = &line[digits..];
    let ext_start = ext.iter().position(|b| *b != b' ' && *b != b'\t');
    if let Some(i) = ext_start
        && ext[i] != b';'
    {
        return Err(ChunkError("invalid chunk extension"));
    }
    if ext.iter().any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f) {
        return Err(ChunkError("control character in chunk extension"));
    }
    Ok(size)
}

fn trailers(section: &[u8]) -> Result<HeaderMap, ChunkError> {
    let mut raw = [httparse::EMPTY_HEADER; 32];
    match httparse::parse_headers(section, &mut raw) {
        Ok(httparse::Status::Complete((_, fields))) => {
            let mut map = HeaderMap::with_capacity(fields.len());
            for f in fields {
                let name = HeaderName::from_bytes(f.name.as_bytes())
                    .map_err(|_| ChunkError("invalid trailer name"))?;
                let value = HeaderValue::from_bytes(f.value)
                    .map_err(|_| ChunkError("invalid trailer value"))?;
                map.append(name, value);
            }
            Ok(map)
        }
        _ => Err(ChunkError("malformed trailers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    /// Decodes `input` fed in pieces of `step` bytes; returns the data and the trailers.
    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, HeaderMap), ChunkError> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut fed = 0;
        loop {
            match d.decode(&mut buf)? {
                Chunk::Data(b) => data.extend_from_slice(&b),
                Chunk::End(t) => return Ok((data, t)),
                Chunk::NeedMore => {
                    if fed >= input.len() {
                        return Err(ChunkError("truncated"));
                    }
                    let n = step.min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn chunks_and_trailers_decode_in_any_pieces() {
        let body = b"5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\ngrpc-status: 0\r\n\r\n";
        for step in [1, 2, 3, 7, 64] {
            let (data, trailers) = decode_all(body, step).unwrap();
            assert_eq!(data, b"hello, world");
            assert_eq!(trailers["grpc-status"], "0");
        }
        let (data, trailers) = decode_all(b"A\r\n0123456789\r\n000\r\n\r\n", 4).unwrap();
        assert_eq!(data.len(), 10);
        assert!(trailers.is_empty());
    }

    #[test_case(b"5\nhello\r\n0\r\n\r\n" ; "bare lf after size")]
    #[test_case(b"5\r\nhello\n0\r\n\r\n" ; "bare lf after data")]
    #[test_case(b"5\r\nhelloXX0\r\n\r\n" ; "data longer than its size")]
    #[test_case(b"\r\nhello\r\n0\r\n\r\n" ; "missing size")]
    #[test_case(b"-5\r\nhello\r\n0\r\n\r\n" ; "negative size")]
    #[test_case(b"5 x\r\nhello\r\n0\r\n\r\n" ; "junk after size")]
    #[test_case(b"5;a\x01\r\nhello\r\n0\r\n\r\n" ; "control in extension")]
    #[test_case(b"10000000000000000\r\n" ; "size overflows 64 bits")]
    #[test_case(b"0\r\nx: y\n\r\n" ; "bare lf in trailers")]
    fn framing_errors_are_refused(input: &[u8]) {
        assert!(decode_all(input, 1).is_err());
        // Refused as soon as the bytes are there, not at the end of the stream.
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(input);
        let mut result = d.decode(&mut buf);
        while let Ok(Chunk::Data(_)) = result {
            result = d.decode(&mut buf);
        }
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn leading_zeros_do_not_overflow() {
        let (data, _) = decode_all(b"00000000000000000001\r\nx\r\n0\r\n\r\n", 5).unwrap();
        assert_eq!(data, b"x");
    }
}
