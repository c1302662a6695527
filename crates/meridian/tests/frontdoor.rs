//! The course's Front Door through a real `meridian up`: `examples/edge/frontdoor.tf` in
//! front of `examples/azure`'s function app, whose two backends
//! (`app-eastus.azurewebsites.net`, `app-westus.azurewebsites.net`) are two regions'
//! gateways on this machine. curl reaches it over HTTPS (a certificate from Meridian's CA),
//! the regions share requests 50/50, and `meridian global failover-test eastus` takes one
//! region out while curl keeps asking: no request fails.

mod observe_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use observe_support::{Up, copy_dir, eventually, tool};

const HOST: &str = "my-app-frontdoor.azurefd.net";

/// The front door's HTTPS address from the banner.
fn https_addr(up: &Up) -> String {
    let line = up
        .banner
        .iter()
        .find(|l| l.starts_with("  frontdoor "))
        .unwrap_or_else(|| panic!("no frontdoor line in the banner: {:#?}", up.banner));
    line.split("https://")
        .nth(1)
        .and_then(|r| r.split(|c: char| c.is_whitespace() || c == ',').next())
        .expect("https address")
        .to_owned()
}

/// `n` GETs of the course's function through the front door in one curl process: status
/// and backend of each.
fn curl_many(curl: &Path, ca: &Path, addr: &str, n: usize) -> Vec<(u16, String)> {
    let port = addr.rsplit_once(':').expect("port").1.to_owned();
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "60".into(),
        "--cacert".into(),
        ca.to_string_lossy().into_owned(),
        "--resolve".into(),
        format!("{HOST}:{port}:127.0.0.1"),
        "-w".into(),
        "%{http_code} %header{x-meridian-frontdoor-backend}\\n".into(),
    ];
    for _ in 0..n {
        args.extend([
            "-o".into(),
            "/dev/null".into(),
            format!("https://{HOST}:{port}/api/HttpTrigger?name=Ada"),
        ]);
    }
    let out = Command::new(curl).args(&args).output().expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (code, backend) = l.split_once(' ').unwrap_or((l, ""));
            (code.parse().unwrap_or(0), backend.to_owned())
        })
        .collect()
}

fn counts(answers: &[(u16, String)]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (code, b) in answers {
        *m.entry(format!("{code} {b}")).or_default() += 1;
    }
    m
}

