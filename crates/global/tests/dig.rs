//! The DNS against a real client: Debian's `dig` (bind9-dnsutils) querying a listener on
//! 127.0.0.1:0 that serves zones compiled from Terraform, as `meridian up` does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use meridian_config::{LoadOptions, load_paths};
use meridian_global::server::{Listener, Options, RateLimit};
use meridian_global::{Location, Network, Plane};

const ZONE: &str = r#"
provider "aws" {
  region = "us-east-1"
}

resource "aws_route53_zone" "main" {
  name = "example.com"
}

resource "aws_lb" "east" {
  name = "app-east"
}

resource "aws_route53_record" "www" {
  zone_id = aws_route53_zone.main.zone_id
  name    = "www.example.com"
  type    = "A"
  ttl     = 300
  records = ["192.0.2.10"]
}

resource "aws_route53_record" "deep" {
  zone_id = aws_route53_zone.main.zone_id
  name    = "a.b.c"
  type    = "TXT"
  ttl     = 60
  records = ["deep"]
}

resource "aws_route53_record" "alias_cname" {
  zone_id = aws_route53_zone.main.zone_id
  name    = "web"
  type    = "CNAME"
  ttl     = 120
  records = ["www.example.com"]
}

resource "aws_route53_record" "apex" {
  zone_id = aws_route53_zone.main.zone_id
  name    = "example.com"
  type    = "A"
  alias {
    name                   = aws_lb.east.dns_name
    zone_id                = aws_lb.east.zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "big" {
  zone_id = aws_route53_zone.main.zone_id
  name    = "big"
  type    = "A"
  ttl     = 30
  records = [for i in range(1, 61) : "198.51.100.${i}"]
}

resource "aws_route53_record" "heavy" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "w"
  type           = "A"
  ttl            = 0
  set_identifier = "heavy"
  records        = ["192.0.2.3"]
  weighted_routing_policy {
    weight = 3
  }
}

resource "aws_route53_record" "light" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "w"
  type           = "A"
  ttl            = 0
  set_identifier = "light"
  records        = ["192.0.2.1"]
  weighted_routing_policy {
    weight = 1
  }
}

resource "aws_route53_record" "off" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "w"
  type           = "A"
  ttl            = 0
  set_identifier = "off"
  records        = ["192.0.2.99"]
  weighted_routing_policy {
    weight = 0
  }
}

resource "aws_route53_record" "lat_east" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "lat"
  type           = "A"
  ttl            = 60
  set_identifier = "us-east-1"
  records        = ["192.0.2.51"]
  latency_routing_policy {
    region = "us-east-1"
  }
}

resource "aws_route53_record" "lat_west" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "lat"
  type           = "A"
  ttl            = 60
  set_identifier = "eu-west-1"
  records        = ["192.0.2.52"]
  latency_routing_policy {
    region = "eu-west-1"
  }
}

resource "aws_route53_record" "multi" {
  count            = 10
  zone_id          = aws_route53_zone.main.zone_id
  name             = "multi"
  type             = "A"
  ttl              = 60
  set_identifier   = "m${count.index}"
  records          = ["198.51.100.${count.index + 1}"]
  multivalue_answer_routing_policy = true
}

resource "aws_route53_record" "geo_default" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "geo"
  type           = "A"
  ttl            = 60
  set_identifier = "default"
  records        = ["192.0.2.100"]
  geolocation_routing_policy {
    country = "*"
  }
}

resource "aws_route53_record" "geo_eu" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "geo"
  type           = "A"
  ttl            = 60
  set_identifier = "europe"
  records        = ["192.0.2.44"]
  geolocation_routing_policy {
    continent = "EU"
  }
}
"#;

const FAILOVER: &str = r#"
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

struct Dns {
    _dir: tempfile::TempDir,
    plane: Plane,
    listener: Listener,
}

async fn serve(tf: &str, interval: Option<Duration>) -> Dns {
    serve_with(tf, interval, Options::default()).await
}

