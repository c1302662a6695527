//! S3's REST protocol over HTTP: routing (path-style `/<bucket>/<key>` and virtual-hosted
//! `<bucket>.<domain>/<key>`), authentication, dispatch by method and sub-resource, and the
//! response wrapping every answer gets (`x-amz-request-id`, `x-amz-id-2`, S3's error
//! document).
//!
//! Authentication, in order: a presigned query (`X-Amz-Signature`; expiry checked before the
//! signature so an expired URL says so), else an `Authorization` header (SigV4 only; the
//! payload declared in `x-amz-content-sha256`, which S3 requires), else the request is
//! anonymous. Authorization then asks [`super::policy::decide`] about the operation's `s3:`
//! action on the bucket or object ARN: the caller's identity policy, the bucket policy and
//! the public access block.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::S3;
use super::body::{Inbound, Payload};
use super::checksum::Algorithm;
use super::error::{Code, Error, Result};
use crate::iam::Caller;
use crate::keys::{Credential, Decision, KeyStore};
use crate::sigv4::{self, AuthError, ChunkSigning, SignedRequest};

/// A response body: a small document or a file streaming out.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY: usize = 1024;

/// What serves the API.
#[derive(Debug, Clone)]
pub struct Service {
    /// The buckets.
    pub s3: Arc<S3>,
    /// The credentials.
    pub keys: Arc<KeyStore>,
    /// The domain under which `<bucket>.<domain>` names a bucket (virtual-hosted style).
    pub domain: String,
    /// How long an upload may send nothing before it is ended with `RequestTimeout`.
    pub body_idle_timeout: std::time::Duration,
}

/// S3 ends an upload whose client sent nothing for about this long.
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// One request being served.
#[derive(Debug)]
pub struct Ctx {
    /// The method.
    pub method: Method,
    /// The request headers.
    pub headers: HeaderMap,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The bucket, when the request names one.
    pub bucket: Option<String>,
    /// The key, when the request names one.
    pub key: Option<String>,
    /// `/<bucket>/<key>`, for error documents.
    pub resource: String,
    /// Who asks.
    pub caller: Caller,
    /// The accounts and their keys, for ACL grants naming accounts.
    pub keys: Arc<KeyStore>,
    /// Set when only the object's own ACL can let this (anonymous) read in.
    pub object_acl: std::sync::atomic::AtomicBool,
    body: Option<Incoming>,
    payload: Payload,
    signing: Option<ChunkSigning>,
    idle: std::time::Duration,
}

impl Ctx {
    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the query names a sub-resource (`?uploads`, `?location`...).
    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Takes the body of a request whose `x-amz-checksum-*` header names the object's
    /// checksum rather than the body's (CompleteMultipartUpload).
    pub fn body_of_document(&mut self) -> Result<Inbound> {
        let Some(body) = self.body.take() else {
            return Err(Error::internal("the request body was taken twice"));
        };
        let mut headers = self.headers.clone();
        for a in super::checksum::ALGORITHMS {
            headers.remove(a.header());
        }
        Inbound::new(
            body,
            &headers,
            self.payload.clone(),
            self.signing.take(),
            None,
            self.idle,
        )
    }

    /// Takes the request body, checked as the headers declare it; `default` is the
    /// checksum computed when the request names none.
    pub fn body(&mut self, default: Option<Algorithm>) -> Result<Inbound> {
        let Some(body) = self.body.take() else {
            return Err(Error::internal("the request body was taken twice"));
        };
        Inbound::new(
            body,
            &self.headers,
            self.payload.clone(),
            self.signing.take(),
            default,
            self.idle,
        )
    }
}

/// A request id as S3's: 16 hex digits.
fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// A body of bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

/// An empty response with `status`.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// An XML document response.
pub fn xml(status: StatusCode, doc: String) -> Response<Body> {
    let mut r = Response::new(full(doc));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// Sets a header when the value is valid (stored values were valid when received).
pub fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::header::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(n, v);
    }
}

fn error_response(e: &Error, resource: &str, rid: &str, head: bool) -> Response<Body> {
    tracing::debug!(code = e.code.as_str(), resource, request_id = rid, message = %e.message, "S3 request refused");
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = if head || status == StatusCode::NOT_MODIFIED {
        empty(status)
    } else {
        xml(status, e.to_xml(resource, rid))
    };
    for (k, v) in &e.headers {
        set(r.headers_mut(), k, v);
    }
    r
}

/// Percent-decodes a path or query component into UTF-8.
fn decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let b = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::invalid_request("Invalid URI: bad percent-encoding"))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid_request("Invalid URI: not UTF-8"))
}

/// The bucket a virtual-hosted name carries, in the shapes AWS gives them under `domain`:
/// `<bucket>.<domain>`, `<bucket>.s3.<domain>` and `<bucket>.s3.<region>.<domain>` (the
/// `bucket_domain_name` and `bucket_regional_domain_name` Terraform computes); `s3.<domain>`
/// and `s3.<region>.<domain>` are path-style endpoints.
fn virtual_host_bucket(domain: &str, host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let name = host.strip_suffix(domain)?.strip_suffix('.')?;
    if name.is_empty() || name == "s3" {
        return None;
    }
    let region_like = |r: &str| !r.is_empty() && !r.contains('.');
    if let Some(r) = name.strip_prefix("s3.")
        && region_like(r)
    {
        return None;
    }
    if let Some(b) = name.strip_suffix(".s3") {
        return Some(b.to_owned());
    }
    if let Some((b, r)) = name.rsplit_once(".s3.")
        && region_like(r)
    {
        return Some(b.to_owned());
    }
    Some(name.to_owned())
}

/// The bucket and key a request names, and whether the host named the bucket.
type Route = (Option<String>, Option<String>, bool);

fn route(domain: &str, host: Option<&str>, path: &str) -> Result<Route> {
    let host = host.map(|h| {
        // Strip the port (not inside an IPv6 literal).
        match h.rfind(':') {
            Some(i) if !h[i..].contains(']') => &h[..i],
            _ => h,
        }
    });
    let virtual_bucket = host.and_then(|h| virtual_host_bucket(domain, h));
    let path = path.strip_prefix('/').unwrap_or(path);
    if let Some(bucket) = virtual_bucket {
        let key = decode(path)?;
        return Ok((Some(bucket), (!key.is_empty()).then_some(key), true));
    }
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (path, None),
    };
    if bucket.is_empty() {
        return Ok((None, None, false));
    }
    let key = match key {
        Some(k) if !k.is_empty() => Some(decode(k)?),
        _ => None,
    };
    Ok((Some(decode(bucket)?), key, false))
}

