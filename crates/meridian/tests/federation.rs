//! Two `meridian up` nodes in different regions, federated by a real Prometheus server
//! (Debian package `prometheus`): each node's `/federate` adds its `region` external label,
//! and Prometheus sees both regions' Istio metrics side by side.

mod observe_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use observe_support::{Up, app_dir, get, load, tool, web_app};

fn node(region: &str) -> (tempfile::TempDir, Up) {
    let tmp = app_dir("web.yaml", &web_app());
    let up = Up::start(tmp.path(), "app", &["--region", region]);
    up.wait_ready(&[("web", 1)]);
    (tmp, up)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind")
}

struct Prometheus {
    child: std::process::Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus(binary: &std::path::Path, dir: &std::path::Path, targets: &[&str]) -> Prometheus {
    let config = dir.join("prometheus.yml");
    let list = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n\
             - job_name: federate\n\
             \x20 honor_labels: true\n\
             \x20 metrics_path: /federate\n\
             \x20 params:\n\
             \x20   'match[]':\n\
             \x20   - '{{__name__=~\"istio_requests_total|meridian_workload_ready_replicas\"}}'\n\
             \x20 static_configs:\n\
             \x20 - targets: [{list}]\n"
        ),
    )
    .expect("config");
    // Prometheus cannot report a port it picked: retry if the free one got taken.
    for _ in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
            .spawn()
            .expect("start prometheus");
        let mut p = Prometheus { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if get(&p.addr, "/-/ready", &[]).0 == 200 {
                return p;
            }
            if let Ok(Some(_)) = p.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = p.child.kill();
    }
    panic!(
        "prometheus did not start: {}",
        std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
    );
}

/// `sum by (region)` of a query's result vector.
fn by_region(p: &Prometheus, query: &str) -> Vec<(String, f64)> {
    let encoded: String = query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, body) = get(&p.addr, &format!("/api/v1/query?query={encoded}"), &[]);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut out: Vec<(String, f64)> = v["data"]["result"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r["metric"]["region"].as_str().unwrap_or("").to_owned(),
                r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn prometheus_federates_two_regions() {
    let Some(binary) = tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let (_east_dir, east) = node("us-east");
    let (_west_dir, west) = node("eu-west");
    assert_eq!(
        load(&east.gateway, "web.example.com", 30, 2).get(&200),
        Some(&30)
    );
    assert_eq!(
        load(&west.gateway, "web.example.com", 50, 2).get(&200),
        Some(&50)
    );

    // Each node's own /federate carries its region.
    let (status, body) = get(
        &east.admin,
        "/federate?match[]=istio_requests_total%7Breporter%3D%22source%22%7D",
        &[],
    );
    assert_eq!(status, 200);
    assert!(body.contains("region=\"us-east\""), "{body}");

    let dir = tempfile::tempdir().expect("tempdir");
    let prom = prometheus(&binary, dir.path(), &[&east.admin, &west.admin]);
    let query = "sum by (region) (istio_requests_total{reporter=\"source\",destination_service_name=\"web\"})";
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen = by_region(&prom, query);
        if seen.len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        seen,
        vec![("eu-west".to_owned(), 50.0), ("us-east".to_owned(), 30.0)]
    );
    let ready = by_region(
        &prom,
        "sum by (region) (meridian_workload_ready_replicas{workload=\"web\"})",
    );
    assert_eq!(
        ready,
        vec![("eu-west".to_owned(), 1.0), ("us-east".to_owned(), 1.0)]
    );
}
