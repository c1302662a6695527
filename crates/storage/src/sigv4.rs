//! AWS Signature Version 4, verified on the server side. Protocol-neutral: the DynamoDB API
//! checks `Authorization` headers with it today, and the S3 API will add presigned query
//! strings on the same canonical-request code.
//!
//! The check, in order: the header parses (`AWS4-HMAC-SHA256 Credential=AK/date/region/
//! service/aws4_request, SignedHeaders=..., Signature=...`), the access key is known, a
//! session key comes with its token, the request time is within 15 minutes of ours, and the
//! signature we compute over the canonical request equals the one sent (compared in
//! constant time).

use aws_lc_rs::{digest, hmac};
use http::HeaderMap;

/// How far a request's time may be from ours.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Why a request's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No Authorization header.
    #[error("Request is missing Authentication Token")]
    Missing,
    /// An Authorization header that is not a complete SigV4 header.
    #[error("{0}")]
    Incomplete(String),
    /// An access key that is not known (or a session token that does not match it).
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature differs.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    Mismatch,
    /// The request time is too far from ours.
    #[error("Signature expired: {0}")]
    Expired(String),
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key: String,
    /// `yyyymmdd`.
    pub date: String,
    /// The region the client signed for.
    pub region: String,
    /// The service the client signed for.
    pub service: String,
    /// Lower-case header names, in the order signed.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Parses an `Authorization: AWS4-HMAC-SHA256 ...` header.
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256") else {
        return Err(AuthError::Incomplete(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={value}"
        )));
    };
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(AuthError::Incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        )));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminal] = scope.as_slice() else {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region. Authorization={value}"
        )));
    };
    if *terminal != "aws4_request" {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminal}'."
        )));
    }
    Ok(Authorization {
        access_key: (*access_key).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: signed.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
    })
}

/// The parts of a request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `POST`, `GET`...
    pub method: &'a str,
    /// The path as sent (already URI-encoded by the client).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The authority, for HTTP/2 requests that carry no `Host` header.
    pub authority: Option<&'a str>,
    /// The body, when the client did not send `x-amz-content-sha256`.
    pub body: &'a [u8],
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xF) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `hex(sha256(data))`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn uri_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A path in SigV4's canonical form: each segment decoded, then encoded once (`/` kept). S3
/// signs the path as sent; this is the form clients that re-encode on the wire signed.
pub fn canonical_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(&percent_decode(segment), &mut out);
    }
    out
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !p.starts_with("X-Amz-Signature="))
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&percent_decode(k), &mut ek);
            uri_encode(&percent_decode(v), &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request of SigV4, with the payload hash the client declared in
/// `x-amz-content-sha256` (or the hash of `req.body` when it declared none).
pub fn canonical_request(req: &SignedRequest<'_>, signed_headers: &[String]) -> String {
    let declared = req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    match declared {
        Some(h) => canonical_request_with(req, signed_headers, h),
        None => canonical_request_with(req, signed_headers, &sha256_hex(req.body)),
    }
}

/// The canonical request of SigV4 over `payload_hash` (a hex SHA-256, `UNSIGNED-PAYLOAD` or a
/// `STREAMING-...` marker).
pub fn canonical_request_with(
    req: &SignedRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(if req.path.is_empty() { "/" } else { req.path });
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        let mut values = req.headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() && name == "host" {
            out.push_str(req.authority.unwrap_or_default());
        }
        // Values joined by commas, each trimmed with its inner runs of whitespace made one
        // space, as SigV4's canonical headers are.
        let mut first = true;
        for v in values {
            if !first {
                out.push(',');
            }
            first = false;
            for (i, word) in String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .enumerate()
            {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

fn hmac_sign(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// The SigV4 signing key for a secret and scope.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac_sign(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac_sign(&k, region.as_bytes());
    let k = hmac_sign(&k, service.as_bytes());
    hmac_sign(&k, b"aws4_request")
}

/// A derived signing key, kept with the HMAC state it starts.
#[derive(Clone)]
struct CachedKey {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: Vec<u8>,
    hmac: hmac::Key,
}

/// Derived signing keys: a client signs every request of a day, region and service with the
/// same key, and deriving it costs four HMACs, as much as the rest of a small request's
/// verification. A handful of keys are live at once; the oldest is dropped past the bound.
/// Read without a lock (a request only loads the list); a miss publishes a new list.
static SIGNING_KEYS: std::sync::LazyLock<arc_swap::ArcSwap<Vec<CachedKey>>> =
    std::sync::LazyLock::new(|| arc_swap::ArcSwap::from_pointee(Vec::new()));
const CACHED_KEYS: usize = 64;

/// Runs `f` on [`signing_key`] and its HMAC key, from the cache when it holds them.
fn with_signing_key<R>(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    f: impl FnOnce(&[u8], &hmac::Key) -> R,
) -> R {
    let hit = |c: &CachedKey| {
        c.date == date && c.region == region && c.service == service && c.secret == secret
    };
    let cache = SIGNING_KEYS.load();
    if let Some(c) = cache.iter().find(|c| hit(c)) {
        return f(&c.key, &c.hmac);
    }
    let key = signing_key(secret, date, region, service);
    let hmac = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let out = f(&key, &hmac);
    let entry = CachedKey {
        secret: secret.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        key,
        hmac,
    };
    SIGNING_KEYS.rcu(|cache| {
        let mut next: Vec<CachedKey> = cache
            .iter()
            .filter(|c| !hit(c))
            .skip((cache.len() + 1).saturating_sub(CACHED_KEYS))
            .cloned()
            .collect();
        next.push(entry.clone());
        next
    });
    out
}

/// The request's `X-Amz-Date` (or `Date`) as `yyyymmddThhmmssZ`.
pub fn request_time(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            let d = headers.get("date")?.to_str().ok()?;
            let t = httpdate_parse(d)?;
            Some(format_amz(t))
        })
}

fn httpdate_parse(s: &str) -> Option<time::OffsetDateTime> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(|p| p.assume_utc())
}

fn format_amz(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&fmt).unwrap_or_default()
}

