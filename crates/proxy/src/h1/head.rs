//! HTTP/1.1 message heads (RFC 9112): a request or response head parsed once by httparse into
//! `http` types whose header values share the read buffer (a reference count each, no copy),
//! the body's framing decided per §6.3 with ambiguous framing refused, and heads written back
//! into one buffer for one write.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

/// The largest head accepted (request line or status line and every field line).
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most header fields in one head (as hyper's default).
pub(crate) const MAX_HEADERS: usize = 100;

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (a HEAD response, 1xx, 204, 304, or a request without Content-Length).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Until the connection closes (a response without length; never a request).
    UntilClose,
}

/// Why a valid request is left to the general path (hyper), which serves it on the same
/// connection from this request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elsewhere {
    /// The HTTP/2 connection preface (h2c with prior knowledge).
    Http2,
    /// HTTP/1.0 (keep-alive and framing rules of their own).
    Http10,
    /// `CONNECT`, or an authority- or asterisk-form target.
    TargetForm,
    /// A protocol upgrade (WebSocket, h2c upgrade).
    Upgrade,
    /// A body in a transfer coding (chunked requests stream through hyper).
    TransferEncoding,
    /// An expectation other than `100-continue`.
    Expect,
    /// A body too large to buffer (it streams through hyper).
    LargeBody,
}

impl Elsewhere {
    /// The reason, for logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Elsewhere::Http2 => "http2",
            Elsewhere::Http10 => "http/1.0",
            Elsewhere::TargetForm => "target_form",
            Elsewhere::Upgrade => "upgrade",
            Elsewhere::TransferEncoding => "transfer_encoding",
            Elsewhere::Expect => "expect",
            Elsewhere::LargeBody => "large_body",
        }
    }
}

/// A head refused outright: the answer is an error status, then the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// 400: malformed, or ambiguous framing.
    BadRequest(&'static str),
    /// 431: the head is too large or has too many fields.
    TooLarge,
}

impl Reject {
    /// The status answered.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Reject::BadRequest(_) => StatusCode::BAD_REQUEST,
            Reject::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    /// Why, for logs.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Reject::BadRequest(r) => r,
            Reject::TooLarge => "head too large",
        }
    }
}

/// The outcome of looking at the start of a buffer for a request head.
// Returned once per request and matched at once: boxing the head would cost an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum RequestParse {
    /// More bytes are needed.
    Partial,
    /// A head the fast path serves; its bytes left the buffer.
    Complete(RequestHead),
    /// A valid head for the general path; the buffer is untouched.
    Elsewhere(Elsewhere),
    /// An invalid head.
    Reject(Reject),
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Method, target, version and fields.
    pub(crate) parts: http::request::Parts,
    /// `Content-Length` (0 without one).
    pub(crate) body_len: u64,
    /// The client asked to close after this exchange (`Connection: close`).
    pub(crate) close: bool,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
}

/// Field names parsed, with where their values lie in the head, reused across messages so
/// parsing allocates only for the map itself.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    fields: Vec<(HeaderName, usize, usize)>,
}

fn offset_in(base: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

/// A Content-Length field value: a list of identical decimal numbers (RFC 9110 §8.6).
fn content_length(value: &[u8], seen: Option<u64>) -> Result<u64, &'static str> {
    let mut out = seen;
    for item in value.split(|b| *b == b',') {
        let item = trim(item);
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err("invalid content-length");
        }
        let n = item.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        match out {
            Some(prev) if prev != n => return Err("conflicting content-length"),
            _ => out = Some(n),
        }
    }
    out.ok_or("invalid content-length")
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Whether a comma-separated field value lists `token` (case-insensitive).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Whether the last transfer coding listed is `chunked`.
fn chunked_last(values: &[&[u8]]) -> bool {
    values
        .last()
        .and_then(|v| v.rsplit(|b| *b == b',').next())
        .is_some_and(|t| trim(t).eq_ignore_ascii_case(b"chunked"))
}

