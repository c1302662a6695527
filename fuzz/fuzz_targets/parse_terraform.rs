//! Any bytes given to the Terraform loader (native syntax, or JSON syntax when the input
//! starts with `{`) produce diagnostics, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    meridian_config::terraform::fuzz::load(data);
});
