//! A request body as it streams in, checked on the way: its length against what the client
//! declared, its SHA-256 against a signed `x-amz-content-sha256`, each `aws-chunked` chunk's
//! signature against the chain the request's signature started, and the MD5 and additional
//! checksum against `Content-MD5`, `x-amz-checksum-*` or the trailer that carries it.
//!
//! Nothing is acknowledged before every check passed: the caller writes the data to a
//! temporary file and keeps it only if [`Inbound::finish`] says the body was whole and right.

use aws_lc_rs::digest;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::checksum::{self, Algorithm, Hasher, Md5};
use super::chunked::{Decoder, Item};
use super::error::{Code, Error, Result};
use crate::sigv4::ChunkSigning;

/// How the payload was declared in `x-amz-content-sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD` (and presigned URLs).
    Unsigned,
    /// The hex SHA-256 of the body.
    Sha256(String),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    StreamingUnsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
    StreamingSigned {
        /// Whether trailers follow (and are signed).
        trailer: bool,
    },
}

impl Payload {
    /// Parses `x-amz-content-sha256`.
    pub fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "UNSIGNED-PAYLOAD" => Self::Unsigned,
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Self::StreamingUnsigned,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Self::StreamingSigned { trailer: false },
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Self::StreamingSigned { trailer: true },
            v if v.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") => {
                return Err(Error::new(
                    Code::NotImplemented,
                    "SigV4a (AWS4-ECDSA-P256-SHA256) is not implemented",
                ));
            }
            v if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Self::Sha256(v.to_ascii_lowercase())
            }
            v => {
                return Err(Error::invalid_argument(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                    "x-amz-content-sha256",
                    v,
                ));
            }
        })
    }

    fn chunked(&self) -> bool {
        matches!(self, Self::StreamingUnsigned | Self::StreamingSigned { .. })
    }
}

/// Where the expected additional checksum comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// No value: computed and stored only.
    Computed,
    /// A header value.
    Header(String),
    /// A trailer of the chunked body.
    Trailer,
}

/// A request body being received.
pub struct Inbound {
    body: Option<Incoming>,
    idle: std::time::Duration,
    payload: Payload,
    decoder: Option<Decoder>,
    signing: Option<ChunkSigning>,
    chunk_sha: Option<digest::Context>,
    chunk_sig: Option<String>,
    sha256: Option<digest::Context>,
    declared: Option<u64>,
    received: u64,
    md5: Md5,
    content_md5: Option<[u8; 16]>,
    hasher: Option<Hasher>,
    expected: Expected,
    trailer_name: Option<String>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    done: bool,
}

/// What a whole body came to.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its length.
    pub size: u64,
    /// Its MD5.
    pub md5: [u8; 16],
    /// Its additional checksum (base64), with the algorithm.
    pub checksum: Option<(Algorithm, String)>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("payload", &self.payload)
            .field("declared", &self.declared)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

