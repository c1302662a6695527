//! End-to-end: the course's scenarios and Istio's routing semantics through real listeners.

mod harness;

use std::time::{Duration, Instant};

use harness::{Behaviour, Client, Mesh, origin, snapshot};

const APP: &str = include_str!("../../../examples/mesh/app-deployment.yaml");
const COURSE: &str = include_str!("../../../examples/mesh/virtualservice.yaml");
const GATEWAY: &str = include_str!("../../../examples/mesh/gateway.yaml");

fn course() -> String {
    [APP, COURSE, GATEWAY].join("\n---\n")
}

/// Two v1 replicas and one v2 replica of myapp, each behind its own inbound sidecar.
async fn myapp_mesh(yaml: &str) -> (Mesh, Vec<harness::Origin>) {
    let mut mesh = Mesh::new(yaml).await;
    let v1a = origin("v1-a", Behaviour::default()).await;
    let v1b = origin("v1-b", Behaviour::default()).await;
    let v2 = origin("v2", Behaviour::default()).await;
    for (o, version) in [(&v1a, "v1"), (&v1b, "v1"), (&v2, "v2")] {
        let r = mesh.replica("myapp", &[("app", "myapp"), ("version", version)], 3000, o);
        mesh.proxy.start_inbound(&r).await.expect("inbound");
    }
    mesh.settle().await;
    (mesh, vec![v1a, v1b, v2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_canary_sends_ten_percent_to_v2_and_premium_users_always() {
    let (mesh, _) = myapp_mesh(&course()).await;
    let mut client = Client::to(mesh.sidecar(&[("app", "frontend")]).await);

    // 10,000 requests: the binomial spread (0.3 points) keeps the ±1.5 point bound 5 sigma
    // away.
    let total = 10_000;
    let mut v2 = 0;
    for _ in 0..total {
        let r = client.get("http://myapp/", &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body == "v2" {
            v2 += 1;
        }
    }
    let share = 100.0 * f64::from(v2) / f64::from(total);
    println!("canary: v2 got {v2} of {total} requests ({share:.2}%)");
    assert!((share - 10.0).abs() <= 1.5, "v2 share {share}%");

    for _ in 0..200 {
        let r = client
            .get("http://myapp/", &[("user-type", "premium")])
            .await;
        assert_eq!(r.body, "v2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_routes_its_host_and_answers_404_nr_for_others() {
    let (mesh, _) = myapp_mesh(&course()).await;
    let gateway = mesh.gateway().await;
    let mut client = Client::to(gateway[&80]);
    for _ in 0..20 {
        let r = client.get("/", &[("host", "myapp.example.com")]).await;
        assert_eq!(r.status, 200);
        assert!(r.body.starts_with("v"), "{}", r.body);
        assert!(r.header("echo-x-forwarded-for").is_some());
        assert_eq!(r.header("echo-x-forwarded-proto"), Some("http"));
        assert!(r.header("echo-x-request-id").is_some());
        assert_eq!(r.header("echo-x-envoy-attempt-count"), Some("1"));
    }
    let r = client.get("/", &[("host", "other.example.com")]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_hide_a_replica_that_fails_half_its_requests() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - route: [{destination: {host: myapp}}]
    retries: {attempts: 3, retryOn: 5xx}
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let flaky = origin(
        "flaky",
        Behaviour {
            fail_every_other: true,
            ..Behaviour::default()
        },
    )
    .await;
    let good = origin("good", Behaviour::default()).await;
    mesh.replica(
        "myapp",
        &[("app", "myapp"), ("version", "v1")],
        3000,
        &flaky,
    );
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v1")], 3000, &good);
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let total = 2000;
    let mut ok = 0;
    for _ in 0..total {
        if client.get("http://myapp/", &[]).await.status == 200 {
            ok += 1;
        }
    }
    let rate = f64::from(ok) / f64::from(total);
    println!(
        "retries: {ok}/{total} succeeded; flaky origin saw {} requests",
        flaky.hits()
    );
    assert!(rate >= 0.999, "success rate {rate}");
    assert!(flaky.hits() > 100, "the flaky replica took part");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_timeout_answers_504_ut_after_the_configured_time() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - route: [{destination: {host: myapp}}]
    timeout: 300ms
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let slow = origin(
        "slow",
        Behaviour {
            delay: Some(Duration::from_secs(3)),
            ..Behaviour::default()
        },
    )
    .await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &slow);
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let started = Instant::now();
    let r = client.get("http://myapp/", &[]).await;
    let took = started.elapsed();
    assert_eq!(r.status, 504);
    assert_eq!(r.body, "upstream request timeout");
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_abort_and_delay_hit_their_percentages() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - match: [{uri: {prefix: /slow}}]
    fault:
      delay: {fixedDelay: 50ms, percentage: {value: 100}}
    route: [{destination: {host: myapp}}]
  - fault:
      abort: {httpStatus: 418, percentage: {value: 30}}
    route: [{destination: {host: myapp}}]
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let o = origin("app", Behaviour::default()).await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &o);
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let total = 2000;
    let mut aborted = 0;
    for _ in 0..total {
        let r = client.get("http://myapp/", &[]).await;
        if r.status == 418 {
            assert_eq!(r.body, "fault filter abort");
            aborted += 1;
        } else {
            assert_eq!(r.status, 200);
        }
    }
    let share = 100.0 * f64::from(aborted) / f64::from(total);
    println!("fault abort: {aborted}/{total} ({share:.1}%)");
    assert!((share - 30.0).abs() <= 4.0, "abort share {share}%");

    let started = Instant::now();
    let r = client.get("http://myapp/slow", &[]).await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirroring_reaches_the_mirror_without_changing_the_response() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp}
spec:
  host: myapp
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - route: [{destination: {host: myapp, subset: v1}}]
    mirror: {host: myapp, subset: v2}
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let v1 = origin("v1", Behaviour::default()).await;
    let v2 = origin(
        "v2",
        Behaviour {
            delay: Some(Duration::from_millis(200)),
            ..Behaviour::default()
        },
    )
    .await;
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v1")], 3000, &v1);
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v2")], 3000, &v2);
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    for _ in 0..20 {
        let r = client.get("http://myapp/", &[]).await;
        assert_eq!(r.body, "v1");
    }
    let deadline = Instant::now() + harness::BOUND;
    while v2.hits() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(v2.hits(), 20);
    let seen = v2.seen.lock().expect("seen");
    assert_eq!(
        seen[0].get("host").and_then(|h| h.to_str().ok()),
        Some("myapp-shadow")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_that_never_answers_is_cut_at_the_route_timeout() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp}
spec:
  host: myapp
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - route: [{destination: {host: myapp, subset: v1}}]
    timeout: 1s
    mirror: {host: myapp, subset: v2}
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let v1 = origin("v1", Behaviour::default()).await;
    // The shadow: reads the request, never answers, and reports when the proxy hangs up.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let shadow = harness::Origin {
        name: "v2".into(),
        addr: silent.local_addr().expect("addr"),
        hits: Default::default(),
        seen: Default::default(),
    };
    let (hung_up, mut closed) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let Ok((mut tcp, _)) = silent.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        while tcp.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        let _ = hung_up.send(()).await;
    });
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v1")], 3000, &v1);
    mesh.replica(
        "myapp",
        &[("app", "myapp"), ("version", "v2")],
        3000,
        &shadow,
    );
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let r = client.get("http://myapp/", &[]).await;
    assert_eq!(r.body, "v1", "the mirror does not hold the response");
    assert!(
        tokio::time::timeout(harness::BOUND, closed.recv())
            .await
            .is_ok(),
        "the mirrored request was never cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_a_users_requests_on_one_replica() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp}
spec:
  host: myapp
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let mut origins = Vec::new();
    for name in ["a", "b", "c"] {
        let o = origin(name, Behaviour::default()).await;
        mesh.replica("myapp", &[("app", "myapp")], 3000, &o);
        origins.push(o);
    }
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let mut owners = std::collections::BTreeSet::new();
    for user in 0..30 {
        let user = format!("user-{user}");
        let first = client.get("http://myapp/", &[("x-user", &user)]).await.body;
        for _ in 0..20 {
            assert_eq!(
                client.get("http://myapp/", &[("x-user", &user)]).await.body,
                first
            );
        }
        owners.insert(first);
    }
    assert!(owners.len() > 1, "users spread over replicas: {owners:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_direct_response_rewrite_cors_and_headers() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, authority: example.org, redirectCode: 302}
  - match: [{uri: {prefix: /shop/}}]
    redirect: {prefixRewrite: /store/, redirectCode: 308}
  - match: [{uri: {exact: /health}}]
    directResponse: {status: 200, body: {string: ok}}
  - match: [{uri: {prefix: /v1/}}]
    rewrite: {uri: /v2/, authority: backend.internal}
    route: [{destination: {host: myapp}}]
  - match: [{uri: {regex: "/users/[0-9]+/profile"}}]
    rewrite:
      uriRegexRewrite: {match: "/users/([0-9]+)/profile", rewrite: "/profiles/\\1"}
    route: [{destination: {host: myapp}}]
  - corsPolicy:
      allowOrigins: [{exact: "https://shop.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-token]
      exposeHeaders: [x-trace]
      maxAge: 1h
    headers:
      request: {set: {x-route: main}, remove: [x-secret]}
      response: {add: {x-served-by: meridian}, remove: [echo-x-route]}
    route:
    - destination: {host: myapp}
      headers: {request: {add: {x-dest: d1}}}
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let o = origin("app", Behaviour::default()).await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &o);
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);

    let r = client.get("http://myapp/old?q=1", &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://example.org/new?q=1"));

    // The matched prefix is replaced, the rest of the path and the query kept.
    let r = client.get("http://myapp/shop/items/7?q=1", &[]).await;
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location"), Some("http://myapp/store/items/7?q=1"));

    let r = client.get("http://myapp/health", &[]).await;
    assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "ok"));
    assert_eq!(o.hits(), 0);

    let r = client.get("http://myapp/v1/items?x=1", &[]).await;
    assert_eq!(r.header("echo-path"), Some("/v2/items?x=1"));
    assert_eq!(r.header("echo-host"), Some("backend.internal"));

    let r = client.get("http://myapp/users/42/profile", &[]).await;
    assert_eq!(r.header("echo-path"), Some("/profiles/42"));

    let r = client
        .get(
            "http://myapp/x",
            &[("x-secret", "s"), ("origin", "https://shop.example")],
        )
        .await;
    assert_eq!(r.header("echo-x-secret"), None);
    assert_eq!(r.header("echo-x-dest"), Some("d1"));
    assert_eq!(r.header("echo-x-route"), None, "removed from the response");
    assert_eq!(r.header("x-served-by"), Some("meridian"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(r.header("access-control-expose-headers"), Some("x-trace"));

    let preflight = http::Request::options("http://myapp/x")
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let hits = o.hits();
    let r = client.send(preflight).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(r.header("access-control-max-age"), Some("3600"));
    assert_eq!(o.hits(), hits, "preflight answered by the proxy");

    let r = client
        .get("http://myapp/x", &[("origin", "https://evil.example")])
        .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_errors_no_healthy_upstream_and_connect_failure() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: v1
kind: Service
metadata: {name: gone}
spec:
  selector: {app: gone}
  ports: [{port: 80, name: http}]
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    // A replica whose port nothing listens on: bound and never listening, held for the
    // whole test, so no other test's listener can take the port meanwhile.
    let dead = origin("dead", Behaviour::default()).await;
    let mut dead_addr = dead.clone();
    let closed = tokio::net::TcpSocket::new_v4().expect("socket");
    closed
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    dead_addr.addr = closed.local_addr().expect("addr");
    mesh.replica("gone", &[("app", "gone")], 80, &dead_addr);
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);

    let r = client.get("http://myapp/", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body, "no healthy upstream");

    let r = client.get("http://gone/", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body,
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
    );

    let r = client.get("http://unknown-host/", &[]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_swap_under_load_drops_no_request() {
    let (mesh, _) = myapp_mesh(&course()).await;
    let addr = mesh.sidecar(&[]).await;
    let all_v1 = course()
        .replace("weight: 90", "weight: 100")
        .replace("weight: 10  #", "weight: 0  #");
    let a = snapshot(&course(), 2);
    let b = snapshot(&all_v1, 3);
    let mut load = Vec::new();
    for _ in 0..4 {
        load.push(tokio::spawn(async move {
            let mut client = Client::to(addr);
            let mut failures = 0;
            for _ in 0..500 {
                if client.get("http://myapp/", &[]).await.status != 200 {
                    failures += 1;
                }
            }
            failures
        }));
    }
    for i in 0..40 {
        mesh.proxy
            .swap(if i % 2 == 0 { b.clone() } else { a.clone() })
            .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut failures = 0;
    for l in load {
        failures += l.await.expect("load task");
    }
    assert_eq!(failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_recorded_with_its_response_flags() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: myapp}}]
  - route: [{destination: {host: myapp}}]
    retries: {attempts: 2, retryOn: 5xx}
"#
    );
    let records = std::sync::Arc::new(harness::Records::default());
    let (publisher, watch) = meridian_control::endpoints::channel();
    let proxy = meridian_proxy::Proxy::new(
        snapshot(&yaml, 1),
        watch,
        meridian_proxy::ProxyOptions {
            sink: Some(records.clone()),
            ..meridian_proxy::ProxyOptions::default()
        },
    );
    let failing = origin(
        "failing",
        Behaviour {
            fail_every_other: true,
            ..Behaviour::default()
        },
    )
    .await;
    let table = meridian_control::endpoints::EndpointTable {
        version: 1,
        replicas: vec![meridian_control::endpoints::ReplicaEndpoint {
            workload: meridian_control::endpoints::WorkloadRef {
                kind: meridian_control::endpoints::WorkloadKind::Deployment,
                namespace: "default".into(),
                name: "myapp".into(),
            },
            replica: "myapp-0".into(),
            labels: [("app".to_owned(), "myapp".to_owned())].into(),
            service_account: "default".into(),
            ip: failing.addr.ip(),
            ports: vec![meridian_control::endpoints::PortMapping {
                name: None,
                declared: 3000,
                actual: failing.addr.port(),
            }],
            state: meridian_control::endpoints::EndpointState::Ready,
        }],
    };
    publisher.send(std::sync::Arc::new(table)).expect("publish");
    let deadline = Instant::now() + harness::BOUND;
    while proxy.endpoints_version() < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let caller = meridian_proxy::Caller {
        workload: std::sync::Arc::from("default/client"),
        namespace: "default".into(),
        labels: Default::default(),
        service_account: "default".into(),
    };
    let mut client = Client::to(proxy.start_outbound(caller).await.expect("outbound"));
    assert_eq!(client.get("http://nowhere/", &[]).await.status, 404);
    assert_eq!(client.get("http://myapp/abort", &[]).await.status, 503);
    // The origin fails every other request: the first try fails, the retry succeeds.
    assert_eq!(client.get("http://myapp/", &[]).await.status, 200);
    let r = records.0.lock().expect("records");
    let flags: Vec<String> = r.iter().map(|r| r.flags.to_string()).collect();
    assert_eq!(flags, ["NR", "FI", "-"]);
    assert_eq!(r[2].attempts, 2);
    assert_eq!(
        r[2].cluster.as_deref(),
        Some("outbound|80||myapp.default.svc.cluster.local")
    );
    assert_eq!(r[2].source_workload.as_deref(), Some("default/client"));
    drop(r);
    drop(publisher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_labels_select_routes_by_the_calling_workload() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp}
spec:
  host: myapp
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp}
spec:
  hosts: [myapp]
  http:
  - match: [{sourceLabels: {app: beta-tester}}]
    route: [{destination: {host: myapp, subset: v2}}]
  - route: [{destination: {host: myapp, subset: v1}}]
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let v1 = origin("v1", Behaviour::default()).await;
    let v2 = origin("v2", Behaviour::default()).await;
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v1")], 3000, &v1);
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v2")], 3000, &v2);
    mesh.settle().await;
    let mut beta = Client::to(mesh.sidecar(&[("app", "beta-tester")]).await);
    let mut other = Client::to(mesh.sidecar(&[("app", "frontend")]).await);
    for _ in 0..20 {
        assert_eq!(beta.get("http://myapp/", &[]).await.body, "v2");
        assert_eq!(other.get("http://myapp/", &[]).await.body, "v1");
    }
    // The same routes through a per-service local port (`MYAPP_SERVICE_HOST`), whatever Host
    // the client sends.
    let caller = meridian_proxy::Caller {
        workload: std::sync::Arc::from("default/beta"),
        namespace: "default".into(),
        labels: [("app".to_owned(), "beta-tester".to_owned())].into(),
        service_account: "default".into(),
    };
    let port = mesh
        .proxy
        .start_upstream_port(caller, "myapp", 80)
        .await
        .expect("upstream port");
    let mut local = Client::to(port);
    let r = local.get("/", &[("host", &port.to_string())]).await;
    assert_eq!(r.body, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_that_adds_a_gateway_port_starts_its_listener() {
    let (mesh, _) = myapp_mesh(&course()).await;
    let before = mesh.gateway().await;
    assert_eq!(before.keys().copied().collect::<Vec<_>>(), vec![80]);
    let more = course().replace(
        "  - port:\n      number: 80\n      name: http\n      protocol: HTTP\n    hosts:\n    - \"myapp.example.com\"",
        "  - port:\n      number: 80\n      name: http\n      protocol: HTTP\n    hosts:\n    - \"myapp.example.com\"\n  - port:\n      number: 8081\n      name: http-alt\n      protocol: HTTP\n    hosts:\n    - \"myapp.example.com\"",
    );
    assert_ne!(more, course(), "the gateway gained a server");
    mesh.proxy.swap(snapshot(&more, 2)).await;
    let deadline = Instant::now() + harness::BOUND;
    while !mesh.proxy.gateway_addresses().contains_key(&8081) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alt = mesh.proxy.gateway_addresses()[&8081];
    let r = Client::to(alt)
        .get("/", &[("host", "myapp.example.com")])
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_replicas_get_no_new_requests() {
    let mut mesh = Mesh::new(APP).await;
    let a = origin("a", Behaviour::default()).await;
    let b = origin("b", Behaviour::default()).await;
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v1")], 3000, &a);
    mesh.replica("myapp", &[("app", "myapp"), ("version", "v1")], 3000, &b);
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    mesh.set_state(
        "myapp-a",
        meridian_control::endpoints::EndpointState::Draining,
    );
    mesh.settle().await;
    let before = a.hits();
    for _ in 0..50 {
        assert_eq!(client.get("http://myapp/", &[]).await.body, "b");
    }
    assert_eq!(a.hits(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_hash_cookie_is_generated_and_then_sticks() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp}
spec:
  host: myapp
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: session, path: /, ttl: 60s}
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    for name in ["a", "b", "c"] {
        let o = origin(name, Behaviour::default()).await;
        mesh.replica("myapp", &[("app", "myapp")], 3000, &o);
    }
    mesh.settle().await;
    let mut client = Client::to(mesh.sidecar(&[]).await);
    let mut owners = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let first = client.get("http://myapp/", &[]).await;
        let set_cookie = first
            .header("set-cookie")
            .expect("cookie generated")
            .to_owned();
        assert!(set_cookie.contains("Max-Age=60"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().expect("pair").to_owned();
        for _ in 0..10 {
            let r = client.get("http://myapp/", &[("cookie", &cookie)]).await;
            assert_eq!(r.body, first.body);
            assert!(r.header("set-cookie").is_none());
        }
        owners.insert(first.body);
    }
    assert!(owners.len() > 1, "sessions spread: {owners:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_any_passes_unknown_hosts_through_registry_only_answers_404() {
    let outside = origin("outside", Behaviour::default()).await;
    let url = format!("http://localhost:{}/x", outside.addr.port());
    for (policy, expected) in [
        (meridian_proxy::OutboundTrafficPolicy::AllowAny, 200),
        (meridian_proxy::OutboundTrafficPolicy::RegistryOnly, 404),
    ] {
        let (_publisher, watch) = meridian_control::endpoints::channel();
        let proxy = meridian_proxy::Proxy::new(
            snapshot(APP, 1),
            watch,
            meridian_proxy::ProxyOptions {
                outbound_traffic: policy,
                ..meridian_proxy::ProxyOptions::default()
            },
        );
        let caller = meridian_proxy::Caller {
            workload: std::sync::Arc::from("default/client"),
            namespace: "default".into(),
            labels: Default::default(),
            service_account: "default".into(),
        };
        let mut client = Client::to(proxy.start_outbound(caller).await.expect("outbound"));
        let r = client.get(&url, &[]).await;
        assert_eq!(r.status, expected, "{policy:?}");
        if expected == 200 {
            assert_eq!(r.body, "outside");
            assert_eq!(r.header("echo-path"), Some("/x"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_keeps_the_address_the_client_named() {
    let yaml = format!(
        "{APP}\n---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp}
spec:
  host: myapp
  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
"#
    );
    let mut mesh = Mesh::new(&yaml).await;
    let a = origin("a", Behaviour::default()).await;
    let b = origin("b", Behaviour::default()).await;
    mesh.replica("myapp", &[("app", "myapp")], 3000, &a);
    mesh.replica("myapp", &[("app", "myapp")], 3000, &b);
    mesh.settle().await;
    let caller = meridian_proxy::Caller {
        workload: std::sync::Arc::from("default/client"),
        namespace: "default".into(),
        labels: Default::default(),
        service_account: "default".into(),
    };
    let port = mesh
        .proxy
        .start_upstream_port(caller, "myapp", 80)
        .await
        .expect("upstream port");
    let mut client = Client::to(port);
    for _ in 0..20 {
        let r = client.get("/", &[("host", &b.addr.to_string())]).await;
        assert_eq!(r.body, "b");
    }
}
