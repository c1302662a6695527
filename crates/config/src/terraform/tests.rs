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
