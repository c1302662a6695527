//! Test harness for the S3 API: the endpoint on 127.0.0.1:0 (in-process or as a
//! `meridian-buckets` process), a raw signed HTTP client for the cases real clients never
//! send, and the environment of the real clients (AWS CLI, boto3, rclone).
#![allow(dead_code, unreachable_pub)]

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
pub use common::{ACCESS_KEY, Process, SECRET_KEY, aws_env, boto3, run_python, tool};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use meridian_storage::engine::Engine;
use meridian_storage::keys::KeyStore;
use meridian_storage::s3::S3;
use meridian_storage::s3::api::{Endpoint, Service};
use meridian_storage::sigv4::{self, SignedRequest};

/// An in-process endpoint with a fresh state directory and the test key.
pub struct Server {
    pub endpoint: Endpoint,
    pub dir: tempfile::TempDir,
    pub keys: Arc<KeyStore>,
    pub s3: Arc<S3>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(meridian_storage::s3::api::BODY_IDLE_TIMEOUT).await
    }

    /// With uploads ended after `idle` without a byte.
    pub async fn start_with(idle: Duration) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(&dir.path().join("meridian.redb")).expect("engine");
        let s3 = S3::open(engine, &dir.path().join("s3"), "us-east-1")
            .await
            .expect("s3");
        let keys = Arc::new(KeyStore::empty());
        keys.add(ACCESS_KEY, SECRET_KEY);
        let service = Service {
            s3: s3.clone(),
            keys: keys.clone(),
            domain: "localhost".into(),
            body_idle_timeout: idle,
        };
        let endpoint = Endpoint::start(service, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("listen");
        Self {
            endpoint,
            dir,
            keys,
            s3,
        }
    }

    pub fn url(&self) -> String {
        self.endpoint.url()
    }

    /// The object files under the state directory (data and staging).
    pub fn files(&self) -> (usize, usize) {
        count_files(&self.dir.path().join("s3"))
    }
}

/// (files under `data`, files under `tmp`).
pub fn count_files(s3: &Path) -> (usize, usize) {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p).map_or(0, |rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { walk(&p) } else { 1 }
                })
                .sum()
        })
    }
    (walk(&s3.join("data")), walk(&s3.join("tmp")))
}

/// `yyyymmddThhmmssZ` of now, shifted by `offset_secs`.
pub fn amz_date(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    sigv4::format_amz_date(t)
}

/// How a raw request declares and signs its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `x-amz-content-sha256` is the body's SHA-256.
    Signed,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// This exact `x-amz-content-sha256` value (a wrong hash, a streaming marker).
    Declared(String),
}

/// A raw S3 request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    /// The path as sent (already percent-encoded).
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub payload: Payload,
    /// Sign with this secret (`None`: anonymous).
    pub secret: Option<String>,
    /// Offset of the signing time from now.
    pub clock_offset: i64,
}

