//! The course's scenarios with Meridian's own demo app as the replicas (the workload
//! `meridian up` runs for examples/mesh): the canary split, premium users, and retries
//! hiding a replica that fails half its requests at random.

mod harness;

use std::sync::Arc;

use harness::{Client, Mesh, Origin};

const APP: &str = include_str!("../../../examples/mesh/app-deployment.yaml");
const COURSE: &str = include_str!("../../../examples/mesh/virtualservice.yaml");

/// Starts a demo app replica (`meridian demo-app --service myapp --version <v> ...`).
async fn demo(version: &str, replica: &str, extra: &[&str]) -> Origin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut args: Vec<String> = ["--service", "myapp", "--version", version]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let pod = replica.to_owned();
    let opts = meridian_demo::Options::parse(args, move |k| (k == "POD_NAME").then(|| pod.clone()))
        .expect("demo options");
    let server = meridian_demo::DemoServer::new(opts);
    tokio::spawn(meridian_demo::serve(
        listener,
        server,
        std::future::pending(),
    ));
    Origin {
        name: replica.to_owned(),
        addr,
        hits: Arc::default(),
        seen: Arc::default(),
    }
}

fn version_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("demo json");
    v["version"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_course_canary_with_the_demo_app() {
    let mut mesh = Mesh::new(&format!("{APP}\n---\n{COURSE}")).await;
    for (version, replica) in [
        ("v1", "myapp-a"),
        ("v1", "myapp-b"),
        ("v1", "myapp-c"),
        ("v2", "myapp-v2-a"),
    ] {
        let o = demo(version, replica, &[]).await;
        let r = mesh.replica("myapp", &[("app", "myapp"), ("version", version)], 3000, &o);
        mesh.proxy.start_inbound(&r).await.expect("inbound");
    }
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[("app", "frontend")]).await);
    let total = 10_000;
    let mut v2 = 0;
    for _ in 0..total {
        let r = client.get("http://myapp/", &[]).await;
        assert_eq!(r.status, 200);
        if version_of(&r.body) == "v2" {
            v2 += 1;
        }
    }
    let share = 100.0 * f64::from(v2) / f64::from(total);
    println!("demo canary: v2 got {v2} of {total} ({share:.2}%)");
    assert!((share - 10.0).abs() <= 1.5, "{share}");
    for _ in 0..100 {
        let r = client
            .get("http://myapp/", &[("user-type", "premium")])
            .await;
        assert_eq!(version_of(&r.body), "v2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_hide_a_demo_replica_failing_half_its_requests() {
    let vs = r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - route: [{destination: {host: myapp}}]
    retries: {attempts: 3, retryOn: 5xx}
"#;
    let mut mesh = Mesh::new(&format!("{APP}\n---\n{vs}")).await;
    let flaky = demo("v1", "myapp-flaky", &["--fail-percent", "50"]).await;
    let good = demo("v1", "myapp-good", &[]).await;
    for o in [&flaky, &good] {
        let r = mesh.replica("myapp", &[("app", "myapp"), ("version", "v1")], 3000, o);
        mesh.proxy.start_inbound(&r).await.expect("inbound");
    }
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let total = 2000;
    let mut ok = 0;
    for _ in 0..total {
        if client.get("http://myapp/", &[]).await.status == 200 {
            ok += 1;
        }
    }
    println!("demo retries: {ok}/{total} succeeded");
    assert!(f64::from(ok) / f64::from(total) >= 0.999, "{ok}/{total}");
}
