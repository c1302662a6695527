//! A revision applies whole or not at all, through a real `meridian up`: a change that adds
//! a route, a function and a workload template, and publishes a port that is already taken,
//! is refused with nothing changed (routes, functions and workloads stay at the previous
//! revision, and `meridian check` says why); once the port is free, the same change applies.

mod observe_support;

use std::time::{Duration, Instant};

use observe_support::{Up, get};

fn mesh(version: &str, hosts: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        command: ["meridian", "demo-app", "--service", "web"]
        env: [{{name: VERSION, value: "{version}"}}]
        ports: [{{containerPort: 3000}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: 3000}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web}}
spec:
  hosts: [{hosts}]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: web}}}}]
"#
    )
}

fn template(functions: &[&str]) -> String {
    let mut t = String::from(
        "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nResources:\n",
    );
    for f in functions {
        t.push_str(&format!(
            "  {f}:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.11\n      Handler: app.handler\n      CodeUri: fn/\n"
        ));
    }
    t
}

fn compose(ports: &[&str]) -> String {
    let ports: Vec<String> = ports.iter().map(|p| format!("      - \"{p}\"\n")).collect();
    format!(
        "services:\n  pub:\n    command: [\"meridian\", \"demo-app\", \"--service\", \"pub\"]\n    ports:\n{}",
        ports.concat()
    )
}

fn status(up: &Up) -> serde_json::Value {
    serde_json::from_str(&get(&up.admin, "/api/v1/status", &[]).1).unwrap_or_default()
}

fn functions(up: &Up) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&get(&up.admin, "/api/v1/functions", &[]).1).expect("json");
    let mut names: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in 60s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_revision_that_cannot_be_put_in_force_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("mkdir");
    std::fs::write(
        app.join("fn/app.py"),
        "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n",
    )
    .expect("write");
    std::fs::write(app.join("mesh.yaml"), mesh("1", r#""a.example.com""#)).expect("write");
    std::fs::write(app.join("template.yaml"), template(&["First"])).expect("write");
    std::fs::write(app.join("docker-compose.yml"), compose(&["9301:3000"])).expect("write");
    // 9302 will be published onto a port this test holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port().to_string();
    let up = Up::start(
        tmp.path(),
        "app",
        &[
            "--gateway-port",
            "3000=0",
            "--gateway-port",
            "9301=0",
            "--gateway-port",
            &format!("9302={taken_port}"),
        ],
    );
    up.wait_ready(&[("web", 1), ("pub", 1)]);
    let host = |h: &str| get(&up.gateway, "/", &[("host", h)]).0;
    assert_eq!(host("a.example.com"), 200);
    assert_eq!(host("b.example.com"), 404);
    assert_eq!(functions(&up), ["First"]);
    let pid_before = up.ready_replicas("web")[0]["pid"].clone();
    assert_eq!(up.env_of("web", "VERSION"), "1");

    // One change to every plane, with a published port that cannot bind.
    std::fs::write(app.join("template.yaml"), template(&["First", "Second"])).expect("write");
    std::fs::write(
        app.join("mesh.yaml"),
        mesh("2", r#""a.example.com", "b.example.com""#),
    )
    .expect("write");
    std::fs::write(
        app.join("docker-compose.yml"),
        compose(&["9301:3000", "9302:3000"]),
    )
    .expect("write");
    wait_for("the refusal", || {
        status(&up)["refused"]["revision"].is_u64()
    });
    let s = status(&up);
    let reason = s["refused"]["reason"].as_str().expect("reason");
    assert!(
        reason.contains(&taken_port),
        "the reason names the port: {reason}"
    );
    assert_eq!(s["revision"], 1, "revision 1 stays in force: {s:#}");
    assert_eq!(host("b.example.com"), 404, "routes stay at revision 1");
    assert_eq!(functions(&up), ["First"], "functions stay at revision 1");
    assert_eq!(
        up.ready_replicas("web")[0]["pid"],
        pid_before,
        "the workload did not roll"
    );
    assert_eq!(up.env_of("web", "VERSION"), "1");
    let check = observe_support::meridian()
        .current_dir(tmp.path())
        .args(["check"])
        .output()
        .expect("check");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        !check.status.success(),
        "check fails while a revision is refused"
    );
    assert!(
        report.contains("was refused") && report.contains(&taken_port),
        "{report}"
    );

    // The port frees up; the next change to the files applies the whole revision.
    drop(taken);
    std::fs::write(
        app.join("mesh.yaml"),
        mesh("2", r#""a.example.com", "b.example.com", "c.example.com""#),
    )
    .expect("write");
    wait_for("the next revision", || {
        let s = status(&up);
        s["revision"].as_u64() > Some(1) && s["refused"].is_null()
    });
    assert_eq!(host("b.example.com"), 200);
    assert_eq!(functions(&up), ["First", "Second"]);
    wait_for("the rollout", || {
        up.ready_replicas("web")
            .first()
            .is_some_and(|r| r["pid"] != pid_before)
    });
}
