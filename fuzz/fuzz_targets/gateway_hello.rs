//! The start of a gateway connection: an optional PROXY protocol header, then a TLS
//! ClientHello whose SNI picks the Gateway server. Never a panic, a hang, or a server other
//! than the one Istio's host rules pick.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    meridian_proxy::fuzz::gateway_connection_start(data);
});
