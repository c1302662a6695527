use std::convert::Infallible;
use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::*;

/// A server on 127.0.0.1:0 that answers `GET /n` with `n` bytes of `x` and anything else with
/// the method, path and `Host` (or HTTP/2 `:authority`) it saw; counts the connections it accepted.
async fn server(protocol: Protocol) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let service = service_fn(|req: Request<Incoming>| async move {
                let path = req.uri().path().to_owned();
                let body = match path.trim_start_matches('/').parse::<usize>() {
                    Ok(n) => vec![b'x'; n],
                    Err(_) => {
                        let host = req
                            .headers()
                            .get(http::header::HOST)
                            .and_then(|h| h.to_str().ok())
                            .or_else(|| req.uri().authority().map(|a| a.as_str()))
                            .unwrap_or("-")
                            .to_owned();
                        format!("{} {path} {host}", req.method()).into_bytes()
                    }
                };
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
            });
            let io = TokioIo::new(tcp);
            match protocol {
                Protocol::Http1 => {
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new().serve_connection(io, service),
                    );
                }
                Protocol::Http2 => {
                    tokio::spawn(
                        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service),
                    );
                }
            }
        }
    });
    (addr, accepted)
}

fn get(uri: &str, host: &str) -> Request<Body> {
    Request::get(uri)
        .header(http::header::HOST, host)
        .body(Body::default())
        .expect("request")
}

#[tokio::test]
async fn a_one_shot_request_gets_the_whole_answer() {
    let (addr, _) = server(Protocol::Http1).await;
    let resp = request(addr, get("/hello?a=1", "example.test"), 1 << 20)
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.body().as_ref(), b"GET /hello example.test");
}

#[tokio::test]
async fn a_body_is_read_up_to_the_limit() {
    let (addr, _) = server(Protocol::Http1).await;
    let resp = request(addr, get("/100000", "h"), 5120)
        .await
        .expect("answer");
    assert_eq!(resp.body().len(), 5120);
    let resp = request(addr, get("/10", "h"), 5120).await.expect("answer");
    assert_eq!(resp.body().len(), 10);
}

#[tokio::test]
async fn a_connection_carries_requests_one_after_another() {
    let (addr, accepted) = server(Protocol::Http1).await;
    let mut conn = Connection::connect(addr, None, Protocol::Http1)
        .await
        .expect("connect");
    for n in [3, 7, 11] {
        let resp = conn
            .exchange(get(&format!("/{n}"), "h"), usize::MAX)
            .await
            .expect("answer");
        assert_eq!(resp.body().len(), n);
    }
    assert!(!conn.is_closed());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn http2_with_prior_knowledge() {
    let (addr, _) = server(Protocol::Http2).await;
    let mut conn = Connection::connect(addr, None, Protocol::Http2)
        .await
        .expect("connect");
    let req = Request::get(format!("http://{addr}/h2"))
        .body(Body::default())
        .expect("request");
    let resp = conn.exchange(req, usize::MAX).await.expect("answer");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(
        std::str::from_utf8(resp.body()).expect("text"),
        format!("GET /h2 {addr}")
    );
}

#[tokio::test]
async fn a_refused_connection_names_the_address() {
    // A port that was just free: bind, note, close.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let err = request(addr, get("/", "h"), 10).await.expect_err("refused");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!("connect {addr}: ")),
        "{err}"
    );
}

#[test]
fn the_blocking_client_reads_a_streamed_answer_line_by_line() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, _) = rt.block_on(server(Protocol::Http1));
    let (parts, body) =
        blocking::request(addr, get("/lines", "cli"), Duration::from_secs(5)).expect("answer");
    assert_eq!(parts.status, StatusCode::OK);
    let lines: Vec<String> = std::io::BufReader::new(body)
        .lines()
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(lines, ["GET /lines cli"]);
}