async fn serve_with(tf: &str, interval: Option<Duration>, options: Options) -> Dns {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.tf"), tf).unwrap();
    let bundle = load_paths(&[dir.path().to_path_buf()], LoadOptions::default());
    let errors: Vec<String> = bundle
        .diagnostics()
        .filter(|d| d.severity == meridian_config::Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let network = Network {
        local_region: Some("us-east".into()),
        latency: vec![(
            "10.9.0.0/16".parse().unwrap(),
            vec![("us-east-1".into(), 90), ("eu-west-1".into(), 15)],
        )],
        geo: vec![(
            "10.2.0.0/16".parse().unwrap(),
            Location {
                continent: "EU".into(),
                country: "FR".into(),
                subdivision: None,
            },
        )],
        ..Network::default()
    };
    let plane = Plane::new(network, interval);
    let summary = plane.apply(bundle.terraform_modules());
    assert!(summary.notes.is_empty(), "{:#?}", summary.notes);
    let listener = Listener::bind_with("127.0.0.1:0".parse().unwrap(), plane.shared(), options)
        .await
        .unwrap();
    Dns {
        _dir: dir,
        plane,
        listener,
    }
}

/// Runs dig against the listener; `+norec` as a resolver would ask an authoritative server.
async fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+norec", "+time=2", "+tries=1"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("dig runs (Debian's bind9-dnsutils, installed by .ci/install-test-deps)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(out: &str) -> &str {
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
}

fn flags(out: &str) -> &str {
    out.split(";; flags: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or("")
}

/// Records of a section (`ANSWER`, `AUTHORITY`) as (name, ttl, type, data).
fn section(out: &str, name: &str) -> Vec<(String, u32, String, String)> {
    let head = format!(";; {name} SECTION:");
    let Some(start) = out.find(&head) else {
        return Vec::new();
    };
    out[start + head.len()..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[3].to_owned(),
                f[4..].join(" "),
            )
        })
        .collect()
}

#[tokio::test]
async fn apex_soa_ns_and_negative_answers() {
    let dns = serve(ZONE, None).await;
    let a = dns.listener.addr;

    let soa = dig(a, &["example.com", "SOA"]).await;
    assert_eq!(status(&soa), "NOERROR", "{soa}");
    assert!(flags(&soa).contains("aa"), "{soa}");
    let ans = section(&soa, "ANSWER");
    assert_eq!(ans.len(), 1, "{soa}");
    assert_eq!(ans[0].2, "SOA");
    assert!(
        ans[0].3.starts_with(
            "ns-1.route53.localhost. hostmaster.example.com. 1 7200 900 1209600 86400"
        ),
        "{soa}"
    );

    let ns = dig(a, &["example.com", "NS"]).await;
    let ans = section(&ns, "ANSWER");
    assert_eq!(ans.len(), 4, "{ns}");
    assert!(ans.iter().all(|r| r.2 == "NS" && r.1 == 172_800), "{ns}");

    // RFC 2308: NXDOMAIN with the SOA in authority, its TTL min(SOA TTL, MINIMUM) = 900.
    let nx = dig(a, &["nope.example.com", "A"]).await;
    assert_eq!(status(&nx), "NXDOMAIN", "{nx}");
    assert!(flags(&nx).contains("aa"), "{nx}");
    assert!(section(&nx, "ANSWER").is_empty(), "{nx}");
    let auth = section(&nx, "AUTHORITY");
    assert_eq!(auth.len(), 1, "{nx}");
    assert_eq!(
        (auth[0].0.as_str(), auth[0].1, auth[0].2.as_str()),
        ("example.com.", 900, "SOA")
    );

    // NODATA: the name exists, not the type.
    let nodata = dig(a, &["www.example.com", "TXT"]).await;
    assert_eq!(status(&nodata), "NOERROR", "{nodata}");
    assert!(section(&nodata, "ANSWER").is_empty(), "{nodata}");
    assert_eq!(section(&nodata, "AUTHORITY")[0].2, "SOA", "{nodata}");

    // An empty non-terminal (b.c.example.com, above a.b.c.example.com) is NODATA, not NXDOMAIN.
    let ent = dig(a, &["b.c.example.com", "A"]).await;
    assert_eq!(status(&ent), "NOERROR", "{ent}");
    assert_eq!(section(&ent, "AUTHORITY").len(), 1, "{ent}");

    // Outside every zone: an authoritative-only server refuses.
    let out = dig(a, &["example.org", "A"]).await;
    assert_eq!(status(&out), "REFUSED", "{out}");
    assert!(!flags(&out).contains("aa"), "{out}");
}

