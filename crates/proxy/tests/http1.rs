//! HTTP/1.1 at the proxy's edges (RFC 9112), with raw TCP clients and origins sending crafted
//! bytes: request framing the fast path refuses (ambiguous lengths, several hosts, oversized
//! heads), pipelining, `Connection: close`, `Expect: 100-continue`, hand-over to hyper on the
//! same connection, and upstream framing (chunked with trailers, close-delimited, interim
//! responses, HEAD, conflicting lengths, stale pooled connections). A differential test sends
//! the same requests through the fast path and through hyper's server and compares.

mod harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::{BOUND, Behaviour, Mesh, Origin, origin};
use meridian_proxy::ProxyOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MYAPP: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: myapp}
spec:
  selector: {app: myapp}
  ports: [{port: 80, name: http, targetPort: 3000}]
"#;

/// A proxy whose sidecar routes `myapp` to `origin`; returns the sidecar's address.
async fn sidecar_to(origin: &Origin, fast_http1: bool) -> (Mesh, SocketAddr) {
    let mut mesh = Mesh::with_options(
        MYAPP,
        ProxyOptions {
            fast_http1,
            ..ProxyOptions::default()
        },
    )
    .await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, origin);
    mesh.settle().await;
    let addr = mesh.sidecar(&[]).await;
    (mesh, addr)
}

/// A response read off the wire.
#[derive(Debug)]
struct Wire {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    trailers: Vec<(String, String)>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A raw TCP client.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let tcp = tokio::time::timeout(BOUND, TcpStream::connect(addr))
            .await
            .expect("connect within bound")
            .expect("connect");
        Raw {
            tcp,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.expect("write");
    }

    /// Reads more bytes; false at EOF.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(BOUND, self.tcp.read(&mut chunk))
            .await
            .expect("read within bound")
        {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads one response (`head` when it answers a HEAD request).
    async fn response(&mut self, head: bool) -> Wire {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut fields);
            if let httparse::Status::Complete(n) = r.parse(&self.buf).expect("valid response") {
                let status = r.code.expect("status");
                let headers: Vec<(String, String)> = r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                self.buf.drain(..n);
                let mut w = Wire {
                    status,
                    headers,
                    body: Vec::new(),
                    trailers: Vec::new(),
                };
                if head || status == 204 || status == 304 || (100..200).contains(&status) {
                    return w;
                }
                if w.header("transfer-encoding") == Some("chunked") {
                    self.chunked(&mut w).await;
                } else if let Some(n) = w.header("content-length") {
                    let n: usize = n.parse().expect("length");
                    while self.buf.len() < n {
                        assert!(self.fill().await, "eof inside a body");
                    }
                    w.body = self.buf.drain(..n).collect();
                } else {
                    while self.fill().await {}
                    w.body = std::mem::take(&mut self.buf);
                }
                return w;
            }
            assert!(self.fill().await, "eof before a response head");
        }
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return line;
            }
            assert!(self.fill().await, "eof inside chunked framing");
        }
    }

    async fn chunked(&mut self, w: &mut Wire) {
        loop {
            let size = self.line().await;
            let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .expect("chunk size");
            if size == 0 {
                loop {
                    let t = self.line().await;
                    if t.is_empty() {
                        return;
                    }
                    let (n, v) = t.split_once(':').expect("trailer");
                    w.trailers
                        .push((n.to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            while self.buf.len() < size + 2 {
                assert!(self.fill().await, "eof inside a chunk");
            }
            w.body.extend(self.buf.drain(..size));
            assert_eq!(self.buf.drain(..2).collect::<Vec<_>>(), b"\r\n");
        }
    }

    /// Whether the peer closes the connection (with nothing more to read) within the bound.
    async fn closed(&mut self) -> bool {
        while self.buf.is_empty() {
            if !self.fill().await {
                return true;
            }
        }
        false
    }
}

/// What a raw origin does with one request.
enum Act {
    /// Answer these bytes.
    Answer(Vec<u8>),
    /// Answer these bytes, then close.
    AnswerAndClose(Vec<u8>),
    /// Close without an answer.
    Close,
}

type Script = dyn Fn(usize, usize, &str) -> Act + Send + Sync;

/// An origin speaking raw bytes: `script(connection, request on it, head)` answers each
/// request (request bodies are read by `Content-Length`).
async fn raw_origin(script: Arc<Script>) -> (Origin, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let o = Origin {
        name: "raw".to_owned(),
        addr,
        hits: Arc::new(AtomicUsize::new(0)),
        seen: Arc::default(),
    };
    let (count, hits) = (connections.clone(), o.hits.clone());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let conn = count.fetch_add(1, Ordering::SeqCst);
            let (script, hits) = (script.clone(), hits.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut n = 0;
                loop {
                    let end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < end + len {
                        let mut chunk = [0u8; 4096];
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    buf.drain(..end + len);
                    hits.fetch_add(1, Ordering::SeqCst);
                    match script(conn, n, &head) {
                        Act::Answer(answer) => {
                            if tcp.write_all(&answer).await.is_err() {
                                return;
                            }
                        }
                        Act::AnswerAndClose(answer) => {
                            let _ = tcp.write_all(&answer).await;
                            return;
                        }
                        Act::Close => return,
                    }
                    n += 1;
                }
            });
        }
    });
    (o, connections)
}