fn incomplete() -> Error {
    Error::new(
        Code::IncompleteBody,
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The additional checksum a request declares: its algorithm and where its value is. `default`
/// is computed when the request names none (S3 stores CRC64NVME for every new object).
pub fn declared_checksum(
    headers: &HeaderMap,
    default: Option<Algorithm>,
) -> Result<Option<(Algorithm, Option<String>, bool)>> {
    let mut found: Option<(Algorithm, String)> = None;
    for a in checksum::ALGORITHMS {
        if let Some(v) = header(headers, a.header()) {
            if found.is_some() {
                return Err(Error::invalid_request(
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            if !a.valid(v) {
                return Err(Error::invalid_request(format!(
                    "Value for {} header is invalid.",
                    a.header()
                )));
            }
            found = Some((a, v.to_owned()));
        }
    }
    let trailer = header(headers, "x-amz-trailer").map(|t| t.trim().to_ascii_lowercase());
    let sdk = header(headers, "x-amz-sdk-checksum-algorithm");
    if let Some(t) = &trailer {
        let Some(a) = Algorithm::from_header(t) else {
            return Err(Error::invalid_request(format!(
                "The value specified in the x-amz-trailer header is not supported: {t}"
            )));
        };
        if found.is_some() {
            return Err(Error::invalid_request(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        return Ok(Some((a, None, true)));
    }
    if let Some((a, v)) = found {
        if let Some(s) = sdk
            && Algorithm::parse(s) != Some(a)
        {
            return Err(Error::invalid_request(
                "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            ));
        }
        return Ok(Some((a, Some(v), false)));
    }
    if let Some(s) = sdk {
        let Some(a) = Algorithm::parse(s) else {
            return Err(Error::invalid_request(
                "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            ));
        };
        return Ok(Some((a, None, false)));
    }
    Ok(default.map(|a| (a, None, false)))
}

impl Inbound {
    /// Prepares to receive `body` as `headers` declare it; `signing` continues the request's
    /// signature over signed chunks. `default` is the checksum computed when none is named.
    pub fn new(
        body: Incoming,
        headers: &HeaderMap,
        payload: Payload,
        signing: Option<ChunkSigning>,
        default: Option<Algorithm>,
        idle: std::time::Duration,
    ) -> Result<Self> {
        let chunked = payload.chunked();
        let length = |name: &str| -> Result<Option<u64>> {
            match header(headers, name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| Error::invalid_argument("Invalid length", name, v)),
            }
        };
        let declared = if chunked {
            let Some(n) = length("x-amz-decoded-content-length")? else {
                return Err(Error::new(
                    Code::MissingContentLength,
                    "You must provide the Content-Length HTTP header.",
                ));
            };
            Some(n)
        } else {
            let n = length("content-length")?;
            if n.is_none() && headers.contains_key(http::header::TRANSFER_ENCODING) {
                return Err(Error::new(
                    Code::MissingContentLength,
                    "You must provide the Content-Length HTTP header.",
                ));
            }
            n
        };
        let content_md5 = match header(headers, "content-md5") {
            None => None,
            Some(v) => {
                let raw = checksum::unbase64(v).filter(|b| b.len() == 16);
                let Some(raw) = raw else {
                    return Err(Error::new(
                        Code::InvalidDigest,
                        "The Content-MD5 you specified was invalid.",
                    )
                    .with("Content-MD5", v));
                };
                let mut a = [0u8; 16];
                a.copy_from_slice(&raw);
                Some(a)
            }
        };
        let declared_sum = declared_checksum(headers, default)?;
        let (hasher, expected, trailer_name) = match declared_sum {
            None => (None, Expected::Computed, None),
            Some((a, Some(v), _)) => (Some(Hasher::new(a)), Expected::Header(v), None),
            Some((a, None, true)) => {
                if !chunked {
                    return Err(Error::invalid_request(
                        "The x-amz-trailer header requires an aws-chunked body (x-amz-content-sha256: STREAMING-...-TRAILER).",
                    ));
                }
                (
                    Some(Hasher::new(a)),
                    Expected::Trailer,
                    Some(a.header().to_owned()),
                )
            }
            Some((a, None, false)) => (Some(Hasher::new(a)), Expected::Computed, None),
        };
        let signed = matches!(payload, Payload::StreamingSigned { .. });
        let sha256 = match &payload {
            Payload::Sha256(_) => Some(digest::Context::new(&digest::SHA256)),
            _ => None,
        };
        Ok(Self {
            body: Some(body),
            idle,
            decoder: chunked.then(Decoder::new),
            signing: if signed { signing } else { None },
            payload,
            chunk_sha: None,
            chunk_sig: None,
            sha256,
            declared,
            received: 0,
            md5: Md5::default(),
            content_md5,
            hasher,
            expected,
            trailer_name,
            trailers: Vec::new(),
            trailer_signature: None,
            done: false,
        })
    }

    /// The length the client declared (decoded, for `aws-chunked`).
    pub fn declared(&self) -> Option<u64> {
        self.declared
    }

    fn count(&mut self, data: &Bytes) -> Result<()> {
        self.received += data.len() as u64;
        if self.declared.is_some_and(|d| self.received > d) {
            return Err(Error::invalid_request(
                "The decoded length of the body exceeds x-amz-decoded-content-length.",
            ));
        }
        self.md5.update(data);
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        Ok(())
    }

    async fn frame(&mut self) -> Result<Option<Bytes>> {
        let Some(body) = &mut self.body else {
            return Ok(None);
        };
        loop {
            // A client that stops sending holds a connection and a staged file: after `idle`
            // without a byte the upload ends, as S3 ends it.
            let Ok(frame) = tokio::time::timeout(self.idle, body.frame()).await else {
                return Err(Error::new(
                    Code::RequestTimeout,
                    "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
                ));
            };
            match frame {
                None => {
                    self.body = None;
                    return Ok(None);
                }
                Some(Err(_)) => return Err(incomplete()),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data()
                        && !d.is_empty()
                    {
                        return Ok(Some(d));
                    }
                }
            }
        }
    }

    fn signature_mismatch() -> Error {
        Error::new(
            Code::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    }

    /// The next piece of the decoded body; `None` at its end.
    pub async fn next(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        if self.decoder.is_none() {
            return match self.frame().await? {
                Some(d) => {
                    if let Some(s) = &mut self.sha256 {
                        s.update(&d);
                    }
                    self.count(&d)?;
                    Ok(Some(d))
                }
                None => {
                    self.done = true;
                    Ok(None)
                }
            };
        }
        loop {
            let item = match &mut self.decoder {
                Some(d) => d.poll_item().map_err(|e| {
                    Error::invalid_request(format!("Invalid aws-chunked body: {e}"))
                })?,
                None => return Ok(None),
            };
            match item {
                Some(Item::ChunkStart { size: _, signature }) => {
                    if self.signing.is_some() != signature.is_some() {
                        return Err(Error::invalid_request(
                            "Invalid aws-chunked body: chunk signatures do not match x-amz-content-sha256",
                        ));
                    }
                    self.chunk_sig = signature;
                    if self.signing.is_some() {
                        self.chunk_sha = Some(digest::Context::new(&digest::SHA256));
                    }
                }
                Some(Item::Data(d)) => {
                    if let Some(s) = &mut self.chunk_sha {
                        s.update(&d);
                    }
                    self.count(&d)?;
                    return Ok(Some(d));
                }
                Some(Item::ChunkEnd) => {
                    if let (Some(signing), Some(sha), Some(sig)) = (
                        &mut self.signing,
                        self.chunk_sha.take(),
                        self.chunk_sig.take(),
                    ) && !signing.verify_chunk(sha.finish().as_ref(), &sig)
                    {
                        return Err(Self::signature_mismatch());
                    }
                }
                Some(Item::Trailer(name, value)) => {
                    if name == "x-amz-trailer-signature" {
                        self.trailer_signature = Some(value);
                    } else {
                        self.trailers.push((name, value));
                    }
                }
                Some(Item::End) => {
                    self.done = true;
                    self.check_trailer_signature()?;
                    return Ok(None);
                }
                None => match self.frame().await? {
                    Some(d) => {
                        if let Some(dec) = &mut self.decoder {
                            dec.push(&d);
                        }
                    }
                    None => return Err(incomplete()),
                },
            }
        }
    }

    fn check_trailer_signature(&mut self) -> Result<()> {
        if !matches!(self.payload, Payload::StreamingSigned { trailer: true }) {
            return Ok(());
        }
        let Some(sig) = self.trailer_signature.take() else {
            return Err(Self::signature_mismatch());
        };
        let mut canonical = String::new();
        for (k, v) in &self.trailers {
            canonical.push_str(k);
            canonical.push(':');
            canonical.push_str(v);
            canonical.push('\n');
        }
        match &mut self.signing {
            Some(s) => {
                if s.verify_trailer(canonical.as_bytes(), &sig) {
                    Ok(())
                } else {
                    Err(Self::signature_mismatch())
                }
            }
            None => Err(Self::signature_mismatch()),
        }
    }

    /// Checks the whole body once [`Inbound::next`] returned `None`.
    pub fn finish(mut self) -> Result<Received> {
        if self.declared.is_some_and(|d| d != self.received) {
            return Err(incomplete());
        }
        if let (Some(ctx), Payload::Sha256(claimed)) = (self.sha256.take(), &self.payload) {
            let computed = checksum::hex(ctx.finish().as_ref());
            if &computed != claimed {
                return Err(Error::new(
                    Code::XAmzContentSHA256Mismatch,
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )
                .with("ClientComputedContentSHA256", claimed.clone())
                .with("S3ComputedContentSHA256", computed));
            }
        }
        let md5 = self.md5.finish();
        if let Some(want) = self.content_md5
            && want != md5
        {
            return Err(Error::new(
                Code::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            )
            .with("ExpectedDigest", checksum::hex(&want))
            .with("CalculatedDigest", checksum::base64(&md5)));
        }
        let checksum = match self.hasher.take() {
            None => None,
            Some(h) => {
                let a = h.algorithm();
                let computed = h.finish_base64();
                let expected = match &self.expected {
                    Expected::Computed => None,
                    Expected::Header(v) => Some(v.clone()),
                    Expected::Trailer => {
                        let name = self.trailer_name.clone().unwrap_or_default();
                        let Some((_, v)) = self.trailers.iter().find(|(k, _)| *k == name) else {
                            return Err(Error::new(
                                Code::MalformedTrailerError,
                                "The request contained trailing data that was not well-formed or did not conform to our published schema.",
                            ));
                        };
                        Some(v.clone())
                    }
                };
                if let Some(want) = expected
                    && want != computed
                {
                    return Err(Error::new(
                        Code::BadDigest,
                        format!(
                            "The {} you specified did not match the calculated checksum.",
                            a.as_str()
                        ),
                    ));
                }
                Some((a, computed))
            }
        };
        Ok(Received {
            size: self.received,
            md5,
            checksum,
        })
    }
}

/// Reads a small request body (an XML document) whole, refusing more than `limit` bytes.
pub async fn read_small(inbound: &mut Inbound, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(d) = inbound.next().await? {
        if out.len() + d.len() > limit {
            return Err(Error::new(
                Code::MaxMessageLengthExceeded,
                "Your request was too big.",
            ));
        }
        out.extend_from_slice(&d);
    }
    Ok(out)
}
