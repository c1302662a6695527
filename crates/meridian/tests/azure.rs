//! The course's Azure Functions app through a real `meridian up`: the banner names its URL,
//! and the unmodified `HttpTrigger` answers curl for `?name=`, a JSON body and neither, behind
//! the mesh gateway on its own port; `meridian functions` lists the app's worker pool.

mod observe_support;

use std::process::Command;

use observe_support::{Up, copy_dir, tool};

#[test]
fn the_course_app_answers_through_meridian_up() {
    let Some(curl) = tool("curl", "apt-get install curl") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/azure"),
        &tmp.path().join("azure"),
    );
    let up = Up::start(tmp.path(), "azure", &["--gateway-port", "7071=0"]);
    let line = up
        .banner
        .iter()
        .find(|l| l.contains("azure/HttpTrigger"))
        .unwrap_or_else(|| panic!("no function line in the banner: {:#?}", up.banner));
    assert!(
        line.contains("(GET,POST -> azure/HttpTrigger, authLevel anonymous)"),
        "{line}"
    );
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_owned();
    assert!(url.ends_with("/api/HttpTrigger"), "{url}");

    let call = |args: &[&str]| -> (String, String) {
        let out = Command::new(&curl)
            .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or((&text, ""));
        (status.to_owned(), body.to_owned())
    };
    assert_eq!(
        call(&[&format!("{url}?name=Ada")]),
        ("200".into(), "Hello, Ada!".into())
    );
    assert_eq!(
        call(&[
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"name":"Ada"}"#,
            &url
        ]),
        ("200".into(), "Hello, Ada!".into())
    );
    assert_eq!(call(&[&url]), ("200".into(), "Hello, World!".into()));

    let listed = up.cli(&["functions", "ls"]);
    assert!(listed.contains("azure"), "{listed}");

    // Keys: listed, and a rotated key replaces the old one at once.
    let keys = up.cli_json(&["functions", "keys"]);
    let old = keys["azure"]["functions"]["HttpTrigger"]["default"]
        .as_str()
        .expect("a function key")
        .to_owned();
    let master = keys["azure"]["master"]
        .as_str()
        .expect("a master key")
        .to_owned();
    let table = up.cli(&["functions", "keys"]);
    assert!(
        table.contains("HttpTrigger") && table.contains(&old),
        "{table}"
    );
    let admin_url = url.replace("/api/HttpTrigger", "/admin/host/status");
    assert_eq!(call(&[&admin_url]).0, "401");
    assert_eq!(
        call(&["-H", &format!("x-functions-key: {master}"), &admin_url]).0,
        "200"
    );
    let fresh = up.cli(&["functions", "keys", "rotate", "azure", "--name", "_master"]);
    let fresh = fresh.trim();
    assert!(!fresh.is_empty() && fresh != master);
    assert_eq!(
        call(&["-H", &format!("x-functions-key: {master}"), &admin_url]).0,
        "401"
    );
    assert_eq!(
        call(&["-H", &format!("x-functions-key: {fresh}"), &admin_url]).0,
        "200"
    );
    let after = up.cli_json(&["functions", "keys"]);
    assert_eq!(after["azure"]["master"], fresh);
    assert_eq!(
        after["azure"]["functions"]["HttpTrigger"]["default"],
        old.as_str()
    );
}
