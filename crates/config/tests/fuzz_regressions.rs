//! Replays every input the fuzzer ever crashed or hung on (`fuzz/regressions/`), plus seeds
//! that exercised past bugs, through the same entry point as the fuzz target.

use std::path::Path;

use meridian_config::{LoadOptions, load::decode_utf8, load_str};

#[test]
fn fuzz_regressions_load_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/parse_manifest");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        if let Ok(text) = decode_utf8(bytes) {
            let bundle = load_str(&path, &text, LoadOptions::default());
            for d in bundle.diagnostics() {
                let _ = d.to_string();
            }
        }
        n += 1;
    }
    assert!(n > 0, "the regressions folder holds inputs");
}

#[test]
fn terraform_fuzz_regressions_load_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/parse_terraform");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        meridian_config::terraform::fuzz::load(&std::fs::read(&path).expect("read"));
        n += 1;
    }
    assert!(n > 0, "the regressions folder holds inputs");
}
