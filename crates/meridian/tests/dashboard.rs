//! The dashboard end to end, as a person sees it: real traffic through `meridian up` on the
//! course's examples, the page loaded in Debian's headless Chromium (driven by
//! playwright-core from npm, never a downloaded browser), the service graph showing the
//! services with live, non-zero RPS, the canary split, the replicas; and a screenshot saved
//! to `target/dashboard.png` (`DASHBOARD_SCREENSHOT` overrides it).
//!
//! Needs: `apt-get install chromium nodejs npm` and `npm ci` in `tests/dashboard`.

mod observe_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use observe_support::{Up, course_examples, get, tool};

fn playwright_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    if dir.join("node_modules/playwright-core").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "playwright-core is required in CI: npm ci --prefix crates/meridian/tests/dashboard"
    );
    eprintln!("SKIPPED: run `npm ci` in {}", dir.display());
    None
}

#[test]
fn the_dashboard_shows_the_live_service_graph_in_chromium() {
    let (Some(node), Some(chromium)) = (
        tool("node", "apt-get install nodejs"),
        tool("chromium", "apt-get install chromium"),
    ) else {
        return;
    };
    let Some(scripts) = playwright_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    course_examples(tmp.path());
    let up = Up::start(tmp.path(), "examples", &["--region", "us-east"]);
    up.wait_ready(&[("myapp", 3), ("myapp-v2", 1), ("app", 6)]);

    // Steady traffic while the page is open: the app's sidecar (the 90/10 canary) and the
    // Gateway; a few requests to an unknown host for the errors table. Bounded: it stops
    // when the page has been looked at, or after two minutes.
    let myapp = format!("127.0.0.1:{}", up.sidecar_port("app", "myapp"));
    let gateway = up.gateway.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                get(&myapp, "/", &[("Host", "myapp")]);
                if sent.is_multiple_of(5) {
                    get(&gateway, "/", &[("Host", "myapp.example.com")]);
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            sent
        })
    };
    let proxy = up.env_of("app", "HTTP_PROXY");
    for _ in 0..3 {
        get(
            proxy.trim_start_matches("http://").trim_end_matches('/'),
            "/",
            &[("Host", "reviews")],
        );
    }

    // The course's distribution: a page in its private bucket, asked for twice over the
    // edge's HTTPS (a miss, then a hit), for the CDN row.
    let (Some(aws), Some(curl)) = (
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
        tool("curl", "apt-get install curl"),
    ) else {
        return;
    };
    let s3 = up.banner_address("  s3 ", "http://");
    let cdn = up.banner_address("  cdn ", "https://");
    let key = up.access_key();
    let page = tmp.path().join("index.html");
    std::fs::write(&page, "<html>course site</html>").expect("write");
    let home = tempfile::tempdir().expect("home");
    let copied = Command::new(&aws)
        .args(["s3", "cp", page.to_str().expect("utf-8")])
        .arg(format!("s3://{}/index.html", course_bucket(&up)))
        .args(["--endpoint-url", &s3])
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .output()
        .expect("aws runs");
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    for _ in 0..2 {
        let out = Command::new(&curl)
            .args([
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{cdn}/"),
            ])
            .output()
            .expect("curl runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    }

    // `meridian dashboard` prints the URL the browser opens.
    let url = up.cli(&["dashboard"]).trim().to_owned();
    assert_eq!(url, format!("http://{}/dashboard/", up.admin));

    let screenshot = std::env::var_os("DASHBOARD_SCREENSHOT").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("../dashboard.png"),
        PathBuf::from,
    );
    let out = Command::new(node)
        .current_dir(&scripts)
        .arg("dashboard.mjs")
        .arg(&url)
        .arg(&screenshot)
        .env("CHROMIUM", chromium)
        .output()
        .expect("run node");
    stop.store(true, Ordering::Relaxed);
    let sent = traffic.join().expect("traffic");
    assert!(
        out.status.success(),
        "the page check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = seen["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    for wanted in [
        "svc:myapp.default.svc.cluster.local",
        "wl:default/myapp",
        "wl:default/myapp-v2",
        "wl:default/app",
        "wl:istio-system/istio-ingressgateway",
    ] {
        assert!(ids.contains(&wanted), "{wanted} missing from {ids:?}");
    }
    let live = seen["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| {
            e["source"] == "wl:default/app" && e["target"] == "svc:myapp.default.svc.cluster.local"
        })
        .expect("app -> myapp edge");
    assert!(live["rps"].as_f64().expect("rps") > 0.0, "{live}");
    assert!(
        live["label"].as_str().is_some_and(|l| l.contains("rps")),
        "{live}"
    );
    let splits = seen["splits"].to_string();
    assert!(
        splits.contains("v1") && splits.contains("v2") && splits.contains("weight 90%"),
        "{splits}"
    );
    assert_eq!(seen["replicas"], 10, "{seen}");
    assert_eq!(
        seen["cdn"].as_array().map(Vec::len),
        Some(0),
        "every script is served by the binary"
    );
    // One row per distribution: the miss and the hit.
    let rows = seen["distributions"].as_array().expect("distributions");
    assert_eq!(rows.len(), 1, "{seen}");
    let cells: Vec<&str> = rows[0]
        .as_array()
        .expect("cells")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(cells[0].starts_with('E'), "{cells:?}");
    assert_eq!(
        (cells[1], cells[2], cells[3]),
        (course_bucket(&up).as_str(), "50.0%", "1 / 1 / 0"),
        "{cells:?}"
    );
    assert_eq!(seen["errors"].as_array().map(Vec::len), Some(0), "{seen}");
    assert!(sent > 0);
    let png = std::fs::read(&screenshot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG"),
        "a PNG at {}",
        screenshot.display()
    );
    eprintln!("screenshot: {}", screenshot.display());
}

/// The bucket behind the course's distribution, as the banner names it.
fn course_bucket(up: &Up) -> String {
    let line = up
        .banner
        .iter()
        .find(|l| l.contains("  cdn "))
        .expect("a cdn line");
    line.split("-> bucket ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .expect("the bucket")
        .trim()
        .to_owned()
}
