//! Replays every input the `admin_request` fuzz target ever failed on, plus seeds
//! (`fuzz/regressions/admin_request/`): each must pass the target's properties.

use std::path::Path;

#[test]
fn admin_request_regressions_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/admin_request");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read input");
        meridian_admin::fuzz::admin_request(&data);
        n += 1;
    }
    assert!(n > 0, "the regressions folder holds inputs");
}
