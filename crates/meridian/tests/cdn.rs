//! The course's CloudFront distribution through a real `meridian up`: `examples/edge`'s
//! `cloudfront.tf` in front of its private bucket. The AWS CLI puts `index.html`; the bucket
//! refuses anonymous reads; curl gets the page over the edge's HTTPS (a certificate from
//! Meridian's CA), a second request is a hit, HTTP redirects to HTTPS, and an invalidation
//! made with `aws cloudfront create-invalidation` makes the next request a miss.

mod observe_support;

use std::path::Path;
use std::process::Command;

use observe_support::{Up, copy_dir, curl, tool};

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn aws(aws: &Path, home: &Path, key: &(String, String), args: &[&str]) -> String {
    let mut cmd = Command::new(aws);
    cmd.args(args);
    meridian_testkit::aws_env(&mut cmd, home, &key.0, &key.1);
    let out = cmd.output().expect("aws runs");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_courses_distribution_serves_the_private_bucket_and_invalidates() {
    let (Some(curl_bin), Some(aws_cli)) = (
        tool("curl", "apt-get install curl"),
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&examples().join("edge"), &tmp.path().join("edge"));
    // The harness binds the edge's listeners on free ports.
    let up = Up::start(tmp.path(), "edge", &[]);
    let cdn_line = up
        .banner
        .iter()
        .find(|l| l.contains("  cdn "))
        .unwrap_or_else(|| panic!("{:#?}", up.banner))
        .clone();
    assert!(
        cdn_line.contains("-> bucket my-app-cdn-origin"),
        "{cdn_line}"
    );
    let http = up.banner_address("  cdn ", "http://");
    let https = up.banner_address("  cdn ", "https://");
    let api = up.banner_address("  cloudfront ", "http://");
    let s3 = up.banner_address("  s3 ", "http://");
    let dist = cdn_line
        .split_whitespace()
        .find(|w| w.starts_with("(E"))
        .map(|w| w.trim_start_matches('('))
        .expect("distribution id")
        .to_owned();
    let key = up.access_key();
    let home = tempfile::tempdir().expect("home");
    let page = tmp.path().join("index.html");
    std::fs::write(&page, "<html>hello from the private bucket</html>").expect("write");
    aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "s3",
            "cp",
            page.to_str().expect("utf-8"),
            "s3://my-app-cdn-origin/index.html",
            "--content-type",
            "text/html",
            "--endpoint-url",
            &s3,
        ],
    );

    // The bucket itself stays private.
    let (status, _, _) = curl(&curl_bin, &[&format!("{s3}/my-app-cdn-origin/index.html")]);
    assert_eq!(status, 403);

    // HTTP redirects to the edge's HTTPS.
    let (status, head, _) = curl(&curl_bin, &[&format!("{http}/")]);
    assert_eq!(status, 301, "{head}");
    assert!(head.contains("location: https://"), "{head}");

    // The default root object over HTTPS, verified with Meridian's CA: a miss, then a hit.
    let ca = up.dir.join(".meridian/ca/root-ca.pem");
    let ca = ca.to_str().expect("utf-8");
    let get = || curl(&curl_bin, &["--cacert", ca, &format!("{https}/")]);
    let (status, head, body) = get();
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, "<html>hello from the private bucket</html>");
    assert!(head.contains("x-cache: miss from cloudfront"), "{head}");
    assert!(head.contains("x-amz-cf-id: "), "{head}");
    let (_, head, _) = get();
    assert!(head.contains("x-cache: hit from cloudfront"), "{head}");

    // An invalidation with the AWS CLI, unmodified: Completed, and the next request misses.
    let created = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "cloudfront",
            "create-invalidation",
            "--endpoint-url",
            &api,
            "--distribution-id",
            &dist,
            "--paths",
            "/*",
        ],
    );
    let created: serde_json::Value = serde_json::from_str(&created).expect("json");
    assert_eq!(created["Invalidation"]["Status"], "Completed", "{created}");
    let id = created["Invalidation"]["Id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, head, _) = get();
    assert!(head.contains("x-cache: miss from cloudfront"), "{head}");
    let got = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "cloudfront",
            "get-invalidation",
            "--endpoint-url",
            &api,
            "--distribution-id",
            &dist,
            "--id",
            &id,
        ],
    );
    assert!(got.contains("\"/*\""), "{got}");
    let listed = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "cloudfront",
            "list-invalidations",
            "--endpoint-url",
            &api,
            "--distribution-id",
            &dist,
        ],
    );
    assert!(listed.contains(&id), "{listed}");

    // The cache's counters on /metrics.
    let admin = up.banner_address("  admin ", "http://");
    let (status, _, metrics) = curl(&curl_bin, &[&format!("{admin}/metrics")]);
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!(
            "meridian_cdn_requests_total{{distribution=\"{dist}\",result=\"Hit\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "meridian_cdn_requests_total{{distribution=\"{dist}\",result=\"Miss\"}} 2"
        )),
        "{metrics}"
    );

    // Origin access control: the edge signs as CloudFront's service principal for this
    // distribution, which the example's bucket policy lets in. A policy naming another
    // distribution refuses it, as S3 refuses CloudFront then.
    let policy = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "s3api",
            "get-bucket-policy",
            "--bucket",
            "my-app-cdn-origin",
            "--endpoint-url",
            &s3,
        ],
    );
    assert!(policy.contains(&format!("distribution/{dist}")), "{policy}");
    let other = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::my-app-cdn-origin/*",
            "Condition": {"StringEquals": {
                "AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/EOTHERDIST"
            }}
        }]
    })
    .to_string();
    aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            "my-app-cdn-origin",
            "--policy",
            &other,
            "--endpoint-url",
            &s3,
        ],
    );
    aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "cloudfront",
            "create-invalidation",
            "--endpoint-url",
            &api,
            "--distribution-id",
            &dist,
            "--paths",
            "/index.html",
        ],
    );
    let (status, head, body) = get();
    assert_eq!(status, 403, "{head}");
    assert!(body.contains("AccessDenied"), "{body}");
}

#[test]
fn cdn_ls_reports_the_cache_and_invalidations_survive_kill_9() {
    let (Some(curl_bin), Some(aws_cli)) = (
        tool("curl", "apt-get install curl"),
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&examples().join("edge"), &tmp.path().join("edge"));
    let mut up = Up::start(tmp.path(), "edge", &[]);
    let https = up.banner_address("  cdn ", "https://");
    let api = up.banner_address("  cloudfront ", "http://");
    let s3 = up.banner_address("  s3 ", "http://");
    let key = up.access_key();
    let home = tempfile::tempdir().expect("home");
    let page = tmp.path().join("index.html");
    let text = "<html>figures</html>";
    std::fs::write(&page, text).expect("write");
    aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "s3",
            "cp",
            page.to_str().expect("utf-8"),
            "s3://my-app-cdn-origin/index.html",
            "--endpoint-url",
            &s3,
        ],
    );
    let ca = up.dir.join(".meridian/ca/root-ca.pem");
    let ca = ca.to_str().expect("utf-8").to_owned();
    let get = || curl(&curl_bin, &["--cacert", &ca, &format!("{https}/")]);
    let (status, head, _) = get();
    assert_eq!(status, 200, "{head}");
    let (_, head, _) = get();
    assert!(head.contains("x-cache: hit from cloudfront"), "{head}");

    // `meridian cdn ls`: one miss, one hit; the hit's bytes are the bytes saved.
    let listed = up.cli_json(&["cdn", "ls"]);
    let d = &listed[0];
    let dist = d["id"].as_str().expect("id").to_owned();
    assert_eq!(d["origin"], "my-app-cdn-origin", "{listed}");
    assert_eq!(
        (d["hits"].as_u64(), d["misses"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(d["hit_ratio"].as_f64(), Some(0.5), "{listed}");
    let n = text.len() as u64;
    assert_eq!(d["bytes_served"].as_u64(), Some(2 * n), "{listed}");
    assert_eq!(d["bytes_saved"].as_u64(), Some(n), "{listed}");
    assert!(d["memory_objects"].as_u64() >= Some(1), "{listed}");
    let table = up.cli(&["cdn", "ls"]);
    assert!(
        table.contains("HIT RATIO") && table.contains("50.0%"),
        "{table}"
    );

    // `meridian cdn invalidate`: the next request misses.
    let said = up.cli(&["cdn", "invalidate", &dist, "/index.html"]);
    assert!(said.contains("Completed"), "{said}");
    let (_, head, _) = get();
    assert!(head.contains("x-cache: miss from cloudfront"), "{head}");

    // An invalidation acknowledged to the AWS CLI survives kill -9: listed after the
    // restart, and its CallerReference stays taken.
    let batch = |paths: &str| {
        format!(
            "{{\"Paths\":{{\"Quantity\":1,\"Items\":[\"{paths}\"]}},\"CallerReference\":\"ref-1\"}}"
        )
    };
    let created = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "cloudfront",
            "create-invalidation",
            "--endpoint-url",
            &api,
            "--distribution-id",
            &dist,
            "--invalidation-batch",
            &batch("/*"),
        ],
    );
    let created: serde_json::Value = serde_json::from_str(&created).expect("json");
    let id = created["Invalidation"]["Id"]
        .as_str()
        .expect("id")
        .to_owned();
    up.child.kill().expect("kill -9");
    let _ = up.child.wait();
    drop(up);
    let up = Up::start(tmp.path(), "edge", &[]);
    let api = up.banner_address("  cloudfront ", "http://");
    let listed = aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "cloudfront",
            "list-invalidations",
            "--endpoint-url",
            &api,
            "--distribution-id",
            &dist,
        ],
    );
    assert!(listed.contains(&id), "{listed}");
    let out = Command::new(&aws_cli)
        .args([
            "cloudfront",
            "create-invalidation",
            "--endpoint-url",
            &api,
            "--distribution-id",
            &dist,
            "--invalidation-batch",
            &batch("/other"),
        ])
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home.path())
        .env_remove("AWS_PROFILE")
        .output()
        .expect("aws runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("InvalidationBatchAlreadyExists"), "{err}");
}

/// A distribution whose default behaviour targets an origin group of two private buckets,
/// with a custom error response for a single-page app: Terraform to edge, through `up`.
const SPA: &str = r#"
provider "aws" {
  region = "us-east-1"
}

resource "aws_s3_bucket" "primary" {
  bucket = "site-primary"
}

resource "aws_s3_bucket" "backup" {
  bucket = "site-backup"
}

resource "aws_cloudfront_origin_access_control" "oac" {
  name                              = "site-oac"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "site" {
  enabled             = true
  default_root_object = "index.html"

  origin {
    domain_name              = aws_s3_bucket.primary.bucket_regional_domain_name
    origin_id                = "primary"
    origin_access_control_id = aws_cloudfront_origin_access_control.oac.id
  }

  origin {
    domain_name              = aws_s3_bucket.backup.bucket_regional_domain_name
    origin_id                = "backup"
    origin_access_control_id = aws_cloudfront_origin_access_control.oac.id
  }

  origin_group {
    origin_id = "both"
    failover_criteria {
      status_codes = [403, 404, 500, 502, 503, 504]
    }
    member {
      origin_id = "primary"
    }
    member {
      origin_id = "backup"
    }
  }

  default_cache_behavior {
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    target_origin_id       = "both"
    viewer_protocol_policy = "allow-all"
    forwarded_values {
      query_string = false
      cookies {
        forward = "none"
      }
    }
  }

  custom_error_response {
    error_code            = 403
    response_code         = 200
    response_page_path    = "/index.html"
    error_caching_min_ttl = 0
  }

  custom_error_response {
    error_code            = 404
    response_code         = 200
    response_page_path    = "/index.html"
    error_caching_min_ttl = 0
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

data "aws_iam_policy_document" "read" {
  for_each = toset(["site-primary", "site-backup"])
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::${each.key}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.site.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "primary" {
  bucket = aws_s3_bucket.primary.id
  policy = data.aws_iam_policy_document.read["site-primary"].json
}

resource "aws_s3_bucket_policy" "backup" {
  bucket = aws_s3_bucket.backup.id
  policy = data.aws_iam_policy_document.read["site-backup"].json
}
"#;

#[test]
fn origin_groups_and_custom_error_responses_from_terraform() {
    let (Some(curl_bin), Some(aws_cli)) = (
        tool("curl", "apt-get install curl"),
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let site = tmp.path().join("site");
    std::fs::create_dir(&site).expect("mkdir");
    std::fs::write(site.join("main.tf"), SPA).expect("write");
    let up = Up::start(tmp.path(), "site", &[]);
    let http = up.banner_address("  cdn ", "http://");
    let s3 = up.banner_address("  s3 ", "http://");
    let key = up.access_key();
    let home = tempfile::tempdir().expect("home");
    let put = |bucket: &str, name: &str, text: &str| {
        let file = tmp.path().join(name);
        std::fs::write(&file, text).expect("write");
        aws(
            &aws_cli,
            home.path(),
            &key,
            &[
                "s3",
                "cp",
                file.to_str().expect("utf-8"),
                &format!("s3://{bucket}/{name}"),
                "--endpoint-url",
                &s3,
            ],
        );
    };
    put("site-primary", "index.html", "<html>app shell</html>");
    put(
        "site-backup",
        "only-in-backup.txt",
        "from the secondary origin",
    );

    let (status, head, body) = curl(&curl_bin, &[&format!("{http}/")]);
    assert_eq!(
        (status, body.as_str()),
        (200, "<html>app shell</html>"),
        "{head}"
    );
    // Not in the primary bucket: the group fails over to the secondary.
    let (status, head, body) = curl(&curl_bin, &[&format!("{http}/only-in-backup.txt")]);
    assert_eq!(
        (status, body.as_str()),
        (200, "from the secondary origin"),
        "{head}"
    );
    // In neither: the custom error response serves the app shell with 200.
    let (status, head, body) = curl(&curl_bin, &[&format!("{http}/users/42/settings")]);
    assert_eq!(
        (status, body.as_str()),
        (200, "<html>app shell</html>"),
        "{head}"
    );
    assert!(head.contains("x-cache: error from cloudfront"), "{head}");
}

/// An HTTP/1.1 origin on `127.0.0.1:0` that keeps connections alive and answers every GET
/// with what it received (`host`, `x-origin-secret`, the request target) and
/// `Cache-Control: max-age=600`. Counts connections and requests.
struct Origin {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Origin {
    fn start() -> Origin {
        use std::io::{BufRead as _, BufReader, Write as _};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (c, r) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                c.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().expect("clone");
                    let mut reader = BufReader::new(stream);
                    loop {
                        let mut target = String::new();
                        let mut fields = Vec::new();
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        target.push_str(line.split_whitespace().nth(1).unwrap_or(""));
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some((n, v)) = line.trim_end().split_once(':') {
                                fields.push((n.to_ascii_lowercase(), v.trim().to_owned()));
                            }
                        }
                        let field = |n: &str| {
                            fields
                                .iter()
                                .find(|(k, _)| k == n)
                                .map_or("-", |(_, v)| v.as_str())
                                .to_owned()
                        };
                        let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                        let body = format!(
                            "origin request {n} for {target} host={} secret={}",
                            field("host"),
                            field("x-origin-secret")
                        );
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: max-age=600\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if writer.write_all(head.as_bytes()).is_err()
                            || writer.write_all(body.as_bytes()).is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Origin {
            port,
            connections,
            requests,
        }
    }

    fn counts(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        (
            self.connections.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
        )
    }
}

#[test]
fn custom_origins_serve_their_behaviours_with_their_cache_policies() {
    let (Some(curl_bin), Some(aws_cli)) = (
        tool("curl", "apt-get install curl"),
        tool("aws", ".ci/install-test-deps installs the AWS CLI"),
    ) else {
        return;
    };
    let origin = Origin::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let site = tmp.path().join("site");
    std::fs::create_dir(&site).expect("mkdir");
    std::fs::write(
        site.join("main.tf"),
        CUSTOM_ORIGINS.replace("ORIGIN_PORT", &origin.port.to_string()),
    )
    .expect("write");
    let up = Up::start(tmp.path(), "site", &["--cdn-log-interval", "1s"]);
    let http = up.banner_address("  cdn ", "http://");
    let s3 = up.banner_address("  s3 ", "http://");
    let key = up.access_key();
    let home = tempfile::tempdir().expect("home");
    let page = tmp.path().join("index.html");
    std::fs::write(&page, "<html>from the bucket</html>").expect("write");
    aws(
        &aws_cli,
        home.path(),
        &key,
        &[
            "s3",
            "cp",
            page.to_str().expect("utf-8"),
            "s3://mixed-site/index.html",
            "--endpoint-url",
            &s3,
        ],
    );

    // The default behaviour stays on the bucket.
    let (status, head, body) = curl(&curl_bin, &[&format!("{http}/")]);
    assert_eq!(
        (status, body.as_str()),
        (200, "<html>from the bucket</html>"),
        "{head}"
    );
    assert_eq!(origin.counts().1, 0, "the custom origin saw no request yet");

    // `/api/*` reaches the custom origin with its custom header and its own host, and the
    // managed CachingDisabled policy makes every request a miss despite `max-age=600`.
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let (status, head, body) = curl(&curl_bin, &[&format!("{http}/api/users")]);
        assert_eq!(status, 200, "{head}{body}");
        assert!(head.contains("x-cache: miss from cloudfront"), "{head}");
        bodies.push(body);
    }
    assert_eq!(
        bodies,
        [1, 2, 3]
            .map(|n| format!("origin request {n} for /api/users host=localhost secret=s3cr3t"))
    );
    // Three misses, one kept-alive connection.
    assert_eq!(origin.counts(), (1, 3));

    // `/static/*` keys on the policy's one query string and caches by its TTLs.
    let get = |path: &str| {
        let (status, head, body) = curl(&curl_bin, &[&format!("{http}{path}")]);
        assert_eq!(status, 200, "{path}: {head}{body}");
        let x_cache = head
            .lines()
            .find_map(|l| l.strip_prefix("x-cache: "))
            .unwrap_or("")
            .trim()
            .to_owned();
        (x_cache, body)
    };
    let (x, first) = get("/static/app.js?v=1&utm=a");
    assert_eq!(x, "miss from cloudfront");
    assert_eq!(
        first, "origin request 4 for /static/app.js?v=1 host=localhost secret=s3cr3t",
        "only the key's query string is forwarded"
    );
    assert_eq!(
        get("/static/app.js?v=1&utm=b"),
        ("hit from cloudfront".to_owned(), first.clone()),
        "a query string outside the key shares the stored copy"
    );
    let (x, other) = get("/static/app.js?v=2");
    assert_eq!(x, "miss from cloudfront");
    assert!(
        other.starts_with("origin request 5 for /static/app.js?v=2"),
        "{other}"
    );

    // An origin whose name no address here answers: its behaviour answers 502, and up said
    // why.
    let (status, head, _) = curl(&curl_bin, &[&format!("{http}/partner/feed")]);
    assert_eq!(status, 502, "{head}");
    let stderr = std::fs::read_to_string(tmp.path().join("up.stderr")).expect("stderr");
    assert!(
        stderr.contains("origin partner: no address on this machine answers api.partner.example"),
        "{stderr}"
    );
    assert!(
        stderr.contains("restrictions.geo_restriction (whitelist) is not enforced"),
        "{stderr}"
    );
    assert_eq!(origin.counts().1, 5, "the origin saw exactly the misses");

    // The standard logs reach the logging bucket as CloudFront names and writes them: one
    // line per request, in order, with CloudFront's result types.
    // A log interval may end between requests, so the lines can come in more than one file:
    // wait until the files hold every request.
    let read_all = || -> Option<(usize, Vec<String>)> {
        let listed = {
            let out = aws(
                &aws_cli,
                home.path(),
                &key,
                &[
                    "s3api",
                    "list-objects-v2",
                    "--bucket",
                    "mixed-logs",
                    "--prefix",
                    "cdn/",
                    "--endpoint-url",
                    &s3,
                ],
            );
            let v: serde_json::Value = serde_json::from_str(&out).ok()?;
            let keys: Vec<String> = v["Contents"]
                .as_array()?
                .iter()
                .filter_map(|o| o["Key"].as_str().map(str::to_owned))
                .collect();
            if keys.is_empty() {
                return None;
            }
            keys
        };
        let mut lines = Vec::new();
        for name in &listed {
            let file_name = name.rsplit('/').next().expect("name");
            let parts: Vec<&str> = file_name.split('.').collect();
            assert_eq!(parts.len(), 4, "DIST.YYYY-MM-DD-HH.UNIQUE.gz: {name}");
            assert!(parts[0].starts_with('E') && parts[3] == "gz", "{name}");
            assert_eq!(parts[1].len(), "2026-12-06-09".len(), "{name}");
            let local = tmp.path().join(file_name);
            aws(
                &aws_cli,
                home.path(),
                &key,
                &[
                    "s3",
                    "cp",
                    &format!("s3://mixed-logs/{name}"),
                    local.to_str().expect("utf-8"),
                    "--endpoint-url",
                    &s3,
                ],
            );
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(&local).expect("open")),
                &mut text,
            )
            .expect("gzip");
            let mut file_lines = text.lines();
            assert_eq!(file_lines.next(), Some("#Version: 1.0"));
            assert!(file_lines.next().is_some_and(|l| {
                l.starts_with("#Fields: date time x-edge-location sc-bytes c-ip")
            }));
            lines.extend(file_lines.map(str::to_owned));
        }
        Some((listed.len(), lines))
    };
    let (files, lines) = observe_support::eventually(
        "every request in the log files",
        std::time::Duration::from_secs(20),
        || read_all().filter(|(_, l)| l.len() >= 8),
    );
    let seen: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 33, "{l}");
            (f[7].to_owned(), f[8].to_owned(), f[13].to_owned())
        })
        .collect();
    let want = [
        ("/", "200", "Miss"),
        ("/api/users", "200", "Miss"),
        ("/api/users", "200", "Miss"),
        ("/api/users", "200", "Miss"),
        ("/static/app.js", "200", "Miss"),
        ("/static/app.js", "200", "Hit"),
        ("/static/app.js", "200", "Miss"),
        ("/partner/feed", "502", "Error"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    if files == 1 {
        assert_eq!(seen, want);
    } else {
        // Files of one interval are named by a random id, so their order is not the
        // requests'; each request is still there once.
        let (mut seen, mut want) = (seen, want.to_vec());
        seen.sort();
        want.sort();
        assert_eq!(seen, want);
    }
}

/// A distribution with a bucket for its default behaviour, a custom origin on this machine
/// for `/api/*` (managed CachingDisabled) and `/static/*` (a cache policy keyed on `v`),
/// and a custom origin no address here answers for `/partner/*`.
const CUSTOM_ORIGINS: &str = r#"
resource "aws_s3_bucket" "site" {
  bucket = "mixed-site"
}

resource "aws_cloudfront_origin_access_control" "oac" {
  name                              = "mixed-site"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_cache_policy" "static" {
  name        = "static-by-version"
  min_ttl     = 0
  default_ttl = 60
  max_ttl     = 3600
  parameters_in_cache_key_and_forwarded_to_origin {
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "whitelist"
      query_strings {
        items = ["v"]
      }
    }
  }
}

resource "aws_s3_bucket" "logs" {
  bucket = "mixed-logs"
}

resource "aws_cloudfront_distribution" "mixed" {
  enabled             = true
  default_root_object = "index.html"

  logging_config {
    bucket = aws_s3_bucket.logs.bucket_domain_name
    prefix = "cdn/"
  }

  origin {
    domain_name              = aws_s3_bucket.site.bucket_regional_domain_name
    origin_id                = "bucket"
    origin_access_control_id = aws_cloudfront_origin_access_control.oac.id
  }

  origin {
    domain_name = "localhost"
    origin_id   = "app"
    custom_origin_config {
      http_port              = ORIGIN_PORT
      https_port             = 443
      origin_protocol_policy = "http-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
    custom_header {
      name  = "X-Origin-Secret"
      value = "s3cr3t"
    }
  }

  origin {
    domain_name = "api.partner.example"
    origin_id   = "partner"
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    target_origin_id       = "bucket"
    viewer_protocol_policy = "allow-all"
    cache_policy_id        = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  }

  ordered_cache_behavior {
    path_pattern           = "/api/*"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    target_origin_id       = "app"
    viewer_protocol_policy = "allow-all"
    cache_policy_id        = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  }

  ordered_cache_behavior {
    path_pattern           = "/static/*"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    target_origin_id       = "app"
    viewer_protocol_policy = "allow-all"
    cache_policy_id        = aws_cloudfront_cache_policy.static.id
  }

  ordered_cache_behavior {
    path_pattern           = "/partner/*"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    target_origin_id       = "partner"
    viewer_protocol_policy = "allow-all"
    cache_policy_id        = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  }

  restrictions {
    geo_restriction {
      restriction_type = "whitelist"
      locations        = ["ES", "PT"]
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

data "aws_iam_policy_document" "read" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.site.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.mixed.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "site" {
  bucket = aws_s3_bucket.site.id
  policy = data.aws_iam_policy_document.read.json
}
"#;
