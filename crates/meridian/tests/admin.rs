//! The admin API against the shapes a hostile web page can send to 127.0.0.1, through a
//! real `meridian up`: a cross-site `no-cors` POST, a DNS-rebinding page, a request without
//! the token, parameters in the query string. None changes anything; the CLI, which sends
//! the node's token, still can.

mod observe_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use observe_support::{Up, app_dir, demo_service};

/// Sends raw bytes to the admin listener; returns the status and body.
fn raw(admin: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(admin).expect("admin");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn post(admin: &str, host: &str, path: &str, extra: &str, body: &str) -> (u16, String) {
    raw(
        admin,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn hostile_pages_cannot_change_or_read_the_node() {
    let tmp = app_dir("app.yaml", &demo_service("web", &[]));
    let up = Up::start(tmp.path(), "app", &[]);
    up.wait_ready(&[("web", 1)]);
    let admin = up.admin.clone();
    let token_file = tmp.path().join(".meridian/admin.token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file)
            .expect("the token file exists")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "only the user reads the token");
    let token = std::fs::read_to_string(&token_file).expect("token");
    let bearer = format!("Authorization: Bearer {}\r\n", token.trim());
    let scale = "/api/v1/workloads/web/scale";

    // A page's no-cors POST: a simple content type, its own Origin, no token.
    let (status, body) = post(
        &admin,
        &admin,
        scale,
        "Origin: http://evil.example.com\r\nContent-Type: text/plain\r\n",
        r#"{"replicas":0}"#,
    );
    assert_eq!(status, 403, "{body}");
    // A client that sends no Origin still needs the token.
    let (status, body) = post(&admin, &admin, scale, "", r#"{"replicas":0}"#);
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("admin.token"),
        "the refusal names the token file: {body}"
    );
    // A page that rebound its domain to 127.0.0.1: its Host is its own name.
    let rebound = format!(
        "evil.example.com:{}",
        admin.rsplit(':').next().expect("port")
    );
    let (status, _) = post(&admin, &rebound, scale, &bearer, r#"{"replicas":0}"#);
    assert_eq!(status, 403);
    let (status, _) = raw(
        &admin,
        &format!("GET /api/v1/status HTTP/1.1\r\nHost: {rebound}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 403, "reads are refused to a rebound page too");
    // The old query-string shape, even with the token, is refused with what to send.
    let (status, body) = post(&admin, &admin, &format!("{scale}?replicas=0"), &bearer, "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("JSON body"), "{body}");
    assert_eq!(up.ready_replicas("web").len(), 1, "nothing was scaled");

    // Reads from a local client stay open; the CLI (with the token) changes state.
    let (status, _) = raw(
        &admin,
        &format!("GET /api/v1/status HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200);
    up.cli(&["scale", "web", "--replicas", "2"]);
    up.wait_ready(&[("web", 2)]);
    // More replicas than a node runs is refused, not attempted.
    let out = observe_support::meridian()
        .current_dir(tmp.path())
        .args(["scale", "web", "--replicas", "100000"])
        .output()
        .expect("scale");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at most 1024"), "{err}");
}
