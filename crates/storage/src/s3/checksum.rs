//! Integrity: the MD5 behind ETags and `Content-MD5`, and the additional checksums today's
//! SDKs send by default (`x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256`, base64 of the
//! big-endian digest). Every hasher is incremental, so a body is checked as it streams.
//!
//! Multipart objects carry either a full-object checksum (the CRCs combine part values
//! arithmetically, so the object's CRC is exact without reading it again) or a composite one
//! (the checksum of the concatenated part checksums, suffixed `-N`), as S3 does.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

/// An additional checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// CRC-32 (ISO-HDLC, as zlib).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

/// Every algorithm, in the order S3 lists them.
pub const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Crc64Nvme,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

impl Algorithm {
    /// `CRC32`, `CRC64NVME`...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The header that carries it.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The element name in XML documents (`ChecksumCRC32`).
    pub fn element(self) -> &'static str {
        match self {
            Self::Crc32 => "ChecksumCRC32",
            Self::Crc32c => "ChecksumCRC32C",
            Self::Crc64Nvme => "ChecksumCRC64NVME",
            Self::Sha1 => "ChecksumSHA1",
            Self::Sha256 => "ChecksumSHA256",
        }
    }

    /// Parses `CRC32` (any case), as in `x-amz-sdk-checksum-algorithm`.
    pub fn parse(name: &str) -> Option<Self> {
        ALGORITHMS
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }

    /// The algorithm a header name carries.
    pub fn from_header(name: &str) -> Option<Self> {
        ALGORITHMS
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(name))
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// Whether parts combine into a full-object value (the CRCs) or only a composite one.
    pub fn combines(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64Nvme)
    }

    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            Self::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            Self::Sha1 | Self::Sha256 => None,
        }
    }

    /// Whether `value` is a well-formed base64 digest for this algorithm.
    pub fn valid(self, value: &str) -> bool {
        B64.decode(value)
            .is_ok_and(|b| b.len() == self.digest_len())
    }
}

/// Whether a multipart checksum covers the whole object or the parts' checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// The checksum of the object's bytes.
    FullObject,
    /// The checksum of the parts' checksums, `-N`.
    Composite,
}

impl Kind {
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullObject => "FULL_OBJECT",
            Self::Composite => "COMPOSITE",
        }
    }

    /// Parses `x-amz-checksum-type`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "FULL_OBJECT" => Some(Self::FullObject),
            "COMPOSITE" => Some(Self::Composite),
            _ => None,
        }
    }
}

/// A stored checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Base64 of the digest (with `-N` for a composite).
    pub value: String,
    /// Full object or composite.
    pub kind: Kind,
}

/// An incremental hasher for one algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// A CRC.
    Crc(Algorithm, Box<crc_fast::Digest>),
    /// SHA-1 or SHA-256.
    Sha(Algorithm, digest::Context),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({})", self.algorithm().as_str())
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm.crc() {
            Some(c) => Self::Crc(algorithm, Box::new(crc_fast::Digest::new(c))),
            None => Self::Sha(
                algorithm,
                digest::Context::new(if algorithm == Algorithm::Sha1 {
                    &digest::SHA1_FOR_LEGACY_USE_ONLY
                } else {
                    &digest::SHA256
                }),
            ),
        }
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Crc(a, _) | Self::Sha(a, _) => *a,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc(_, d) => d.update(data),
            Self::Sha(_, c) => c.update(data),
        }
    }

    /// The raw digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Crc(a, d) => crc_bytes(a, d.finalize()),
            Self::Sha(_, c) => c.finish().as_ref().to_vec(),
        }
    }

    /// The digest in base64, as the headers carry it.
    pub fn finish_base64(self) -> String {
        B64.encode(self.finish())
    }
}

fn crc_bytes(a: Algorithm, v: u64) -> Vec<u8> {
    if a == Algorithm::Crc64Nvme {
        v.to_be_bytes().to_vec()
    } else {
        (v as u32).to_be_bytes().to_vec()
    }
}