fn auth_error(e: AuthError, query: bool) -> Error {
    match e {
        AuthError::Missing => Error::access_denied(),
        AuthError::Incomplete(m) if query => Error::new(Code::AuthorizationQueryParametersError, m),
        AuthError::Incomplete(m) => Error::new(Code::AuthorizationHeaderMalformed, m),
        AuthError::UnknownKey => Error::new(
            Code::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        AuthError::Mismatch => Error::new(
            Code::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
        AuthError::Expired(m) => Error::new(
            Code::RequestTimeTooSkewed,
            "The difference between the request time and the current time is too large.",
        )
        .with("Detail", m),
    }
}

/// The sub-resources a SigV2 signature covers.
const V2_SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A SigV2 presigned URL (`AWSAccessKeyId`, `Expires`, `Signature`), which the AWS CLI v1
/// and boto3 still make by default for endpoints outside AWS. Requests signed in headers
/// must use SigV4.
fn presigned_v2(
    keys: &KeyStore,
    parts: &http::request::Parts,
    resource_path: &str,
) -> Result<Option<Arc<Credential>>> {
    let query = parts.uri.query().unwrap_or("");
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let (Some(access_key), Some(signature)) = (get("AWSAccessKeyId"), get("Signature")) else {
        return Ok(None);
    };
    let Some(expires) = get("Expires").and_then(|e| e.parse::<i64>().ok()) else {
        return Err(Error::new(
            Code::AccessDenied,
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        ));
    };
    let cred = keys
        .lookup(access_key)
        .ok_or_else(|| auth_error(AuthError::UnknownKey, true))?;
    session_token(&cred, get("x-amz-security-token"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if now > expires {
        return Err(Error::new(Code::AccessDenied, "Request has expired")
            .with("Expires", super::iso8601(expires * 1000))
            .with("ServerTime", super::iso8601(now * 1000)));
    }
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut amz: Vec<(String, String)> = Vec::new();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if n.starts_with("x-amz-") {
            let v = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            match amz.iter_mut().find(|(k, _)| k == n) {
                Some((_, existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                None => amz.push((n.to_owned(), v)),
            }
        }
    }
    amz.sort();
    let mut to_sign = format!(
        "{}\n{}\n{}\n{expires}\n",
        parts.method.as_str(),
        header("content-md5"),
        header("content-type")
    );
    for (k, v) in &amz {
        to_sign.push_str(&format!("{k}:{v}\n"));
    }
    to_sign.push_str(resource_path);
    let mut subs: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| V2_SUBRESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        to_sign.push(if i == 0 { '?' } else { '&' });
        to_sign.push_str(k);
        if !v.is_empty() {
            to_sign.push('=');
            to_sign.push_str(v);
        }
    }
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        cred.secret_access_key.as_bytes(),
    );
    let given = super::checksum::unbase64(signature).unwrap_or_default();
    if aws_lc_rs::hmac::verify(&key, to_sign.as_bytes(), &given).is_err() {
        return Err(auth_error(AuthError::Mismatch, true));
    }
    Ok(Some(cred))
}

/// Checks the request's signature; returns the caller's credential (`None` for an anonymous
/// request), the payload declaration and what signs the chunks of its body. `bucket_path` is
/// `/<bucket>/<key>` as sent, the resource SigV2 signs.
fn authenticate(
    keys: &KeyStore,
    parts: &http::request::Parts,
    bucket_path: &str,
) -> Result<(Option<Arc<Credential>>, Payload, Option<ChunkSigning>)> {
    let query = parts.uri.query().unwrap_or("");
    let path = parts.uri.path();
    let canonical = sigv4::canonical_path(path);
    let authority = parts.uri.authority().map(|a| a.as_str());
    let req = |path| SignedRequest {
        method: parts.method.as_str(),
        path,
        query,
        headers: &parts.headers,
        authority,
        body: b"",
    };
    if let Some(cred) = presigned_v2(keys, parts, bucket_path)? {
        return Ok((Some(cred), Payload::Unsigned, None));
    }
    if let Some(p) = sigv4::parse_presigned(query).map_err(|e| auth_error(e, true))? {
        let cred = keys
            .lookup(&p.auth.access_key)
            .ok_or_else(|| auth_error(AuthError::UnknownKey, true))?;
        session_token(&cred, p.security_token.as_deref())?;
        let now = time::OffsetDateTime::now_utc();
        if now > p.signed_at + time::Duration::seconds(p.expires) {
            return Err(Error::new(Code::AccessDenied, "Request has expired")
                .with("X-Amz-Expires", p.expires.to_string())
                .with(
                    "Expires",
                    super::iso8601(
                        ((p.signed_at + time::Duration::seconds(p.expires)).unix_timestamp())
                            * 1000,
                    ),
                )
                .with("ServerTime", super::iso8601(super::now_ms())));
        }
        if p.signed_at - now > time::Duration::seconds(sigv4::MAX_SKEW_SECS) {
            return Err(Error::new(Code::AccessDenied, "Request is not valid yet"));
        }
        let result = sigv4::verify_presigned(&req(path), &p, &cred.secret_access_key);
        let result = match result {
            Err(AuthError::Mismatch) if canonical != path => {
                sigv4::verify_presigned(&req(&canonical), &p, &cred.secret_access_key)
            }
            r => r,
        };
        result.map_err(|e| auth_error(e, true))?;
        // What the URL's signature does not cover is not the signer's to grant: every
        // `x-amz-*` header the request carries must be one it signed (an ACL, tags or a copy
        // source added to a presigned PUT would act with the signer's rights), and the
        // host must be signed. `x-amz-content-sha256` only declares the body, which is
        // checked against it.
        let signed = &p.auth.signed_headers;
        let unsigned: Vec<&str> = parts
            .headers
            .keys()
            .map(http::HeaderName::as_str)
            .filter(|h| {
                h.starts_with("x-amz-")
                    && *h != "x-amz-content-sha256"
                    && !signed.iter().any(|s| s == h)
            })
            .chain((!signed.iter().any(|s| s == "host")).then_some("host"))
            .collect();
        if let Some(first) = unsigned.first() {
            return Err(Error::new(
                Code::AccessDenied,
                "There were headers present in the request which were not signed",
            )
            .with("HeadersNotSigned", (*first).to_owned()));
        }
        // The payload hash the URL signed, if any; else the body is taken as sent.
        let declared = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "X-Amz-Content-Sha256")
            .map(|(_, v)| v.into_owned())
            .or_else(|| {
                parts
                    .headers
                    .get("x-amz-content-sha256")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        let payload = match declared {
            Some(v) => Payload::parse(&v)?,
            None => Payload::Unsigned,
        };
        if matches!(payload, Payload::StreamingSigned { .. }) {
            return Err(Error::invalid_request(
                "Signed aws-chunked bodies need a signature in the Authorization header",
            ));
        }
        return Ok((Some(cred), payload, None));
    }
    let Some(header) = parts.headers.get(http::header::AUTHORIZATION) else {
        // Anonymous: the body is taken as sent; only a bucket policy can let it in.
        let payload = match parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            Some(v) if v.starts_with("STREAMING-UNSIGNED") => Payload::parse(v)?,
            _ => Payload::Unsigned,
        };
        return Ok((None, payload, None));
    };
    let header = header.to_str().map_err(|_| {
        auth_error(
            AuthError::Incomplete("Authorization is not ASCII".into()),
            false,
        )
    })?;
    if header.starts_with("AWS ") {
        return Err(Error::invalid_request(
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ));
    }
    let auth = sigv4::parse_authorization(header).map_err(|e| auth_error(e, false))?;
    let cred = keys
        .lookup(&auth.access_key)
        .ok_or_else(|| auth_error(AuthError::UnknownKey, false))?;
    session_token(
        &cred,
        parts
            .headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok()),
    )?;
    let Some(declared) = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Error::invalid_request(
            "Missing required header for this request: x-amz-content-sha256",
        ));
    };
    let payload = Payload::parse(declared)?;
    let now = time::OffsetDateTime::now_utc();
    let result = sigv4::verify_header(&req(path), &auth, &cred.secret_access_key, now, None);
    let result = match result {
        Err(AuthError::Mismatch) if canonical != path => {
            sigv4::verify_header(&req(&canonical), &auth, &cred.secret_access_key, now, None)
        }
        r => r,
    };
    let signing = result.map_err(|e| auth_error(e, false))?;
    Ok((Some(cred), payload, Some(signing)))
}

