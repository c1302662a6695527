//! A load generator for S3-compatible endpoints, used by `bench/buckets.sh` to drive
//! Meridian's buckets and its peers (Garage, SeaweedFS, moto) with the same requests, and a
//! static nginx with plain GETs of the same bytes (the disk and loopback ceiling).
//!
//! Each client holds one HTTP/1.1 keep-alive connection and sends SigV4-signed path-style
//! requests (`UNSIGNED-PAYLOAD`, as the SDKs sign over TLS) back to back for the duration;
//! response bodies are read to the end and counted, never kept. The answer is one JSON line
//! with requests per second, MiB/s and latency percentiles.
//!
//! ```text
//! s3-load --endpoint URL [--key AK:SK] [--region R] [--bucket B] [--prefix P]
//!         --op setup|put|get|list|multipart|plain-get [--size BYTES] [--objects N]
//!         [--clients N] [--duration SECS] [--part-size BYTES] [--path /P]
//! ```
//!
//! * `setup`: creates the bucket (an existing one of the caller's is fine) and uploads
//!   `--objects` objects of `--size` bytes under `PREFIX/00000`, `PREFIX/00001`, ...
//!   (`PREFIX` is `--prefix`, by default `o<size>`), `--clients` at a time;
//! * `put`: PutObject of `--size` bytes under a new key per request;
//! * `get`: GetObject of a random one of the `--objects` set-up objects, checked for length;
//! * `list`: the whole listing of `PREFIX/` with ListObjectsV2 (1,000 keys a page), checked
//!   to hold `--objects` keys; one listing counts as one request;
//! * `multipart`: one multipart upload of `--size` bytes in parts of `--part-size`
//!   (16 MiB), `--clients` parts in flight; one upload counts as one request;
//! * `plain-get`: unsigned GETs of `--path` (a static server's copy of an object).

mod load;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use meridian_storage::sigv4;
use serde_json::{Value, json};

const MIB: f64 = 1024.0 * 1024.0;

struct Options {
    addr: SocketAddr,
    host: String,
    key: (String, String),
    region: String,
    bucket: String,
    prefix: String,
    op: String,
    size: usize,
    objects: usize,
    clients: usize,
    duration: Duration,
    part_size: usize,
    path: String,
    body: Bytes,
}

fn usage() -> ! {
    eprintln!(
        "usage: s3-load --endpoint URL [--key AK:SK] [--region R] [--bucket B] [--prefix P] \
         --op setup|put|get|list|multipart|plain-get [--size BYTES] [--objects N] \
         [--clients N] [--duration SECS] [--part-size BYTES] [--path /P]"
    );
    std::process::exit(2)
}

fn parse_size(flag: &str, v: &str) -> Result<usize, String> {
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, ""),
    };
    let n: usize = digits.parse().map_err(|e| format!("{flag} {v}: {e}"))?;
    let unit = match unit {
        "" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        other => return Err(format!("{flag} {v}: unknown unit {other} (K, M or G)")),
    };
    Ok(n * unit)
}