fn parse_amz(s: &str) -> Option<time::OffsetDateTime> {
    // Every signed request carries one: read the fixed layout by hand, and leave anything
    // else to the general parser, which decides as it always did.
    if let Some(t) = parse_amz_fixed(s.as_bytes()) {
        return Some(t);
    }
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(|p| p.assume_utc())
}

/// `yyyymmddThhmmssZ` exactly, with a valid date and time; `None` for anything else.
fn parse_amz_fixed(b: &[u8]) -> Option<time::OffsetDateTime> {
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(num(9..11)?).ok()?,
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(13..15)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

/// Verifies a request signed with `secret`, at `now`, over the hash of the body it carries:
/// the signature covers the payload, as every service but S3 signs it. An
/// `x-amz-content-sha256` that is not that hash (`UNSIGNED-PAYLOAD`, or the hash of another
/// body a captured signature covered) is a mismatch.
pub fn verify(
    req: &SignedRequest<'_>,
    auth: &Authorization,
    secret: &str,
    now: time::OffsetDateTime,
) -> Result<(), AuthError> {
    let body = sha256_hex(req.body);
    if let Some(declared) = req.headers.get("x-amz-content-sha256")
        && declared.as_bytes() != body.as_bytes()
    {
        return Err(AuthError::Mismatch);
    }
    let (amz_date, canonical) = signed_content(req, auth, now, Some(&body))?;
    signature_matches(&canonical, auth, &amz_date, secret, |_| ())
}

/// Verifies a request signed in its `Authorization` header, over `payload_hash` when given
/// (else the declared `x-amz-content-sha256` or the hash of `req.body`). Returns what signs the
/// chunks of an `aws-chunked` body that follows.
pub fn verify_header(
    req: &SignedRequest<'_>,
    auth: &Authorization,
    secret: &str,
    now: time::OffsetDateTime,
    payload_hash: Option<&str>,
) -> Result<ChunkSigning, AuthError> {
    let (amz_date, canonical) = signed_content(req, auth, now, payload_hash)?;
    check(&canonical, auth, &amz_date, secret)
}

/// The request's time and canonical request, once its time and signed headers pass.
fn signed_content(
    req: &SignedRequest<'_>,
    auth: &Authorization,
    now: time::OffsetDateTime,
    payload_hash: Option<&str>,
) -> Result<(String, String), AuthError> {
    let Some(amz_date) = request_time(req.headers) else {
        return Err(AuthError::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        ));
    };
    let Some(t) = parse_amz(&amz_date) else {
        return Err(AuthError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
        )));
    };
    let skew = (now - t).whole_seconds();
    if skew.abs() > MAX_SKEW_SECS {
        let bound = if skew > 0 {
            now - time::Duration::seconds(MAX_SKEW_SECS)
        } else {
            now + time::Duration::seconds(MAX_SKEW_SECS)
        };
        let (rel, op) = if skew > 0 {
            ("earlier", "-")
        } else {
            ("later", "+")
        };
        return Err(AuthError::Expired(format!(
            "{amz_date} is now {rel} than {} ({} {op} 15 min.)",
            format_amz(bound),
            format_amz(now)
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let canonical = match payload_hash {
        Some(p) => canonical_request_with(req, &auth.signed_headers, p),
        None => canonical_request(req, &auth.signed_headers),
    };
    Ok((amz_date, canonical))
}

/// Compares the signature of `canonical` with the one sent; returns what signs the chunks
/// of a body that follows.
fn check(
    canonical: &str,
    auth: &Authorization,
    amz_date: &str,
    secret: &str,
) -> Result<ChunkSigning, AuthError> {
    let key = signature_matches(canonical, auth, amz_date, secret, <[u8]>::to_vec)?;
    Ok(ChunkSigning {
        key,
        amz_date: amz_date.to_owned(),
        scope: format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        ),
        previous: auth.signature.to_ascii_lowercase(),
    })
}

/// Compares the signature of `canonical` with the one sent; on a match, hands the signing
/// key to `then`.
fn signature_matches<R>(
    canonical: &str,
    auth: &Authorization,
    amz_date: &str,
    secret: &str,
    then: impl FnOnce(&[u8]) -> R,
) -> Result<R, AuthError> {
    let Some(given) = unhex(&auth.signature) else {
        return Err(AuthError::Mismatch);
    };
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        auth.date,
        auth.region,
        auth.service,
        sha256_hex(canonical.as_bytes())
    );
    with_signing_key(
        secret,
        &auth.date,
        &auth.region,
        &auth.service,
        |key, verifier| {
            hmac::verify(verifier, to_sign.as_bytes(), &given)
                .map(|()| then(key))
                .map_err(|_| AuthError::Mismatch)
        },
    )
}

/// The hex SHA-256 of nothing, which every chunk's string to sign carries.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The chain of signatures over an `aws-chunked` body
/// (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`): each chunk is signed over the previous
/// signature, starting from the request's own, so chunks can be neither altered, dropped
/// nor reordered.
#[derive(Clone)]
pub struct ChunkSigning {
    key: Vec<u8>,
    amz_date: String,
    scope: String,
    previous: String,
}

impl std::fmt::Debug for ChunkSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ChunkSigning {
    /// The chain a client starts after signing a request's headers with `seed` (for tests and
    /// Meridian's own clients).
    pub fn new(secret: &str, amz_date: &str, region: &str, service: &str, seed: &str) -> Self {
        let date = amz_date.get(..8).unwrap_or_default();
        Self {
            key: signing_key(secret, date, region, service),
            amz_date: amz_date.to_owned(),
            scope: format!("{date}/{region}/{service}/aws4_request"),
            previous: seed.to_owned(),
        }
    }

    fn chain(&mut self, to_sign: &str, signature: &str) -> bool {
        let Some(given) = unhex(signature) else {
            return false;
        };
        let ok = hmac::verify(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.key),
            to_sign.as_bytes(),
            &given,
        )
        .is_ok();
        if ok {
            self.previous = signature.to_ascii_lowercase();
        }
        ok
    }

    /// Checks one chunk's signature, given the SHA-256 of its data.
    pub fn verify_chunk(&mut self, data_sha256: &[u8], signature: &str) -> bool {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(data_sha256)
        );
        self.chain(&to_sign, signature)
    }

    /// Checks the trailer's signature, over its canonical form (`name:value\n` per header).
    pub fn verify_trailer(&mut self, canonical_trailer: &[u8], signature: &str) -> bool {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(canonical_trailer)
        );
        self.chain(&to_sign, signature)
    }

    /// Signs a trailer's canonical form (for tests and Meridian's own clients).
    pub fn sign_trailer(&mut self, canonical_trailer: &[u8]) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(canonical_trailer)
        );
        let sig = hex(&hmac_sign(&self.key, to_sign.as_bytes()));
        self.previous.clone_from(&sig);
        sig
    }

    /// Signs a chunk (for tests and Meridian's own clients), advancing the chain.
    pub fn sign_chunk(&mut self, data: &[u8]) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(data)
        );
        let sig = hex(&hmac_sign(&self.key, to_sign.as_bytes()));
        self.previous.clone_from(&sig);
        sig
    }
}