fn session_token(cred: &Credential, sent: Option<&str>) -> Result<()> {
    if let Some(token) = &cred.session_token
        && sent != Some(token.as_str())
    {
        return Err(Error::new(
            Code::InvalidToken,
            "The provided token is malformed or otherwise invalid.",
        ));
    }
    if cred
        .expires
        .is_some_and(|e| e <= std::time::SystemTime::now())
    {
        return Err(Error::new(
            Code::ExpiredToken,
            "The provided token has expired.",
        ));
    }
    Ok(())
}

/// The bucket sub-resources whose actions are `s3:Get<Name>`/`s3:Put<Name>`/`s3:Delete<Name>`
/// on the bucket ARN, with the name S3's actions give them.
const BUCKET_CONFIG_ACTIONS: &[(&str, &str)] = &[
    ("policyStatus", "BucketPolicyStatus"),
    ("policy", "BucketPolicy"),
    ("publicAccessBlock", "BucketPublicAccessBlock"),
    ("versioning", "BucketVersioning"),
    ("tagging", "BucketTagging"),
    ("cors", "BucketCORS"),
    ("lifecycle", "LifecycleConfiguration"),
    ("acl", "BucketAcl"),
    ("encryption", "EncryptionConfiguration"),
    ("ownershipControls", "BucketOwnershipControls"),
    ("object-lock", "BucketObjectLockConfiguration"),
    ("website", "BucketWebsite"),
    ("notification", "BucketNotification"),
    ("logging", "BucketLogging"),
    ("replication", "ReplicationConfiguration"),
];

/// The `s3:` action of a request, for policies: the action of the operation that
/// [`dispatch`] runs for it ([`operation`] decides both, so a request cannot be checked as one
/// operation and run as another). A request that runs nothing (a sub-resource not served, a
/// method a resource does not take) is checked as what it names.
pub fn action(ctx: &Ctx) -> String {
    match operation(ctx).action(ctx.has("versionId")) {
        Some(a) => a.to_owned(),
        None => nominal_action(ctx),
    }
}

/// The action a request that runs nothing (a sub-resource not served, a method a resource
/// does not take) names by its method and sub-resource: what it is refused as when the
/// caller may not make it.
fn nominal_action(ctx: &Ctx) -> String {
    let verb = match ctx.method {
        Method::PUT | Method::POST => "Put",
        Method::DELETE => "Delete",
        _ => "Get",
    };
    match (&ctx.bucket, &ctx.key) {
        (None, _) => "s3:ListAllMyBuckets".to_owned(),
        (Some(_), None) => match BUCKET_CONFIG_ACTIONS.iter().find(|(q, _)| ctx.has(q)) {
            Some((_, name)) => format!("s3:{verb}{name}"),
            None => "s3:ListBucket".to_owned(),
        },
        (Some(_), Some(_)) => format!("s3:{verb}Object"),
    }
}

/// The condition keys a request carries, lower case.
pub(crate) fn condition_keys(ctx: &Ctx) -> Vec<(String, String)> {
    let mut keys = crate::iam::caller_keys(&ctx.caller);
    let mut push = |k: &str, v: &str| keys.push((k.to_owned(), v.to_owned()));
    if let Some(v) = ctx.header("referer") {
        push("aws:referer", v);
    }
    if let Some(v) = ctx.header("user-agent") {
        push("aws:useragent", v);
    }
    if ctx.key.is_none() {
        for q in ["prefix", "delimiter", "max-keys"] {
            if let Some(v) = ctx.param(q) {
                push(&format!("s3:{q}"), v);
            }
        }
    }
    if let Some(v) = ctx.param("versionId") {
        push("s3:versionid", v);
    }
    // The tags a write sets (`x-amz-tagging`), as `s3:RequestObjectTag/<key>` and
    // `s3:RequestObjectTagKeys`.
    if let Some(tagging) = ctx.header("x-amz-tagging") {
        for (k, v) in form_urlencoded::parse(tagging.as_bytes()) {
            push(
                &format!("s3:requestobjecttag/{}", k.to_ascii_lowercase()),
                &v,
            );
            push("s3:requestobjecttagkeys", &k);
        }
    }
    for h in [
        "x-amz-acl",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-copy-source",
        "x-amz-metadata-directive",
        "x-amz-grant-read",
        "x-amz-grant-write",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-grant-full-control",
    ] {
        if let Some(v) = ctx.header(h) {
            push(&format!("s3:{h}"), v);
        }
    }
    keys
}