fn parse_args() -> Result<Options, String> {
    let mut endpoint = None;
    let mut key = ("bench".to_owned(), "benchsecret".to_owned());
    let mut region = "us-east-1".to_owned();
    let mut bucket = "bench".to_owned();
    let mut prefix = None;
    let mut op = None;
    let mut size = 4096;
    let mut objects = 1000;
    let mut clients = 1;
    let mut duration = Duration::from_secs(10);
    let mut part_size = 16 << 20;
    let mut path = "/".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--key" => {
                let v = value()?;
                let (a, s) = v.split_once(':').ok_or("--key is ACCESS_KEY:SECRET")?;
                key = (a.to_owned(), s.to_owned());
            }
            "--region" => region = value()?,
            "--bucket" => bucket = value()?,
            "--prefix" => prefix = Some(value()?),
            "--op" => op = Some(value()?),
            "--size" => size = parse_size("--size", &value()?)?,
            "--objects" => {
                objects = value()?.parse().map_err(|e| format!("--objects: {e}"))?;
            }
            "--clients" => clients = value()?.parse().map_err(|e| format!("--clients: {e}"))?,
            "--duration" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--duration: {e}"))?;
                duration = Duration::from_secs_f64(secs);
            }
            "--part-size" => part_size = parse_size("--part-size", &value()?)?,
            "--path" => path = value()?,
            "-h" | "--help" => usage(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let url = endpoint.ok_or("--endpoint is required")?;
    let host = url
        .strip_prefix("http://")
        .ok_or("--endpoint must be http://HOST:PORT")?
        .trim_end_matches('/')
        .to_owned();
    let addr = host
        .parse()
        .map_err(|e| format!("--endpoint {url}: {e} (give an IP address and port)"))?;
    let op = op.ok_or("--op is required")?;
    // The bytes every upload sends: one shared buffer, so a client's memory is its own.
    let body_len = if op == "multipart" { part_size } else { size };
    let body = Bytes::from((0..body_len).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    Ok(Options {
        addr,
        host,
        key,
        region,
        prefix: prefix.unwrap_or_else(|| format!("o{size}")),
        bucket,
        op,
        size,
        objects: objects.max(1),
        clients: clients.max(1),
        duration,
        part_size: part_size.max(1),
        path,
        body,
    })
}

/// What one request answered: the status, the body's length, and the body itself when the
/// caller needs to read it (listings, multipart ids).
struct Answer {
    status: StatusCode,
    length: usize,
    text: Option<String>,
    etag: Option<String>,
}

/// One client's connection.
struct Client {
    opts: Arc<Options>,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Client {
    fn new(opts: Arc<Options>) -> Self {
        Self { opts, sender: None }
    }

    /// Sends one request; `sign` false sends it unsigned (a static server). `keep` keeps the
    /// body as text.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        query: &str,
        body: Bytes,
        sign: bool,
        keep: bool,
    ) -> Result<Answer, String> {
        let addr = self.opts.addr;
        // A server that closes its connections gets a new one, and that cost is part of its
        // figures.
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(load::open(&addr).await?);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("not connected".into());
        };
        let mut headers = HeaderMap::new();
        let value = |s: &str| HeaderValue::from_str(s).map_err(|e| e.to_string());
        headers.insert("host", value(&self.opts.host)?);
        if sign {
            let amz_date = sigv4::format_amz_date(time::OffsetDateTime::now_utc());
            headers.insert("x-amz-date", value(&amz_date)?);
            headers.insert("x-amz-content-sha256", value("UNSIGNED-PAYLOAD")?);
            let signed: Vec<String> = ["host", "x-amz-content-sha256", "x-amz-date"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            let auth = sigv4::sign(
                &sigv4::SignedRequest {
                    method: method.as_str(),
                    path,
                    query,
                    headers: &headers,
                    authority: None,
                    body: b"",
                },
                &self.opts.key.0,
                &self.opts.key.1,
                &self.opts.region,
                "s3",
                &amz_date,
                &signed,
            );
            headers.insert("authorization", value(&auth)?);
        }
        let uri = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        *req.headers_mut() = headers;
        // HTTP/1.1: the connection takes the next request once it has finished the last.
        if sender.ready().await.is_err() {
            *sender = load::open(&addr).await?;
            sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
        }
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = resp.into_body();
        let mut length = 0;
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("body: {e}"))?;
            if let Some(data) = frame.data_ref() {
                length += data.len();
                if keep || !status.is_success() {
                    kept.extend_from_slice(data);
                }
            }
        }
        let text = (keep || !status.is_success()).then(|| String::from_utf8_lossy(&kept).into());
        Ok(Answer {
            status,
            length,
            text,
            etag,
        })
    }

    /// A signed request that must succeed; its failure names S3's error code.
    async fn ok(
        &mut self,
        method: Method,
        path: &str,
        query: &str,
        body: Bytes,
        keep: bool,
    ) -> Result<Answer, String> {
        let answer = self.send(method, path, query, body, true, keep).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            let text = answer.text.unwrap_or_default();
            let code = between(&text, "<Code>", "</Code>").unwrap_or("no error code");
            Err(format!("{} {code}", answer.status.as_u16()))
        }
    }
}

