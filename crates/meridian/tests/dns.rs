//! `meridian up` serves the Route 53 zones of the course's Terraform on its DNS listener:
//! Debian's `dig` asks it, `meridian dns query` says why, and a failover drill kills a real
//! HTTP backend and measures how long until DNS answers the secondary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod observe_support;

fn meridian() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meridian"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TF_VAR_") || k.starts_with("MERIDIAN_") {
            c.env_remove(k);
        }
    }
    c
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A running `meridian up`, killed when dropped.
struct Up {
    child: Child,
    dns: SocketAddr,
    dir: PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up(dir: &Path, folder: &str, extra: &[&str]) -> Up {
    let mut child = meridian()
        .current_dir(dir)
        .args(["up", folder, "--admin-addr", "127.0.0.1:0"])
        .args(["--dynamodb-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0"])
        .args(["--dns-addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let rx = observe_support::stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<String> = Vec::new();
    while !seen.iter().any(|l| l.starts_with("watching for changes")) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => seen.push(l),
            Err(e) => {
                let _ = child.kill();
                panic!("no banner within 60s ({e}); got:\n{}", seen.join("\n"));
            }
        }
    }
    let line = seen
        .iter()
        .find(|l| l.starts_with("  dns "))
        .unwrap_or_else(|| panic!("no dns line in the banner:\n{}", seen.join("\n")));
    let dns: SocketAddr = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    Up {
        child,
        dns,
        dir: dir.to_path_buf(),
    }
}

fn dig(dns: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", dns.ip()))
        .args([
            "-p",
            &dns.port().to_string(),
            "+norec",
            "+time=2",
            "+tries=1",
        ])
        .args(args)
        .output()
        .expect("dig runs (Debian's bind9-dnsutils, installed by .ci/install-test-deps)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dns_query(up: &Up, name: &str) -> String {
    let out = meridian()
        .current_dir(&up.dir)
        .args(["dns", "query", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn until_reason(up: &Up, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = dns_query(up, "app.example.com");
        if text.contains(want) {
            return text;
        }
        assert!(Instant::now() < deadline, "never \"{want}\":\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn up_serves_the_course_zone_to_dig() {
    let tmp = tempfile::tempdir().unwrap();
    let global = tmp.path().join("global");
    std::fs::create_dir(&global).unwrap();
    // The course's global folder: its Terraform and the Swarm stack that places 6 replicas
    // on a us-east node.
    for e in std::fs::read_dir(examples().join("global")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), global.join(e.file_name())).unwrap();
    }
    let up = up(tmp.path(), "global", &["--region", "us-east"]);

    // The course's failover pair: PRIMARY is an alias to the us-east-1 load balancer, which
    // answers as its A record on this machine.
    let out = dig(up.dns, &["app.example.com", "A"]);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr aa;"), "{out}");
    assert!(
        out.contains("app.example.com.\t60\tIN\tA\t127.0.0.1"),
        "{out}"
    );
    let nx = dig(up.dns, &["nope.example.com", "A"]);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(
        nx.contains("example.com.\t\t900\tIN\tSOA\tns-1.route53.localhost."),
        "{nx}"
    );
    let nodata = dig(up.dns, &["app.example.com", "MX"]);
    assert!(
        nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0, AUTHORITY: 1"),
        "{nodata}"
    );

    // evaluate_target_health: the us-east-1 load balancer is healthy once this us-east
    // node's replicas are ready; eu-west-1 has no gateway here.
    let text = until_reason(
        &up,
        "aws_route53_record.primary (failover: PRIMARY healthy)",
    );
    assert!(
        text.contains("app.example.com A from 127.0.0.1: NOERROR"),
        "{text}"
    );
    assert!(text.contains("alias → app-alb-primary-"), "{text}");

    // No ready replica: both load balancers unhealthy, and Route 53 answers PRIMARY anyway.
    let scaled = meridian()
        .current_dir(&up.dir)
        .args(["scale", "app", "--replicas", "0"])
        .output()
        .unwrap();
    assert!(
        scaled.status.success(),
        "{}",
        String::from_utf8_lossy(&scaled.stderr)
    );
    until_reason(&up, "PRIMARY and SECONDARY unhealthy: PRIMARY regardless");
    let health = meridian()
        .current_dir(&up.dir)
        .args(["global", "health"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&health.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("app-alb-primary-") && l.contains("unhealthy")),
        "{text}"
    );
}

const DRILL: &str = r#"
provider "aws" {
  region = "us-east-1"
}

resource "aws_route53_zone" "main" {
  name = "example.com"
}

resource "aws_route53_health_check" "primary" {
  ip_address        = "127.0.0.1"
  port              = PORT
  type              = "HTTP"
  resource_path     = "/"
  request_interval  = 10
  failure_threshold = 2
}

resource "aws_route53_record" "primary" {
  zone_id         = aws_route53_zone.main.zone_id
  name            = "app"
  type            = "A"
  ttl             = 1
  set_identifier  = "primary"
  health_check_id = aws_route53_health_check.primary.id
  records         = ["192.0.2.1"]
  failover_routing_policy {
    type = "PRIMARY"
  }
}

resource "aws_route53_record" "secondary" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "app"
  type           = "A"
  ttl            = 1
  set_identifier = "secondary"
  records        = ["192.0.2.2"]
  failover_routing_policy {
    type = "SECONDARY"
  }
}
"#;

struct Backend(Child);

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn backend(port: u16, dir: &Path) -> Backend {
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Backend(child)
}

fn answers_within(dns: SocketAddr, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if dig(dns, &["app.example.com", "A", "+short"]).trim() == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "app.example.com never answered {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn failover_drill_when_the_primary_backend_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let zone = tmp.path().join("zone");
    std::fs::create_dir(&zone).unwrap();
    std::fs::write(
        zone.join("main.tf"),
        DRILL.replace("PORT", &port.to_string()),
    )
    .unwrap();
    let site = tempfile::tempdir().unwrap();
    let be = backend(port, site.path());
    let up = up(tmp.path(), "zone", &["--health-check-interval", "1s"]);
    answers_within(up.dns, "192.0.2.1", Duration::from_secs(10));

    drop(be);
    let took = answers_within(up.dns, "192.0.2.2", Duration::from_secs(30));
    println!(
        "meridian up: DNS failover {:.1} s after the primary's backend was killed (interval 1 s, threshold 2, TTL 1)",
        took.as_secs_f64()
    );
    let health = meridian()
        .current_dir(&up.dir)
        .args(["global", "health"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&health.stdout);
    assert!(
        text.contains("HTTP") && text.contains("unhealthy"),
        "{text}"
    );
    assert!(text.contains(&format!("127.0.0.1:{port}/")), "{text}");
    // The same status on /metrics (the admin address is in the run file); the gauge is
    // refreshed every second, so poll it, bounded.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(up.dir.join(".meridian/run.json")).unwrap())
            .unwrap();
    let admin = run["admin"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = Command::new("curl")
            .args(["-sS", &format!("http://{admin}/metrics")])
            .output()
            .unwrap();
        let metrics = String::from_utf8_lossy(&metrics.stdout).into_owned();
        let line = metrics
            .lines()
            .find(|l| l.starts_with("meridian_dns_health_check_healthy{"))
            .map(str::to_owned);
        // The UDP answers dig got so far are counted too.
        let answered = metrics
            .lines()
            .find_map(|l| l.strip_prefix("meridian_dns_udp_responses_total{outcome=\"answered\"} "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        match line {
            Some(l)
                if l.contains("type=\"HTTP\"")
                    && l.ends_with(" 0")
                    && answered.is_some_and(|n| n > 0) =>
            {
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "{other:?} {answered:?}\n{metrics}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let _back = backend(port, site.path());
    let back = answers_within(up.dns, "192.0.2.1", Duration::from_secs(30));
    println!(
        "failback {:.1} s after the backend returned",
        back.as_secs_f64()
    );
}