/// Looks for a request head at the start of `buf`. Bodies up to `body_limit` bytes are left
/// for the fast path; larger ones go elsewhere.
pub(crate) fn parse_request(
    buf: &mut BytesMut,
    scratch: &mut Scratch,
    body_limit: u64,
) -> RequestParse {
    let probe = buf.len().min(H2_PREFACE.len());
    if probe > 0 && buf[..probe] == H2_PREFACE[..probe] {
        return if probe == H2_PREFACE.len() {
            RequestParse::Elsewhere(Elsewhere::Http2)
        } else {
            RequestParse::Partial
        };
    }
    scratch.fields.clear();
    let mut raw: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let base: &[u8] = buf;
    let len = match req.parse_with_uninit_headers(base, &mut raw) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD_BYTES => n,
        Ok(httparse::Status::Complete(_)) => return RequestParse::Reject(Reject::TooLarge),
        Ok(httparse::Status::Partial) if base.len() > MAX_HEAD_BYTES => {
            return RequestParse::Reject(Reject::TooLarge);
        }
        Ok(httparse::Status::Partial) => return RequestParse::Partial,
        Err(httparse::Error::TooManyHeaders) => return RequestParse::Reject(Reject::TooLarge),
        Err(_) => return RequestParse::Reject(Reject::BadRequest("malformed request head")),
    };
    if req.version != Some(1) {
        return RequestParse::Elsewhere(Elsewhere::Http10);
    }
    let Some(method) = req
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
    else {
        return RequestParse::Reject(Reject::BadRequest("invalid method"));
    };
    let path = req.path.unwrap_or_default();
    if method == Method::CONNECT || !(path.starts_with('/') || path.contains("://")) {
        return RequestParse::Elsewhere(Elsewhere::TargetForm);
    }
    let target = (offset_in(base, path.as_bytes()), path.len());
    let mut body_len: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut hosts = 0u32;
    let mut close = false;
    let mut upgrade = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
            return RequestParse::Reject(Reject::BadRequest("invalid field name"));
        };
        let value = h.value;
        if name == header::CONTENT_LENGTH {
            match content_length(value, body_len) {
                Ok(n) => body_len = Some(n),
                Err(why) => return RequestParse::Reject(Reject::BadRequest(why)),
            }
        } else if name == header::TRANSFER_ENCODING {
            transfer_encoding = true;
        } else if name == header::HOST {
            hosts += 1;
        } else if name == header::CONNECTION {
            close |= has_token(value, b"close");
            upgrade |= has_token(value, b"upgrade");
        } else if name == header::UPGRADE {
            upgrade = true;
        } else if name == header::EXPECT {
            if trim(value).eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return RequestParse::Elsewhere(Elsewhere::Expect);
            }
        }
        let start = offset_in(base, value);
        scratch.fields.push((name, start, start + value.len()));
    }
    // RFC 9112 §6.1: both is a smuggling attempt or a broken client; refuse either way.
    if transfer_encoding && body_len.is_some() {
        return RequestParse::Reject(Reject::BadRequest("content-length with transfer-encoding"));
    }
    // RFC 9112 §3.2: a server MUST answer 400 to more than one Host field.
    if hosts > 1 {
        return RequestParse::Reject(Reject::BadRequest("more than one host field"));
    }
    if transfer_encoding {
        return RequestParse::Elsewhere(Elsewhere::TransferEncoding);
    }
    if upgrade {
        return RequestParse::Elsewhere(Elsewhere::Upgrade);
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > body_limit {
        return RequestParse::Elsewhere(Elsewhere::LargeBody);
    }
    let head = buf.split_to(len).freeze();
    let Ok(uri) = Uri::from_maybe_shared(head.slice(target.0..target.0 + target.1)) else {
        return RequestParse::Reject(Reject::BadRequest("invalid request target"));
    };
    let Some(headers) = field_map(&head, scratch, ADDED_FIELDS) else {
        return RequestParse::Reject(Reject::BadRequest("invalid field value"));
    };
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    parts.headers = headers;
    RequestParse::Complete(RequestHead {
        parts,
        body_len,
        close,
        expect_continue,
    })
}

/// Room left in a request's map for the fields the proxy adds (`x-request-id`,
/// `x-forwarded-proto`, `x-envoy-attempt-count`...), so adding them does not grow it.
const ADDED_FIELDS: usize = 4;

/// Maps kept for reuse per thread, and the largest kept.
const SPARE_MAPS: usize = 64;
const SPARE_MAP_CAPACITY: usize = 64;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<HeaderMap>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty map with room for `n` fields: a recycled one when the thread has one, so a
/// request's heads cost no allocation once the proxy is warm.
fn empty_map(n: usize) -> HeaderMap {
    let spare = SPARE.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
    match spare {
        Some(mut map) => {
            map.reserve(n);
            map
        }
        None => HeaderMap::with_capacity(n),
    }
}

