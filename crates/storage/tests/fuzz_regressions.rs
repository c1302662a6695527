//! Replays every input the expression fuzzer ever crashed or hung on
//! (`fuzz/regressions/dynamo_expressions/`), plus seeds for the grammar's corners, through
//! the same entry point as the fuzz target.

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
