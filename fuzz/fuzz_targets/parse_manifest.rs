//! Any bytes given to the manifest loader produce diagnostics, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meridian_config::{LoadOptions, load::decode_utf8, load_str};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = decode_utf8(data.to_vec()) {
        let bundle = load_str(std::path::Path::new("fuzz.yaml"), &text, LoadOptions::default());
        for d in bundle.diagnostics() {
            let _ = d.to_string();
        }
    }
});
