//! Compressed requests and responses, as DynamoDB serves them.
//!
//! * A request body may arrive with `Content-Encoding: gzip` (concatenated members allowed)
//!   or `deflate` (one zlib stream, nothing after it), as the SDKs' request compression sends
//!   it. The signature covers the bytes as sent; the body is decoded after it is checked, and
//!   the decoded size is held to the same 16 MB limit (413), so a tiny compressed body cannot
//!   expand without bound. An unknown coding or a body that does not decode is a 500
//!   `InternalServerError`, which is what DynamoDB answers.
//! * A response over 4 KiB is compressed with gzip or deflate when `Accept-Encoding` asks for
//!   one of them, chosen the way DynamoDB reads that header (see [`accepted`]).

use std::io::Read as _;

use bytes::Bytes;
use http::HeaderMap;

use super::error::Error;

/// Responses larger than this are compressed when the client accepts it.
pub const RESPONSE_THRESHOLD: usize = 4096;

/// A content coding DynamoDB serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// gzip (RFC 1952).
    Gzip,
    /// zlib-wrapped deflate (RFC 1950), what HTTP calls `deflate`.
    Deflate,
}

impl Coding {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
        }
    }
}

/// Decodes a request body by its `Content-Encoding`; `limit` bounds the decoded size.
pub fn decode_request(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, Error> {
    let mut codings = Vec::new();
    for value in headers.get_all(http::header::CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| Error::Internal("unsupported Content-Encoding".into()))?;
        codings.extend(
            value
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty()),
        );
    }
    let mut body = body;
    // Codings are listed in the order they were applied; undo them last to first.
    for coding in codings.iter().rev() {
        body = match coding.as_str() {
            "identity" => body,
            "gzip" => gunzip(&body, limit)?,
            "deflate" => inflate(&body, limit)?,
            other => {
                return Err(Error::Internal(format!(
                    "unsupported Content-Encoding: {other}"
                )));
            }
        };
    }
    Ok(body)
}

/// Reads at most `limit` decoded bytes; one more means the request is too large.
fn read_limited(reader: impl std::io::Read, limit: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| Error::Internal(format!("the request body could not be decoded: {e}")))?;
    if out.len() > limit {
        return Err(Error::RequestTooLarge);
    }
    Ok(out)
}

fn gunzip(body: &[u8], limit: usize) -> Result<Bytes, Error> {
    if body.is_empty() {
        return Err(Error::Internal(
            "the request body is not valid gzip: it is empty".into(),
        ));
    }
    // A gzip body may hold several members one after another (RFC 1952 2.2); anything after
    // the last member that is not another member is an error.
    read_limited(flate2::bufread::MultiGzDecoder::new(body), limit).map(Bytes::from)
}

fn inflate(body: &[u8], limit: usize) -> Result<Bytes, Error> {
    let mut decoder = flate2::bufread::ZlibDecoder::new(body);
    let out = read_limited(&mut decoder, limit)?;
    if decoder.total_in() == 0 || !decoder.into_inner().is_empty() {
        return Err(Error::Internal(
            "the request body is not one valid deflate stream".into(),
        ));
    }
    Ok(Bytes::from(out))
}

/// The coding a response gets for the request's `Accept-Encoding`, read as DynamoDB reads
/// it, except that several `Accept-Encoding` headers are combined as RFC 9110 says (DynamoDB
/// reads only the first): entries are split at commas; an entry's coding is what
/// precedes its first `;`, trimmed and compared without case (so `"gzip"` quoted, `x-gzip`
/// or `gzip br` name nothing served); its weight is the value after the first `q=` in its
/// parameters (trimmed; a value that is not a number counts as 1, above 1 as 1, below 0 as
/// 0); a coding listed several times takes its highest weight; `*` gives its weight to a
/// coding not listed. The highest positive weight wins; among equals, a listed coding in the
/// order listed, then gzip before deflate.
pub fn accepted(headers: &HeaderMap) -> Option<Coding> {
    let values: Vec<&str> = headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    let header = values.join(",");
    let mut listed: [Option<(f64, usize)>; 2] = [None, None];
    let mut star: Option<f64> = None;
    for (position, entry) in header.split(',').enumerate() {
        let (coding, params) = entry.split_once(';').unwrap_or((entry, ""));
        let q = params.find("q=").map_or(1.0, |at| {
            let value = params[at + 2..].split(';').next().unwrap_or("").trim();
            match value.parse::<f64>() {
                Ok(q) if q.is_nan() => 1.0,
                Ok(q) => q.clamp(0.0, 1.0),
                Err(_) => 1.0,
            }
        });
        let slot = match coding.trim().to_ascii_lowercase().as_str() {
            "gzip" => 0,
            "deflate" => 1,
            "*" => {
                star = Some(star.map_or(q, |s: f64| s.max(q)));
                continue;
            }
            _ => continue,
        };
        listed[slot] = Some(match listed[slot] {
            Some((best, first)) => (best.max(q), first),
            None => (q, position),
        });
    }
    let candidates = [Coding::Gzip, Coding::Deflate]
        .into_iter()
        .enumerate()
        .filter_map(|(slot, coding)| {
            let (q, rank) = match listed[slot] {
                Some((q, position)) => (q, position),
                None => (star?, usize::MAX - 1 + slot),
            };
            (q > 0.0).then_some((q, rank, coding))
        });
    candidates
        .reduce(|a, b| {
            if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
                b
            } else {
                a
            }
        })
        .map(|(_, _, coding)| coding)
}

