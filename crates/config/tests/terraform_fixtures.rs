//! Golden Terraform fixtures: every valid file loads without an error (and with exactly the
//! warnings of its `.expected` file, when it has one); every invalid file produces exactly
//! the messages (with `file:line:col`) in its `.expected` file. Each file is a module on its
//! own.
//!
//! After a deliberate change to a message, regenerate with `UPDATE_EXPECT=1 cargo test -p
//! meridian-config --test terraform_fixtures` and review the diff like code: a golden file
//! must never freeze a wrong message.

use std::fs;
use std::path::{Path, PathBuf};

use meridian_config::terraform::{self, CliInputs, Loaded, Options, Source};

fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/terraform")
        .join(kind)
}

fn files(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixture_dir(kind))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| terraform::is_tf(p))
        .collect();
    v.sort();
    v
}

fn load(path: &Path) -> Loaded {
    let opts = Options {
        inputs: CliInputs {
            env: Some(Default::default()),
            ..CliInputs::default()
        },
        ..Options::default()
    };
    let text = fs::read_to_string(path).expect("read");
    let dir = path.parent().expect("dir");
    terraform::load_sources(
        dir,
        &[Source {
            path: path.to_path_buf(),
            text,
        }],
        &opts,
    )
}

/// Diagnostics as printed, with paths shortened to file names.
fn render(path: &Path, l: &Loaded) -> String {
    let dir = path.parent().expect("dir").display().to_string();
    l.diagnostics
        .iter()
        .map(|d| {
            d.to_string()
                .replace(&format!("{dir}/"), "")
                .replace(&dir, "<fixtures>")
                + "\n"
        })
        .collect()
}

fn expected(f: &Path) -> PathBuf {
    PathBuf::from(format!("{}.expected", f.display()))
}

#[test]
fn valid_fixtures_have_no_errors() {
    let files = files("valid");
    assert!(!files.is_empty());
    for f in files {
        let l = load(&f);
        let got = render(&f, &l);
        let want = fs::read_to_string(expected(&f)).unwrap_or_default();
        assert_eq!(got, want, "{}", f.display());
        assert!(l.is_valid(), "{}", f.display());
        let m = l.valid().expect("valid");
        assert!(
            m.instances.iter().any(|i| i.spec.is_served()),
            "{} declares resources",
            f.display()
        );
    }
}

#[test]
fn invalid_fixtures_report_exactly_the_expected_messages() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for f in files("invalid") {
        let got = render(&f, &load(&f));
        let expected_path = expected(&f);
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
fn there_are_at_least_forty_fixture_files() {
    let n = files("valid").len() + files("invalid").len();
    assert!(n >= 40, "only {n} Terraform fixtures");
}