#[test]
fn up_serves_the_course_front_door_and_survives_a_region_drill() {
    let Some(curl) = tool("curl", "apt-get install curl") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let course = tmp.path().join("course");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    copy_dir(&examples.join("edge"), &course.join("edge"));
    copy_dir(&examples.join("azure"), &course.join("azure"));
    let up = Up::start(
        tmp.path(),
        "course",
        &[
            "--gateway-port",
            "7071=0",
            "--region",
            "us-east",
            "--health-check-interval",
            "1s",
        ],
    );
    let line = up
        .banner
        .iter()
        .find(|l| l.starts_with("  frontdoor "))
        .cloned()
        .unwrap_or_else(|| panic!("{:#?}", up.banner));
    assert!(
        line.contains("app-eastus.azurewebsites.net -> us-east-1 gateway 127.0.0.1:")
            && line.contains("app-westus.azurewebsites.net -> us-west-1 gateway 127.0.0.1:"),
        "{line}"
    );

    // The course's function through the front door over HTTPS, 50/50 across the regions.
    let ca = up.dir.join(".meridian/ca/root-ca.pem");
    let https = https_addr(&up);
    let got = counts(&curl_many(&curl, &ca, &https, 20));
    assert_eq!(
        got.get("200 app-eastus.azurewebsites.net"),
        Some(&10),
        "{got:?}"
    );
    assert_eq!(
        got.get("200 app-westus.azurewebsites.net"),
        Some(&10),
        "{got:?}"
    );
    // The course's rule accepts Https only.
    let http = up
        .banner
        .iter()
        .find(|l| l.starts_with("  frontdoor "))
        .and_then(|l| l.split("http://").nth(1))
        .and_then(|r| r.split(|c: char| c == ',' || c.is_whitespace()).next())
        .expect("http address")
        .to_owned();
    let out = Command::new(&curl)
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Host: {HOST}"))
        .arg(format!("http://{http}/api/HttpTrigger"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "400");

    // The probes (every second here) find the function host's home page.
    eventually(
        "both backends probed healthy",
        Duration::from_secs(30),
        || {
            let text = up.cli(&["global", "frontdoor"]);
            (text.matches(" healthy ").count() == 2 && !text.contains(" 0/0")).then_some(())
        },
    );

    // The same on /metrics.
    let out = Command::new(&curl)
        .args(["-sS", &format!("http://{}/metrics", up.admin)])
        .output()
        .expect("curl");
    let metrics = String::from_utf8_lossy(&out.stdout);
    for backend in ["app-eastus", "app-westus"] {
        assert!(
            metrics.contains(&format!(
                "meridian_frontdoor_backend_healthy{{front_door=\"my-app-frontdoor\",pool=\"main-backend-pool\",backend=\"{backend}.azurewebsites.net\"}} 1"
            )),
            "{metrics}"
        );
    }
    assert!(
        metrics.contains("meridian_frontdoor_backend_requests_total{front_door=\"my-app-frontdoor\",pool=\"main-backend-pool\",backend=\"app-eastus.azurewebsites.net\",result=\"served\"} 10"),
        "{metrics}"
    );

    // The drill, with curl asking all along: no request fails.
    let load = {
        let (curl, ca, https) = (curl.clone(), ca.clone(), https.clone());
        std::thread::spawn(move || curl_many(&curl, &ca, &https, 300))
    };
    let report = up.cli(&["global", "failover-test", "eastus"]);
    let during = load.join().expect("load thread");
    println!("{report}");
    assert!(
        report.contains("failover test: region us-east-1"),
        "{report}"
    );
    assert!(report.contains("stopped sending to the region"), "{report}");
    assert!(report.contains(", 0 failed;"), "{report}");
    assert!(
        report.contains("the front door used the region again"),
        "{report}"
    );
    let failed: Vec<&(u16, String)> = during.iter().filter(|(c, _)| *c != 200).collect();
    assert_eq!(during.len(), 300);
    assert!(failed.is_empty(), "{failed:?}");
    let json = up.cli(&["global", "frontdoor", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(
        v["regions"]
            .as_array()
            .expect("regions")
            .iter()
            .all(|r| r["serving"] == true),
        "{v}"
    );
}

const STANDARD: &str = r#"
provider "azurerm" {
  features {}
}

resource "azurerm_resource_group" "main" {
  name     = "my-app-rg"
  location = "East US"
}

resource "azurerm_cdn_frontdoor_profile" "main" {
  name                = "my-app-afd"
  resource_group_name = azurerm_resource_group.main.name
  sku_name            = "Standard_AzureFrontDoor"
}

resource "azurerm_cdn_frontdoor_endpoint" "main" {
  name                     = "my-app"
  cdn_frontdoor_profile_id = azurerm_cdn_frontdoor_profile.main.id
}

resource "azurerm_cdn_frontdoor_origin_group" "main" {
  name                     = "main"
  cdn_frontdoor_profile_id = azurerm_cdn_frontdoor_profile.main.id
  session_affinity_enabled = false
  load_balancing {}
  health_probe {
    protocol            = "Http"
    interval_in_seconds = 100
  }
}

resource "azurerm_cdn_frontdoor_origin" "a" {
  name                           = "a"
  cdn_frontdoor_origin_group_id  = azurerm_cdn_frontdoor_origin_group.main.id
  host_name                      = "127.0.0.1"
  http_port                      = PORT_A
  certificate_name_check_enabled = false
}

resource "azurerm_cdn_frontdoor_origin" "b" {
  name                           = "b"
  cdn_frontdoor_origin_group_id  = azurerm_cdn_frontdoor_origin_group.main.id
  host_name                      = "localhost"
  http_port                      = PORT_B
  certificate_name_check_enabled = false
}

resource "azurerm_cdn_frontdoor_route" "main" {
  name                          = "main"
  cdn_frontdoor_endpoint_id     = azurerm_cdn_frontdoor_endpoint.main.id
  cdn_frontdoor_origin_group_id = azurerm_cdn_frontdoor_origin_group.main.id
  cdn_frontdoor_origin_ids      = [azurerm_cdn_frontdoor_origin.a.id, azurerm_cdn_frontdoor_origin.b.id]
  patterns_to_match             = ["/*"]
  supported_protocols           = ["Http", "Https"]
  https_redirect_enabled        = false
}
"#;

/// A python http.server on a free port, killed when dropped.
struct Backend(std::process::Child);

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn backend(dir: &Path) -> (Backend, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    eventually("http.server listens", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
    (Backend(child), port)
}

#[test]
fn up_serves_a_front_door_standard_profile() {
    let Some(curl) = tool("curl", "apt-get install curl") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let site = tempfile::tempdir().expect("site");
    std::fs::write(site.path().join("index.html"), "hello").expect("write");
    let (_a, port_a) = backend(site.path());
    let (_b, port_b) = backend(site.path());
    let afd = tmp.path().join("afd");
    std::fs::create_dir(&afd).expect("mkdir");
    std::fs::write(
        afd.join("main.tf"),
        STANDARD
            .replace("PORT_A", &port_a.to_string())
            .replace("PORT_B", &port_b.to_string()),
    )
    .expect("write");
    let up = Up::start(tmp.path(), "afd", &["--gateway-port", "7071=0"]);
    let line = up
        .banner
        .iter()
        .find(|l| l.starts_with("  frontdoor "))
        .cloned()
        .unwrap_or_else(|| panic!("{:#?}", up.banner));
    assert!(
        line.contains(&format!("127.0.0.1 -> 127.0.0.1:{port_a}"))
            && line.contains(&format!("localhost -> 127.0.0.1:{port_b}")),
        "{line}"
    );
    let host = line
        .split_whitespace()
        .find(|w| w.contains(".z01.azurefd.localhost"))
        .expect("endpoint host")
        .trim_end_matches([':', ','])
        .to_owned();
    let http = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split(|c: char| c == ',' || c.is_whitespace()).next())
        .expect("http address")
        .to_owned();
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "-H".into(),
        format!("Host: {host}"),
        "-w".into(),
        "%{http_code} %header{x-meridian-frontdoor-backend}\\n".into(),
    ];
    for _ in 0..10 {
        args.extend([
            "-o".into(),
            "/dev/null".into(),
            format!("http://{http}/index.html"),
        ]);
    }
    let out = Command::new(&curl).args(&args).output().expect("curl");
    let got = counts(
        &String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let (c, b) = l.split_once(' ').unwrap_or((l, ""));
                (c.parse().unwrap_or(0), b.to_owned())
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(got.get("200 127.0.0.1"), Some(&5), "{got:?}");
    assert_eq!(got.get("200 localhost"), Some(&5), "{got:?}");
}

/// A Standard profile with a caching route over HTTP origins and two routes over HTTPS to
/// origins on this machine: one whose certificate (from Meridian's CA) names it, one whose
/// certificate names another host, with the name check on.
const CACHING_AND_HTTPS: &str = r#"
provider "azurerm" {
  features {}
}

resource "azurerm_resource_group" "main" {
  name     = "my-app-rg"
  location = "East US"
}

resource "azurerm_cdn_frontdoor_profile" "main" {
  name                = "my-app-afd"
  resource_group_name = azurerm_resource_group.main.name
  sku_name            = "Standard_AzureFrontDoor"
}

resource "azurerm_cdn_frontdoor_endpoint" "main" {
  name                     = "my-app"
  cdn_frontdoor_profile_id = azurerm_cdn_frontdoor_profile.main.id
}

resource "azurerm_cdn_frontdoor_origin_group" "static" {
  name                     = "static"
  cdn_frontdoor_profile_id = azurerm_cdn_frontdoor_profile.main.id
  load_balancing {}
}

resource "azurerm_cdn_frontdoor_origin" "static" {
  name                           = "static"
  cdn_frontdoor_origin_group_id  = azurerm_cdn_frontdoor_origin_group.static.id
  host_name                      = "127.0.0.1"
  http_port                      = HTTP_PORT
  certificate_name_check_enabled = true
}

resource "azurerm_cdn_frontdoor_route" "static" {
  name                          = "static"
  cdn_frontdoor_endpoint_id     = azurerm_cdn_frontdoor_endpoint.main.id
  cdn_frontdoor_origin_group_id = azurerm_cdn_frontdoor_origin_group.static.id
  cdn_frontdoor_origin_ids      = [azurerm_cdn_frontdoor_origin.static.id]
  patterns_to_match             = ["/static/*"]
  supported_protocols           = ["Http", "Https"]
  https_redirect_enabled        = false
  forwarding_protocol           = "HttpOnly"
  cache {
    query_string_caching_behavior = "UseQueryString"
  }
}

resource "azurerm_cdn_frontdoor_origin_group" "secure" {
  name                     = "secure"
  cdn_frontdoor_profile_id = azurerm_cdn_frontdoor_profile.main.id
  load_balancing {}
}

resource "azurerm_cdn_frontdoor_origin" "secure" {
  name                           = "secure"
  cdn_frontdoor_origin_group_id  = azurerm_cdn_frontdoor_origin_group.secure.id
  host_name                      = "localhost"
  https_port                     = GOOD_PORT
  certificate_name_check_enabled = true
}

resource "azurerm_cdn_frontdoor_route" "secure" {
  name                          = "secure"
  cdn_frontdoor_endpoint_id     = azurerm_cdn_frontdoor_endpoint.main.id
  cdn_frontdoor_origin_group_id = azurerm_cdn_frontdoor_origin_group.secure.id
  cdn_frontdoor_origin_ids      = [azurerm_cdn_frontdoor_origin.secure.id]
  patterns_to_match             = ["/secure/*"]
  supported_protocols           = ["Http", "Https"]
  https_redirect_enabled        = false
  forwarding_protocol           = "HttpsOnly"
}

resource "azurerm_cdn_frontdoor_origin_group" "wrong" {
  name                     = "wrong"
  cdn_frontdoor_profile_id = azurerm_cdn_frontdoor_profile.main.id
  load_balancing {}
}

resource "azurerm_cdn_frontdoor_origin" "wrong" {
  name                           = "wrong"
  cdn_frontdoor_origin_group_id  = azurerm_cdn_frontdoor_origin_group.wrong.id
  host_name                      = "localhost"
  https_port                     = WRONG_PORT
  certificate_name_check_enabled = true
}

resource "azurerm_cdn_frontdoor_route" "wrong" {
  name                          = "wrong"
  cdn_frontdoor_endpoint_id     = azurerm_cdn_frontdoor_endpoint.main.id
  cdn_frontdoor_origin_group_id = azurerm_cdn_frontdoor_origin_group.wrong.id
  cdn_frontdoor_origin_ids      = [azurerm_cdn_frontdoor_origin.wrong.id]
  patterns_to_match             = ["/wrong/*"]
  supported_protocols           = ["Http", "Https"]
  https_redirect_enabled        = false
  forwarding_protocol           = "HttpsOnly"
}
"#;

/// Python's http.server over TLS with `cert`/`key`, serving `dir`.
fn tls_backend(dir: &Path, port: u16, cert: &Path, key: &Path) -> Backend {
    let script = "import http.server, ssl, sys\n\
        s = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)\n\
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
        c.load_cert_chain(sys.argv[2], sys.argv[3])\n\
        s.socket = c.wrap_socket(s.socket, server_side=True)\n\
        s.serve_forever()\n";
    let child = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .arg(cert)
        .arg(key)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    eventually("the TLS backend listens", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
    Backend(child)
}

/// A certificate for `name` signed by Meridian's CA (its root file holds the key too).
fn issue(
    openssl: &Path,
    root: &Path,
    dir: &Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let crt = dir.join(format!("{name}.crt"));
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(&ext, format!("subjectAltName=DNS:{name}\n")).expect("ext");
    let run = |args: &[&str]| {
        let out = Command::new(openssl).args(args).output().expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p = |p: &Path| p.to_string_lossy().into_owned();
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p(&key),
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        &p(&key),
        "-subj",
        &format!("/CN={name}"),
        "-out",
        &p(&csr),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(root),
        "-CAkey",
        &p(root),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&crt),
    ]);
    (crt, key)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn up_caches_a_route_and_reaches_origins_over_https() {
    let (Some(curl), Some(openssl)) = (
        tool("curl", "apt-get install curl"),
        tool("openssl", "apt-get install openssl"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let site = tempfile::tempdir().expect("site");
    for d in ["static", "secure", "wrong"] {
        std::fs::create_dir(site.path().join(d)).expect("mkdir");
        std::fs::write(site.path().join(d).join("index.html"), d).expect("write");
    }
    let (_plain, http_port) = backend(site.path());
    let (good_port, wrong_port) = (free_port(), free_port());
    let afd = tmp.path().join("afd");
    std::fs::create_dir(&afd).expect("mkdir");
    std::fs::write(
        afd.join("main.tf"),
        CACHING_AND_HTTPS
            .replace("HTTP_PORT", &http_port.to_string())
            .replace("GOOD_PORT", &good_port.to_string())
            .replace("WRONG_PORT", &wrong_port.to_string()),
    )
    .expect("write");
    let up = Up::start(tmp.path(), "afd", &["--gateway-port", "7071=0"]);
    // The backends' certificates come from the CA `meridian up` generated.
    let root = tmp.path().join(".meridian/ca/root-ca.pem");
    let (crt, key) = issue(&openssl, &root, site.path(), "localhost");
    let (wrong_crt, wrong_key) = issue(&openssl, &root, site.path(), "wrong.example.com");
    let _good = tls_backend(site.path(), good_port, &crt, &key);
    let _wrong = tls_backend(site.path(), wrong_port, &wrong_crt, &wrong_key);

    let line = up
        .banner
        .iter()
        .find(|l| l.starts_with("  frontdoor "))
        .cloned()
        .unwrap_or_else(|| panic!("{:#?}", up.banner));
    let host = line
        .split_whitespace()
        .find(|w| w.contains(".z01.azurefd.localhost"))
        .expect("endpoint host")
        .trim_end_matches([':', ','])
        .to_owned();
    let http = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split(|c: char| c == ',' || c.is_whitespace()).next())
        .expect("http address")
        .to_owned();
    let get = |path: &str| {
        let out = Command::new(&curl)
            .args(["-s", "-o", "/dev/null", "-H", &format!("Host: {host}")])
            .args(["-w", "%{http_code} %header{x-cache}"])
            .arg(format!("http://{http}{path}"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Caching: a miss, then hits; UseQueryString keys each query apart.
    assert_eq!(get("/static/index.html?v=1"), "200 TCP_MISS");
    assert_eq!(get("/static/index.html?v=1"), "200 TCP_HIT");
    assert_eq!(get("/static/index.html?v=2"), "200 TCP_MISS");
    assert_eq!(get("/static/index.html?v=2"), "200 TCP_HIT");
    let metrics = Command::new(&curl)
        .args(["-s", &format!("http://{}/metrics", up.admin)])
        .output()
        .expect("curl");
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    for result in ["hit", "miss"] {
        assert!(
            metrics.lines().any(|l| l
                .starts_with("meridian_frontdoor_cache_requests_total{front_door=\"my-app-afd\"")
                && l.ends_with(&format!("result=\"{result}\"}} 2"))),
            "{metrics}"
        );
    }
    // HTTPS to the origin whose certificate names it; refused to the other (name check on).
    eventually("the HTTPS origin answers", Duration::from_secs(40), || {
        (get("/secure/index.html") == "200 CONFIG_NOCACHE").then_some(())
    });
    assert_eq!(get("/wrong/index.html"), "503 CONFIG_NOCACHE");
}