/// The text between the first `open` and the next `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

fn object_path(opts: &Options, name: &str) -> String {
    format!("/{}/{}/{name}", opts.bucket, opts.prefix)
}

async fn setup(opts: Arc<Options>) -> Result<Value, String> {
    let mut c = Client::new(opts.clone());
    let created = c
        .send(
            Method::PUT,
            &format!("/{}", opts.bucket),
            "",
            Bytes::new(),
            true,
            true,
        )
        .await?;
    let text = created.text.unwrap_or_default();
    if !created.status.is_success() && !text.contains("BucketAlreadyOwnedByYou") {
        return Err(format!("create bucket: {} {text}", created.status));
    }
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..opts.clients {
        let (opts, next) = (opts.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(opts.clone());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= opts.objects {
                    return Ok::<_, String>(());
                }
                let path = object_path(&opts, &format!("{i:05}"));
                c.ok(Method::PUT, &path, "", opts.body.clone(), false)
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(json!({"op": "setup", "objects": opts.objects, "size": opts.size}))
}

/// One listing of the whole prefix; the number of keys it held.
async fn list_all(c: &mut Client, opts: &Options) -> Result<usize, String> {
    let mut keys = 0;
    let mut token: Option<String> = None;
    let prefix: String =
        form_urlencoded::byte_serialize(format!("{}/", opts.prefix).as_bytes()).collect();
    loop {
        let mut query = format!("list-type=2&max-keys=1000&prefix={prefix}");
        if let Some(t) = &token {
            let t = t.replace("&amp;", "&");
            query.push_str("&continuation-token=");
            query.extend(form_urlencoded::byte_serialize(t.as_bytes()));
        }
        let answer = c
            .ok(
                Method::GET,
                &format!("/{}", opts.bucket),
                &query,
                Bytes::new(),
                true,
            )
            .await?;
        let text = answer.text.unwrap_or_default();
        keys += text.matches("<Key>").count();
        if between(&text, "<IsTruncated>", "</IsTruncated>") != Some("true") {
            return Ok(keys);
        }
        token = Some(
            between(&text, "<NextContinuationToken>", "</NextContinuationToken>")
                .ok_or("a truncated listing without NextContinuationToken")?
                .to_owned(),
        );
    }
}

/// One multipart upload of `--size` bytes; `--clients` parts in flight.
async fn multipart(opts: Arc<Options>, key: &str) -> Result<(), String> {
    let path = object_path(&opts, key);
    let mut c = Client::new(opts.clone());
    let created = c
        .ok(Method::POST, &path, "uploads=", Bytes::new(), true)
        .await?;
    let text = created.text.unwrap_or_default();
    let upload = between(&text, "<UploadId>", "</UploadId>")
        .ok_or("CreateMultipartUpload answered no UploadId")?
        .to_owned();
    let parts = opts.size.div_ceil(opts.part_size);
    let next = Arc::new(AtomicU64::new(1));
    let etags = Arc::new(std::sync::Mutex::new(vec![String::new(); parts]));
    let mut tasks = Vec::new();
    for _ in 0..opts.clients.min(parts) {
        let (opts, next, etags, path, upload) = (
            opts.clone(),
            next.clone(),
            etags.clone(),
            path.clone(),
            upload.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(opts.clone());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n > parts {
                    return Ok::<_, String>(());
                }
                let len = opts.part_size.min(opts.size - (n - 1) * opts.part_size);
                let query = format!(
                    "partNumber={n}&uploadId={}",
                    form_urlencoded::byte_serialize(upload.as_bytes()).collect::<String>()
                );
                let answer = c
                    .ok(Method::PUT, &path, &query, opts.body.slice(..len), false)
                    .await?;
                let etag = answer.etag.ok_or("UploadPart answered no ETag")?;
                if let Ok(mut e) = etags.lock() {
                    e[n - 1] = etag;
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let etags = etags.lock().map_err(|e| e.to_string())?.clone();
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
            i + 1
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let query = format!(
        "uploadId={}",
        form_urlencoded::byte_serialize(upload.as_bytes()).collect::<String>()
    );
    let done = c
        .ok(Method::POST, &path, &query, Bytes::from(xml), true)
        .await?;
    // CompleteMultipartUpload may answer 200 with an error in its body.
    let text = done.text.unwrap_or_default();
    if let Some(code) = between(&text, "<Code>", "</Code>") {
        return Err(format!("CompleteMultipartUpload: {code}"));
    }
    Ok(())
}

/// One request of the timed operations, `n` being the client's request counter.
async fn one(c: &mut Client, opts: &Options, client: usize, n: u64) -> Result<(), String> {
    match opts.op.as_str() {
        "put" => {
            let path = object_path(opts, &format!("p{client}-{n}"));
            c.ok(Method::PUT, &path, "", opts.body.clone(), false)
                .await
                .map(drop)
        }
        "get" => {
            let i = rand::random_range(0..opts.objects);
            let path = object_path(opts, &format!("{i:05}"));
            let answer = c.ok(Method::GET, &path, "", Bytes::new(), false).await?;
            if answer.length == opts.size {
                Ok(())
            } else {
                Err(format!(
                    "GET answered {} of {} bytes",
                    answer.length, opts.size
                ))
            }
        }
        "plain-get" => {
            let answer = c
                .send(Method::GET, &opts.path, "", Bytes::new(), false, false)
                .await?;
            if answer.status.is_success() && answer.length == opts.size {
                Ok(())
            } else {
                Err(format!("{} with {} bytes", answer.status, answer.length))
            }
        }
        "list" => {
            let keys = list_all(c, opts).await?;
            if keys == opts.objects {
                Ok(())
            } else {
                Err(format!("listed {keys} keys of {}", opts.objects))
            }
        }
        other => Err(format!("unknown --op {other}")),
    }
}

fn stats(
    opts: &Options,
    mut all: Vec<u32>,
    errors: u64,
    first: Option<String>,
    secs: f64,
) -> Value {
    all.sort_unstable();
    let rps = all.len() as f64 / secs;
    let bytes = match opts.op.as_str() {
        "list" => 0.0,
        _ => opts.size as f64,
    };
    json!({
        "op": opts.op,
        "size": opts.size,
        "clients": opts.clients,
        "requests": all.len(),
        "errors": errors,
        "first_error": first,
        "seconds": secs,
        "rps": rps,
        "mib_s": rps * bytes / MIB,
        "p50_ms": load::percentile(&all, 0.50),
        "p99_ms": load::percentile(&all, 0.99),
    })
}

async fn run(opts: Arc<Options>) -> Result<Value, String> {
    if opts.op == "multipart" {
        let start = Instant::now();
        let outcome = multipart(opts.clone(), "multipart").await;
        let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
        let secs = start.elapsed().as_secs_f64();
        return Ok(match outcome {
            Ok(()) => stats(&opts, vec![micros], 0, None, secs),
            Err(e) => stats(&opts, Vec::new(), 1, Some(e), secs),
        });
    }
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let deadline = Instant::now() + opts.duration;
    let mut tasks = Vec::new();
    for id in 0..opts.clients {
        let opts = opts.clone();
        let errors = errors.clone();
        let first_error = first_error.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(opts.clone());
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 14);
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let start = Instant::now();
                let outcome = one(&mut client, &opts, id, n).await;
                let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
                match outcome {
                    Ok(()) => latencies.push(micros),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(e);
                        }
                        // A refusing server is not hammered: errors are counted, not timed.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())?);
    }
    let secs = started.elapsed().as_secs_f64();
    let first = first_error.lock().ok().and_then(|mut e| e.take());
    Ok(stats(
        &opts,
        all,
        errors.load(Ordering::Relaxed),
        first,
        secs,
    ))
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("s3-load: {e}");
            usage()
        }
    };
    load::main("s3-load", async {
        if opts.op == "setup" {
            setup(opts.clone()).await
        } else {
            run(opts.clone()).await
        }
    });
}