/// The checksum of `data` in base64.
pub fn of(algorithm: Algorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    h.finish_base64()
}

/// Combines the CRCs of consecutive parts (`(base64 value, length)`) into the CRC of their
/// concatenation; `None` for the SHAs or a malformed value.
pub fn combine(algorithm: Algorithm, parts: &[(String, u64)]) -> Option<String> {
    let crc = algorithm.crc()?;
    let mut acc: Option<u64> = None;
    for (value, len) in parts {
        let bytes = B64.decode(value).ok()?;
        let v = match bytes.len() {
            4 => u64::from(u32::from_be_bytes(bytes.try_into().ok()?)),
            8 => u64::from_be_bytes(bytes.try_into().ok()?),
            _ => return None,
        };
        acc = Some(match acc {
            None => v,
            Some(a) => crc_fast::checksum_combine(crc, a, v, *len),
        });
    }
    Some(B64.encode(match acc {
        Some(v) => crc_bytes(algorithm, v),
        None => Hasher::new(algorithm).finish(),
    }))
}

/// The composite checksum of parts' base64 values: the checksum of their concatenated raw
/// digests, `-N`.
pub fn composite(algorithm: Algorithm, parts: &[String]) -> Option<String> {
    let mut h = Hasher::new(algorithm);
    for p in parts {
        h.update(&B64.decode(p).ok()?);
    }
    Some(format!("{}-{}", h.finish_base64(), parts.len()))
}

/// An incremental MD5 (ETags and `Content-MD5`).
#[derive(Clone, Default)]
pub struct Md5(md5::Md5);

impl std::fmt::Debug for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5")
    }
}

impl Md5 {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The 16-byte digest.
    pub fn finish(self) -> [u8; 16] {
        self.0.finalize().into()
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xF) as usize] as char);
    }
    s
}

/// Parses lower- or upper-case hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Base64 of bytes.
pub fn base64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64; `None` when malformed.
pub fn unbase64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim()).ok()
}

/// The multipart ETag: `hex(md5(concat(part md5s)))-N`.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut m = Md5::default();
    for p in part_md5s {
        m.update(p);
    }
    format!("{}-{}", hex(&m.finish()), part_md5s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_of_123456789() {
        // The catalogue's check values for "123456789".
        let b = |a| B64.decode(of(a, b"123456789")).unwrap();
        assert_eq!(b(Algorithm::Crc32), 0xCBF4_3926u32.to_be_bytes());
        assert_eq!(b(Algorithm::Crc32c), 0xE306_9283u32.to_be_bytes());
        assert_eq!(
            b(Algorithm::Crc64Nvme),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        assert_eq!(
            hex(&b(Algorithm::Sha256)),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
        assert_eq!(
            hex(&b(Algorithm::Sha1)),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
        let mut m = Md5::default();
        m.update(b"123456789");
        assert_eq!(hex(&m.finish()), "25f9e794323b453885f5181f1b624d0b");
    }

    #[test]
    fn crcs_of_parts_combine_into_the_crc_of_the_whole() {
        for a in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let parts = [&b"hello, "[..], b"multipart ", b"world"];
            let values: Vec<(String, u64)> =
                parts.iter().map(|p| (of(a, p), p.len() as u64)).collect();
            assert_eq!(
                combine(a, &values).unwrap(),
                of(a, b"hello, multipart world"),
                "{a:?}"
            );
        }
        assert!(combine(Algorithm::Sha256, &[]).is_none());
    }

    #[test]
    fn the_multipart_etag_is_the_md5_of_md5s() {
        let p1 = {
            let mut m = Md5::default();
            m.update(b"a");
            m.finish()
        };
        let e = multipart_etag(&[p1, p1]);
        assert!(e.ends_with("-2"));
        assert_eq!(e.len(), 34);
    }
}
