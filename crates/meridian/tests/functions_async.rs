//! Asynchronous Lambda invocations through a real `meridian up`: every event acknowledged
//! with 202 is delivered, even when the node is killed with SIGKILL right after and
//! started again on the same state folder.

mod observe_support;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use observe_support::Up;

const HANDLER: &str = r#"
import os, time
def handler(event, context):
    if "n" in event:
        time.sleep(0.5)
        with open(os.environ["MARKERS"], "a") as f:
            f.write(str(event["n"]) + "\n")
    return {"statusCode": 200, "body": "ok"}
"#;

fn template(markers: &Path) -> String {
    format!(
        r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Slow:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: fn/
      ReservedConcurrentExecutions: 1
      Environment:
        Variables:
          MARKERS: {}
      Events:
        Api:
          Type: HttpApi
          Properties: {{Path: /slow, Method: GET}}
"#,
        markers.display()
    )
}

/// `POST` to the Invoke API with `X-Amz-Invocation-Type: Event`; the status.
fn invoke_event(addr: &str, function: &str, payload: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Invocation-Type: Event\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(payload.as_bytes()).expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn delivered(markers: &Path) -> Vec<u32> {
    let mut seen: Vec<u32> = std::fs::read_to_string(markers)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

#[test]
fn events_acknowledged_before_a_kill_are_delivered_after_the_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(app.join("fn/app.py"), HANDLER).expect("write");
    let markers = tmp.path().join("markers");
    std::fs::write(app.join("template.yaml"), template(&markers)).expect("write");
    let extra = ["--gateway-port", "3000=0"];
    let mut up = Up::start(tmp.path(), "app", &extra);
    let api = up
        .banner
        .iter()
        .find_map(|l| l.split("function  http://").nth(1))
        .and_then(|r| r.split('/').next())
        .expect("the banner names the functions' address")
        .to_owned();
    for n in 0..5 {
        assert_eq!(invoke_event(&api, "Slow", &format!(r#"{{"n":{n}}}"#)), 202);
    }
    // Each event takes half a second, one at a time: most are still queued.
    up.child.kill().expect("SIGKILL");
    up.child.wait().expect("wait");
    let before = delivered(&markers);
    assert!(before.len() < 5, "all ran before the kill: {before:?}");
    let _up = Up::start(tmp.path(), "app", &extra);
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered(&markers).len() < 5 {
        assert!(
            Instant::now() < deadline,
            "events lost across the restart: delivered {:?} (before the kill: {before:?})",
            delivered(&markers)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(delivered(&markers), [0, 1, 2, 3, 4]);
}
