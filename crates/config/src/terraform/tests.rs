//! Whole-module tests: configurations in, modules or exact messages out.

use std::path::{Path, PathBuf};

use super::*;

/// Loads files given as (name, text) from a fresh folder; diagnostics rendered with file
/// names only.
pub(crate) fn load(files: &[(&str, &str)]) -> (Loaded, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
    }
    let opts = Options {
        inputs: CliInputs {
            env: Some(Default::default()),
            ..CliInputs::default()
        },
        ..Options::default()
    };
    let loaded = load_dir(dir.path(), &opts);
    let rendered = render(&loaded.diagnostics);
    (loaded, rendered, dir)
}

pub(crate) fn render(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            let mut d = d.clone();
            let name = d.file.file_name().map(PathBuf::from).unwrap_or_default();
            d.file = std::sync::Arc::from(name.as_path());
            d.to_string()
        })
        .collect()
}

fn seed(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(rel),
    )
    .expect("example")
}

#[test]
fn a_bucket_and_a_distribution_connect() {
    let (l, d, _dir) = load(&[
        ("main.tf", &seed("edge/cloudfront.tf")),
        (
            "providers.tf",
            "provider \"aws\" {\n  region = \"eu-west-1\"\n}\n",
        ),
    ]);
    assert!(d.iter().all(|x| x.contains("warning")), "{d:#?}");
    let m = l.valid().expect("valid");
    let dist = m
        .instances
        .iter()
        .find(|i| i.type_name == "aws_cloudfront_distribution")
        .expect("distribution");
    let Spec::Distribution(spec) = &dist.spec else {
        panic!("{:?}", dist.spec)
    };
    assert_eq!(
        spec.origins[0].domain_name,
        "my-app-cdn-origin.s3.eu-west-1.localhost"
    );
    assert_eq!(spec.origins[0].id, "S3-my-app-cdn-origin");
    assert_eq!(spec.default_behavior.default_ttl, 3600);
    assert_eq!(dist.region, "eu-west-1");
    let out = outputs_json(m);
    assert!(
        out["cloudfront_domain"]["value"]
            .as_str()
            .is_some_and(|s| s.ends_with(".cloudfront.localhost")),
        "{out}"
    );
    assert_eq!(out["cloudfront_domain"]["type"], "string");
}

fn examples_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(rel)
}

fn opts() -> Options {
    Options {
        inputs: CliInputs {
            env: Some(Default::default()),
            ..CliInputs::default()
        },
        ..Options::default()
    }
}

#[test]
fn the_course_folders_load_with_their_completing_files() {
    for dir in ["edge", "global"] {
        let l = load_dir(&examples_dir(dir), &opts());
        let d = render(&l.diagnostics);
        println!("{dir}:\n{}", d.join("\n"));
        assert!(l.is_valid(), "{dir}: {d:#?}");
    }
}

#[test]
fn child_modules_take_inputs_providers_and_give_outputs() {
    let (l, d, _dir) = load(&[
        (
            "main.tf",
            r#"
provider "aws" {
  alias  = "west"
  region = "us-west-2"
}

module "site" {
  source    = "./modules/site"
  for_each  = toset(["blue", "green"])
  name      = "site-${each.key}"
  providers = { aws = aws.west }
}

module "plain" {
  source = "./modules/site"
  name   = "plain-site"
}

output "domains" {
  value = { for k, m in module.site : k => m.domain }
}

output "plain_region" {
  value = module.plain.region
}
"#,
        ),
        (
            "modules/site/main.tf",
            r#"
variable "name" {
  type = string
}

resource "aws_s3_bucket" "b" {
  bucket = var.name
}

output "domain" {
  value = aws_s3_bucket.b.bucket_regional_domain_name
}

output "region" {
  value = aws_s3_bucket.b.region
}
"#,
        ),
    ]);
    assert!(d.is_empty(), "{d:#?}");
    let m = l.valid().expect("valid");
    let mut addrs: Vec<&str> = m.instances.iter().map(|i| i.address.as_str()).collect();
    addrs.sort_unstable();
    assert_eq!(
        addrs,
        vec![
            "module.plain.aws_s3_bucket.b",
            "module.site[\"blue\"].aws_s3_bucket.b",
            "module.site[\"green\"].aws_s3_bucket.b",
        ]
    );
    let out = outputs_json(m);
    assert_eq!(
        out["domains"]["value"]["blue"],
        "site-blue.s3.us-west-2.localhost"
    );
    assert_eq!(out["plain_region"]["value"], "us-east-1");
}

#[test]
fn module_mistakes_are_reported_where_they_are() {
    let (_, d, _dir) = load(&[
        (
            "main.tf",
            "module \"m\" {\n  source = \"./m\"\n  nmae   = \"x\"\n}\n\nmodule \"remote\" {\n  source  = \"terraform-aws-modules/s3-bucket/aws\"\n  version = \"4.0.0\"\n}\n",
        ),
        (
            "m/main.tf",
            "variable \"name\" {}\n\nresource \"aws_s3_bucket\" \"b\" {\n  bucket = var.name\n}\n",
        ),
    ]);
    assert_eq!(
        d,
        vec![
            "main.tf:1:1: module.m: required variable \"name\" of module \"m\" is not set",
            "main.tf:3:3: module.m: nmae: module \"m\" has no variable \"nmae\" (did you mean \"name\"?)",
            "main.tf:7:13: module[remote].source: module source \"terraform-aws-modules/s3-bucket/aws\" is not a local path (Meridian reads local modules only (./ or ../); copy the module beside the configuration)",
        ]
    );
}

#[test]
fn json_variables_files_and_auto_tfvars_apply_in_order() {
    let (l, d, _dir) = load(&[
        (
            "main.tf",
            "variable \"a\" {}\nvariable \"b\" {}\nvariable \"c\" {\n  type = list(string)\n}\noutput \"all\" {\n  value = [var.a, var.b, var.c]\n}\n",
        ),
        (
            "terraform.tfvars",
            "a = \"from-tfvars\"\nb = \"from-tfvars\"\nc = [\"x\"]\n",
        ),
        ("terraform.tfvars.json", "{\"b\": \"from-json\"}"),
        ("z.auto.tfvars", "c = [\"auto\", 2]\nunused = 1\n"),
    ]);
    assert_eq!(
        d,
        vec!["z.auto.tfvars:2:1: warning: unused: value for undeclared variable \"unused\""]
    );
    let out = outputs_json(l.valid().expect("valid"));
    assert_eq!(
        out["all"]["value"],
        serde_json::json!(["from-tfvars", "from-json", ["auto", "2"]])
    );
}