fn answer(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\n{headers}\r\n{body}").into_bytes()
}

async fn refused(request: &[u8], status: u16) {
    let o = origin("o", Behaviour::default()).await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(request).await;
    let r = c.response(false).await;
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        c.closed().await,
        "the connection closes after a refused head"
    );
    assert_eq!(o.hits(), 0, "nothing reached the origin");
}

#[tokio::test]
async fn conflicting_content_lengths_are_refused_with_400() {
    refused(
        b"POST / HTTP/1.1\r\nHost: myapp\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    )
    .await;
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_with_400() {
    // The classic smuggling shape: a front end reading one framing and a back end the other.
    refused(
        b"POST / HTTP/1.1\r\nHost: myapp\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: myapp\r\n\r\n",
        400,
    )
    .await;
}

#[tokio::test]
async fn two_host_fields_are_refused_with_400() {
    refused(b"GET / HTTP/1.1\r\nHost: myapp\r\nHost: other\r\n\r\n", 400).await;
}

#[tokio::test]
async fn malformed_heads_are_refused_with_400() {
    refused(b"GET / HTTP/1.1\r\nHost : myapp\r\n\r\n", 400).await;
    refused(
        b"GET / HTTP/1.1\r\nHost: myapp\r\nX: a\r\n folded\r\n\r\n",
        400,
    )
    .await;
}

#[tokio::test]
async fn an_oversized_head_is_refused_with_431() {
    let mut req = b"GET / HTTP/1.1\r\nHost: myapp\r\nX-Big: ".to_vec();
    req.resize(req.len() + 70 * 1024, b'a');
    req.extend_from_slice(b"\r\n\r\n");
    refused(&req, 431).await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let o = origin("o", Behaviour::default()).await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    let mut burst = Vec::new();
    for i in 0..5 {
        burst.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: myapp\r\n\r\n").as_bytes());
    }
    burst
        .extend_from_slice(b"POST /body HTTP/1.1\r\nHost: myapp\r\nContent-Length: 5\r\n\r\nhello");
    burst.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: myapp\r\n\r\n");
    c.send(&burst).await;
    for i in 0..5 {
        let r = c.response(false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("echo-path"), Some(format!("/p{i}").as_str()));
    }
    let r = c.response(false).await;
    assert_eq!(r.header("echo-path"), Some("/body"));
    assert_eq!(r.header("echo-content-length"), Some("5"));
    assert_eq!(c.response(false).await.header("echo-path"), Some("/last"));
    assert_eq!(o.hits(), 7);
}

#[tokio::test]
async fn connection_close_is_honoured_after_the_response() {
    let o = origin("o", Behaviour::default()).await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\nConnection: close\r\n\r\n")
        .await;
    let r = c.response(false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"o");
    assert_eq!(r.header("connection"), Some("close"));
    // `Connection` is hop-by-hop: the origin never sees the client's.
    assert_eq!(r.header("echo-connection"), None);
    assert!(c.closed().await);
}

#[tokio::test]
async fn a_body_in_pieces_is_read_whole_and_forwarded() {
    let o = origin("o", Behaviour::default()).await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"PUT /up HTTP/1.1\r\nHost: myapp\r\nContent-Length: 10\r\n\r\n01234")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.send(b"56789").await;
    let r = c.response(false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("echo-content-length"), Some("10"));
}

#[tokio::test]
async fn expect_100_continue_gets_an_interim_response_before_the_body() {
    let o = origin("o", Behaviour::default()).await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"POST / HTTP/1.1\r\nHost: myapp\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await;
    assert_eq!(c.response(false).await.status, 100);
    c.send(b"hello").await;
    let r = c.response(false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("echo-content-length"), Some("5"));
    // The expectation is hop-by-hop in practice: it was met here.
    assert_eq!(o.hits(), 1);
}

#[tokio::test]
async fn requests_the_fast_path_leaves_are_served_by_hyper_on_the_same_connection() {
    let o = origin("o", Behaviour::default()).await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"GET /fast HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    assert_eq!(c.response(false).await.header("echo-path"), Some("/fast"));
    // A chunked request body: hyper reads it, on this connection, from this request on.
    c.send(b"POST /chunked HTTP/1.1\r\nHost: myapp\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        .await;
    let r = c.response(false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("echo-path"), Some("/chunked"));
    c.send(b"GET /after HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    assert_eq!(c.response(false).await.header("echo-path"), Some("/after"));
    // HTTP/1.0 goes to hyper too.
    let mut old = Raw::connect(addr).await;
    old.send(b"GET /old HTTP/1.0\r\nHost: myapp\r\n\r\n").await;
    let r = old.response(false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"o");
    assert_eq!(o.hits(), 4);
}

#[tokio::test]
async fn chunked_responses_are_rechunked_with_their_trailers() {
    let (o, _) = raw_origin(Arc::new(|_, _, _| {
        Act::Answer(answer(
            "200 OK",
            "Transfer-Encoding: chunked\r\nX-Origin: raw\r\n",
            "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n",
        ))
    }))
    .await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    for _ in 0..2 {
        c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.header("x-origin"), Some("raw"));
        assert_eq!(r.body, b"hello, world");
        assert_eq!(r.trailers, vec![("x-trailer".to_owned(), "t".to_owned())]);
    }
}

#[tokio::test]
async fn a_close_delimited_response_reaches_the_client_chunked_and_its_connection_is_not_reused() {
    let (o, connections) = raw_origin(Arc::new(|_, _, _| {
        Act::AnswerAndClose(answer("200 OK", "Connection: close\r\n", "until close"))
    }))
    .await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    for _ in 0..3 {
        c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"until close");
        // The client's connection stays open: the proxy frames the body itself.
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    }
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn early_hints_are_relayed_100_continue_is_not_and_head_responses_carry_no_body() {
    let (o, connections) = raw_origin(Arc::new(|_, _, head: &str| {
        if head.starts_with("HEAD") {
            return Act::Answer(answer("200 OK", "Content-Length: 1000\r\n", ""));
        }
        let mut a = answer("100 Continue", "", "");
        a.extend(answer("103 Early Hints", "Link: </s.css>\r\n", ""));
        a.extend(answer("200 OK", "Content-Length: 2\r\n", "ok"));
        Act::Answer(a)
    }))
    .await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    // The origin's 100 Continue is hop-by-hop; its 103 comes through, then the response.
    let r = c.response(true).await;
    assert_eq!(r.status, 103);
    assert_eq!(r.header("link"), Some("</s.css>"));
    let r = c.response(false).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    c.send(b"HEAD / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    let r = c.response(true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000"));
    c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    assert_eq!(c.response(true).await.status, 103);
    assert_eq!(c.response(false).await.body, b"ok");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one upstream connection carried all three"
    );
}

