//! Federation against a real Prometheus server (Debian package `prometheus`): it scrapes the
//! `/federate` of two Meridian instances with different `region` external labels, and its own
//! `/federate` is the reference for selector error messages.

mod harness;

use harness::{ChildGuard, eventually, get, serve_admin};
use meridian_telemetry::ResponseFlags;
use meridian_telemetry::admin::AdminEndpoints;
use meridian_telemetry::federate::Federation;
use meridian_telemetry::metrics::{
    HttpRecord, IstioLabels, Registry, Reporter, ServiceLabels, WorkloadLabels,
};
use meridian_telemetry::selector::Selector;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

struct Prometheus {
    _child: ChildGuard,
    url: String,
    _dir: tempfile::TempDir,
}

/// Starts Prometheus on 127.0.0.1 with `scrape_configs` (YAML, already indented) and waits
/// (bounded) until it is ready.
async fn start_prometheus(binary: &Path, scrape_configs: &str) -> Prometheus {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n{scrape_configs}"
        ),
    )
    .expect("write config");
    // Prometheus cannot report a port it picked; retry if the free port got taken meanwhile.
    for _attempt in 0..3 {
        let port = harness::free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let mut child = ChildGuard(child);
        let url = format!("http://127.0.0.1:{port}");
        let ready = eventually(Duration::from_secs(30), Duration::from_millis(200), || {
            let url = url.clone();
            async move {
                match get(&format!("{url}/-/ready")).await {
                    Ok((200, _)) => Some(()),
                    _ => None,
                }
            }
        })
        .await;
        if ready.is_some() {
            return Prometheus {
                _child: child,
                url,
                _dir: dir,
            };
        }
        let _ = child.0.kill();
    }
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    panic!("prometheus did not become ready:\n{log}");
}

