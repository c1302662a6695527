//! Any bytes given to the proxy's HTTP/1.1 codec (request heads, response heads, chunked
//! bodies) keep its properties: the same outcome whole and in pieces, and a round trip
//! through the proxy's own writer. Never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    meridian_proxy::fuzz::http1_codec(data);
});
