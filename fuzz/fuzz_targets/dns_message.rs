//! DNS messages as bytes off the wire: parsing (names, compression, EDNS options) and
//! answering never panic, and every answer encodes and parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    meridian_global::fuzzing::dns_message(data);
});
