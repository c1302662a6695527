//! The HTTP/1.1 codec's properties, checked over arbitrary bytes (the fuzz target
//! `http1_codec` and its regression corpus call [`crate::fuzz::http1_codec`]):
//!
//! * a request or response head parses to the same outcome whole and in two pieces;
//! * a parsed head, written back by the proxy, parses again to the same message;
//! * a chunked body decodes to the same data whole and byte by byte, and re-encoded by the
//!   proxy decodes to the same data again.
//!
//! Any violation panics (so the fuzzer reports it); no input may hang or panic otherwise.

use bytes::BytesMut;
use http::HeaderMap;

use super::chunked::{Chunk, Decoder};
use super::head::{self, RequestParse, Scratch, WireLength};

/// Runs every property over `data`; its first byte picks the split point for the
/// piecewise runs.
pub(crate) fn check(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let split = if data.is_empty() {
        0
    } else {
        usize::from(split) % (data.len() + 1)
    };
    request(data, split);
    response(data, split);
    chunked(data);
}

/// What a request parse came to, comparable across runs.
fn request_outcome(p: &RequestParse) -> String {
    match p {
        RequestParse::Partial => "partial".to_owned(),
        RequestParse::Elsewhere(e) => format!("elsewhere {e:?}"),
        RequestParse::Reject(r) => format!("reject {r:?}"),
        RequestParse::Complete(h) => format!(
            "complete {} {} {:?} {} {} {}",
            h.parts.method,
            h.parts.uri,
            fields(&h.parts.headers),
            h.body_len,
            h.close,
            h.expect_continue
        ),
    }
}

