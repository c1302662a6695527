//! The course's canary under load, seen the ways a user looks at it: `meridian stat`,
//! Istio's metrics at `/metrics` (with `promtool check metrics`), the access log, `meridian
//! tap`, the dashboard's API and `meridian check`. A failing service shows a correct success
//! rate.

mod observe_support;

use std::time::Duration;

use observe_support::{
    Up, app_dir, course_examples, demo_service, eventually, gateway_route, get, load, sample_sum,
    tool,
};

fn row<'a>(rows: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    rows["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key}={value} in {rows:#}"))
}

#[test]
fn the_canary_shows_in_stat_metrics_logs_tap_and_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let examples = course_examples(tmp.path());
    // A service that fails a fifth of its requests, beside the course's files.
    let ratings = demo_service("ratings", &["--fail-percent", "20", "--fail-status", "500"]);
    std::fs::write(examples.join("mesh/ratings.yaml"), ratings).expect("write");
    let log = tmp.path().join("access.log");
    let up = Up::start(
        tmp.path(),
        "examples",
        &[
            "--region",
            "us-east",
            "--access-log",
            log.to_str().expect("utf-8"),
            "--access-log-format",
            "json",
        ],
    );
    up.wait_ready(&[("myapp", 3), ("myapp-v2", 1), ("app", 6), ("ratings", 1)]);

    // The course's mesh traffic: the Compose app calls myapp through its sidecar; the
    // VirtualService sends 90% to v1 and 10% to v2. Plus the Gateway, and a flaky service.
    let myapp = format!("127.0.0.1:{}", up.sidecar_port("app", "myapp"));
    let ratings = format!("127.0.0.1:{}", up.sidecar_port("app", "ratings"));
    let statuses = load(&myapp, "myapp", 1000, 4);
    assert_eq!(statuses.get(&200), Some(&1000), "{statuses:?}");
    let statuses = load(&up.gateway, "myapp.example.com", 100, 2);
    assert_eq!(statuses.get(&200), Some(&100), "{statuses:?}");
    let statuses = load(&ratings, "ratings", 400, 2);
    let ratings_failed = statuses.get(&500).copied().unwrap_or(0);
    assert_eq!(statuses.values().sum::<usize>(), 400);
    let proxy = up.env_of("app", "HTTP_PROXY");
    let proxy = proxy.trim_start_matches("http://").trim_end_matches('/');
    let (status, _) = get(proxy, "/", &[("Host", "no-such-service")]);
    assert_eq!(
        status, 404,
        "an unknown host is refused by the sidecar (NR)"
    );

    // `meridian stat route`: the canary split, configured and observed.
    let routes = up.cli_json(&["stat", "route"]);
    let v1 = row(&routes, "subset", "v1");
    let v2 = row(&routes, "subset", "v2");
    let share = |r: &serde_json::Value| r["share"].as_f64().expect("share");
    assert!((0.85..=0.95).contains(&share(v1)), "v1 share {}", share(v1));
    assert!((0.05..=0.15).contains(&share(v2)), "v2 share {}", share(v2));
    assert_eq!(v1["success_rate"], 1.0);
    assert!(
        v1["weights"]
            .as_array()
            .expect("weights")
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.ends_with(" 90%"))),
        "{v1}"
    );
    let table = up.cli(&["stat", "route"]);
    assert!(table.starts_with("SERVICE"), "{table}");
    assert!(table.contains("LATENCY_P99"), "{table}");

    // `meridian stat deploy` (inbound) and `stat svc` (outbound): success rates.
    let deploys = up.cli_json(&["stat", "deploy"]);
    let myapp_row = row(&deploys, "name", "myapp");
    assert_eq!(myapp_row["meshed"], "3/3");
    assert_eq!(myapp_row["success_rate"], 1.0);
    let served = myapp_row["requests"].as_u64().expect("requests")
        + row(&deploys, "name", "myapp-v2")["requests"]
            .as_u64()
            .expect("requests");
    assert_eq!(served, 1100, "every request reached a replica once");
    let services = up.cli_json(&["stat", "svc"]);
    let r = row(&services, "name", "ratings");
    let expected = 1.0 - ratings_failed as f64 / 400.0;
    let got = r["success_rate"].as_f64().expect("success rate");
    assert!(
        (got - expected).abs() < 1e-9,
        "ratings success {got}, expected {expected}"
    );
    assert!(got < 0.95 && got > 0.6, "{got}");
    assert!(r["p99_ms"].as_f64().is_some());

    // Istio's metrics, from both reporters, with Istio's labels.
    let m = up.metrics();
    let source_v1 = sample_sum(
        &m,
        "istio_requests_total",
        &[
            ("reporter", "source"),
            ("source_workload", "app"),
            ("destination_service", "myapp.default.svc.cluster.local"),
            ("destination_version", "v1"),
            ("response_code", "200"),
        ],
    );
    let source_v2 = sample_sum(
        &m,
        "istio_requests_total",
        &[
            ("reporter", "source"),
            ("source_workload", "app"),
            ("destination_version", "v2"),
        ],
    );
    assert_eq!(source_v1 + source_v2, 1000.0, "{m}");
    assert!((0.05..=0.15).contains(&(source_v2 / 1000.0)), "{source_v2}");
    let destination = sample_sum(
        &m,
        "istio_requests_total",
        &[
            ("reporter", "destination"),
            ("source_workload", "app"),
            ("destination_workload", "myapp-v2"),
            ("destination_app", "myapp"),
            ("destination_service_name", "myapp"),
            ("source_cluster", "us-east"),
        ],
    );
    assert_eq!(
        destination, source_v2,
        "both reporters count the same calls"
    );
    assert_eq!(
        sample_sum(
            &m,
            "istio_requests_total",
            &[
                ("reporter", "source"),
                ("source_workload", "istio-ingressgateway"),
                ("source_workload_namespace", "istio-system"),
                ("destination_service", "myapp.default.svc.cluster.local"),
            ],
        ),
        100.0
    );
    assert_eq!(
        sample_sum(
            &m,
            "istio_requests_total",
            &[
                ("reporter", "source"),
                ("destination_service_name", "ratings"),
                ("response_code", "500"),
            ],
        ),
        ratings_failed as f64
    );
    assert_eq!(
        sample_sum(
            &m,
            "istio_requests_total",
            &[("response_code", "404"), ("response_flags", "NR")]
        ),
        1.0
    );
    assert!(
        m.contains("istio_request_duration_milliseconds_bucket{reporter=\"destination\""),
        "histograms"
    );
    assert!(m.contains("connection_security_policy=\"unknown\""));
    // The course's PeerAuthentication is STRICT: the destination side saw mutual TLS and
    // the caller's SPIFFE identity.
    assert_eq!(
        sample_sum(
            &m,
            "istio_requests_total",
            &[
                ("reporter", "destination"),
                ("source_workload", "app"),
                ("destination_service_name", "myapp"),
                ("connection_security_policy", "mutual_tls"),
            ],
        ),
        1000.0
    );
    assert!(
        m.contains("source_principal=\"spiffe://cluster.local/ns/default/sa/"),
        "principals from mTLS"
    );
    let workload_lines: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("meridian_workload_"))
        .collect();
    // The supervisor's numbers are sampled once a second: wait for the next sample.
    let m = eventually(
        &format!("the workload gauges (first seen: {workload_lines:#?})"),
        Duration::from_secs(30),
        || {
            let m = up.metrics();
            let ready = sample_sum(
                &m,
                "meridian_workload_ready_replicas",
                &[("workload", "myapp")],
            );
            let desired = sample_sum(
                &m,
                "meridian_workload_desired_replicas",
                &[("workload", "app")],
            );
            (ready == 3.0 && desired == 6.0).then_some(m)
        },
    );
    // Pool usage per cluster, from the proxy's own status.
    assert!(
        m.contains(
            "meridian_proxy_upstream_pool_connections{cluster=\"outbound|80|v1|myapp.default.svc.cluster.local\""
        ),
        "{}",
        m.lines()
            .filter(|l| l.starts_with("meridian_proxy"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if let Some(promtool) = tool("promtool", "apt-get install prometheus") {
        use std::io::Write;
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(m.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("promtool output");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let findings: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| {
                // Istio fixes this name; its dashboards query it.
                !l.contains(
                    "istio_request_duration_milliseconds use base unit \"seconds\" instead of \"milliseconds\"",
                )
            })
            .collect();
        assert!(findings.is_empty(), "promtool: {findings:?}");
    }

    // A gRPC content type is labelled as Istio labels it (the demo app answers anyway).
    let (status, _) = get(
        &myapp,
        "/grpc.health.v1.Health/Check",
        &[("Host", "myapp"), ("content-type", "application/grpc")],
    );
    assert_eq!(status, 200);
    assert_eq!(
        sample_sum(
            &up.metrics(),
            "istio_requests_total",
            &[
                ("destination_service_name", "myapp"),
                ("request_protocol", "grpc")
            ]
        ),
        2.0,
        "source and destination both saw the gRPC call"
    );

    // The access log: Istio's JSON keys, a line per request and listener. Its thread writes
    // the lines in order: once both lines of the last request (gRPC) are in, all are.
    let lines: Vec<serde_json::Value> = eventually(
        "the access log's last lines",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            let lines: Vec<serde_json::Value> = complete
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON line"))
                .collect();
            let grpc = lines
                .iter()
                .filter(|l| l["path"] == "/grpc.health.v1.Health/Check")
                .count();
            (grpc >= 2).then_some(lines)
        },
    );
    assert!(lines.len() >= 2 * 1500, "{} lines", lines.len());
    let nr = lines
        .iter()
        .find(|l| l["response_flags"] == "NR")
        .expect("the NR request is logged");
    assert_eq!(nr["response_code"], 404);
    assert_eq!(nr["authority"], "no-such-service");
    assert!(lines.iter().any(|l| l["route_name"] == "inbound"
        && l["upstream_host"].as_str().is_some()
        && l["request_id"].as_str().is_some()));
    assert!(lines.iter().any(|l| l["route_name"] == "gateway"
        && l["upstream_cluster"] == "outbound|80||myapp.default.svc.cluster.local"));

    // `meridian tap`: live requests, filtered.
    let tap = std::thread::spawn({
        let dir = up.dir.clone();
        move || {
            observe_support::meridian()
                .current_dir(dir)
                .args(["tap", "--to", "svc/ratings", "--max", "3", "-o", "json"])
                .output()
                .expect("tap")
        }
    });
    let feeder = {
        let ratings = ratings.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                let _ = get(&ratings, "/tapped", &[("Host", "ratings")]);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = tap.join().expect("tap thread");
    feeder.join().expect("feeder");
    assert!(out.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    assert_eq!(events.len(), 3);
    for e in &events {
        assert_eq!(e["service"], "ratings.default.svc.cluster.local");
        assert_eq!(e["path"], "/tapped");
    }

    // `meridian top`: the busiest paths while traffic flows.
    let top = std::thread::spawn({
        let dir = up.dir.clone();
        move || {
            observe_support::meridian()
                .current_dir(dir)
                .args(["top", "--duration", "3s", "-o", "json"])
                .output()
                .expect("top")
        }
    });
    let feeder = {
        let myapp = myapp.clone();
        std::thread::spawn(move || {
            for _ in 0..100 {
                let _ = get(&myapp, "/top", &[("Host", "myapp")]);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = top.join().expect("top thread");
    feeder.join().expect("feeder");
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("top json");
    let busiest = &rows[0];
    assert_eq!(busiest["source"], "default/app", "{rows:#}");
    assert_eq!(busiest["path"], "/top");
    assert!(busiest["count"].as_u64().expect("count") > 10);

    // The dashboard's data: the graph, the split, the replicas, the errors.
    let (status, body) = get(&up.admin, "/api/v1/graph", &[]);
    assert_eq!(status, 200);
    let g: serde_json::Value = serde_json::from_str(&body).expect("graph");
    let edge = g["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| {
            e["source"] == "wl:default/app" && e["target"] == "svc:myapp.default.svc.cluster.local"
        })
        .expect("app -> myapp edge");
    assert!(edge["rps"].as_f64().expect("rps") > 0.0);
    assert_eq!(edge["mtls"], true, "a lock on the edge: {edge}");
    let split = g["splits"]
        .as_array()
        .expect("splits")
        .iter()
        .find(|s| s["virtual_service"] == "default/myapp")
        .expect("the canary split");
    assert_eq!(split["destinations"][0]["weight"], 90);
    assert!(
        g["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["status"] == 500 || e["flags"] == "NR")
    );
    assert!(
        g["replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .all(|r| r["ejected"] == false),
        "nobody failed, nobody is ejected"
    );
    assert_eq!(
        g["replicas"].as_array().expect("replicas").len(),
        11,
        "{:#}",
        g["replicas"]
    );

    // `meridian check`: all green on a healthy node.
    let check = up.cli(&["check"]);
    assert!(check.contains("√ workloads"), "{check}");
    assert!(check.contains("√ mesh CA"), "{check}");
    assert!(check.contains("√ data plane"), "{check}");
    assert!(check.contains("Status check results are √"), "{check}");
    let (status, _) = get(&up.admin, "/", &[]);
    assert_eq!(status, 302, "the admin root leads to the dashboard");
}

/// A caller that is no mesh peer cannot name itself: peer metadata sent over plaintext (or
/// naming a workload the node does not run) becomes no label value and no series, however
/// many ids it invents; the gateway's mTLS hop keeps its real source.
#[test]
fn spoofed_peer_metadata_mints_no_labels() {
    let manifests = format!(
        "{}---\n{}",
        demo_service("myapp", &[]),
        gateway_route("edge", "myapp.example.com", "myapp")
    );
    let tmp = app_dir("app.yaml", &manifests);
    let log = tmp.path().join("access.log");
    let log_arg = log.display().to_string();
    let up = Up::start(
        tmp.path(),
        "app",
        &["--access-log", &log_arg, "--access-log-format", "json"],
    );
    up.wait_ready(&[("myapp", 1)]);
    // Through the gateway: the inbound sidecar's address shows in the gateway's log line.
    let (status, _) = get(&up.gateway, "/", &[("Host", "myapp.example.com")]);
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let inbound = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["route_name"] == "gateway")
            .and_then(|l| l["upstream_host"].as_str().map(str::to_owned));
        if let Some(addr) = found {
            break addr;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no gateway line in the access log"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Plaintext straight to the inbound sidecar (PERMISSIVE by default), each request
    // claiming to come from another workload.
    // Half of them claim to be the gateway, a workload this node does run.
    for i in 0..50 {
        let id = if i % 2 == 0 {
            "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local"
                .to_owned()
        } else {
            format!("sidecar~10.0.0.1~evil-{i}.default~default.svc.cluster.local")
        };
        let (status, _) = get(
            &inbound,
            "/",
            &[("Host", "myapp"), ("x-envoy-peer-metadata-id", id.as_str())],
        );
        assert_eq!(status, 200);
    }
    let metrics = up.metrics();
    assert!(
        !metrics.contains("evil-"),
        "a spoofed id became a label value"
    );
    assert!(
        sample_sum(
            &metrics,
            "istio_requests_total",
            &[
                ("reporter", "destination"),
                ("source_workload", "unknown"),
                ("destination_workload", "myapp")
            ]
        ) >= 50.0,
        "the plaintext requests are counted with an unknown source"
    );
    assert_eq!(
        sample_sum(
            &metrics,
            "istio_requests_total",
            &[
                ("reporter", "destination"),
                ("source_workload", "istio-ingressgateway"),
                ("response_code", "200"),
                ("destination_workload", "myapp")
            ]
        ),
        1.0,
        "only the gateway's own mTLS hop counts as the gateway (a retried attempt may add a 503)"
    );
}