/// Whether the caller may make the request `ctx` is; a read that only an object's own ACL
/// could allow is marked on `ctx` for the read to check.
pub(crate) async fn authorize(s3: &S3, ctx: &Ctx) -> Result<()> {
    // A multi-object delete is authorized key by key (each key's `s3:DeleteObject`), by
    // the deletion itself, as S3 authorizes it: a grant on the bucket alone deletes nothing.
    if operation(ctx) == Operation::DeleteObjects {
        if let (Some(expected), Some(a)) = (
            ctx.header("x-amz-expected-bucket-owner"),
            ctx.bucket.as_deref().and_then(|b| s3.access(b)),
        ) && expected != a.owner.id
        {
            return Err(Error::access_denied());
        }
        return Ok(());
    }
    let target = Target {
        bucket: ctx.bucket.as_deref(),
        key: ctx.key.as_deref(),
        version: ctx.param("versionId"),
        action: &action(ctx),
        expected_owner: "x-amz-expected-bucket-owner",
    };
    if authorize_on(s3, ctx, &target).await? == Verdict::ObjectAcl {
        ctx.object_acl
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// Whether the caller may delete `key` (`s3:DeleteObject`, or `s3:DeleteObjectVersion` for
/// a version) in a multi-object delete.
pub(crate) async fn authorize_deletion(
    s3: &S3,
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<()> {
    let target = Target {
        bucket: Some(bucket),
        key: Some(key),
        version,
        action: if version.is_some() {
            "s3:DeleteObjectVersion"
        } else {
            "s3:DeleteObject"
        },
        expected_owner: "x-amz-expected-bucket-owner",
    };
    authorize_on(s3, ctx, &target).await.map(|_| ())
}

/// Whether the caller may read a copy's source (`s3:GetObject`, or `s3:GetObjectVersion`
/// for a version); [`Verdict::ObjectAcl`] leaves it to the source object's ACL.
pub(crate) async fn authorize_source(
    s3: &S3,
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Verdict> {
    let target = Target {
        bucket: Some(bucket),
        key: Some(key),
        version,
        action: if version.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        },
        expected_owner: "x-amz-source-expected-bucket-owner",
    };
    authorize_on(s3, ctx, &target).await
}

/// What a request asks to do, and on what.
struct Target<'a> {
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    version: Option<&'a str>,
    action: &'a str,
    /// The header naming the account that must own the bucket.
    expected_owner: &'static str,
}

/// An authorization that let the request in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Allowed.
    Allowed,
    /// Allowed if the object's ACL grants the caller READ.
    ObjectAcl,
}

async fn authorize_on(s3: &S3, ctx: &Ctx, target: &Target<'_>) -> Result<Verdict> {
    let access = target.bucket.and_then(|b| s3.access(b));
    // `x-amz-expected-bucket-owner` (`x-amz-source-expected-bucket-owner` for a copy's
    // source): the request is for this account's bucket only.
    if let (Some(expected), Some(a)) = (ctx.header(target.expected_owner), &access)
        && expected != a.owner.id
    {
        return Err(Error::access_denied());
    }
    let owner = access
        .as_ref()
        .is_none_or(|a| ctx.caller.in_account(&a.owner.id));
    // An account's own keys skip the work when no bucket policy could deny them.
    if owner
        && matches!(ctx.caller, Caller::Account { policy: None, .. })
        && access.as_ref().is_none_or(|a| a.policy.is_none())
    {
        return Ok(Verdict::Allowed);
    }
    // Creating a bucket another account has is answered `BucketAlreadyExists` by the
    // creation itself, as S3 answers it.
    if !owner && matches!(ctx.caller, Caller::Account { .. }) && target.action == "s3:CreateBucket"
    {
        return Ok(Verdict::Allowed);
    }
    let resource = match (target.bucket, target.key) {
        (None, _) => "*".to_owned(),
        (Some(b), None) => format!("arn:aws:s3:::{b}"),
        (Some(b), Some(k)) => format!("arn:aws:s3:::{b}/{k}"),
    };
    let mut keys = condition_keys(ctx);
    // `s3:ExistingObjectTag/<key>`: the tags of the object the request names, read only
    // when the bucket's policy asks about them.
    if let (Some(b), Some(k), Some(a)) = (target.bucket, target.key, &access)
        && a.policy
            .as_ref()
            .is_some_and(|p| p.mentions("s3:existingobjecttag/"))
        && let Ok((meta, _)) = s3.open_object(b, k, target.version, false).await
    {
        for (k, v) in &meta.tags {
            keys.push((
                format!("s3:existingobjecttag/{}", k.to_ascii_lowercase()),
                v.clone(),
            ));
        }
    }
    let decision = super::policy::decide(
        access.as_deref(),
        &ctx.caller,
        target.action,
        &resource,
        &keys,
    );
    match decision {
        Decision::Allow => Ok(Verdict::Allowed),
        Decision::ImplicitDeny if !owner => {
            // What the bucket's ACL grants this caller, where ACLs are in force. A read of
            // an object may still be granted by the object's own ACL, which the read checks.
            // A grant is to the caller's account: a session of it still needs its own
            // policy to allow the request, as S3 evaluates the user's context first.
            if let Caller::Account {
                policy: Some(p), ..
            } = &ctx.caller
                && p.decide(target.action, &resource) != Decision::Allow
            {
                return Err(Error::access_denied());
            }
            let Some(a) = access.as_deref().filter(|a| a.acls) else {
                return Err(Error::access_denied());
            };
            let action = target.action;
            let grants = |p| super::acl::grants_to(&a.grants, &ctx.caller, p);
            let granted = match action {
                "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => {
                    grants("READ")
                }
                "s3:PutObject"
                | "s3:DeleteObject"
                | "s3:DeleteObjectVersion"
                | "s3:AbortMultipartUpload"
                | "s3:ListMultipartUploadParts" => grants("WRITE"),
                "s3:GetBucketAcl" => grants("READ_ACP"),
                "s3:PutBucketAcl" => grants("WRITE_ACP"),
                "s3:GetObject" | "s3:GetObjectVersion" => return Ok(Verdict::ObjectAcl),
                _ => false,
            };
            if granted {
                Ok(Verdict::Allowed)
            } else {
                Err(Error::access_denied())
            }
        }
        _ => Err(Error::access_denied()),
    }
}