#[tokio::test]
async fn names_are_case_insensitive_and_keep_the_query_spelling() {
    let dns = serve(ZONE, None).await;
    let out = dig(dns.listener.addr, &["WwW.ExAmPlE.CoM", "a"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");
    let ans = section(&out, "ANSWER");
    assert_eq!(
        ans,
        vec![(
            "WwW.ExAmPlE.CoM.".into(),
            300,
            "A".into(),
            "192.0.2.10".into()
        )]
    );
}

#[tokio::test]
async fn cname_is_followed_inside_the_zone_and_alias_answers_as_a() {
    let dns = serve(ZONE, None).await;
    let a = dns.listener.addr;
    let out = dig(a, &["web.example.com", "A"]).await;
    let ans = section(&out, "ANSWER");
    assert_eq!(ans.len(), 2, "{out}");
    assert_eq!(
        (ans[0].2.as_str(), ans[0].3.as_str()),
        ("CNAME", "www.example.com.")
    );
    assert_eq!(
        (ans[1].0.as_str(), ans[1].3.as_str()),
        ("www.example.com.", "192.0.2.10")
    );

    // The apex alias to a load balancer answers A (never a CNAME), with Route 53's 60 s.
    let out = dig(a, &["example.com", "A"]).await;
    let ans = section(&out, "ANSWER");
    assert_eq!(
        ans,
        vec![("example.com.".into(), 60, "A".into(), "127.0.0.1".into())],
        "{out}"
    );

    // Its health follows the target's: a load balancer out of service, and the alias has
    // no healthy record; Route 53 then answers it anyway (all unhealthy = all healthy).
    let lb = dns
        .plane
        .health()
        .into_iter()
        .find(|s| s.kind == "TARGET")
        .unwrap();
    assert!(dns.plane.set_target_health(&lb.id, false));
    let out = dig(a, &["example.com", "A"]).await;
    assert_eq!(section(&out, "ANSWER").len(), 1, "{out}");
}

#[tokio::test]
async fn a_large_answer_is_truncated_over_udp_and_complete_over_tcp() {
    let dns = serve(ZONE, None).await;
    let a = dns.listener.addr;
    // 60 A records do not fit 512 bytes.
    let udp = dig(a, &["big.example.com", "A", "+ignore", "+noedns"]).await;
    assert!(flags(&udp).contains("tc"), "{udp}");
    // dig retries over TCP on TC, as resolvers do.
    let fallback = dig(a, &["big.example.com", "A", "+noedns"]).await;
    assert!(
        fallback.contains("Truncated, retrying in TCP mode"),
        "{fallback}"
    );
    assert_eq!(section(&fallback, "ANSWER").len(), 60, "{fallback}");
    let tcp = dig(a, &["big.example.com", "A", "+tcp"]).await;
    assert_eq!(section(&tcp, "ANSWER").len(), 60, "{tcp}");
    // With EDNS and a 4096-byte buffer the whole answer fits in UDP.
    let edns = dig(a, &["big.example.com", "A", "+bufsize=4096", "+ignore"]).await;
    assert!(!flags(&edns).contains("tc"), "{edns}");
    assert_eq!(section(&edns, "ANSWER").len(), 60, "{edns}");
}

#[tokio::test]
async fn edns_client_subnet_chooses_a_geolocation_and_is_echoed_with_scope() {
    let dns = serve(ZONE, None).await;
    let a = dns.listener.addr;
    let eu = dig(a, &["geo.example.com", "A", "+subnet=10.2.3.0/24"]).await;
    assert_eq!(section(&eu, "ANSWER")[0].3, "192.0.2.44", "{eu}");
    assert!(eu.contains("CLIENT-SUBNET: 10.2.3.0/24/24"), "{eu}");
    // The resolver's own address (127.0.0.1) has no location: the default record.
    let local = dig(a, &["geo.example.com", "A"]).await;
    assert_eq!(section(&local, "ANSWER")[0].3, "192.0.2.100", "{local}");
    // A subnet that does not choose the answer is echoed with scope 0.
    let www = dig(a, &["www.example.com", "A", "+subnet=10.2.3.0/24"]).await;
    assert!(www.contains("CLIENT-SUBNET: 10.2.3.0/24/0"), "{www}");
}

#[tokio::test]
async fn bad_queries_get_their_rcode() {
    let dns = serve(ZONE, None).await;
    let a = dns.listener.addr;
    let badvers = dig(
        a,
        &["www.example.com", "A", "+edns=1", "+noednsnegotiation"],
    )
    .await;
    assert_eq!(status(&badvers), "BADVERS", "{badvers}");
    let axfr = dig(a, &["example.com", "AXFR"]).await;
    assert!(
        axfr.contains("Transfer failed") || axfr.contains("REFUSED"),
        "{axfr}"
    );
    let any = dig(a, &["www.example.com", "ANY"]).await;
    let ans = section(&any, "ANSWER");
    assert_eq!(ans.len(), 1, "{any}");
    assert_eq!(ans[0].2, "HINFO", "RFC 8482 minimal ANY answer: {any}");
    let chaos = dig(a, &["-c", "CH", "version.bind", "TXT"]).await;
    assert_eq!(status(&chaos), "REFUSED", "{chaos}");
}

#[tokio::test]
async fn weighted_shares_over_ten_thousand_queries() {
    // dig asks one name 10,000 times from one address: far over the default rate limit.
    let options = Options {
        rate_limit: RateLimit::off(),
    };
    let dns = serve_with(ZONE, None, options).await;
    let a = dns.listener.addr;
    let dir = tempfile::tempdir().unwrap();
    let batch: PathBuf = dir.path().join("queries");
    let n = 10_000;
    std::fs::write(&batch, "w.example.com A\n".repeat(n)).unwrap();
    let out = dig(a, &["-f", batch.to_str().unwrap(), "+short"]).await;
    let count = |ip: &str| out.lines().filter(|l| l.trim() == ip).count();
    let (heavy, light, off) = (count("192.0.2.3"), count("192.0.2.1"), count("192.0.2.99"));
    assert_eq!(
        heavy + light,
        n,
        "every query answered by a weighted record"
    );
    assert_eq!(off, 0, "weight 0 gets no traffic while others are healthy");
    let share = heavy as f64 / n as f64;
    println!(
        "weighted 3:1 over {n} queries with dig: {heavy} / {light} ({:.2} % heavy)",
        share * 100.0
    );
    assert!((share - 0.75).abs() <= 0.02, "share {share}");
}

/// A real HTTP backend: python's http.server, a separate process to kill.
struct Backend {
    child: tokio::process::Child,
    port: u16,
}

async fn backend() -> Backend {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "http.server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Backend { child, port }
}

async fn answer_of(a: SocketAddr, name: &str) -> String {
    let out = dig(a, &[name, "A", "+short"]).await;
    out.trim().to_owned()
}

async fn wait_for(a: SocketAddr, name: &str, want: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if answer_of(a, name).await == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{name} never answered {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn failover_when_the_primary_backend_is_killed() {
    let mut be = backend().await;
    let tf = format!("{ZONE}{}", FAILOVER.replace("PORT", &be.port.to_string()));
    // Route 53's fastest interval is 10 s; the drill runs checks every second, threshold 2.
    let dns = serve(&tf, Some(Duration::from_secs(1))).await;
    let a = dns.listener.addr;
    assert_eq!(answer_of(a, "app.example.com").await, "192.0.2.1");

    be.child.kill().await.unwrap();
    let took = wait_for(a, "app.example.com", "192.0.2.2", Duration::from_secs(30)).await;
    println!(
        "DNS failover after the primary's backend was killed: {:.1} s (interval 1 s, threshold 2, TTL 1)",
        took.as_secs_f64()
    );
    let status = dns.plane.health();
    assert!(!status[0].healthy, "{status:?}");
    assert!(
        status[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("connect"),
        "{status:?}"
    );

    // The backend comes back on the same port: PRIMARY again after two good checks.
    let port = be.port;
    let dir = tempfile::tempdir().unwrap();
    let mut again = tokio::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let back = wait_for(a, "app.example.com", "192.0.2.1", Duration::from_secs(30)).await;
    println!(
        "failback after the backend returned: {:.1} s",
        back.as_secs_f64()
    );
    let _ = again.kill().await;
}

#[tokio::test]
async fn latency_answers_the_nearest_region_for_the_client_subnet() {
    let dns = serve(ZONE, None).await;
    let a = dns.listener.addr;
    // The querier itself (127.0.0.1) is on this us-east node: us-east-1.
    assert_eq!(
        dig(a, &["lat.example.com", "A", "+short"]).await.trim(),
        "192.0.2.51"
    );
    // A resolver forwarding a client in 10.9.0.0/16, 15 ms from eu-west-1 in the map.
    let eu = dig(a, &["lat.example.com", "A", "+subnet=10.9.4.0/24"]).await;
    assert_eq!(section(&eu, "ANSWER")[0].3, "192.0.2.52", "{eu}");
    assert!(eu.contains("CLIENT-SUBNET: 10.9.4.0/24/24"), "{eu}");
}

#[tokio::test]
async fn multivalue_answers_eight_of_ten_and_varies() {
    let dns = serve(ZONE, None).await;
    let a = dns.listener.addr;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let out = dig(a, &["multi.example.com", "A"]).await;
        let ans = section(&out, "ANSWER");
        assert_eq!(ans.len(), 8, "{out}");
        seen.extend(ans.into_iter().map(|r| r.3));
    }
    assert_eq!(seen.len(), 10, "every record answers some query: {seen:?}");
}

/// A query for `name` (A, IN), as the flood sends it.
fn query_bytes(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// What a flood from one address got back.
#[derive(Debug, Default)]
struct Flood {
    sent: usize,
    answers: usize,
    truncated: usize,
}

/// Sends `n` queries for `name` from 127.0.0.1 as fast as the socket takes them (and more
/// until `until` is set, if given), and counts the replies until none has come for half a
/// second.
async fn flood(
    to: SocketAddr,
    name: &str,
    n: usize,
    until: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Flood {
    let sock = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    sock.connect(to).await.unwrap();
    let rx = std::sync::Arc::clone(&sock);
    let counter = tokio::spawn(async move {
        let mut f = Flood::default();
        let mut buf = [0u8; 2048];
        while let Ok(Ok(len)) =
            tokio::time::timeout(Duration::from_millis(500), rx.recv(&mut buf)).await
        {
            if len < 12 {
                continue;
            }
            if buf[2] & 0x02 != 0 {
                f.truncated += 1;
            } else if u16::from_be_bytes([buf[6], buf[7]]) > 0 {
                f.answers += 1;
            }
        }
        f
    });
    let more = || {
        until
            .as_ref()
            .is_some_and(|u| !u.load(std::sync::atomic::Ordering::Relaxed))
    };
    let mut sent = 0;
    while sent < n || more() {
        let q = query_bytes(sent as u16, name);
        sock.send(&q).await.unwrap();
        sent += 1;
        if sent >= n {
            // Past the burst, a steady trickle: enough to keep one answer's bucket empty,
            // far from filling the server's socket buffer (which would drop other queries).
            tokio::time::sleep(Duration::from_millis(2)).await;
        } else if sent % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut f = counter.await.unwrap();
    f.sent = sent;
    f
}

#[tokio::test]
async fn a_flood_from_one_address_is_rate_limited_and_slips_truncated_answers() {
    let rate = 20;
    let options = Options {
        rate_limit: RateLimit {
            responses_per_second: rate,
            slip: 2,
            ..RateLimit::default()
        },
    };
    let dns = serve_with(ZONE, None, options).await;
    let a = dns.listener.addr;
    let start = Instant::now();
    let f = flood(a, "www.example.com", 3_000, None).await;
    let took = start.elapsed().as_secs_f64();
    let stats = dns.listener.stats();
    let limited = stats
        .rate_limited
        .load(std::sync::atomic::Ordering::Relaxed);
    let slipped = stats.slipped.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "flood of {} queries in {took:.2} s: {f:?}, limited {limited}, slipped {slipped}",
        f.sent
    );
    // One second's worth at once, then the rate: never more full answers than that.
    let bound = f64::from(rate) * (1.0 + took);
    assert!(
        f.answers as f64 <= bound,
        "{} full answers, bound {bound}",
        f.answers
    );
    assert!(limited > 100, "{limited} limited of 3,000");
    // Slip 2: every second limited answer goes out truncated, the others are dropped.
    assert_eq!(slipped, limited / 2);
    assert!(f.truncated > 0, "the flood saw truncated answers: {f:?}");

    // Another network (127.0.1.0/24) is answered as usual, over UDP, meanwhile.
    let other = dig(a, &["-b", "127.0.1.1", "www.example.com", "A"]).await;
    assert_eq!(status(&other), "NOERROR", "{other}");
    assert!(!other.contains("Truncated"), "{other}");
    assert_eq!(section(&other, "ANSWER")[0].3, "192.0.2.10", "{other}");
}

#[tokio::test]
async fn a_real_client_behind_a_flooded_address_gets_its_answer_over_tcp() {
    // Slip 1: every limited answer is sent truncated, none dropped.
    let options = Options {
        rate_limit: RateLimit {
            responses_per_second: 1,
            slip: 1,
            ..RateLimit::default()
        },
    };
    let dns = serve_with(ZONE, None, options).await;
    let a = dns.listener.addr;
    // 127.0.0.0/24 floods this answer, and dig asks for it from there meanwhile.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = tokio::spawn(flood(
        a,
        "www.example.com",
        200,
        Some(std::sync::Arc::clone(&stop)),
    ));
    while dns
        .listener
        .stats()
        .slipped
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        tokio::task::yield_now().await;
    }
    let out = dig(a, &["www.example.com", "A"]).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let f = flooding.await.unwrap();
    assert!(f.truncated > 0, "{f:?}");
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert_eq!(section(&out, "ANSWER")[0].3, "192.0.2.10", "{out}");
}

const CIDR: &str = r#"
resource "aws_route53_cidr_collection" "clients" {
  name = "clients"
}

resource "aws_route53_cidr_location" "wide" {
  cidr_collection_id = aws_route53_cidr_collection.clients.id
  name               = "wide"
  cidr_blocks        = ["10.0.0.0/8"]
}

resource "aws_route53_cidr_location" "narrow" {
  cidr_collection_id = aws_route53_cidr_collection.clients.id
  name               = "narrow"
  cidr_blocks        = ["10.1.0.0/16", "2001:db8:1::/48"]
}

resource "aws_route53_record" "ip_wide" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "ip"
  type           = "A"
  ttl            = 60
  set_identifier = "wide"
  records        = ["192.0.2.81"]
  cidr_routing_policy {
    collection_id = aws_route53_cidr_collection.clients.id
    location_name = "wide"
  }
}

resource "aws_route53_record" "ip_narrow" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "ip"
  type           = "A"
  ttl            = 60
  set_identifier = "narrow"
  records        = ["192.0.2.82"]
  cidr_routing_policy {
    collection_id = aws_route53_cidr_collection.clients.id
    location_name = "narrow"
  }
}

resource "aws_route53_record" "ip_default" {
  zone_id        = aws_route53_zone.main.zone_id
  name           = "ip"
  type           = "A"
  ttl            = 60
  set_identifier = "default"
  records        = ["192.0.2.80"]
  cidr_routing_policy {
    collection_id = aws_route53_cidr_collection.clients.id
    location_name = "*"
  }
}
"#;

#[tokio::test]
async fn ip_based_routing_answers_the_longest_matching_cidr_location() {
    let dns = serve(&format!("{ZONE}{CIDR}"), None).await;
    let a = dns.listener.addr;
    let answer = |out: &str| section(out, "ANSWER")[0].3.clone();
    // 10.1.2.0/24 is in both 10.0.0.0/8 and 10.1.0.0/16: the longer prefix wins.
    let narrow = dig(a, &["ip.example.com", "A", "+subnet=10.1.2.0/24"]).await;
    assert_eq!(answer(&narrow), "192.0.2.82", "{narrow}");
    assert!(narrow.contains("CLIENT-SUBNET: 10.1.2.0/24/24"), "{narrow}");
    let wide = dig(a, &["ip.example.com", "A", "+subnet=10.200.0.0/16"]).await;
    assert_eq!(answer(&wide), "192.0.2.81", "{wide}");
    let v6 = dig(a, &["ip.example.com", "A", "+subnet=2001:db8:1:5::/64"]).await;
    assert_eq!(answer(&v6), "192.0.2.82", "{v6}");
    // Outside every location (and the resolver's own 127.0.0.1): the `*` default.
    let other = dig(a, &["ip.example.com", "A", "+subnet=198.51.100.0/24"]).await;
    assert_eq!(answer(&other), "192.0.2.80", "{other}");
    let local = dig(a, &["ip.example.com", "A"]).await;
    assert_eq!(answer(&local), "192.0.2.80", "{local}");
    // And `meridian dns query` says why.
    let why = dns
        .plane
        .query(
            "ip.example.com",
            meridian_global::RecordType::A,
            "10.1.9.9".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(why.answers[0].data.to_string(), "192.0.2.82");
    assert!(
        why.trace.iter().any(|l| l.contains("CIDR location narrow")),
        "{:?}",
        why.trace
    );
}
