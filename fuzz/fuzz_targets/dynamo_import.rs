//! Any bytes read as an import's object (DynamoDB JSON, Amazon Ion or CSV; plain, GZIP or
//! ZSTD, chosen by the first byte) give records or an error that ends the object, never a
//! panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = meridian_storage::dynamo::exercise_import(data);
});
