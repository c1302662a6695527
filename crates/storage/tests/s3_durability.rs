//! `kill -9` while clients upload (single PUTs and multipart uploads): after a restart every
//! acknowledged object is readable and intact, and every object listed is whole (each
//! object's bytes are a function of its key, checked on read-back). Nothing stays staged.
//! Even-numbered writers (the multipart one included) ask for SSE-S3, so encrypted writes
//! are held to the same promise.

mod buckets;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use buckets::{Process, Req, count_files, send, try_send};

const WRITERS: usize = 6;

/// The bytes of object `w{w}/{n}`: a length and pattern derived from the key.
fn content(w: usize, n: usize) -> Vec<u8> {
    if w == 0 {
        // Writer 0 uploads in two parts: the minimum 5 MiB part and a short last one.
        let len = (5 << 20) + 1000 + n % 977;
        return (0..len).map(|i| (i * 13 + n) as u8).collect();
    }
    let len = 1 + (w * 7919 + n * 104_729) % 200_000;
    (0..len).map(|i| (i * 31 + w * 7 + n) as u8).collect()
}

fn key(w: usize, n: usize) -> String {
    format!("w{w}/{n:06}")
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    text.split(open)
        .skip(1)
        .filter_map(|t| t.split(close).next())
        .collect()
}

/// Whether writer `w` encrypts its objects (SSE-S3).
fn sealed(w: usize) -> bool {
    w.is_multiple_of(2)
}

fn with_sse(req: Req, w: usize) -> Req {
    if sealed(w) {
        req.header("x-amz-server-side-encryption", "AES256")
    } else {
        req
    }
}

async fn put(url: &str, w: usize, n: usize) -> bool {
    let data = content(w, n);
    let path = format!("/dur/{}", key(w, n));
    if w != 0 {
        return try_send(url, with_sse(Req::new("PUT", &path).body(data), w))
            .await
            .is_some_and(|r| r.status == 200);
    }
    let create = with_sse(Req::new("POST", &path).query("uploads"), w);
    let Some(r) = try_send(url, create).await else {
        return false;
    };
    if r.status != 200 {
        return false;
    }
    let text = r.text();
    let Some(id) = between(&text, "<UploadId>", "</UploadId>")
        .first()
        .map(|s| s.to_string())
    else {
        return false;
    };
    let (a, b) = data.split_at(5 << 20);
    let mut doc = String::from("<CompleteMultipartUpload>");
    for (i, part) in [a, b].into_iter().enumerate() {
        let n = i + 1;
        let Some(r) = try_send(
            url,
            Req::new("PUT", &path)
                .query(&format!("partNumber={n}&uploadId={id}"))
                .body(part.to_vec()),
        )
        .await
        else {
            return false;
        };
        if r.status != 200 {
            return false;
        }
        doc.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            r.header("etag")
        ));
    }
    doc.push_str("</CompleteMultipartUpload>");
    try_send(
        url,
        Req::new("POST", &path)
            .query(&format!("uploadId={id}"))
            .body(doc),
    )
    .await
    .is_some_and(|r| r.status == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_uploads_survive_kill_9_and_nothing_half_is_listed() {
    let state = tempfile::tempdir().unwrap();
    let server = Process::start(state.path());
    let url = server.url.clone();
    let r = send(&url, Req::new("PUT", "/dur")).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let acked: Arc<Mutex<Vec<(usize, usize)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (url, acked) = (url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0usize.. {
                let url = url.clone();
                // A request the kill interrupts fails (or panics in the client): not acked.
                let done = tokio::time::timeout(
                    Duration::from_secs(30),
                    tokio::spawn(async move { put(&url, w, n).await }),
                )
                .await;
                match done {
                    Ok(Ok(true)) => acked.lock().unwrap().push((w, n)),
                    _ => return,
                }
            }
        }));
    }
    let enough = buckets_eventually(Duration::from_secs(120), || {
        let a = acked.lock().unwrap();
        a.len() >= 150 && a.iter().filter(|(w, _)| *w == 0).count() >= 2
    })
    .await;
    assert!(
        enough,
        "writers were too slow: {} acknowledged",
        acked.lock().unwrap().len()
    );
    server.kill9();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let acked = acked.lock().unwrap().clone();

    let server = Process::start(state.path());
    let url = server.url.clone();
    // Staged bodies of interrupted uploads are gone at start.
    assert_eq!(count_files(&state.path().join("storage/s3")).1, 0);
    let mut lost = Vec::new();
    for (w, n) in &acked {
        let r = send(&url, Req::new("GET", &format!("/dur/{}", key(*w, *n)))).await;
        if r.status != 200 {
            lost.push((*w, *n, r.status));
            continue;
        }
        assert!(r.body == content(*w, *n), "torn object {}", key(*w, *n));
        let sse = r.header("x-amz-server-side-encryption");
        assert_eq!(sse == "AES256", sealed(*w), "{} says {sse:?}", key(*w, *n));
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged uploads lost after kill -9: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );

    // Every listed object is whole, acknowledged or not.
    let mut listed = 0;
    let mut segments = 0;
    let mut token: Option<String> = None;
    loop {
        let mut q = String::from("list-type=2&max-keys=100");
        if let Some(t) = &token {
            q.push_str("&continuation-token=");
            q.push_str(
                &t.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D"),
            );
        }
        let r = send(&url, Req::new("GET", "/dur").query(&q)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        for k in between(&text, "<Key>", "</Key>") {
            let (w, n) = k.trim_start_matches('w').split_once('/').unwrap();
            let (w, n): (usize, usize) = (w.parse().unwrap(), n.parse().unwrap());
            let g = send(&url, Req::new("GET", &format!("/dur/{k}"))).await;
            assert_eq!(g.status, 200, "{k} is listed but unreadable");
            assert!(g.body == content(w, n), "{k} is listed but torn");
            listed += 1;
            segments += if w == 0 { 2 } else { 1 };
        }
        match between(&text, "<NextContinuationToken>", "</NextContinuationToken>").first() {
            Some(t) => token = Some((*t).to_owned()),
            None => break,
        }
    }
    assert!(
        listed >= acked.len(),
        "{listed} listed for {} acknowledged",
        acked.len()
    );
    // The files on disk are exactly those the records name: the objects' and the parts of
    // uploads the kill left open. Bytes made durable by requests the kill cut short before
    // their commit were swept at start.
    let r = send(&url, Req::new("GET", "/dur").query("uploads")).await;
    let text = r.text();
    let mut open_parts = 0;
    for upload in between(&text, "<Upload>", "</Upload>") {
        let key = between(upload, "<Key>", "</Key>")[0];
        let id = between(upload, "<UploadId>", "</UploadId>")[0];
        let parts = send(
            &url,
            Req::new("GET", &format!("/dur/{key}")).query(&format!("uploadId={id}")),
        )
        .await;
        open_parts += between(&parts.text(), "<Part>", "</Part>").len();
    }
    let (data, staged) = count_files(&state.path().join("storage/s3"));
    assert_eq!(staged, 0);
    assert_eq!(
        data,
        segments + open_parts,
        "{data} files for {segments} object segments and {open_parts} open parts"
    );
    eprintln!(
        "{} acknowledged uploads, {listed} objects after restart, {open_parts} parts of open uploads, {data} files",
        acked.len()
    );
}

async fn buckets_eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
