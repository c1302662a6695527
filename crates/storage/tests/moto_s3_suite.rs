//! moto's own S3 tests, the ones its authors mark as verified against AWS (`@aws_verified`,
//! `@s3_aws_verified`), run against Meridian's S3 endpoint: with
//! `MOTO_TEST_ALLOW_AWS_REQUEST=true` they call the endpoint `AWS_ENDPOINT_URL` names instead
//! of moto's mock (`@s3_aws_verified` creates a bucket with a random name for each test,
//! tags it, and empties and deletes it afterwards). The tests ship in moto's PyPI source
//! distribution, which `.ci/install-test-deps` unpacks under `~/.cache/meridian` (none of it
//! is in this repository). `moto/passing-s3.txt` lists the tests that pass today: each must
//! keep passing, so a regression fails here; a test that starts to pass is reported, to be
//! added to the list.

mod buckets;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use buckets::{Server, aws_env, boto3};

const MOTO_VERSION: &str = "5.2.6";

fn suite() -> Option<PathBuf> {
    let dir = std::env::var_os("MOTO_SUITE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| {
                PathBuf::from(h)
                    .join(".cache/meridian")
                    .join(format!("moto-{MOTO_VERSION}"))
            })
        })?;
    if dir.join("tests/test_s3").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "moto's test suite is required in CI and is missing at {}: .ci/install-test-deps unpacks it",
            dir.display()
        );
    }
    eprintln!("SKIPPED: moto's test suite is not at {}", dir.display());
    None
}

#[tokio::test]
async fn motos_aws_verified_s3_tests_keep_passing() {
    let Some(python) = boto3() else { return };
    let Some(suite) = suite() else { return };
    let server = Server::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    let outcomes = home.path().join("outcomes.json");
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/moto");
    let mut cmd = Command::new(&python);
    cmd.current_dir(&suite)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "verified",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--color=no",
            "tests/test_s3",
        ])
        .env("PYTHONPATH", &plugin)
        .env("MERIDIAN_OUTCOMES", &outcomes);
    aws_env(&mut cmd, home.path());
    cmd.env("MOTO_TEST_ALLOW_AWS_REQUEST", "true")
        .env("AWS_ENDPOINT_URL", server.url());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("python3 -m pytest runs");
    let log = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(&outcomes).unwrap_or_else(|e| {
        panic!(
            "pytest wrote no outcomes ({e}):\n{log}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let outcomes: BTreeMap<String, String> = serde_json::from_str(&text).expect("outcomes");
    let expected = include_str!("moto/passing-s3.txt");
    let regressions: Vec<&str> = expected
        .lines()
        .filter(|t| !t.is_empty())
        .filter(|t| outcomes.get(*t).map(String::as_str) != Some("passed"))
        .collect();
    let newly: Vec<&String> = outcomes
        .iter()
        .filter(|(t, o)| *o == "passed" && !expected.lines().any(|e| e == t.as_str()))
        .map(|(t, _)| t)
        .collect();
    let passed = outcomes.values().filter(|o| *o == "passed").count();
    eprintln!(
        "moto {MOTO_VERSION}, AWS-verified S3 tests: {passed} passed of {}",
        outcomes.len()
    );
    for t in &newly {
        eprintln!("now passing (add to tests/moto/passing-s3.txt): {t}");
    }
    assert!(
        regressions.is_empty(),
        "tests that passed before fail now:\n{}\n\npytest output:\n{log}",
        regressions.join("\n")
    );
}
