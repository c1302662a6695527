//! Terraform through the binary, as a user runs it: `meridian validate` lists the course's
//! resources, `meridian outputs` prints like `terraform output` (with `--var`, `--var-file`
//! and `TF_VAR_*`), `meridian up` loads the modules and says what is not served yet.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod observe_support;

fn meridian() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meridian"));
    // The tests set their own variables; the caller's environment must not leak in.
    for (k, _) in std::env::vars() {
        if k.starts_with("TF_VAR_") {
            c.env_remove(k);
        }
    }
    c
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn validate_lists_the_course_resources_with_their_regions() {
    let out = meridian()
        .args(["validate", "-f"])
        .arg(examples())
        .output()
        .expect("validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for want in [
        "terraform resource aws_cloudfront_distribution.cdn (",
        "terraform resource azurerm_frontdoor.main (",
        "terraform resource aws_db_instance.replica_eu (",
        "rds-replica.tf:15, eu-west-1) validated",
        "terraform resource aws_s3_bucket_replication_configuration.replication (",
        "terraform resource aws_route53_record.app_eu_west (",
    ] {
        assert!(stdout.contains(want), "{want:?} missing from:\n{stdout}");
    }
}

#[test]
fn validate_reports_a_mistake_at_its_line_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("main.tf"),
        "resource \"aws_s3_bucket\" \"b\" {\n  buckt = \"x\"\n}\n",
    )
    .expect("write");
    let out = meridian()
        .args(["validate", "-f"])
        .arg(dir.path())
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("main.tf:2:3: aws_s3_bucket.b: buckt: unknown argument \"buckt\" (did you mean \"bucket\"?)"),
        "{stderr}"
    );
}

#[test]
fn outputs_print_like_terraform_output_json_with_every_input_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("main.tf"),
        r#"
variable "env" {
  type = string
}
variable "sizes" {
  type    = list(number)
  default = [1]
}
variable "owner" {
  type    = string
  default = "nobody"
}
variable "tier" {
  type    = string
  default = "free"
}
resource "aws_s3_bucket" "b" {
  bucket = "site-${var.env}"
}
output "bucket" {
  value = aws_s3_bucket.b.bucket_regional_domain_name
}
output "sizes" {
  value = var.sizes
}
output "owner" {
  value     = var.owner
  sensitive = true
}
output "tier" {
  value = var.tier
}
"#,
    )
    .expect("write");
    std::fs::write(dir.path().join("terraform.tfvars"), "owner = \"team-a\"\n").expect("write");
    std::fs::write(dir.path().join("extra.tfvars"), "tier = \"gold\"\n").expect("write");
    let out = meridian()
        .env("TF_VAR_env", "prod")
        .args([
            "outputs",
            "-o",
            "json",
            "--var",
            "sizes=[2, 3]",
            "--var-file",
        ])
        .arg(dir.path().join("extra.tfvars"))
        .arg(dir.path())
        .output()
        .expect("outputs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let want = serde_json::json!({
        "bucket": {"sensitive": false, "type": "string", "value": "site-prod.s3.us-east-1.localhost"},
        "owner": {"sensitive": true, "type": "string", "value": "team-a"},
        "sizes": {"sensitive": false, "type": ["list", "number"], "value": [2, 3]},
        "tier": {"sensitive": false, "type": "string", "value": "gold"},
    });
    assert_eq!(got, want);
    let table = meridian()
        .env("TF_VAR_env", "dev")
        .arg("outputs")
        .arg(dir.path())
        .output()
        .expect("outputs");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("bucket = \"site-dev.s3.us-east-1.localhost\""),
        "{text}"
    );
    assert!(text.contains("owner = <sensitive>"), "{text}");
}

#[test]
fn up_loads_the_edge_module_and_says_what_is_not_served_yet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = dir.path().join("edge");
    std::fs::create_dir(&edge).expect("mkdir");
    for e in std::fs::read_dir(examples().join("edge")).expect("edge") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), edge.join(e.file_name())).expect("copy");
    }
    let mut child = meridian()
        .current_dir(dir.path())
        .args(["up", "edge"])
        .args(observe_support::FREE_PORTS)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let rx = observe_support::stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("watching for changes"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(e) => {
                let _ = child.kill();
                panic!("no banner within 60s ({e}); got:\n{}", seen.join("\n"));
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(
        text.contains(
            "  terraform edge/cloudfront.tf (us-east-1): 1 resource loaded, not served yet (aws_s3_bucket_public_access_block.cdn_origin)"
        ),
        "{text}"
    );
    // The Front Door is served; alone, the edge module declares no gateway or app for its
    // backends to reach (the notes on stderr say so).
    assert!(
        text.contains(
            "  frontdoor http://127.0.0.1:"
        ) && text.contains(
            "(my-app-frontdoor my-app-frontdoor.azurefd.net, my-app-frontdoor.azurefd.localhost: no backend reachable on this machine)"
        ),
        "{text}"
    );
    assert!(!text.contains("azurerm_frontdoor.main"), "{text}");
    assert!(
        text.contains("  cdn       http://127.0.0.1:")
            && text.contains("-> bucket my-app-cdn-origin; https://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("  output    cloudfront_domain = \"d"),
        "{text}"
    );
}
