//! Golden fixtures: every valid document loads without a single diagnostic; every invalid
//! file produces exactly the messages (with `file:line:col`) in its `.expected` file; every
//! file or folder under `warnings/` (real-world shapes: Istio's samples, the course's files)
//! loads valid, with exactly the warnings in its `.expected` file.
//!
//! After a deliberate change to a message, regenerate with `UPDATE_EXPECT=1 cargo test -p
//! meridian-config --test fixtures` and review the diff like code.

use std::fs;
use std::path::{Path, PathBuf};

use meridian_config::node::{Limits, parse_stream};
use meridian_config::{LoadOptions, load_paths};

fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

fn files(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixture_dir(kind))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "json")
            )
        })
        .collect();
    v.sort();
    v
}

/// Files and folders of a fixture folder (a folder is loaded as one bundle, as files are
/// applied together).
fn entries(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixture_dir(kind))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// Diagnostics of one file (or folder) loaded alone, with its path shortened to its name.
fn render(path: &Path) -> String {
    render_with(path, LoadOptions::default())
}

fn render_with(path: &Path, opts: LoadOptions) -> String {
    let bundle = load_paths(&[path.to_path_buf()], opts);
    let full = path.display().to_string();
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    bundle
        .diagnostics()
        .map(|d| d.to_string().replace(&full, &name) + "\n")
        .collect()
}

fn documents(path: &Path) -> usize {
    let Ok(text) = fs::read_to_string(path) else {
        return 1;
    };
    parse_stream(&text, Limits::default())
        .map_or(1, |docs| docs.iter().filter(|d| d.root.is_some()).count())
}

/// A valid fixture has no error; its warnings (what is accepted but not served) are exactly
/// those of its `.expected` file, or none when it has no such file.
#[test]
fn valid_fixtures_have_no_errors_and_only_the_expected_warnings() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let files = files("valid");
    assert!(!files.is_empty());
    for f in files {
        let bundle = load_paths(std::slice::from_ref(&f), LoadOptions::default());
        let errors: Vec<String> = bundle
            .diagnostics()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{}:\n{}", f.display(), errors.join("\n"));
        assert!(
            bundle.resources().count() > 0,
            "{} holds resources",
            f.display()
        );
        let got = render(&f);
        let expected_path = f.with_extension("expected");
        if update && !got.is_empty() {
            fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(got, want, "{}", f.display());
    }
}

#[test]
fn invalid_fixtures_report_exactly_the_expected_messages() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for f in files("invalid") {
        let got = render(&f);
        let expected_path = f.with_extension("expected");
        if update {
            fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "missing {}; run with UPDATE_EXPECT=1",
                expected_path.display()
            )
        });
        assert!(
            got.lines().any(|l| !l.contains(": warning: ")),
            "{} must hold at least one error",
            f.display()
        );
        if got != want {
            failures.push(format!(
                "{}\n--- expected\n{want}--- got\n{got}",
                f.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn warning_fixtures_are_valid_with_exactly_the_expected_warnings() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    let all = entries("warnings");
    assert!(all.len() >= 5, "{all:?}");
    for f in all {
        let got = render(&f);
        let expected_path = f.with_extension("expected");
        if update {
            fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "missing {}; run with UPDATE_EXPECT=1",
                expected_path.display()
            )
        });
        let errors: Vec<&str> = got.lines().filter(|l| !l.contains(": warning: ")).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
        let bundle = load_paths(std::slice::from_ref(&f), LoadOptions::default());
        assert!(bundle.is_valid(), "{}", f.display());
        assert!(!bundle.docs.is_empty(), "{} holds objects", f.display());
        if got != want {
            failures.push(format!(
                "{}\n--- expected\n{want}--- got\n{got}",
                f.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kinds_passed_over_are_decoded_or_named() {
    let f = fixture_dir("warnings").join("kinds-not-served.yaml");
    let bundle = load_paths(std::slice::from_ref(&f), LoadOptions::default());
    let kinds: Vec<&str> = bundle.resources().map(|r| r.kind().as_str()).collect();
    for k in [
        "Namespace",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Deployment",
        "Ingress",
    ] {
        assert!(kinds.contains(&k), "{k} not decoded: {kinds:?}");
    }
    let ignored: Vec<String> = bundle
        .docs
        .iter()
        .filter_map(|d| d.ignored.as_ref().map(|o| o.qualified_name()))
        .collect();
    assert_eq!(
        ignored,
        [
            "tcproute.gateway.networking.k8s.io/front",
            "tlsroute.gateway.networking.k8s.io/rpc",
            "pod/debug",
            "statefulset.apps/db",
            "daemonset.apps/agent",
            "job.batch/migrate",
            "cronjob.batch/nightly",
            "horizontalpodautoscaler.autoscaling/worker",
            "poddisruptionbudget.policy/worker",
            "role.rbac.authorization.k8s.io/reader",
            "rolebinding.rbac.authorization.k8s.io/reader",
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com",
            "widget.example.com/one",
        ]
    );
    let secret = bundle
        .resources()
        .find_map(|r| match r {
            meridian_config::Resource::Secret(s) => Some(s),
            _ => None,
        })
        .expect("a secret");
    assert_eq!(secret.spec.get("password").as_deref(), Some("secret"));
    assert_eq!(secret.spec.get("user").as_deref(), Some("admin"));
    let shown = serde_json::to_string(secret).expect("json");
    assert!(
        !shown.contains("secret\""),
        "secret values are not shown: {shown}"
    );
}

#[test]
fn strict_mode_refuses_every_kind_passed_over() {
    let f = fixture_dir("warnings").join("kinds-not-served.yaml");
    let lax = load_paths(std::slice::from_ref(&f), LoadOptions::default());
    let passed_over = lax.docs.iter().filter(|d| d.ignored.is_some()).count();
    let strict = load_paths(
        std::slice::from_ref(&f),
        LoadOptions {
            strict: true,
            ..LoadOptions::default()
        },
    );
    assert!(!strict.is_valid());
    let errors: Vec<String> = strict
        .diagnostics()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), passed_over, "{errors:#?}");
    assert!(
        errors.iter().all(|e| e.contains("kind: ")),
        "each at its kind: {errors:#?}"
    );
}

#[test]
fn there_are_at_least_sixty_fixture_documents() {
    let total: usize = files("valid")
        .iter()
        .chain(files("invalid").iter())
        .map(|f| documents(f))
        .sum();
    assert!(total >= 60, "only {total} fixture documents");
}
