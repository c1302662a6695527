//! Any text given to DynamoDB's expression parsers (condition, filter, key condition, update,
//! projection) and, when it parses, to evaluation, gives an answer or an error, never a
//! panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = meridian_storage::dynamo::expr::exercise(text);
    }
});
