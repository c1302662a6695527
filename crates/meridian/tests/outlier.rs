//! Outlier detection through a real `meridian up`: a replica answering 503 to everything is
//! ejected after `consecutive5xxErrors` and `meridian ps` says so.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod observe_support;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-good}
spec:
  replicas: 2
  selector: {matchLabels: {app: web, health: good}}
  template:
    metadata: {labels: {app: web, health: good}}
    spec:
      containers:
      - name: web
        command: [meridian, demo-app, --service, web]
        ports: [{containerPort: 3000}]
        readinessProbe: {httpGet: {path: /readyz, port: 3000}, periodSeconds: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-bad}
spec:
  replicas: 1
  selector: {matchLabels: {app: web, health: bad}}
  template:
    metadata: {labels: {app: web, health: bad}}
    spec:
      containers:
      - name: web
        command: [meridian, demo-app, --service, web, --fail-percent, "100", --fail-status, "503"]
        ports: [{containerPort: 3000}]
        readinessProbe: {httpGet: {path: /readyz, port: 3000}, periodSeconds: 1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 3, interval: 10s, baseEjectionTime: 60s, maxEjectionPercent: 50}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: web}}]
    retries: {attempts: 0}
"#;

fn status(addr: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn meridian(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_failing_replica_is_ejected_and_ps_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("m")).expect("mkdir");
    std::fs::write(dir.path().join("m/app.yaml"), MANIFESTS).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .current_dir(dir.path())
        .args(["up", "m"])
        .args(observe_support::FREE_PORTS)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut gateway = None;
    for line in stdout.lines() {
        let line = line.expect("line");
        if line.contains("gateway") {
            gateway = line
                .split("http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned);
        }
        if line.contains("watching for changes") {
            break;
        }
    }
    let gateway = gateway.expect("gateway address in the banner");

    // Wait (bounded) until all three replicas are ready.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = meridian(dir.path(), &["ps", "-o", "json"]);
        let ready = serde_json::from_str::<serde_json::Value>(&ps)
            .ok()
            .and_then(|v| {
                v.as_array()
                    .map(|a| a.iter().filter(|r| r["ready"] == true).count())
            })
            .unwrap_or(0);
        if ready == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "replicas not ready: {ps}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Round robin over three replicas: the bad one answers 503 until its third 5xx in a row
    // ejects it; after that every request succeeds.
    let codes: Vec<u16> = (0..40).map(|_| status(&gateway)).collect();
    let failures = codes.iter().filter(|c| **c == 503).count();
    assert_eq!(
        failures, 3,
        "exactly consecutive5xxErrors failures before ejection: {codes:?}"
    );
    let last_failure = codes.iter().rposition(|c| *c == 503).expect("a failure");
    assert!(
        codes[last_failure + 1..].iter().all(|c| *c == 200),
        "{codes:?}"
    );

    let table = meridian(dir.path(), &["ps"]);
    let bad = table
        .lines()
        .find(|l| l.starts_with("web-bad"))
        .expect("bad replica row");
    assert!(bad.contains("1 caller(s)"), "{table}");
    let good: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("web-good"))
        .collect();
    assert_eq!(good.len(), 2);
    assert!(good.iter().all(|l| !l.contains("caller(s)")), "{table}");

    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
