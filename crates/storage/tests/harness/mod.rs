//! Test harness: the endpoint on 127.0.0.1:0 (in-process or as a process of its own), real
//! clients (boto3, the AWS CLI, a raw signed HTTP client), bounded waits.
#![allow(dead_code, unreachable_pub)]

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
pub use common::{ACCESS_KEY, Process, SECRET_KEY, aws_env, boto3, missing, run_python, tool};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meridian_storage::dynamo::Dynamo;
use meridian_storage::dynamo::api::Service;
use meridian_storage::engine::Engine;
use meridian_storage::keys::KeyStore;
use meridian_storage::server::Endpoint;
use meridian_storage::sigv4::{self, SignedRequest};

/// An in-process endpoint with a fresh state directory and the test key.
pub struct Server {
    pub endpoint: Endpoint,
    pub dir: tempfile::TempDir,
    /// The keys it accepts (tests issue session credentials here).
    pub keys: Arc<KeyStore>,
    /// The tables (tests run the TTL sweep here).
    pub dynamo: Arc<Dynamo>,
    /// The engine under them.
    pub engine: Engine,
}

impl Server {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(&dir.path().join("meridian.redb")).expect("engine");
        Self::serve(dir, engine).await
    }

    /// The tables on `engine`, served with the test key.
    async fn serve(dir: tempfile::TempDir, engine: Engine) -> Self {
        let dynamo = Dynamo::open(engine.clone(), "us-east-1").expect("dynamo");
        let keys = Arc::new(KeyStore::empty());
        keys.add(ACCESS_KEY, SECRET_KEY);
        let service = Service {
            dynamo: dynamo.clone(),
            keys: keys.clone(),
        };
        let endpoint = Endpoint::start(service, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("listen");
        Self {
            endpoint,
            dir,
            keys,
            dynamo,
            engine,
        }
    }

    pub fn url(&self) -> String {
        self.endpoint.url()
    }

    /// An endpoint with the buckets beside it, on the same engine and keys, as `meridian
    /// up` serves them (exports and imports reach the buckets through it); answers the
    /// buckets endpoint too.
    pub async fn start_with_buckets() -> (Self, meridian_storage::s3::api::Endpoint) {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(&dir.path().join("meridian.redb")).expect("engine");
        let s3 =
            meridian_storage::s3::S3::open(engine.clone(), &dir.path().join("s3"), "us-east-1")
                .await
                .expect("s3");
        let server = Self::serve(dir, engine).await;
        let buckets = meridian_storage::s3::api::Endpoint::start(
            meridian_storage::s3::api::Service {
                s3,
                keys: server.keys.clone(),
                domain: "localhost".into(),
                body_idle_timeout: meridian_storage::s3::api::BODY_IDLE_TIMEOUT,
            },
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("listen");
        server.dynamo.serve_buckets_at(buckets.addr);
        (server, buckets)
    }
}

/// A raw signed DynamoDB request; returns status, headers and body.
pub async fn call(url: &str, op: &str, body: &str) -> (u16, http::HeaderMap, serde_json::Value) {
    call_with(
        url,
        op,
        body.as_bytes().to_vec(),
        Some((ACCESS_KEY, SECRET_KEY)),
    )
    .await
}

pub async fn call_with(
    url: &str,
    op: &str,
    body: Vec<u8>,
    key: Option<(&str, &str)>,
) -> (u16, http::HeaderMap, serde_json::Value) {
    call_at(url, "/", op, body, key, &[]).await
}

/// A raw request signed for `path`, with `extra` headers added after signing (a server
/// ignores headers the signature does not name).
pub async fn call_at(
    url: &str,
    path: &str,
    op: &str,
    body: Vec<u8>,
    key: Option<(&str, &str)>,
    extra: &[(&str, &str)],
) -> (u16, http::HeaderMap, serde_json::Value) {
    send_signed(url, path, op, &body.clone(), body, key, extra).await
}

/// A request signed over `signed_body` that carries `body` instead (what a captured signature
/// would be replayed with), with `extra` headers added after signing.
pub async fn send_signed(
    url: &str,
    path: &str,
    op: &str,
    signed_body: &[u8],
    body: Vec<u8>,
    key: Option<(&str, &str)>,
    extra: &[(&str, &str)],
) -> (u16, http::HeaderMap, serde_json::Value) {
    use http_body_util::BodyExt as _;
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("authority").to_string();
    let now = time::OffsetDateTime::now_utc();
    let amz = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("host", authority.parse().expect("host"));
    headers.insert("x-amz-date", amz.parse().expect("date"));
    // An operation of another API (`DynamoDBStreams_20120810.DescribeStream`) comes whole.
    let target = if op.contains('.') {
        op.to_owned()
    } else {
        format!("DynamoDB_20120810.{op}")
    };
    headers.insert("x-amz-target", target.parse().expect("target"));
    headers.insert(
        "content-type",
        "application/x-amz-json-1.0".parse().expect("ct"),
    );
    if let Some((ak, sk)) = key {
        let signed = vec![
            "content-type".to_owned(),
            "host".to_owned(),
            "x-amz-date".to_owned(),
            "x-amz-target".to_owned(),
        ];
        let req = SignedRequest {
            method: "POST",
            path,
            query: "",
            headers: &headers,
            authority: None,
            body: signed_body,
        };
        let auth = sigv4::sign(&req, ak, sk, "us-east-1", "dynamodb", &amz, &signed);
        headers.insert("authorization", auth.parse().expect("auth"));
    }
    for (name, value) in extra {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut req = http::Request::post(path)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("request");
    *req.headers_mut() = headers;
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    // As the SDKs do: the CRC-32 of the bytes received, when the server sends one.
    if let Some(crc) = headers.get("x-amz-crc32") {
        let crc: u32 = crc.to_str().expect("ascii").parse().expect("a number");
        assert_eq!(crc, crc32fast::hash(&bytes), "x-amz-crc32 of the body");
    }
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

impl Process {
    /// A `meridian-tables` process on `state`, once it listens.
    pub fn start(state: &Path) -> Self {
        Self::spawn(env!("CARGO_BIN_EXE_meridian-tables"), state, &[])
    }
}

/// Waits for `f` to hold, polling, up to `limit`.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