/// Gives a map whose message is done back for reuse (see [`empty_map`]).
pub(crate) fn recycle(mut map: HeaderMap) {
    if map.capacity() > SPARE_MAP_CAPACITY {
        return;
    }
    map.clear();
    SPARE.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut()
            && s.len() < SPARE_MAPS
        {
            s.push(map);
        }
    });
}

fn field_map(head: &Bytes, scratch: &mut Scratch, extra: usize) -> Option<HeaderMap> {
    let mut map = empty_map(scratch.fields.len() + extra);
    for (name, start, end) in scratch.fields.drain(..) {
        let value = HeaderValue::from_maybe_shared(head.slice(start..end)).ok()?;
        map.append(name, value);
    }
    Some(map)
}

/// Why an upstream response head is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseError {
    /// Not HTTP/1.x, or malformed.
    Malformed(&'static str),
    /// Larger than [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`].
    TooLarge,
}

impl ResponseError {
    /// Why, for errors and logs.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            ResponseError::Malformed(r) => r,
            ResponseError::TooLarge => "response head too large",
        }
    }
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// Status, version and fields (Content-Length kept, framing fields as received).
    pub(crate) parts: http::response::Parts,
    /// How its body is delimited.
    pub(crate) framing: Framing,
    /// Whether the connection may carry another exchange after this one.
    pub(crate) keep_alive: bool,
}