/// The query parameters of a presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The credential and signature, as a header would carry them.
    pub auth: Authorization,
    /// `X-Amz-Date`.
    pub amz_date: String,
    /// When it was signed.
    pub signed_at: time::OffsetDateTime,
    /// `X-Amz-Expires`, in seconds.
    pub expires: i64,
    /// `X-Amz-Security-Token`, when sent.
    pub security_token: Option<String>,
}

/// The longest validity of a presigned URL (seven days).
pub const MAX_PRESIGN_SECS: i64 = 7 * 24 * 3600;

/// Parses a presigned URL's query; `Ok(None)` when it carries no `X-Amz-Signature` or
/// `X-Amz-Credential` (not presigned).
pub fn parse_presigned(query: &str) -> Result<Option<Presigned>, AuthError> {
    let get = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let (Some(credential), Some(signature)) = (get("X-Amz-Credential"), get("X-Amz-Signature"))
    else {
        if get("X-Amz-Algorithm").is_some() {
            return Err(AuthError::Incomplete(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.".into(),
            ));
        }
        return Ok(None);
    };
    let incomplete = || {
        AuthError::Incomplete(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.".into(),
        )
    };
    if get("X-Amz-Algorithm").as_deref() != Some("AWS4-HMAC-SHA256") {
        return Err(AuthError::Incomplete(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
        ));
    }
    let amz_date = get("X-Amz-Date").ok_or_else(incomplete)?;
    let signed = get("X-Amz-SignedHeaders").ok_or_else(incomplete)?;
    let expires = get("X-Amz-Expires").ok_or_else(incomplete)?;
    let Ok(expires) = expires.parse::<i64>() else {
        return Err(AuthError::Incomplete(
            "X-Amz-Expires should be a number".into(),
        ));
    };
    if expires < 0 {
        return Err(AuthError::Incomplete(
            "X-Amz-Expires must be non-negative".into(),
        ));
    }
    if expires > MAX_PRESIGN_SECS {
        return Err(AuthError::Incomplete(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".into(),
        ));
    }
    let Some(signed_at) = parse_amz(&amz_date) else {
        return Err(AuthError::Incomplete(format!(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" ({amz_date})"
        )));
    };
    let header = format!(
        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}"
    );
    let auth = parse_authorization(&header)?;
    Ok(Some(Presigned {
        auth,
        amz_date,
        signed_at,
        expires,
        security_token: get("X-Amz-Security-Token"),
    }))
}

