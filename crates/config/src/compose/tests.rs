//! Golden tests: each `testdata/*.yml` is loaded with a fixed environment, and its
//! diagnostics and model are compared with `testdata/*.golden`. Set `UPDATE_GOLDEN=1` to
//! rewrite the golden files after a deliberate change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/compose/testdata")
}

fn env() -> Environment {
    let mut vars = BTreeMap::new();
    vars.insert("REGION".to_owned(), "us-east".to_owned());
    vars.insert("FROM_ENV".to_owned(), "inherited".to_owned());
    Environment::from_map(vars)
}

fn render(name: &str) -> String {
    let path = testdata().join(name);
    let loaded = load_file(&path, &env());
    let mut out = String::new();
    for d in &loaded.diagnostics {
        let line = d.to_string();
        let dir = format!("{}/", testdata().display());
        out.push_str(&line.replace(&dir, ""));
        out.push('\n');
    }
    out.push_str("---\n");
    if let Some(file) = &loaded.file {
        let mut v = serde_json::to_value(&file.services).unwrap_or_default();
        // Paths depend on where the repository is checked out.
        if let Some(services) = v.as_array_mut() {
            for s in services {
                if let Some(w) = s.get_mut("working_dir").filter(|w| w.is_string()) {
                    *w = serde_json::Value::String(
                        w.as_str()
                            .unwrap_or_default()
                            .replace(&format!("{}/", testdata().display()), "<dir>/"),
                    );
                }
            }
        }
        out.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn golden(name: &str) {
    let got = render(name);
    let golden = testdata().join(name.replace(".yml", ".golden"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{name} differs from {}; rerun with UPDATE_GOLDEN=1 if intended",
        golden.display()
    );
}

#[test]
fn course_file_golden() {
    golden("course.yml");
}

#[test]
fn full_file_golden() {
    golden("full.yml");
}

#[test]
fn errors_golden() {
    golden("errors.yml");
}

#[test]
fn course_file_loads_with_a_portability_warning() {
    let loaded = load_file(&testdata().join("course.yml"), &Environment::empty());
    assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
    let file = loaded.valid().expect("valid");
    let app = file.service("app").expect("app");
    assert_eq!(app.image.as_deref(), Some("myapp:latest"));
    assert_eq!(app.argv(), None, "image only: not runnable, but valid");
    assert_eq!(app.deploy.replicas, 6);
    assert_eq!(app.deploy.update_config.parallelism, 2);
    assert_eq!(
        app.deploy.update_config.delay,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(
        app.deploy.restart_policy.condition,
        RestartCondition::OnFailure
    );
    assert_eq!(app.deploy.placement.constraints[0].any_of.len(), 2);
    assert!(loaded.diagnostics.iter().all(|d| !d.is_error()));
}

#[test]
fn the_shared_course_example_loads_when_present() {
    // The course's own file, where the checkout has `shared/` beside it.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/seed/examples/global/docker-compose.yml");
    if path.exists() {
        assert!(load_file(&path, &Environment::empty()).is_valid());
    }
}

#[test]
fn interpolation_errors_point_at_the_value() {
    let text = "services:\n  a:\n    command: echo ${NOPE:?needed}\n";
    let loaded = parse_str(Path::new("c.yml"), text, &Environment::empty());
    let msgs: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "c.yml:3:14: services.a.command: required variable NOPE is missing a value: needed (set NOPE in the environment or in the .env file)"
        ]
    );
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    let text = "services:\n  a:\n    command: [x]\n    deploy:\n      replica: 2\n";
    let loaded = parse_str(Path::new("c.yml"), text, &Environment::empty());
    let msgs: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "c.yml:5:7: services.a.deploy.replica: unknown field \"replica\" (did you mean \"replicas\"?)"
        ]
    );
}

#[test]
fn syntax_errors_are_located() {
    let loaded = parse_str(
        Path::new("c.yml"),
        "services:\n  a: [\n",
        &Environment::empty(),
    );
    assert!(!loaded.is_valid());
    assert!(
        loaded.diagnostics[0].to_string().starts_with("c.yml:"),
        "{}",
        loaded.diagnostics[0]
    );
}