impl Req {
    pub fn new(method: &'static str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            payload: Payload::Signed,
            secret: Some(SECRET_KEY.to_owned()),
            clock_offset: 0,
        }
    }

    pub fn query(mut self, q: &str) -> Self {
        self.query = q.to_owned();
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_ascii_lowercase(), v.to_owned()));
        self
    }

    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }

    pub fn payload(mut self, p: Payload) -> Self {
        self.payload = p;
        self
    }

    pub fn secret(mut self, s: Option<&str>) -> Self {
        self.secret = s.map(str::to_owned);
        self
    }

    /// The request head, the signature it carries and its time, for `authority`.
    pub fn head(&self, authority: &str) -> (http::HeaderMap, String, String) {
        let amz = amz_date(self.clock_offset);
        let mut headers = http::HeaderMap::new();
        if !self.headers.iter().any(|(k, _)| k == "host") {
            headers.insert("host", authority.parse().expect("host"));
        }
        // An anonymous or presigned request carries no date header: a presigned URL's
        // signature does not cover one.
        if self.secret.is_some() {
            headers.insert("x-amz-date", amz.parse().expect("date"));
        }
        let declared = match &self.payload {
            Payload::Signed => sigv4::sha256_hex(&self.body),
            Payload::Unsigned => "UNSIGNED-PAYLOAD".to_owned(),
            Payload::Declared(v) => v.clone(),
        };
        headers.insert("x-amz-content-sha256", declared.parse().expect("sha"));
        for (k, v) in &self.headers {
            headers.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        let mut seed = String::new();
        if let Some(secret) = &self.secret {
            let mut signed: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
            signed.sort();
            signed.dedup();
            let req = SignedRequest {
                method: self.method,
                path: &self.path,
                query: &self.query,
                headers: &headers,
                authority: None,
                body: &self.body,
            };
            let auth = sigv4::sign(&req, ACCESS_KEY, secret, "us-east-1", "s3", &amz, &signed);
            seed = auth
                .rsplit("Signature=")
                .next()
                .unwrap_or_default()
                .to_owned();
            headers.insert("authorization", auth.parse().expect("auth"));
        }
        (headers, seed, amz)
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an error document.
    pub fn code(&self) -> String {
        let t = self.text();
        t.split("<Code>")
            .nth(1)
            .and_then(|r| r.split("</Code>").next())
            .unwrap_or("")
            .to_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends `req` to `url` (http://host:port).
pub async fn send(url: &str, req: Req) -> Resp {
    send_built(url, req, |_, _, body| body).await
}

/// Sends `req`; `None` when the connection fails (a server killed mid-request).
pub async fn try_send(url: &str, req: Req) -> Option<Resp> {
    use http_body_util::BodyExt as _;
    let uri: http::Uri = url.parse().ok()?;
    let authority = uri.authority()?.to_string();
    let (headers, _, _) = req.head(&authority);
    let stream = tokio::net::TcpStream::connect(&authority).await.ok()?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    let target = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut r = http::Request::builder()
        .method(req.method)
        .uri(target)
        .body(http_body_util::Full::new(bytes::Bytes::from(req.body)))
        .ok()?;
    *r.headers_mut() = headers;
    let resp = sender.send_request(r).await.ok()?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.ok()?.to_bytes().to_vec();
    Some(Resp {
        status,
        headers,
        body,
    })
}

/// An `aws-chunked` body of `chunks` with `trailers`; its chunks (and trailer) are signed when
/// `signing` is given.
pub fn chunked_body(
    chunks: &[&[u8]],
    mut signing: Option<sigv4::ChunkSigning>,
    trailers: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = Vec::new();
    let empty: &[u8] = b"";
    for c in chunks.iter().copied().chain(std::iter::once(empty)) {
        out.extend_from_slice(format!("{:x}", c.len()).as_bytes());
        if let Some(s) = &mut signing {
            out.extend_from_slice(format!(";chunk-signature={}", s.sign_chunk(c)).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !c.is_empty() {
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
    }
    let mut canonical = String::new();
    for (k, v) in trailers {
        out.extend_from_slice(format!("{k}:{v}\r\n").as_bytes());
        canonical.push_str(&format!("{k}:{v}\n"));
    }
    if let (Some(s), false) = (&mut signing, trailers.is_empty()) {
        let sig = s.sign_trailer(canonical.as_bytes());
        out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Sends `req` with a body made once the head is signed (`seed` signature, `amz` time,
/// `req.body`), for signed `aws-chunked` bodies.
pub async fn send_built(
    url: &str,
    req: Req,
    build: impl FnOnce(&str, &str, Vec<u8>) -> Vec<u8>,
) -> Resp {
    use http_body_util::BodyExt as _;
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("authority").to_string();
    let (headers, seed, amz) = req.head(&authority);
    let req = Req {
        body: build(&seed, &amz, req.body.clone()),
        ..req
    };
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let target = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut r = http::Request::builder()
        .method(req.method)
        .uri(target)
        .body(http_body_util::Full::new(bytes::Bytes::from(req.body)))
        .expect("request");
    *r.headers_mut() = headers;
    let resp = sender.send_request(r).await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// Writes `head` and `body` on a fresh connection, closes the write side and returns the
/// status line and the rest of the response (for bodies shorter than declared).
pub async fn raw(url: &str, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("authority").to_string();
    let mut s = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(body).await.expect("write body");
    s.shutdown().await.expect("shutdown");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `head` and part of a body on a fresh connection and then sends nothing more,
/// keeping the connection open; returns what the server answers (bounded wait).
pub async fn raw_stalled(url: &str, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("authority").to_string();
    let mut s = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(body).await.expect("write body");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&out).contains("</Error>") {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A presigned URL path+query for `method path`, signed at now+`offset` for `expires` s.
pub fn presign(url: &str, method: &'static str, path: &str, expires: u64, offset: i64) -> String {
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("authority").to_string();
    let amz = amz_date(offset);
    let date = &amz[..8];
    let credential = format!("{ACCESS_KEY}/{date}/us-east-1/s3/aws4_request");
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={amz}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
        credential.replace('/', "%2F")
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("host", authority.parse().expect("host"));
    let req = SignedRequest {
        method,
        path,
        query: &query,
        headers: &headers,
        authority: None,
        body: b"",
    };
    let canonical = sigv4::canonical_request_with(&req, &["host".to_owned()], "UNSIGNED-PAYLOAD");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz}\n{date}/us-east-1/s3/aws4_request\n{}",
        sigv4::sha256_hex(canonical.as_bytes())
    );
    let key = sigv4::signing_key(SECRET_KEY, date, "us-east-1", "s3");
    let sig = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key),
        to_sign.as_bytes(),
    );
    let hex: String = sig.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{path}?{query}&X-Amz-Signature={hex}")
}

impl Process {
    /// A `meridian-buckets` process on `state`, once it listens.
    pub fn start(state: &Path) -> Self {
        Self::start_with(state, &[])
    }

    /// With more flags (`--account`, `--key`...) after the test key.
    pub fn start_with(state: &Path, flags: &[&str]) -> Self {
        Self::spawn(env!("CARGO_BIN_EXE_meridian-buckets"), state, flags)
    }
}
