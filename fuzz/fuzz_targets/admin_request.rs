//! Requests to the admin API as bytes off the wire: the access checks and the route parser
//! never panic, and a parsed request renders to one that parses back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    meridian_admin::fuzz::admin_request(data);
});