fn region_instance(region: &str, requests: u64) -> AdminEndpoints {
    let registry = Registry::new();
    let h = registry.istio().http(&IstioLabels {
        reporter: Reporter::Destination,
        source: WorkloadLabels {
            workload: "gateway".into(),
            namespace: "default".into(),
            ..Default::default()
        },
        destination: WorkloadLabels {
            workload: "myapp-v1".into(),
            namespace: "default".into(),
            ..Default::default()
        },
        service: ServiceLabels {
            host: "myapp.default.svc.cluster.local".into(),
            name: "myapp".into(),
            namespace: "default".into(),
        },
        ..Default::default()
    });
    for _ in 0..requests {
        h.record(&HttpRecord::http(
            200,
            ResponseFlags::NONE,
            Duration::from_millis(4),
            0,
            42,
        ));
    }
    registry
        .workloads()
        .workload("default", "myapp")
        .ready_replicas
        .set(2);
    AdminEndpoints::new(
        registry,
        Federation::new(&[("region", region)]).expect("valid"),
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("bad JSON from prometheus ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_federates_two_regions() {
    let Some(binary) = harness::tool("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let eu = serve_admin(region_instance("eu-west", 9)).await;
    let us = serve_admin(region_instance("us-east", 1)).await;
    let scrape = format!(
        "  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n\
         \x20   params:\n      'match[]':\n        - '{{__name__=~\"istio_requests_total|meridian_workload_.*\"}}'\n\
         \x20       - 'istio_request_duration_milliseconds_bucket{{le=\"5\"}}'\n\
         \x20   static_configs:\n      - targets: ['{eu}', '{us}']\n"
    );
    let prom = start_prometheus(&binary, &scrape).await;

    let query = format!(
        "{}/api/v1/query?query=sum%20by%20(region)%20(istio_requests_total)",
        prom.url
    );
    let regions = eventually(Duration::from_secs(60), Duration::from_millis(500), || {
        let query = query.clone();
        async move {
            let (status, body) = get(&query).await.ok()?;
            if status != 200 {
                return None;
            }
            let v = json(&body);
            let result = v["data"]["result"].as_array()?.clone();
            let mut regions: Vec<(String, String)> = result
                .iter()
                .map(|r| {
                    (
                        r["metric"]["region"].as_str().unwrap_or("").to_owned(),
                        r["value"][1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            regions.sort();
            (regions.len() == 2).then_some(regions)
        }
    })
    .await
    .unwrap_or_else(|| panic!("prometheus never saw both regions through /federate"));
    assert_eq!(
        regions,
        [
            ("eu-west".to_owned(), "9".to_owned()),
            ("us-east".to_owned(), "1".to_owned())
        ]
    );

    // The Istio labels arrive intact, and only what match[] selected was federated.
    let (_, body) = get(&format!(
        "{}/api/v1/series?match[]=%7Bjob%3D%22federate%22%7D",
        prom.url
    ))
    .await
    .expect("series API");
    let v = json(&body);
    let series = v["data"].as_array().expect("series list");
    let names: std::collections::BTreeSet<&str> = series
        .iter()
        .filter_map(|s| s["__name__"].as_str())
        .collect();
    assert!(names.contains("istio_requests_total"), "{names:?}");
    assert!(
        names.contains("meridian_workload_ready_replicas"),
        "{names:?}"
    );
    assert!(
        names.contains("istio_request_duration_milliseconds_bucket"),
        "{names:?}"
    );
    assert!(
        !names.contains("process_cpu_seconds_total"),
        "not selected: {names:?}"
    );
    let requests = series
        .iter()
        .find(|s| s["__name__"] == "istio_requests_total" && s["region"] == "eu-west")
        .expect("eu-west requests series");
    assert_eq!(
        requests["destination_service"],
        "myapp.default.svc.cluster.local"
    );
    assert_eq!(requests["reporter"], "destination");
    assert_eq!(requests["response_flags"], "-");
    let buckets: Vec<&serde_json::Value> = series
        .iter()
        .filter(|s| s["__name__"] == "istio_request_duration_milliseconds_bucket")
        .collect();
    assert!(
        buckets.iter().all(|s| s["le"] == "5"),
        "only le=5 was selected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selector_errors_match_prometheus_federate() {
    let Some(binary) = harness::tool("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let prom = start_prometheus(&binary, "").await;
    // Prometheus' /federate parses match[] with ParseMetricSelector, which (unlike PromQL
    // queries) does not reject selectors that match everything; ours does, so those cases
    // are checked against PromQL's wording in the unit tests instead.
    let cases = [
        "",
        "foo{",
        "foo{a",
        "foo{a=",
        "foo{a=\"b\"",
        "foo{a=\"b\"}}",
        "foo{a=b}",
        "foo{a>\"b\"}",
        "foo{1}",
        "foo bar",
        "1foo",
        "foo{a=\"b\\q\"}",
        "foo{a=\"unterminated}",
        "foo[5m]",
        "rate(foo[5m])",
        "foo offset 5m",
        "foo{,}",
        "foo{a=\"b\" c=\"d\"}",
        "\"foo\"",
        "foo{a==b}",
        "foo{a!b}",
        "sum(foo)",
        "foo{a=\"b\"}{c=\"d\"}",
        "on",
        "inf",
        "{A-b=\"x\"}",
        "foo{a=~\"(\"}",
        "foo{\n a=b}",
        "5m",
        "foo{a=\"b\"} 42",
    ];
    for case in cases {
        let encoded: String = case
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = get(&format!("{}/federate?match[]={encoded}", prom.url))
            .await
            .expect("prometheus answers");
        assert_eq!(status, 400, "prometheus accepted {case:?}");
        let theirs = body.trim_end();
        let ours = Selector::parse(case)
            .err()
            .unwrap_or_else(|| panic!("we accepted {case:?}; prometheus said {theirs}"))
            .to_string();
        if theirs.contains("error parsing regexp:") {
            // Go's and Rust's regex parsers word their errors differently; the position and
            // prefix must agree.
            let prefix = |s: &str| {
                s.split("error parsing regexp:")
                    .next()
                    .unwrap_or("")
                    .to_owned()
            };
            assert_eq!(prefix(&ours), prefix(theirs), "for {case:?}");
        } else {
            assert_eq!(ours, theirs, "for {case:?}");
        }
    }
}
