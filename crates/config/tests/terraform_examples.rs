//! The course's six Terraform files, unmodified, load with their completing files; and a typo
//! in any argument or block of them is reported at its line with the right suggestion.

use std::path::{Path, PathBuf};

use meridian_config::node::Span;
use meridian_config::terraform::syntax::{Body, parse_body};
use meridian_config::terraform::{self, CliInputs, Options, Source};

const COURSE: &[&str] = &[
    "edge/cloudfront.tf",
    "edge/frontdoor.tf",
    "global/rds-replica.tf",
    "global/route53-failover.tf",
    "global/route53-latency.tf",
    "global/s3-replication.tf",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
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

fn folder(dir: &Path) -> Vec<Source> {
    let mut v: Vec<Source> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| terraform::is_tf(p))
        .map(|p| Source {
            text: std::fs::read_to_string(&p).expect("read"),
            path: p,
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

#[test]
fn the_course_files_are_unmodified_and_load() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/examples");
    for f in COURSE {
        let ours = std::fs::read(examples().join(f)).expect("example");
        if let Ok(theirs) = std::fs::read(seed.join(f)) {
            assert_eq!(ours, theirs, "{f} differs from the course's file");
        }
    }
    for dir in ["edge", "global"] {
        let l = terraform::load_dir(&examples().join(dir), &opts());
        let errors: Vec<String> = l
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{dir}:\n{}", errors.join("\n"));
        let m = l.valid().expect("valid");
        assert!(
            m.instances.iter().filter(|i| i.spec.is_served()).count() >= 6,
            "{dir}"
        );
    }
}

/// Every argument and block name inside the configuration's blocks, with its position.
fn keys(body: &Body, out: &mut Vec<(String, Span)>) {
    for a in &body.attrs {
        out.push((a.name.clone(), a.span));
    }
    for b in &body.blocks {
        out.push((b.ident.clone(), b.span));
        keys(&b.body, out);
    }
}

#[test]
fn a_typo_in_any_argument_of_the_course_files_is_reported_at_its_line() {
    let mut checked = 0;
    for f in COURSE {
        let path = examples().join(f);
        let dir = path.parent().expect("dir").to_path_buf();
        let sources = folder(&dir);
        let text = std::fs::read_to_string(&path).expect("read");
        let body = parse_body(&text).expect("parses");
        let mut found = Vec::new();
        for top in &body.blocks {
            keys(&top.body, &mut found);
        }
        for (key, span) in found {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let l = &mut lines[(span.line - 1) as usize];
            let at = l
                .char_indices()
                .nth((span.col - 1) as usize)
                .map(|(i, _)| i)
                .expect("column");
            assert_eq!(&l[at..at + key.len()], key, "{f}:{span}");
            l.insert(at + key.len(), 'x');
            let typo = format!("{key}x");
            let modified: Vec<Source> = sources
                .iter()
                .map(|s| Source {
                    path: s.path.clone(),
                    text: if s.path == path {
                        lines.join("\n") + "\n"
                    } else {
                        s.text.clone()
                    },
                })
                .collect();
            let loaded = terraform::load_sources(&dir, &modified, &opts());
            let hint = format!("did you mean \"{key}\"?");
            let hit = loaded.diagnostics.iter().any(|d| {
                d.is_error()
                    && d.span.line == span.line
                    && d.file.ends_with(f)
                    && d.message.contains(&format!("\"{typo}\""))
                    && d.hint.as_deref() == Some(hint.as_str())
            });
            let all: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
            assert!(
                hit,
                "{f}:{}: typo {typo:?} not reported at its line with {hint:?}:\n{}",
                span.line,
                all.join("\n")
            );
            checked += 1;
        }
    }
    assert!(checked >= 100, "checked {checked} names");
}