/// The most bytes of request headers S3 reads (each `name: value` and its line end).
const MAX_HEADER_SECTION: usize = 8 * 1024;

/// Serves one HTTP request.
pub async fn handle(service: &Service, req: http::Request<Incoming>) -> Response<Body> {
    let rid = request_id();
    let head = req.method() == Method::HEAD;
    let (parts, body) = req.into_parts();
    let resource = parts.uri.path().to_owned();
    // hyper sends `100 Continue` only when a body is read; botocore, which sends
    // `Expect: 100-continue` on every upload, misreads the next response on a connection where
    // the final answer came without one (an empty body, an early refusal). S3 always answers
    // 100 first; without that choice, such a connection is closed after its response.
    let expect = parts
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let empty = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .is_none_or(|v| v.as_bytes() == b"0");
    // A browser's preflight carries no credentials; the bucket's CORS rules answer it.
    let origin = parts
        .headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let cors_bucket = if origin.is_some() || parts.method == Method::OPTIONS {
        route(&service.domain, host, parts.uri.path())
            .ok()
            .and_then(|(b, _, _)| b)
    } else {
        None
    };
    let method = parts.method.clone();
    let mut response = if method == Method::OPTIONS {
        let answer = match &cors_bucket {
            Some(b) => service.s3.preflight(&parts.headers, b).await,
            None => Err(Error::new(
                Code::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            )),
        };
        answer.unwrap_or_else(|e| error_response(&e, &resource, &rid, false))
    } else {
        match prepare(service, parts, body).await {
            Ok(mut ctx) => {
                let resource = ctx.resource.clone();
                let origin = super::notification::Origin::new(&rid, &ctx.caller);
                let result = super::notification::as_request(origin, async {
                    match ctx.bucket.clone() {
                        Some(b) if form_post(&ctx) => {
                            service.s3.post_object(&service.keys, &mut ctx, &b).await
                        }
                        _ => dispatch(&service.s3, &mut ctx).await,
                    }
                })
                .await;
                match result {
                    Ok(r) => r,
                    Err(e) => {
                        drain(&mut ctx).await;
                        error_response(&e, &resource, &rid, head)
                    }
                }
            }
            Err((e, body)) => {
                if !expect {
                    drain_incoming(body, service.body_idle_timeout).await;
                }
                error_response(&e, &resource, &rid, head)
            }
        }
    };
    if method != Method::OPTIONS
        && let (Some(o), Some(b)) = (&origin, &cors_bucket)
    {
        service.s3.cors_response(b, o, &method, &mut response).await;
    }
    let failed = !response.status().is_success();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    h.insert(http::header::SERVER, HeaderValue::from_static("Meridian"));
    if expect && (empty || failed) {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The bound on what an early refusal reads of an unread body: enough for small uploads to
/// get their error instead of a reset connection.
const DRAIN_LIMIT: u64 = 8 << 20;

async fn drain(ctx: &mut Ctx) {
    if ctx.header("expect").is_some() {
        return;
    }
    drain_incoming(ctx.body.take(), ctx.idle).await;
}

/// Reads and drops up to [`DRAIN_LIMIT`] bytes of an unread body, each frame within `idle`.
async fn drain_incoming(body: Option<Incoming>, idle: std::time::Duration) {
    let Some(mut body) = body else { return };
    let mut n = 0u64;
    while n < DRAIN_LIMIT {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(f))) => n += f.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

async fn prepare(
    service: &Service,
    parts: http::request::Parts,
    body: Incoming,
) -> std::result::Result<Ctx, (Error, Option<Incoming>)> {
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + ": ".len() + value.len() + "\r\n".len())
        .sum();
    if header_bytes > MAX_HEADER_SECTION {
        let e = Error::new(
            Code::RequestHeaderSectionTooLarge,
            "Your request header section exceeds the maximum allowed size.",
        )
        .with("MaxSizeAllowed", MAX_HEADER_SECTION.to_string());
        return Err((e, Some(body)));
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let (bucket, key, virtual_hosted) = match route(&service.domain, host, parts.uri.path()) {
        Ok(r) => r,
        Err(e) => return Err((e, Some(body))),
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(
        parts
            .uri
            .query()
            .unwrap_or("")
            .replace('+', "%2B")
            .as_bytes(),
    )
    .map(|(k, v)| (k.into_owned(), v.into_owned()))
    .collect();
    let resource = match (&bucket, &key) {
        (Some(b), Some(k)) => format!("/{b}/{k}"),
        (Some(b), None) => format!("/{b}"),
        _ => "/".to_owned(),
    };
    let path = parts.uri.path();
    let bucket_path = match (&bucket, virtual_hosted) {
        (Some(b), true) => format!("/{b}{path}"),
        _ => path.to_owned(),
    };
    let (cred, payload, signing) = match authenticate(&service.keys, &parts, &bucket_path) {
        Ok(a) => a,
        Err(e) => return Err((e, Some(body))),
    };
    let ctx = Ctx {
        method: parts.method,
        headers: parts.headers,
        query,
        bucket,
        key,
        resource,
        caller: Caller::of(cred.as_deref()),
        keys: service.keys.clone(),
        object_acl: std::sync::atomic::AtomicBool::new(false),
        body: Some(body),
        payload,
        signing,
        idle: service.body_idle_timeout,
    };
    // A browser upload is signed by its form's policy, checked once the fields are read.
    if !form_post(&ctx)
        && let Err(e) = authorize(&service.s3, &ctx).await
    {
        return Err((e, ctx.body));
    }
    Ok(ctx)
}

/// Whether a request is a browser upload (PostObject).
fn form_post(ctx: &Ctx) -> bool {
    ctx.method == Method::POST
        && ctx.bucket.is_some()
        && ctx.key.is_none()
        && ctx.query.is_empty()
        && super::post::is_form(&ctx.headers)
}

fn not_implemented(what: &str) -> Error {
    Error::new(
        Code::NotImplemented,
        format!(
            "A header or query you provided implies functionality that is not implemented: {what}"
        ),
    )
}

/// The sub-resources of buckets not served yet; each is refused by name.
const BUCKET_SUBRESOURCES: &[&str] = &[
    "analytics",
    "accelerate",
    "intelligent-tiering",
    "inventory",
    "logging",
    "metrics",
    "replication",
    "requestPayment",
    "website",
];

/// The sub-resources of objects not served yet.
const OBJECT_SUBRESOURCES: &[&str] = &["restore", "select", "torrent"];

/// The operation a request asks for, decided once for authorization and for dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    ListBuckets,
    /// A sub-resource not served yet.
    NotImplemented(&'static str),
    MethodNotAllowed,
    PutBucketNotification,
    GetBucketNotification,
    PutBucketVersioning,
    ListObjectVersions,
    PutBucketLifecycle,
    GetBucketLifecycle,
    DeleteBucketLifecycle,
    PutBucketAcl,
    GetBucketAcl,
    PutOwnershipControls,
    GetOwnershipControls,
    DeleteOwnershipControls,
    PutObjectLockConfig,
    GetObjectLockConfig,
    PutBucketEncryption,
    GetBucketEncryption,
    DeleteBucketEncryption,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    PutBucketTagging,
    GetBucketTagging,
    DeleteBucketTagging,
    PutBucketPolicy,
    GetBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    PutPublicAccessBlock,
    GetPublicAccessBlock,
    DeletePublicAccessBlock,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    DeleteObjects,
    GetBucketLocation,
    GetBucketVersioning,
    ListMultipartUploads,
    ListObjectsV2,
    ListObjects,
    GetObjectAttributes,
    PutObjectAcl,
    GetObjectAcl,
    PutObjectRetention,
    GetObjectRetention,
    PutLegalHold,
    GetLegalHold,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    UploadPart,
    PutObject,
    ListParts,
    GetObject,
    HeadObject,
    AbortUpload,
    DeleteObject,
    CreateUpload,
    CompleteUpload,
}

/// The operation `ctx` asks for: its method and the first sub-resource, in the order below.
fn operation(ctx: &Ctx) -> Operation {
    use Operation as R;
    let m = &ctx.method;
    if ctx.bucket.is_none() {
        return if *m == Method::GET {
            R::ListBuckets
        } else {
            R::MethodNotAllowed
        };
    }
    let has = |q: &str| ctx.has(q);
    if ctx.key.is_none() {
        if let Some(sub) = BUCKET_SUBRESOURCES.iter().find(|s| has(s)) {
            return R::NotImplemented(sub);
        }
        return match *m {
            Method::PUT if has("notification") => R::PutBucketNotification,
            Method::GET if has("notification") => R::GetBucketNotification,
            Method::PUT if has("versioning") => R::PutBucketVersioning,
            Method::GET if has("versions") => R::ListObjectVersions,
            Method::PUT if has("lifecycle") => R::PutBucketLifecycle,
            Method::GET if has("lifecycle") => R::GetBucketLifecycle,
            Method::DELETE if has("lifecycle") => R::DeleteBucketLifecycle,
            Method::PUT if has("acl") => R::PutBucketAcl,
            Method::GET if has("acl") => R::GetBucketAcl,
            Method::PUT if has("ownershipControls") => R::PutOwnershipControls,
            Method::GET if has("ownershipControls") => R::GetOwnershipControls,
            Method::DELETE if has("ownershipControls") => R::DeleteOwnershipControls,
            Method::PUT if has("object-lock") => R::PutObjectLockConfig,
            Method::GET if has("object-lock") => R::GetObjectLockConfig,
            Method::PUT if has("encryption") => R::PutBucketEncryption,
            Method::GET if has("encryption") => R::GetBucketEncryption,
            Method::DELETE if has("encryption") => R::DeleteBucketEncryption,
            Method::PUT if has("cors") => R::PutBucketCors,
            Method::GET if has("cors") => R::GetBucketCors,
            Method::DELETE if has("cors") => R::DeleteBucketCors,
            Method::PUT if has("tagging") => R::PutBucketTagging,
            Method::GET if has("tagging") => R::GetBucketTagging,
            Method::DELETE if has("tagging") => R::DeleteBucketTagging,
            Method::PUT if has("policy") => R::PutBucketPolicy,
            Method::GET if has("policy") => R::GetBucketPolicy,
            Method::DELETE if has("policy") => R::DeleteBucketPolicy,
            Method::GET if has("policyStatus") => R::GetBucketPolicyStatus,
            Method::PUT if has("publicAccessBlock") => R::PutPublicAccessBlock,
            Method::GET if has("publicAccessBlock") => R::GetPublicAccessBlock,
            Method::DELETE if has("publicAccessBlock") => R::DeletePublicAccessBlock,
            Method::PUT => R::CreateBucket,
            Method::DELETE => R::DeleteBucket,
            Method::HEAD => R::HeadBucket,
            Method::POST if has("delete") => R::DeleteObjects,
            Method::GET if has("location") => R::GetBucketLocation,
            Method::GET if has("versioning") => R::GetBucketVersioning,
            Method::GET if has("uploads") => R::ListMultipartUploads,
            Method::GET if ctx.param("list-type") == Some("2") => R::ListObjectsV2,
            Method::GET => R::ListObjects,
            _ => R::MethodNotAllowed,
        };
    }
    if let Some(sub) = OBJECT_SUBRESOURCES.iter().find(|s| has(s)) {
        return R::NotImplemented(sub);
    }
    match *m {
        Method::GET if has("attributes") => R::GetObjectAttributes,
        Method::PUT if has("acl") => R::PutObjectAcl,
        Method::GET if has("acl") => R::GetObjectAcl,
        Method::PUT if has("retention") => R::PutObjectRetention,
        Method::GET if has("retention") => R::GetObjectRetention,
        Method::PUT if has("legal-hold") => R::PutLegalHold,
        Method::GET if has("legal-hold") => R::GetLegalHold,
        Method::PUT if has("tagging") => R::PutObjectTagging,
        Method::GET if has("tagging") => R::GetObjectTagging,
        Method::DELETE if has("tagging") => R::DeleteObjectTagging,
        Method::PUT if has("uploadId") => R::UploadPart,
        Method::PUT => R::PutObject,
        Method::GET if has("uploadId") => R::ListParts,
        Method::GET => R::GetObject,
        Method::HEAD => R::HeadObject,
        Method::DELETE if has("uploadId") => R::AbortUpload,
        Method::DELETE => R::DeleteObject,
        Method::POST if has("uploads") => R::CreateUpload,
        Method::POST if has("uploadId") => R::CompleteUpload,
        _ => R::MethodNotAllowed,
    }
}

impl Operation {
    /// The `s3:` action the operation is authorized as (`versioned`: the request names a
    /// version); `None` for a request that runs nothing.
    fn action(self, versioned: bool) -> Option<&'static str> {
        use Operation as R;
        let v = |with: &'static str, without: &'static str| if versioned { with } else { without };
        Some(match self {
            R::NotImplemented(_) | R::MethodNotAllowed => return None,
            R::ListBuckets => "s3:ListAllMyBuckets",
            R::PutBucketNotification => "s3:PutBucketNotification",
            R::GetBucketNotification => "s3:GetBucketNotification",
            R::PutBucketVersioning => "s3:PutBucketVersioning",
            R::ListObjectVersions => "s3:ListBucketVersions",
            // S3 names the deletions of some configurations with their Put action.
            R::PutBucketLifecycle | R::DeleteBucketLifecycle => "s3:PutLifecycleConfiguration",
            R::GetBucketLifecycle => "s3:GetLifecycleConfiguration",
            R::PutBucketAcl => "s3:PutBucketAcl",
            R::GetBucketAcl => "s3:GetBucketAcl",
            R::PutOwnershipControls => "s3:PutBucketOwnershipControls",
            R::GetOwnershipControls => "s3:GetBucketOwnershipControls",
            R::DeleteOwnershipControls => "s3:DeleteBucketOwnershipControls",
            R::PutObjectLockConfig => "s3:PutBucketObjectLockConfiguration",
            R::GetObjectLockConfig => "s3:GetBucketObjectLockConfiguration",
            R::PutBucketEncryption | R::DeleteBucketEncryption => "s3:PutEncryptionConfiguration",
            R::GetBucketEncryption => "s3:GetEncryptionConfiguration",
            R::PutBucketCors | R::DeleteBucketCors => "s3:PutBucketCORS",
            R::GetBucketCors => "s3:GetBucketCORS",
            R::PutBucketTagging | R::DeleteBucketTagging => "s3:PutBucketTagging",
            R::GetBucketTagging => "s3:GetBucketTagging",
            R::PutBucketPolicy => "s3:PutBucketPolicy",
            R::GetBucketPolicy => "s3:GetBucketPolicy",
            R::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            R::GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            R::PutPublicAccessBlock => "s3:PutBucketPublicAccessBlock",
            R::GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            R::DeletePublicAccessBlock => "s3:DeleteBucketPublicAccessBlock",
            R::CreateBucket => "s3:CreateBucket",
            R::DeleteBucket => "s3:DeleteBucket",
            R::HeadBucket | R::ListObjectsV2 | R::ListObjects => "s3:ListBucket",
            R::DeleteObjects => "s3:DeleteObject",
            R::GetBucketLocation => "s3:GetBucketLocation",
            R::GetBucketVersioning => "s3:GetBucketVersioning",
            R::ListMultipartUploads => "s3:ListBucketMultipartUploads",
            R::GetObjectAttributes => v("s3:GetObjectVersionAttributes", "s3:GetObjectAttributes"),
            R::PutObjectAcl => v("s3:PutObjectVersionAcl", "s3:PutObjectAcl"),
            R::GetObjectAcl => v("s3:GetObjectVersionAcl", "s3:GetObjectAcl"),
            R::PutObjectRetention => "s3:PutObjectRetention",
            R::GetObjectRetention => "s3:GetObjectRetention",
            R::PutLegalHold => "s3:PutObjectLegalHold",
            R::GetLegalHold => "s3:GetObjectLegalHold",
            R::PutObjectTagging => v("s3:PutObjectVersionTagging", "s3:PutObjectTagging"),
            R::GetObjectTagging => v("s3:GetObjectVersionTagging", "s3:GetObjectTagging"),
            R::DeleteObjectTagging => v("s3:DeleteObjectVersionTagging", "s3:DeleteObjectTagging"),
            R::UploadPart | R::PutObject | R::CreateUpload | R::CompleteUpload => "s3:PutObject",
            R::ListParts => "s3:ListMultipartUploadParts",
            R::GetObject | R::HeadObject => v("s3:GetObjectVersion", "s3:GetObject"),
            R::AbortUpload => "s3:AbortMultipartUpload",
            R::DeleteObject => v("s3:DeleteObjectVersion", "s3:DeleteObject"),
        })
    }
}

async fn dispatch(s3: &S3, ctx: &mut Ctx) -> Result<Response<Body>> {
    use Operation as R;
    let not_allowed = || {
        Err(Error::new(
            Code::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        ))
    };
    let route = operation(ctx);
    let Some(bucket) = ctx.bucket.clone() else {
        return match route {
            R::ListBuckets => s3.list_buckets(ctx).await,
            _ => not_allowed(),
        };
    };
    let Some(key) = ctx.key.clone() else {
        return match route {
            R::NotImplemented(sub) => Err(not_implemented(&format!("?{sub}"))),
            R::PutBucketNotification => s3.put_bucket_notification(ctx, &bucket).await,
            R::GetBucketNotification => s3.get_bucket_notification(&bucket).await,
            R::PutBucketVersioning => s3.put_bucket_versioning(ctx, &bucket).await,
            R::ListObjectVersions => s3.list_versions(ctx, &bucket).await,
            R::PutBucketLifecycle => s3.put_bucket_lifecycle(ctx, &bucket).await,
            R::GetBucketLifecycle => s3.get_bucket_lifecycle(&bucket).await,
            R::DeleteBucketLifecycle => s3.delete_bucket_lifecycle(&bucket).await,
            R::PutBucketAcl => s3.put_bucket_acl(ctx, &bucket).await,
            R::GetBucketAcl => s3.get_bucket_acl(ctx, &bucket).await,
            R::PutOwnershipControls => s3.put_ownership_controls(ctx, &bucket).await,
            R::GetOwnershipControls => s3.get_ownership_controls(&bucket).await,
            R::DeleteOwnershipControls => s3.delete_ownership_controls(&bucket).await,
            R::PutObjectLockConfig => s3.put_object_lock_config(ctx, &bucket).await,
            R::GetObjectLockConfig => s3.get_object_lock_config(&bucket).await,
            R::PutBucketEncryption => s3.put_bucket_encryption(ctx, &bucket).await,
            R::GetBucketEncryption => s3.get_bucket_encryption(&bucket).await,
            R::DeleteBucketEncryption => s3.delete_bucket_encryption(&bucket).await,
            R::PutBucketCors => s3.put_bucket_cors(ctx, &bucket).await,
            R::GetBucketCors => s3.get_bucket_cors(&bucket).await,
            R::DeleteBucketCors => s3.delete_bucket_cors(&bucket).await,
            R::PutBucketTagging => s3.put_bucket_tagging(ctx, &bucket).await,
            R::GetBucketTagging => s3.get_bucket_tagging(&bucket).await,
            R::DeleteBucketTagging => s3.delete_bucket_tagging(&bucket).await,
            R::PutBucketPolicy => s3.put_bucket_policy(ctx, &bucket).await,
            R::GetBucketPolicy => s3.get_bucket_policy(&bucket).await,
            R::DeleteBucketPolicy => s3.delete_bucket_policy(&bucket).await,
            R::GetBucketPolicyStatus => s3.bucket_policy_status(&bucket).await,
            R::PutPublicAccessBlock => s3.put_public_access_block(ctx, &bucket).await,
            R::GetPublicAccessBlock => s3.get_public_access_block(&bucket).await,
            R::DeletePublicAccessBlock => s3.delete_public_access_block(&bucket).await,
            R::CreateBucket => s3.create_bucket(ctx, &bucket).await,
            R::DeleteBucket => s3.delete_bucket(&bucket).await,
            R::HeadBucket => s3.head_bucket(&bucket).await,
            R::DeleteObjects => s3.delete_objects(ctx, &bucket).await,
            R::GetBucketLocation => s3.bucket_location(&bucket).await,
            R::GetBucketVersioning => s3.bucket_versioning(&bucket).await,
            R::ListMultipartUploads => s3.list_uploads(ctx, &bucket).await,
            R::ListObjectsV2 => s3.list_objects(ctx, &bucket, true).await,
            R::ListObjects => s3.list_objects(ctx, &bucket, false).await,
            _ => not_allowed(),
        };
    };
    if key.len() > MAX_KEY {
        return Err(Error::new(Code::KeyTooLongError, "Your key is too long")
            .with("Size", key.len().to_string())
            .with("MaxSizeAllowed", MAX_KEY.to_string()));
    }
    match route {
        R::NotImplemented(sub) => Err(not_implemented(&format!("?{sub}"))),
        R::GetObjectAttributes => s3.object_attributes(ctx, &bucket, &key).await,
        R::PutObjectAcl => s3.put_object_acl(ctx, &bucket, &key).await,
        R::GetObjectAcl => s3.get_object_acl(ctx, &bucket, &key).await,
        R::PutObjectRetention => s3.put_object_retention(ctx, &bucket, &key).await,
        R::GetObjectRetention => s3.get_object_retention(ctx, &bucket, &key).await,
        R::PutLegalHold => s3.put_legal_hold(ctx, &bucket, &key).await,
        R::GetLegalHold => s3.get_legal_hold(ctx, &bucket, &key).await,
        R::PutObjectTagging => s3.put_object_tagging(ctx, &bucket, &key).await,
        R::GetObjectTagging => s3.get_object_tagging(ctx, &bucket, &key).await,
        R::DeleteObjectTagging => s3.delete_object_tagging(ctx, &bucket, &key).await,
        R::UploadPart => s3.upload_part(ctx, &bucket, &key).await,
        R::PutObject => s3.put_object(ctx, &bucket, &key).await,
        R::ListParts => s3.list_parts(ctx, &bucket, &key).await,
        R::GetObject => s3.get_object(ctx, &bucket, &key, false).await,
        R::HeadObject => s3.get_object(ctx, &bucket, &key, true).await,
        R::AbortUpload => s3.abort_upload(ctx, &bucket, &key).await,
        R::DeleteObject => s3.delete_object(ctx, &bucket, &key).await,
        R::CreateUpload => s3.create_upload(ctx, &bucket, &key).await,
        R::CompleteUpload => s3.complete_upload(ctx, &bucket, &key).await,
        _ => not_allowed(),
    }
}

/// A running endpoint; stops when dropped.
#[derive(Debug)]
pub struct Endpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Binds `addr` (port 0 for any) and serves until dropped.
    pub async fn start(service: Service, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, service, std::future::pending()));
        Ok(Self { addr, task })
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the S3 API on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, service: Service, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let service = service.clone();
                async move {
                    let answer = super::notification::PEER.scope(peer.ip(), handle(&service, req));
                    Ok::<_, Infallible>(answer.await)
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_path_style_and_virtual_hosted_style() {
        let r = |host, path| route("localhost", host, path).unwrap();
        assert_eq!(r(Some("127.0.0.1:9000"), "/"), (None, None, false));
        assert_eq!(
            r(Some("127.0.0.1:9000"), "/b"),
            (Some("b".into()), None, false)
        );
        assert_eq!(
            r(Some("localhost:9000"), "/b/a%20b/c%2Bd+e"),
            (Some("b".into()), Some("a b/c+d+e".into()), false)
        );
        assert_eq!(
            r(Some("photos.localhost:9000"), "/x/y"),
            (Some("photos".into()), Some("x/y".into()), true)
        );
        assert_eq!(
            r(Some("photos.localhost"), "/"),
            (Some("photos".into()), None, true)
        );
        assert!(route("localhost", None, "/b/%ff").is_err());
        for (host, bucket) in [
            ("site.s3.localhost:9000", Some("site")),
            ("site.s3.eu-west-1.localhost", Some("site")),
            ("my.dotted.bucket.localhost", Some("my.dotted.bucket")),
            ("s3.localhost:9000", None),
            ("s3.us-east-1.localhost", None),
            ("localhost", None),
            ("example.com", None),
        ] {
            let want = match bucket {
                Some(b) => (Some(b.to_owned()), Some("k".to_owned()), true),
                None => (Some("k".to_owned()), None, false),
            };
            assert_eq!(r(Some(host), "/k"), want, "{host}");
        }
    }
}
