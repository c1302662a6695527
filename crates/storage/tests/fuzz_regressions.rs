//! Replays every input the expression, S3 request and import fuzzers ever crashed or hung on
//! (`fuzz/regressions/dynamo_expressions/`, `fuzz/regressions/s3_request/`,
//! `fuzz/regressions/dynamo_import/`), plus seeds for the grammars' corners, through the same
//! entry points as the fuzz targets.

use std::path::Path;

#[test]
fn fuzz_regressions_parse_without_panicking() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/dynamo_expressions");
    let mut n = 0;
    let mut accepted = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            accepted += meridian_storage::dynamo::expr::exercise(text);
        }
        n += 1;
    }
    assert!(n >= 5, "the regressions folder holds inputs");
    // The grammar seeds parse: a replay that rejects everything tests nothing.
    assert!(accepted >= 3, "only {accepted} parses accepted the seeds");
}

/// Replays `fuzz/regressions/s3_request/` through the S3 fuzz target's entry point.
#[test]
fn s3_fuzz_regressions_parse_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/s3_request");
    let mut n = 0;
    let mut accepted = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        accepted += meridian_storage::s3::exercise(&bytes);
        n += 1;
    }
    assert!(n >= 5, "the regressions folder holds inputs");
    // The seeds parse: a replay that rejects everything tests nothing.
    assert!(accepted >= 5, "only {accepted} parses accepted the seeds");
}

/// Replays `fuzz/regressions/dynamo_import/` through the import fuzz target's entry point.
#[test]
fn import_fuzz_regressions_read_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/dynamo_import");
    let mut n = 0;
    let mut items = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        items += meridian_storage::dynamo::exercise_import(&bytes);
        n += 1;
    }
    assert!(n >= 5, "the regressions folder holds inputs");
    // The seeds hold items in every format: a replay that reads nothing tests nothing.
    assert!(items >= 10, "only {items} items read from the seeds");
}
