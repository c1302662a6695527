//! What the workspace's integration tests share: finding the real programs they drive (a
//! missing one skips a test with a message, except under CI, where `.ci/install-test-deps`
//! installs every one and a missing program is a failure), and the environment an AWS client
//! gets so that nothing from the user's own AWS set-up leaks into a test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Says that a peer is missing: a failure under CI (`CI` set), a skip message otherwise.
pub fn missing(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "required in CI and missing: {what}"
    );
    eprintln!("SKIPPED: {what}");
}

/// A program found on PATH, or `None` (see [`missing`]) with `install_hint` in the message.
pub fn tool(name: &str, install_hint: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        missing(&format!("{name} is not on PATH ({install_hint})"));
    }
    found
}

/// The environment of an AWS client (the CLI, boto3, the JavaScript SDK): the given key, a
/// region, config and credential files under `home` (which the test controls), no instance
/// metadata, and no profile, session token or endpoint from the caller's environment.
pub fn aws_env(cmd: &mut Command, home: &Path, access_key: &str, secret_key: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret_key)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("AWS_ENDPOINT_URL_S3");
}
