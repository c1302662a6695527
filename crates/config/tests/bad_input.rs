//! Hostile or broken input gets a clear error, in bounded time and memory, never a panic.

use std::io::Write;

use meridian_config::{LoadOptions, load_paths, load_str};

fn only_error(bundle: &meridian_config::Bundle) -> String {
    let errs: Vec<String> = bundle
        .diagnostics()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs[0].clone()
}

#[test]
fn a_huge_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.yaml");
    let file = std::fs::File::create(&path).expect("create");
    // Sparse: 100 MB on paper, nothing on disk.
    file.set_len(100 * 1024 * 1024).expect("set_len");
    let bundle = load_paths(&[path], LoadOptions::default());
    let e = only_error(&bundle);
    assert!(
        e.ends_with(
            "huge.yaml:1:1: file is 100.0 MiB, larger than the 16 MiB limit for a manifest file"
        ),
        "{e}"
    );
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latin1.yaml");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(b"apiVersion: v1\nkind: Service\nmetadata:\n  name: caf\xe9\n")
        .expect("write");
    let e = only_error(&load_paths(&[path], LoadOptions::default()));
    assert!(
        e.ends_with("latin1.yaml:4:12: invalid UTF-8 (byte 0xe9); manifests must be UTF-8 text"),
        "{e}"
    );
}

#[test]
fn utf16_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("utf16.yaml");
    std::fs::write(&path, b"\xff\xfea\x00:\x00").expect("write");
    let e = only_error(&load_paths(&[path], LoadOptions::default()));
    assert!(e.ends_with("file is UTF-16; save it as UTF-8"), "{e}");
}

#[test]
fn a_wide_alias_bomb_is_refused_quickly() {
    // 30 levels of doubling: 2^30 nodes if expanded.
    let mut s = String::from("a0: &a0 [x, x]\n");
    for i in 1..30 {
        s.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
    }
    let started = std::time::Instant::now();
    let e = only_error(&load_str(
        std::path::Path::new("bomb.yaml"),
        &s,
        LoadOptions::default(),
    ));
    assert!(e.contains("billion laughs"), "{e}");
    // Not a timing assertion on the happy path: a bomb that expands would take minutes and
    // gigabytes, so this only catches the case where the limit stopped working.
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn many_documents_with_errors_all_reported() {
    let mut s = String::new();
    for i in 0..50 {
        s.push_str(&format!("apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec: {{ports: [{{port: 80, prot: x}}]}}\n---\n"));
    }
    let bundle = load_str(
        std::path::Path::new("many.yaml"),
        &s,
        LoadOptions::default(),
    );
    assert_eq!(bundle.error_count(), 50);
}

#[test]
fn an_empty_file_and_comment_only_documents_are_fine() {
    let bundle = load_str(
        std::path::Path::new("empty.yaml"),
        "# nothing\n---\n---\n",
        LoadOptions::default(),
    );
    assert!(bundle.is_valid());
    assert_eq!(bundle.docs.len(), 0);
}
