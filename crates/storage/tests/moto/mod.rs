//! Runs a part of moto's own test suite against a Meridian endpoint, keeping only the tests
//! its authors mark as verified against AWS (`verified.py`, a pytest plugin beside this
//! file): with `MOTO_TEST_ALLOW_AWS_REQUEST=true` they call the endpoint `AWS_ENDPOINT_URL`
//! names instead of moto's mock. The tests ship in moto's PyPI source distribution, which
//! `.ci/install-test-deps` unpacks under `~/.cache/meridian` (none of it is in this
//! repository). A list of the tests that pass today is kept beside this file: each must
//! keep passing, so a regression fails; a test that starts to pass is reported, to be added
//! to the list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const MOTO_VERSION: &str = "5.2.6";

/// moto's source distribution, when it holds `tests` (a folder of its suite, such as
/// `tests/test_s3`). Missing, it skips the caller outside CI and fails it in CI.
pub(crate) fn suite(tests: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MOTO_SUITE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| {
                PathBuf::from(h)
                    .join(".cache/meridian")
                    .join(format!("moto-{MOTO_VERSION}"))
            })
        })?;
    if dir.join(tests).is_dir() {
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

/// One run of moto's verified tests in `tests` against `endpoint`.
pub(crate) struct Run<'a> {
    /// The Python with boto3 and moto.
    pub(crate) python: &'a Path,
    /// moto's source distribution ([`suite`]).
    pub(crate) suite: &'a Path,
    /// The folder of the suite to run (`tests/test_s3`).
    pub(crate) tests: &'a str,
    /// The endpoint the tests call.
    pub(crate) endpoint: &'a str,
    /// The tests that must pass, one node id per line.
    pub(crate) passing: &'a str,
    /// The file they come from, for the report.
    pub(crate) passing_file: &'a str,
    /// What the tests are of, for the report (`S3`).
    pub(crate) what: &'a str,
}

impl Run<'_> {
    /// Runs the tests with `env` setting the client's credentials and region, then checks
    /// that every listed test still passes.
    pub(crate) async fn keep_passing(self, env: impl FnOnce(&mut Command, &Path)) {
        let home = tempfile::tempdir().expect("tempdir");
        let outcomes = home.path().join("outcomes.json");
        let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/moto");
        let mut cmd = Command::new(self.python);
        cmd.current_dir(self.suite).args([
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
            self.tests,
        ]);
        env(&mut cmd, home.path());
        cmd.env("PYTHONPATH", &plugin)
            .env("MERIDIAN_OUTCOMES", &outcomes)
            .env("MOTO_TEST_ALLOW_AWS_REQUEST", "true")
            .env("AWS_ENDPOINT_URL", self.endpoint);
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
        let regressions: Vec<&str> = self
            .passing
            .lines()
            .filter(|t| !t.is_empty())
            .filter(|t| outcomes.get(*t).map(String::as_str) != Some("passed"))
            .collect();
        let newly: Vec<&String> = outcomes
            .iter()
            .filter(|(t, o)| *o == "passed" && !self.passing.lines().any(|e| e == t.as_str()))
            .map(|(t, _)| t)
            .collect();
        let passed = outcomes.values().filter(|o| *o == "passed").count();
        eprintln!(
            "moto {MOTO_VERSION}, AWS-verified {} tests: {passed} passed of {}",
            self.what,
            outcomes.len()
        );
        for t in &newly {
            eprintln!("now passing (add to {}): {t}", self.passing_file);
        }
        assert!(
            regressions.is_empty(),
            "tests that passed before fail now:\n{}\n\npytest output:\n{log}",
            regressions.join("\n")
        );
    }
}
