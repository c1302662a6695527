//! Replays every input the proxy's fuzz targets ever failed on, plus seeds
//! (`fuzz/regressions/<target>/`): each must pass the target's properties.

use std::path::Path;

#[test]
fn http1_codec_regressions_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/http1_codec");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read input");
        meridian_proxy::fuzz::http1_codec(&data);
        n += 1;
    }
    assert!(n > 0, "the regressions folder holds inputs");
}

#[test]
fn gateway_hello_regressions_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/gateway_hello");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read input");
        meridian_proxy::fuzz::gateway_connection_start(&data);
        n += 1;
    }
    assert!(n > 0, "the regressions folder holds inputs");
}