/// Verifies a presigned request's signature (the caller checks its expiry): the payload is
/// `UNSIGNED-PAYLOAD` unless the URL itself names a hash.
pub fn verify_presigned(
    req: &SignedRequest<'_>,
    presigned: &Presigned,
    secret: &str,
) -> Result<(), AuthError> {
    let payload = form_urlencoded::parse(req.query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Content-Sha256")
        .map_or_else(|| "UNSIGNED-PAYLOAD".to_owned(), |(_, v)| v.into_owned());
    let canonical = canonical_request_with(req, &presigned.auth.signed_headers, &payload);
    signature_matches(
        &canonical,
        &presigned.auth,
        &presigned.amz_date,
        secret,
        |_| (),
    )
}

/// Parses `yyyymmddThhmmssZ`.
pub fn parse_amz_date(s: &str) -> Option<time::OffsetDateTime> {
    parse_amz(s)
}

/// Formats `yyyymmddThhmmssZ`.
pub fn format_amz_date(t: time::OffsetDateTime) -> String {
    format_amz(t)
}

/// Signs a request (for tests and Meridian's own clients): returns the Authorization value.
pub fn sign(
    req: &SignedRequest<'_>,
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    signed_headers: &[String],
) -> String {
    let date = &amz_date[..8.min(amz_date.len())];
    let canonical = canonical_request(req, signed_headers);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let key = signing_key(secret, date, region, service);
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={}, Signature={}",
        signed_headers.join(";"),
        hex(&hmac_sign(&key, to_sign.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_date_layout_reads_as_the_general_parser_reads_it() {
        let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let general = |s: &str| {
            time::PrimitiveDateTime::parse(s, &fmt)
                .ok()
                .map(|p| p.assume_utc())
        };
        for s in [
            "20150830T123600Z",
            "20240229T235959Z",
            "20230229T000000Z",
            "20151330T000000Z",
            "20150800T000000Z",
            "20150830T240000Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "2015083OT123600Z",
            "20150830 123600Z",
            "20150830T123600",
            "+20150830T123600Z",
            "",
        ] {
            let fixed = parse_amz_fixed(s.as_bytes());
            if fixed.is_some() {
                assert_eq!(fixed, general(s), "{s}");
            }
            assert_eq!(parse_amz(s), general(s), "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_date_in_the_layout_reads_as_the_general_parser_reads_it(
            s in "[0-9]{8}T[0-9]{6}Z",
        ) {
            let fmt =
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            let general = time::PrimitiveDateTime::parse(&s, &fmt).ok().map(|p| p.assume_utc());
            proptest::prop_assert_eq!(parse_amz(&s), general);
        }
    }

    /// The `get-vanilla` case of AWS's SigV4 test suite.
    #[test]
    fn matches_the_aws_test_suite_vanilla_get() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            authority: None,
            body: b"",
        };
        let signed = vec!["host".to_owned(), "x-amz-date".to_owned()];
        let auth = sign(
            &req,
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "us-east-1",
            "service",
            "20150830T123600Z",
            &signed,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        let parsed = parse_authorization(&auth).unwrap();
        let now = parse_amz("20150830T123900Z").unwrap();
        verify(
            &req,
            &parsed,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            now,
        )
        .unwrap();
        assert_eq!(
            verify(&req, &parsed, "wrong", now),
            Err(AuthError::Mismatch)
        );
        let late = parse_amz("20150830T130000Z").unwrap();
        assert!(matches!(
            verify(
                &req,
                &parsed,
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                late
            ),
            Err(AuthError::Expired(_))
        ));
    }

    /// The worked example of AWS's "Signature Calculations for the Authorization Header:
    /// Transferring Payload in Multiple Chunks".
    #[test]
    fn chunk_signatures_match_the_aws_example() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let mut client = ChunkSigning::new(secret, "20130524T000000Z", "us-east-1", "s3", seed);
        let mut server = client.clone();
        let chunks: [(&[u8], &str); 3] = [
            (
                &[b'a'; 65536],
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            ),
            (
                &[b'a'; 1024],
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            ),
            (
                b"",
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ),
        ];
        for (data, want) in chunks {
            assert_eq!(client.sign_chunk(data), want);
            let sha = digest::digest(&digest::SHA256, data);
            assert!(server.verify_chunk(sha.as_ref(), want));
        }
        // A chunk replayed out of order no longer verifies.
        let sha = digest::digest(&digest::SHA256, &[b'a'; 1024]);
        assert!(!server.verify_chunk(
            sha.as_ref(),
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        ));
    }

    #[test]
    fn presigned_queries_parse_and_bound_expiry() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let p = parse_presigned(q).unwrap().unwrap();
        assert_eq!(p.auth.access_key, "AK");
        assert_eq!(p.expires, 86400);
        assert_eq!(parse_presigned("list-type=2").unwrap(), None);
        assert!(parse_presigned(&q.replace("86400", "604801")).is_err());
        assert!(parse_presigned(&q.replace("X-Amz-Date=20130524T000000Z&", "")).is_err());
    }

    /// The GET example of AWS's "Authenticating Requests: Using Query Parameters".
    #[test]
    fn presigned_signature_matches_the_aws_example() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let mut headers = HeaderMap::new();
        headers.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        let req = SignedRequest {
            method: "GET",
            path: "/test.txt",
            query: q,
            headers: &headers,
            authority: None,
            body: b"",
        };
        let p = parse_presigned(q).unwrap().unwrap();
        verify_presigned(&req, &p, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").unwrap();
        assert_eq!(
            verify_presigned(&req, &p, "wrong"),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn refuses_incomplete_headers() {
        assert!(matches!(
            parse_authorization("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request"),
            Err(AuthError::Incomplete(_))
        ));
        assert!(matches!(
            parse_authorization("Basic abc"),
            Err(AuthError::Incomplete(_))
        ));
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query("b=2&a=1&c=x%20y"), "a=1&b=2&c=x%20y");
    }
}
