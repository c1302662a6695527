//! Bodies stream both ways: a 256 MiB object goes up and comes back through a
//! `meridian-buckets` process whose peak resident memory stays far below the object's size
//! (read from `/proc/<pid>/status`), and comes back byte for byte (its MD5 is its ETag); the
//! same again for an object encrypted at rest (SSE-S3).

mod buckets;

use bytes::Bytes;
use http_body_util::BodyExt as _;

use buckets::{Payload, Process, Req, send};
use meridian_storage::s3::checksum;

const CHUNK: usize = 4 << 20;
const CHUNKS: usize = 64;
/// Far below the object (256 MiB): what a body held whole would exceed.
const PEAK_LIMIT_KB: u64 = 128 * 1024;

fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

async fn connect(
    authority: &str,
) -> hyper::client::conn::http1::SendRequest<
    http_body_util::combinators::BoxBody<Bytes, std::io::Error>,
> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_streams_up_and_down_with_flat_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("SKIPPED: no /proc to read the server's memory from");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let server = Process::start(state.path());
    let pid = server.child.id();
    let r = send(&server.url, Req::new("PUT", "/stream")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let before = peak_kb(pid);

    let total = CHUNK * CHUNKS;
    let mut after_put = 0;
    for (key, sse) in [("/stream/big", None), ("/stream/sealed", Some("AES256"))] {
        let chunk = Bytes::from((0..CHUNK).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let mut md5 = checksum::Md5::default();
        for _ in 0..CHUNKS {
            md5.update(&chunk);
        }
        let etag = format!("\"{}\"", checksum::hex(&md5.finish()));
        let uri: http::Uri = server.url.parse().unwrap();
        let authority = uri.authority().unwrap().to_string();
        let mut put = Req::new("PUT", key)
            .payload(Payload::Unsigned)
            .header("content-length", &total.to_string());
        if let Some(sse) = sse {
            put = put.header("x-amz-server-side-encryption", sse);
        }
        let (headers, _, _) = put.head(&authority);
        let frames = futures_util::stream::iter(
            (0..CHUNKS)
                .map(move |_| Ok::<_, std::io::Error>(hyper::body::Frame::data(chunk.clone()))),
        );
        let mut req = http::Request::put(key)
            .body(http_body_util::StreamBody::new(frames).boxed())
            .unwrap();
        *req.headers_mut() = headers;
        let resp = connect(&authority)
            .await
            .send_request(req)
            .await
            .expect("response");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["etag"], etag.as_str());
        assert_eq!(
            resp.headers()
                .get("x-amz-server-side-encryption")
                .and_then(|v| v.to_str().ok()),
            sse
        );
        after_put = after_put.max(peak_kb(pid));

        let (headers, _, _) = Req::new("GET", key).head(&authority);
        let mut req = http::Request::get(key)
            .body(http_body_util::Empty::new().map_err(|e| match e {}).boxed())
            .unwrap();
        *req.headers_mut() = headers;
        let resp = connect(&authority)
            .await
            .send_request(req)
            .await
            .expect("response");
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut got = checksum::Md5::default();
        let mut n = 0usize;
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame.expect("frame").into_data() {
                n += d.len();
                got.update(&d);
            }
        }
        assert_eq!(n, total);
        assert_eq!(format!("\"{}\"", checksum::hex(&got.finish())), etag);
    }
    let after_get = peak_kb(pid);
    eprintln!(
        "peak RSS: {before} kB idle, {after_put} kB after PUT, {after_get} kB after GET of {} MiB",
        total >> 20
    );
    assert!(
        after_get < PEAK_LIMIT_KB,
        "peak RSS {after_get} kB for a {} MiB object: bodies are not streaming",
        total >> 20
    );
}