/// Compresses a response body.
pub fn compress(coding: Coding, body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let level = flate2::Compression::default();
    match coding {
        Coding::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), level);
            w.write_all(body)?;
            w.finish()
        }
        Coding::Deflate => {
            let mut w = flate2::write::ZlibEncoder::new(Vec::with_capacity(body.len() / 4), level);
            w.write_all(body)?;
            w.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn accept(value: &str) -> Option<&'static str> {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT_ENCODING, value.parse().unwrap());
        accepted(&h).map(Coding::as_str)
    }

    /// The cases of DynamoDB's behaviour that ScyllaDB's test suite records.
    #[test]
    fn accept_encoding_is_read_as_dynamodb_reads_it() {
        let cases: &[(&str, Option<&str>)] = &[
            ("gzip", Some("gzip")),
            ("deflate", Some("deflate")),
            ("identity", None),
            ("", None),
            ("br", None),
            ("x-gzip", None),
            ("gzip, deflate", Some("gzip")),
            ("br, identity, deflate, gzip", Some("deflate")),
            ("GZIP, identity", Some("gzip")),
            ("gzip;q=0.8, deflate;q=0.5", Some("gzip")),
            (
                "br, gzip;q=0, deflate; q = 0.5 , identity;q=0",
                Some("deflate"),
            ),
            ("*", Some("gzip")),
            ("*, deflate;q=0.5", Some("gzip")),
            ("*, deflate", Some("deflate")),
            ("*, identity", Some("gzip")),
            ("*, gzip;q=0.5", Some("deflate")),
            ("gzip ;q=0", None),
            ("identity;q=0", None),
            ("*;q=0", None),
            ("*;q=0.5,identity", Some("gzip")),
            ("gzip;q=0.5,identity;q=0.8", Some("gzip")),
            ("br;q=0.8,identity;q=0.5,*;q=0", None),
            ("\"gzip\"", None),
            ("gzip br", None),
            ("gzip:q=1", None),
            ("deflate;q=0.5, gzip;q=31", Some("gzip")),
            ("gzip;q=31,deflate;q=51", Some("gzip")),
            ("deflate;q=0.5, gzip;q=0.2", Some("deflate")),
            ("deflate;q=0.5, gzip;q=1;q=0.2", Some("gzip")),
            ("deflate;q=0.5,gzip;q=0.", Some("deflate")),
            ("deflate;q=0.5,gzip;q=0.x", Some("gzip")),
            ("deflate;q=0.5,gzip;q=0. x", Some("gzip")),
            ("deflate;q=-0.5,gzip;q=0.2", Some("gzip")),
            ("gzip;q= 0;q=1", None),
            ("gzip;q =0;q=1", Some("gzip")),
            ("gzip; q=0;q=1", None),
            ("gzip;nq=0;q=1", None),
            ("gzip;q=0, gzip;q=1, gzip;q=0", Some("gzip")),
            ("br,identity;q=0.5,gzip;q=0.0001", Some("gzip")),
        ];
        for (header, want) in cases {
            assert_eq!(accept(header), *want, "Accept-Encoding: {header}");
        }
        assert_eq!(accepted(&HeaderMap::new()), None);
        let mut two = HeaderMap::new();
        two.append(http::header::ACCEPT_ENCODING, "identity".parse().unwrap());
        two.append(http::header::ACCEPT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(accepted(&two), Some(Coding::Gzip));
    }

    fn encoded(coding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_ENCODING, coding.parse().unwrap());
        h
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn gzip_bodies_decode_member_by_member_and_junk_is_refused() {
        let mut two = gz(b"{\"a\":");
        two.extend(gz(b"1}"));
        let out = decode_request(&encoded("gzip"), Bytes::from(two.clone()), 1024).unwrap();
        assert_eq!(&out[..], b"{\"a\":1}");
        let mut junk = two;
        junk.extend_from_slice(b"garbage");
        assert!(matches!(
            decode_request(&encoded("gzip"), Bytes::from(junk), 1024),
            Err(Error::Internal(_))
        ));
        let mut cut = gz(b"{\"a\":1}");
        cut.pop();
        assert!(matches!(
            decode_request(&encoded("gzip"), Bytes::from(cut), 1024),
            Err(Error::Internal(_))
        ));
        assert!(matches!(
            decode_request(&encoded("gzip"), Bytes::new(), 1024),
            Err(Error::Internal(_))
        ));
        assert!(matches!(
            decode_request(&encoded("gzip"), Bytes::from_static(b"{}"), 1024),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn the_decoded_size_is_limited_however_small_the_compressed_body() {
        let bomb = gz(&vec![b' '; 64 * 1024]);
        assert!(bomb.len() < 1024);
        assert!(matches!(
            decode_request(&encoded("gzip"), Bytes::from(bomb), 16 * 1024),
            Err(Error::RequestTooLarge)
        ));
    }

    #[test]
    fn deflate_is_one_zlib_stream_and_unknown_codings_fail() {
        let body = compress(Coding::Deflate, b"{\"a\":1}").unwrap();
        let out = decode_request(&encoded("deflate"), Bytes::from(body.clone()), 1024).unwrap();
        assert_eq!(&out[..], b"{\"a\":1}");
        let mut two = body.clone();
        two.extend(body);
        assert!(matches!(
            decode_request(&encoded("deflate"), Bytes::from(two), 1024),
            Err(Error::Internal(_))
        ));
        assert!(matches!(
            decode_request(&encoded("deflate"), Bytes::new(), 1024),
            Err(Error::Internal(_))
        ));
        let err = decode_request(&encoded("garbage"), Bytes::from_static(b"{}"), 1024);
        assert!(matches!(err, Err(Error::Internal(_))));
        let plain = decode_request(&encoded("identity"), Bytes::from_static(b"{}"), 1024);
        assert_eq!(&plain.unwrap()[..], b"{}");
    }
}
