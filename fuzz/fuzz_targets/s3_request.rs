//! Any bytes given to the S3 API's parsers of untrusted input (request XML, `aws-chunked`
//! bodies whole and split, SigV4 headers and presigned queries, ranges, copy sources,
//! bucket names, payload declarations) give an answer or an error, never a panic or a hang,
//! and a chunked body decodes the same however it is split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = meridian_storage::s3::exercise(data);
});
