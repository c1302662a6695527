//! The course's manifests under `examples/` load without errors, and a typo in any of their
//! fields is reported by name at its line.

use std::path::{Path, PathBuf};

use meridian_config::node::{Limits, Node, Value, parse_stream};
use meridian_config::{LoadOptions, load_paths, load_str};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn mesh_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(examples().join("mesh"))
        .expect("examples/mesh")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_validates() {
    let bundle = load_paths(&[examples()], LoadOptions::default());
    let errors: Vec<String> = bundle
        .diagnostics()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let kinds: Vec<&str> = bundle.resources().map(|r| r.kind().as_str()).collect();
    for kind in [
        "Service",
        "Deployment",
        "VirtualService",
        "DestinationRule",
        "Gateway",
        "PeerAuthentication",
    ] {
        assert!(kinds.contains(&kind), "examples hold a {kind}");
    }
}

/// Keys of free-form maps, where any name is legal (labels, header names, ...).
const FREE_FORM: &[&str] = &[
    "labels",
    "matchLabels",
    "selector",
    "headers",
    "annotations",
];

/// Every key of a typed object in the tree, with its line and column.
fn typed_keys(node: &Node, parent: Option<&str>, out: &mut Vec<(String, u32, u32)>) {
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                let key = e.key.as_str().unwrap_or_default();
                if !parent.is_some_and(|p| FREE_FORM.contains(&p)) {
                    out.push((key.to_owned(), e.key.span.line, e.key.span.col));
                }
                typed_keys(&e.value, Some(key), out);
            }
        }
        Value::Seq(items) => {
            for i in items {
                typed_keys(i, parent, out);
            }
        }
        Value::Scalar(..) => {}
    }
}

#[test]
fn a_typo_in_any_field_of_the_course_manifests_is_reported_at_its_line() {
    let mut checked = 0;
    for file in mesh_files() {
        let text = std::fs::read_to_string(&file).expect("read");
        let docs = parse_stream(&text, Limits::default()).expect("parses");
        let mut keys = Vec::new();
        for d in &docs {
            if let Some(root) = &d.root {
                typed_keys(root, None, &mut keys);
            }
        }
        for (key, line, col) in keys {
            // Mistype the key in place: `weight` becomes `weightx`.
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let l = &mut lines[(line - 1) as usize];
            let at: usize = l
                .char_indices()
                .nth((col - 1) as usize)
                .map(|(i, _)| i)
                .expect("column");
            l.insert(at + key.len(), 'x');
            let typo = format!("{key}x");
            let bundle = load_str(&file, &(lines.join("\n") + "\n"), LoadOptions::default());
            let hit = bundle.diagnostics().any(|d| {
                d.is_error() && d.span.line == line && d.message.contains(&format!("\"{typo}\""))
            });
            let all: Vec<String> = bundle.diagnostics().map(ToString::to_string).collect();
            assert!(
                hit,
                "{}:{line}: typo {typo:?} not reported at its line:\n{}",
                file.display(),
                all.join("\n")
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "checked {checked} keys");
}

#[test]
fn a_clean_template_still_shows_its_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(
        dir.path().join("src/app.js"),
        "exports.handler = async () => 1;\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("template.yaml"),
        "AWSTemplateFormatVersion: '2010-09-09'\n\
         Transform: AWS::Serverless-2016-10-31\n\
         Resources:\n  \
           Worker:\n    \
             Type: AWS::Serverless::Function\n    \
             Properties:\n      \
               CodeUri: src/\n      \
               Handler: app.handler\n      \
               Runtime: nodejs20.x\n      \
               Events:\n        \
                 Jobs:\n          \
                   Type: SQS\n          \
                   Properties:\n            \
                     Queue: arn:aws:sqs:us-east-1:123456789012:jobs\n",
    )
    .expect("write");
    let bundle = load_paths(&[dir.path().to_path_buf()], LoadOptions::default());
    assert!(bundle.is_valid());
    assert_eq!(bundle.sam_templates().count(), 1);
    let warnings: Vec<String> = bundle
        .diagnostics()
        .filter(|d| !d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("template.yaml:12:17:")
            && w.contains("SQS events are accepted but not delivered")),
        "{warnings:#?}"
    );
}