fn fields(h: &HeaderMap) -> Fields {
    h.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

fn request(data: &[u8], split: usize) {
    let limit = 64 * 1024;
    let mut whole = BytesMut::from(data);
    let first = head::parse_request(&mut whole, &mut Scratch::default(), limit);
    // In two pieces: the first piece alone is a prefix, so it is either partial or already
    // decided the same way (a head ending within it).
    let mut piece = BytesMut::from(&data[..split]);
    let early = head::parse_request(&mut piece, &mut Scratch::default(), limit);
    if !matches!(early, RequestParse::Partial) {
        assert_eq!(
            request_outcome(&early),
            request_outcome(&first),
            "prefix decided otherwise"
        );
    } else {
        piece.extend_from_slice(&data[split..]);
        let late = head::parse_request(&mut piece, &mut Scratch::default(), limit);
        assert_eq!(
            request_outcome(&late),
            request_outcome(&first),
            "pieces decided otherwise"
        );
    }
    if let RequestParse::Complete(h) = first {
        assert_eq!(
            &whole[..],
            &data[data.len() - whole.len()..],
            "rest of the buffer"
        );
        let length = if h.body_len > 0 {
            WireLength::Length(h.body_len)
        } else {
            WireLength::None
        };
        let mut out = Vec::new();
        head::write_request_head(
            &mut out,
            &h.parts.method,
            &h.parts.uri,
            &h.parts.headers,
            length,
        );
        let mut again = BytesMut::from(&out[..]);
        match head::parse_request(&mut again, &mut Scratch::default(), limit) {
            RequestParse::Complete(g) => {
                assert_eq!(g.parts.method, h.parts.method);
                assert_eq!(g.parts.uri, h.parts.uri);
                assert_eq!(g.body_len, h.body_len);
                // Framing fields are the writer's own (one normalised Content-Length).
                let unframed = |m: &HeaderMap| {
                    let mut f = fields(m);
                    f.retain(|(n, _)| n != "content-length" && n != "transfer-encoding");
                    f
                };
                assert_eq!(unframed(&g.parts.headers), unframed(&h.parts.headers));
                assert!(again.is_empty());
            }
            other => panic!("a written head did not parse back: {other:?}"),
        }
    }
}

fn response_outcome(p: &Result<Option<head::ResponseHead>, head::ResponseError>) -> String {
    match p {
        Ok(None) => "partial".to_owned(),
        Err(e) => format!("error {e:?}"),
        Ok(Some(h)) => format!(
            "complete {} {:?} {:?} {}",
            h.parts.status,
            fields(&h.parts.headers),
            h.framing,
            h.keep_alive
        ),
    }
}

fn response(data: &[u8], split: usize) {
    for head_request in [false, true] {
        let mut whole = BytesMut::from(data);
        let first = head::parse_response(&mut whole, &mut Scratch::default(), head_request);
        let mut piece = BytesMut::from(&data[..split]);
        let early = head::parse_response(&mut piece, &mut Scratch::default(), head_request);
        if matches!(early, Ok(None)) {
            piece.extend_from_slice(&data[split..]);
            let late = head::parse_response(&mut piece, &mut Scratch::default(), head_request);
            assert_eq!(response_outcome(&late), response_outcome(&first));
        } else {
            assert_eq!(response_outcome(&early), response_outcome(&first));
        }
        // The writer adds a `date` field when there is none: a head at the limits may not
        // have room for it (found by the fuzzer), so the round trip is checked below them.
        let room = |h: &head::ResponseHead| {
            h.parts.headers.len() < head::MAX_HEADERS - 1 && data.len() < head::MAX_HEAD_BYTES - 64
        };
        if let Ok(Some(h)) = first.as_ref().map(|h| h.as_ref().filter(|h| room(h))) {
            let mut out = Vec::new();
            head::write_response_head(
                &mut out,
                h.parts.status,
                &h.parts.headers,
                WireLength::AsIs,
                false,
            );
            let mut again = BytesMut::from(&out[..]);
            match head::parse_response(&mut again, &mut Scratch::default(), true) {
                Ok(Some(g)) => {
                    assert_eq!(g.parts.status, h.parts.status);
                    // The writer adds a date when there was none.
                    let mut theirs = fields(&g.parts.headers);
                    if !h.parts.headers.contains_key(http::header::DATE) {
                        theirs.retain(|(n, _)| n != "date");
                    }
                    assert_eq!(theirs, fields(&h.parts.headers));
                }
                other => panic!("a written response head did not parse back: {other:?}"),
            }
        }
    }
}

/// Header fields as comparable pairs.
type Fields = Vec<(String, Vec<u8>)>;

/// Decodes a chunked body fed `step` bytes at a time: its data, trailers, and whether it
/// ended, failed or wants more.
fn decode(data: &[u8], step: usize) -> (Vec<u8>, Option<Fields>, String) {
    let mut d = Decoder::default();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut out = Vec::new();
    loop {
        match d.decode(&mut buf) {
            Ok(Chunk::Data(b)) => {
                assert!(!b.is_empty(), "empty data chunk");
                out.extend_from_slice(&b);
            }
            Ok(Chunk::End(t)) => return (out, Some(fields(&t)), "end".to_owned()),
            Ok(Chunk::NeedMore) => {
                if fed == data.len() {
                    return (out, None, "more".to_owned());
                }
                let n = step.min(data.len() - fed);
                buf.extend_from_slice(&data[fed..fed + n]);
                fed += n;
            }
            Err(e) => return (out, None, format!("error {e}")),
        }
    }
}

fn chunked(data: &[u8]) {
    let whole = decode(data, data.len().max(1));
    let bytewise = decode(data, 1);
    // Byte by byte may stop earlier on an error the whole input hides behind later bytes
    // (never the other way round), but what both decided must agree.
    if whole.2 == "end" || bytewise.2 == "end" {
        assert_eq!(
            whole, bytewise,
            "chunked decoding depends on how bytes arrive"
        );
    }
    if whole.2 == "end" {
        let mut encoded = Vec::new();
        for piece in whole.0.chunks(7) {
            head::put_hex(&mut encoded, piece.len() as u64);
            encoded.extend_from_slice(b"\r\n");
            encoded.extend_from_slice(piece);
            encoded.extend_from_slice(b"\r\n");
        }
        encoded.extend_from_slice(b"0\r\n");
        if let Some(t) = &whole.1 {
            for (n, v) in t {
                encoded.extend_from_slice(n.as_bytes());
                encoded.extend_from_slice(b": ");
                encoded.extend_from_slice(v);
                encoded.extend_from_slice(b"\r\n");
            }
        }
        encoded.extend_from_slice(b"\r\n");
        let again = decode(&encoded, 3);
        assert_eq!(again.0, whole.0, "re-encoded data");
        assert_eq!(again.1, whole.1, "re-encoded trailers");
    }
}