/// Looks for a response head at the start of `buf` (the answer to a `HEAD` request when
/// `head_request`); on success its bytes leave the buffer.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    scratch: &mut Scratch,
    head_request: bool,
) -> Result<Option<ResponseHead>, ResponseError> {
    scratch.fields.clear();
    let mut raw: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let base: &[u8] = buf;
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, base, &mut raw)
    {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD_BYTES => n,
        Ok(httparse::Status::Complete(_)) => return Err(ResponseError::TooLarge),
        Ok(httparse::Status::Partial) if base.len() > MAX_HEAD_BYTES => {
            return Err(ResponseError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::TooLarge),
        Err(_) => return Err(ResponseError::Malformed("malformed response head")),
    };
    let version = match resp.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(ResponseError::Malformed("unsupported response version")),
    };
    let Some(status) = resp.code.and_then(|c| StatusCode::from_u16(c).ok()) else {
        return Err(ResponseError::Malformed("invalid status"));
    };
    let mut length: Option<u64> = None;
    let mut codings: [&[u8]; 4] = [&[]; 4];
    let mut n_codings = 0usize;
    let mut close = version == Version::HTTP_10;
    for h in resp.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
            return Err(ResponseError::Malformed("invalid field name"));
        };
        let value = h.value;
        if name == header::CONTENT_LENGTH {
            length = Some(content_length(value, length).map_err(ResponseError::Malformed)?);
        } else if name == header::TRANSFER_ENCODING {
            if n_codings == codings.len() {
                return Err(ResponseError::Malformed(
                    "too many transfer-encoding fields",
                ));
            }
            codings[n_codings] = value;
            n_codings += 1;
        } else if name == header::CONNECTION {
            close |= has_token(value, b"close");
            if version == Version::HTTP_10 && has_token(value, b"keep-alive") {
                close = false;
            }
        }
        let start = offset_in(base, value);
        scratch.fields.push((name, start, start + value.len()));
    }
    let code = status.as_u16();
    let bodiless = head_request || (100..200).contains(&code) || code == 204 || code == 304;
    let framing = if bodiless {
        Framing::Empty
    } else if n_codings > 0 {
        // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and the connection
        // cannot be trusted afterwards; without chunked last, the body ends at close.
        close |= length.is_some();
        if chunked_last(&codings[..n_codings]) {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    if framing == Framing::UntilClose {
        close = true;
    }
    let head = buf.split_to(len).freeze();
    let headers =
        field_map(&head, scratch, 0).ok_or(ResponseError::Malformed("invalid field value"))?;
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.version = version;
    parts.headers = headers;
    if n_codings > 0 {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    Ok(Some(ResponseHead {
        parts,
        framing,
        keep_alive: !close,
    }))
}

/// Appends `n` in decimal.
pub(crate) fn put_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `n` in lower-case hexadecimal (chunk sizes).
pub(crate) fn put_hex(out: &mut Vec<u8>, mut n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn put_fields(out: &mut Vec<u8>, headers: &HeaderMap, skip_framing: bool) {
    for (name, value) in headers {
        if skip_framing && (name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// How a body written after a head is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireLength {
    /// No body and no framing field written (a GET without body).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No body, and the fields' own Content-Length kept (HEAD, 204, 304 responses).
    AsIs,
}

fn put_length(out: &mut Vec<u8>, length: WireLength) {
    match length {
        WireLength::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            put_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        WireLength::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        WireLength::None | WireLength::AsIs => {}
    }
}

/// Writes a request head (`HTTP/1.1`, the target as the URI is written, the fields with the
/// framing fields replaced by `length`).
pub(crate) fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    length: WireLength,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    match (uri.scheme(), uri.path_and_query()) {
        (None, Some(pq)) => out.extend_from_slice(pq.as_str().as_bytes()),
        (None, None) => out.push(b'/'),
        (Some(_), _) => out.extend_from_slice(uri.to_string().as_bytes()),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    put_fields(out, headers, length != WireLength::AsIs);
    put_length(out, length);
    out.extend_from_slice(b"\r\n");
}

/// Writes a response head. `close` adds `Connection: close`; a `Date` field is added when
/// the fields have none (RFC 9110 §6.6.1, as hyper's server does).
pub(crate) fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: WireLength,
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    put_fields(out, headers, length != WireLength::AsIs);
    put_length(out, length);
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        put_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// An interim (1xx) response head: the status line and the fields as they came.
pub(crate) fn write_interim_head(out: &mut Vec<u8>, status: StatusCode, headers: &HeaderMap) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    put_fields(out, headers, true);
    out.extend_from_slice(b"\r\n");
}

/// The current IMF-fixdate, formatted once a second per thread.
fn put_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHE: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn request(bytes: &[u8]) -> RequestParse {
        let mut buf = BytesMut::from(bytes);
        parse_request(&mut buf, &mut Scratch::default(), 64 * 1024)
    }

    #[test]
    fn a_simple_request_parses_and_leaves_the_rest() {
        let mut buf = BytesMut::from(
            &b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-One: 1\r\nx-one: 2\r\n\r\nGET /next"[..],
        );
        let RequestParse::Complete(head) = parse_request(&mut buf, &mut Scratch::default(), 1024)
        else {
            panic!("complete");
        };
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.parts.uri, "/a?b=1");
        assert_eq!(head.parts.headers["host"], "x");
        assert_eq!(head.parts.headers.get_all("x-one").iter().count(), 2);
        assert_eq!(head.body_len, 0);
        assert!(!head.close);
        assert_eq!(&buf[..], b"GET /next");
    }

    #[test_case(b"GET / HTTP/1.1\r\nHost: x\r\n" ; "no blank line yet")]
    #[test_case(b"GET / HTT" ; "request line cut")]
    #[test_case(b"PRI * HTTP/2" ; "a preface in the making")]
    fn partial_heads_wait(bytes: &[u8]) {
        assert!(matches!(request(bytes), RequestParse::Partial));
    }

    #[test_case(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting content-length" ; "two lengths")]
    #[test_case(b"GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", "conflicting content-length" ; "a list of two lengths")]
    #[test_case(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "invalid content-length" ; "negative")]
    #[test_case(b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", "invalid content-length" ; "signed")]
    #[test_case(b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", "invalid content-length" ; "overflow")]
    #[test_case(b"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", "invalid content-length" ; "empty")]
    #[test_case(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "content-length with transfer-encoding" ; "both framings")]
    #[test_case(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than one host field" ; "two hosts")]
    #[test_case(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "malformed request head" ; "space before colon")]
    #[test_case(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "malformed request head" ; "obsolete folding")]
    #[test_case(b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", "malformed request head" ; "nul in a value")]
    #[test_case(b"GET / HTTP/9.1\r\n\r\n", "malformed request head" ; "unknown version")]
    fn ambiguous_or_malformed_heads_are_refused(bytes: &[u8], why: &str) {
        match request(bytes) {
            RequestParse::Reject(r) => {
                assert_eq!(r.status(), StatusCode::BAD_REQUEST);
                assert_eq!(r.reason(), why);
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn identical_lengths_are_one_length() {
        let RequestParse::Complete(head) =
            request(b"PUT / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc")
        else {
            panic!("complete");
        };
        assert_eq!(head.body_len, 3);
    }

    #[test_case(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Elsewhere::Http2 ; "h2c preface")]
    #[test_case(b"GET / HTTP/1.0\r\n\r\n", Elsewhere::Http10 ; "http 1.0")]
    #[test_case(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", Elsewhere::TargetForm ; "connect")]
    #[test_case(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Elsewhere::TargetForm ; "asterisk")]
    #[test_case(b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", Elsewhere::Upgrade ; "websocket")]
    #[test_case(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", Elsewhere::TransferEncoding ; "chunked request")]
    #[test_case(b"POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\n", Elsewhere::Expect ; "unknown expectation")]
    #[test_case(b"POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", Elsewhere::LargeBody ; "large body")]
    fn other_valid_heads_go_elsewhere_untouched(bytes: &[u8], why: Elsewhere) {
        let mut buf = BytesMut::from(bytes);
        match parse_request(&mut buf, &mut Scratch::default(), 64 * 1024) {
            RequestParse::Elsewhere(e) => assert_eq!(e, why),
            other => panic!("expected elsewhere, got {other:?}"),
        }
        assert_eq!(&buf[..], bytes);
    }

    #[test]
    fn too_many_or_too_large_fields_are_431() {
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            request(&many),
            RequestParse::Reject(Reject::TooLarge)
        ));
        let mut large = b"GET / HTTP/1.1\r\nx: ".to_vec();
        large.resize(MAX_HEAD_BYTES + 10, b'a');
        assert!(matches!(
            request(&large),
            RequestParse::Reject(Reject::TooLarge)
        ));
    }

    fn response(bytes: &[u8], head: bool) -> Result<Option<ResponseHead>, ResponseError> {
        let mut buf = BytesMut::from(bytes);
        parse_response(&mut buf, &mut Scratch::default(), head)
    }

    #[test_case(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, Framing::Length(5), true ; "length")]
    #[test_case(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, Framing::Empty, true ; "zero length")]
    #[test_case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, Framing::Chunked, true ; "chunked")]
    #[test_case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, Framing::Chunked, true ; "chunked last")]
    #[test_case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, Framing::UntilClose, false ; "chunked not last")]
    #[test_case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", false, Framing::Chunked, false ; "both: chunked wins, no reuse")]
    #[test_case(b"HTTP/1.1 200 OK\r\n\r\n", false, Framing::UntilClose, false ; "no length")]
    #[test_case(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", false, Framing::Length(5), false ; "close")]
    #[test_case(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", false, Framing::Length(5), false ; "http 1.0")]
    #[test_case(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, Framing::Empty, true ; "head request")]
    #[test_case(b"HTTP/1.1 204 No Content\r\n\r\n", false, Framing::Empty, true ; "no content")]
    #[test_case(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, Framing::Empty, true ; "not modified")]
    #[test_case(b"HTTP/1.1 100 Continue\r\n\r\n", false, Framing::Empty, true ; "interim")]
    fn response_framing_follows_rfc_9112(bytes: &[u8], head: bool, framing: Framing, keep: bool) {
        let r = response(bytes, head).unwrap().unwrap();
        assert_eq!(r.framing, framing);
        assert_eq!(r.keep_alive, keep);
    }

    #[test_case(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" ; "conflicting lengths")]
    #[test_case(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n" ; "invalid length")]
    #[test_case(b"HTTP/2.0 200 OK\r\n\r\n" ; "not http/1")]
    #[test_case(b"HTTP/1.1 20 OK\r\n\r\n" ; "short status")]
    fn broken_responses_are_errors(bytes: &[u8]) {
        assert!(matches!(
            response(bytes, false),
            Err(ResponseError::Malformed(_))
        ));
    }

    #[test]
    fn heads_are_written_with_the_framing_replaced() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("a"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        h.insert(header::DATE, HeaderValue::from_static("d"));
        let mut out = Vec::new();
        write_request_head(
            &mut out,
            &Method::POST,
            &Uri::from_static("/p?q"),
            &h,
            WireLength::Length(3),
        );
        assert_eq!(
            out,
            b"POST /p?q HTTP/1.1\r\nhost: a\r\ndate: d\r\ncontent-length: 3\r\n\r\n"
        );
        out.clear();
        write_response_head(&mut out, StatusCode::OK, &h, WireLength::Chunked, true);
        assert_eq!(
            out,
            &b"HTTP/1.1 200 OK\r\nhost: a\r\ndate: d\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"[..]
        );
        out.clear();
        write_response_head(&mut out, StatusCode::OK, &h, WireLength::AsIs, false);
        assert!(out.windows(18).any(|w| w == b"content-length: 99"));
        let mut n = Vec::new();
        put_decimal(&mut n, 0);
        put_hex(&mut n, 255);
        put_decimal(&mut n, u64::MAX);
        assert_eq!(n, b"0ff18446744073709551615");
    }
}
