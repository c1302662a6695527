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
