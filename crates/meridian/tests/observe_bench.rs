//! What per-request telemetry costs: requests per second through `meridian up` (Gateway →
//! inbound sidecar over mTLS → the demo app) with and without request telemetry (Istio
//! metrics from both reporters, golden-signal windows, the tap check), in one run, as a
//! ratio. Two nodes run side by side on CPU 0 (one idle while the other is measured); wrk
//! runs on CPU 1, alternating between them, three rounds each.
//!
//! `cargo test --release -p meridian --test observe_bench -- --ignored --nocapture`
//! (needs `wrk` and `taskset`: `apt-get install wrk util-linux`).

mod observe_support;

use std::process::Command;

use observe_support::{Up, app_dir, get, tool, web_app};

fn node(extra: &[&str]) -> (tempfile::TempDir, Up) {
    let tmp = app_dir("web.yaml", &web_app());
    let up = Up::start_pinned(tmp.path(), "app", extra, 0);
    up.wait_ready(&[("web", 1)]);
    (tmp, up)
}

/// One wrk run; returns (requests/s, p99 latency as printed).
fn wrk(wrk: &std::path::Path, gateway: &str, seconds: u32) -> (f64, String) {
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(wrk)
        .args([
            "-t1",
            "-c32",
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            "Host: web.example.com",
            &format!("http://{gateway}/"),
        ])
        .output()
        .expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in {text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned());
    assert!(
        !text.contains("Non-2xx"),
        "every request must succeed: {text}"
    );
    (rps, p99)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "a benchmark: run with --release --ignored"]
fn request_telemetry_cost() {
    let (Some(wrk_bin), Some(_)) = (
        tool("wrk", "apt-get install wrk"),
        tool("taskset", "apt-get install util-linux"),
    ) else {
        return;
    };
    let (_a, with) = node(&[]);
    let (_b, without) = node(&["--no-request-telemetry"]);
    // Warm both (connections, handles) before measuring.
    for up in [&with, &without] {
        assert_eq!(get(&up.gateway, "/", &[("Host", "web.example.com")]).0, 200);
        wrk(&wrk_bin, &up.gateway, 2);
    }
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let (mut on_p99, mut off_p99) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (r, p) = wrk(&wrk_bin, &with.gateway, seconds);
        on.push(r);
        on_p99.push(p);
        let (r, p) = wrk(&wrk_bin, &without.gateway, seconds);
        off.push(r);
        off_p99.push(p);
    }
    // The recorded node really recorded: both reporters counted every request.
    let m = with.metrics();
    assert!(m.contains("reporter=\"destination\""));
    assert!(!without.metrics().contains("istio_requests_total{"));
    let (on_m, off_m) = (median(on.clone()), median(off.clone()));
    println!("| request telemetry | requests/s (median of 3 × {seconds} s) | runs | p99 per run |");
    println!("|---|---|---|---|");
    println!(
        "| on (Istio metrics ×2 reporters, stats, tap check) | {on_m:.0} | {} | {} |",
        on.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        on_p99.join(", ")
    );
    println!(
        "| off (`--no-request-telemetry`) | {off_m:.0} | {} | {} |",
        off.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        off_p99.join(", ")
    );
    println!(
        "ratio on/off: {:.3} (telemetry costs {:.1}% of requests/s)",
        on_m / off_m,
        100.0 * (1.0 - on_m / off_m)
    );
}