#[tokio::test]
async fn conflicting_upstream_lengths_are_a_503_protocol_error() {
    let (o, _) = raw_origin(Arc::new(|_, _, _| {
        Act::Answer(answer(
            "200 OK",
            "Content-Length: 2\r\nContent-Length: 3\r\n",
            "abc",
        ))
    }))
    .await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    let r = c.response(false).await;
    assert_eq!(r.status, 503);
    assert!(
        String::from_utf8_lossy(&r.body).contains("protocol error"),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_stale_pooled_connection_is_retried_on_a_new_one_for_idempotent_requests() {
    // The origin answers the first request of each connection and drops the connection when
    // a second one arrives, as a server whose keep-alive timer just fired would.
    let (o, connections) = raw_origin(Arc::new(|_, n, _| {
        if n == 0 {
            Act::Answer(answer("200 OK", "Content-Length: 2\r\n", "ok"))
        } else {
            Act::Close
        }
    }))
    .await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    for _ in 0..3 {
        c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    // Each retry opened a new connection, which then served the next request's first try.
    assert_eq!(connections.load(Ordering::SeqCst), 3);
    // A POST is not repeated: it may have been processed.
    c.send(b"POST / HTTP/1.1\r\nHost: myapp\r\nContent-Length: 1\r\n\r\nx")
        .await;
    let r = c.response(false).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_body_cut_short_upstream_closes_the_client_connection() {
    let (o, _) = raw_origin(Arc::new(|_, _, _| {
        Act::AnswerAndClose(answer("200 OK", "Content-Length: 100\r\n", "only ten.."))
    }))
    .await;
    let (_mesh, addr) = sidecar_to(&o, true).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    // The head went out promptly; the body can only end by the connection closing early.
    let mut got = Vec::new();
    while c.fill().await {}
    got.extend_from_slice(&c.buf);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("content-length: 100"), "{text}");
    assert!(text.ends_with("only ten.."), "{text}");
}

/// The same requests through the fast path and through hyper's server: the same statuses,
/// bodies and forwarded fields (what differs by design: the fast path refuses two `Host`
/// fields, which hyper passes on).
#[tokio::test]
async fn the_fast_path_answers_as_hyper_does() {
    let o = origin("o", Behaviour::default()).await;
    let (_m1, fast) = sidecar_to(&o, true).await;
    let (_m2, reference) = sidecar_to(&o, false).await;
    let requests: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: myapp\r\n\r\n",
        b"GET /a/b?c=d&e HTTP/1.1\r\nHost: myapp:80\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
        b"GET http://myapp/abs HTTP/1.1\r\nHost: myapp\r\n\r\n",
        b"HEAD /h HTTP/1.1\r\nHost: myapp\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: myapp\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc",
        b"DELETE /d HTTP/1.1\r\nHost: myapp\r\nX-Request-Id: fixed\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: myapp\r\nConnection: keep-alive, x-private\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: nowhere.example\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"OPTIONS /o HTTP/1.1\r\nHost: myapp\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
    ];
    let compared = [
        "echo-host",
        "echo-x-forwarded-proto",
        "echo-x-forwarded-for",
        "echo-user-agent",
        "echo-accept",
        "echo-content-type",
        "echo-content-length",
        "echo-x-private",
        "echo-keep-alive",
        "echo-connection",
        "echo-te",
        "echo-path",
        "echo-x-envoy-attempt-count",
        "content-length",
        "content-type",
    ];
    for req in requests {
        let head = req.starts_with(b"HEAD");
        let mut answers = Vec::new();
        for addr in [fast, reference] {
            let mut c = Raw::connect(addr).await;
            c.send(req).await;
            answers.push(c.response(head).await);
        }
        let (f, h) = (&answers[0], &answers[1]);
        let shown = String::from_utf8_lossy(req);
        assert_eq!(f.status, h.status, "{shown}");
        assert_eq!(f.body, h.body, "{shown}");
        for name in compared {
            assert_eq!(f.header(name), h.header(name), "{name} for {shown}");
        }
        assert_eq!(
            f.header("echo-x-request-id").is_some(),
            h.header("echo-x-request-id").is_some(),
            "{shown}"
        );
    }
}

/// An origin that takes one request and never answers; the first channel says the request
/// arrived, the second what the origin read next (0: the proxy closed the connection).
async fn silent_origin() -> (
    Origin,
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Receiver<usize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let o = Origin {
        name: "silent".to_owned(),
        addr: listener.local_addr().expect("addr"),
        hits: Arc::new(AtomicUsize::new(0)),
        seen: Arc::default(),
    };
    let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
    let (next_tx, next) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        let mut chunk = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = arrived_tx.send(());
        let n = tcp.read(&mut chunk).await.unwrap_or(0);
        let _ = next_tx.send(n);
    });
    (o, arrived, next)
}

async fn a_client_that_leaves_cancels_its_request(fast_http1: bool) {
    let (o, arrived, next) = silent_origin().await;
    let (_mesh, addr) = sidecar_to(&o, fast_http1).await;
    let mut c = Raw::connect(addr).await;
    c.send(b"GET /slow HTTP/1.1\r\nHost: myapp\r\n\r\n").await;
    tokio::time::timeout(BOUND, arrived)
        .await
        .expect("the request reached the origin")
        .expect("origin task");
    drop(c);
    let n = tokio::time::timeout(BOUND, next)
        .await
        .expect("the proxy closed the upstream connection (no route timeout is set)")
        .expect("origin task");
    assert_eq!(n, 0, "the upstream connection closed without more bytes");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_request_upstream() {
    a_client_that_leaves_cancels_its_request(true).await;
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_request_upstream_through_hyper_too() {
    a_client_that_leaves_cancels_its_request(false).await;
}
