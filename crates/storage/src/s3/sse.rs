//! Server-side encryption: SSE-S3, SSE-KMS and SSE-C, at rest, streaming.
//!
//! An encrypted object file is a 32-byte random salt followed by the plaintext in segments of
//! 64 KiB (the last one shorter), each sealed with AES-256-GCM and followed by its 16-byte tag.
//! The file's key is HMAC-SHA256(object key, salt), so every file has its own key and a
//! segment's nonce can simply be its index. A range reads and opens only the segments it
//! covers; a write seals each segment as it fills, so memory stays one segment per request.
//!
//! The object key depends on the kind of encryption:
//! * SSE-S3: HMAC-SHA256(master, "sse-s3"), the master key being 32 random bytes kept in
//!   `sse.key` (mode 0600) in the plane's directory, created at first start;
//! * SSE-KMS: HMAC-SHA256(master, "kms:" + key id): Meridian has no KMS, so each key id names
//!   a key Meridian derives and manages itself; no KMS API is served;
//! * SSE-C: the customer's 256-bit key, never stored: the row keeps its MD5 to recognise it.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::error::{Code, Error, Result};

/// Plaintext bytes per sealed segment.
pub(crate) const SEGMENT: usize = 64 * 1024;
/// The GCM tag after each segment.
pub(crate) const TAG: usize = 16;
/// The salt at the start of each file.
pub(crate) const SALT: usize = 32;

/// How an object is encrypted at rest, as its row records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encryption {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS (`aws:kms`) under this key id.
    Kms {
        /// The key id as the request named it.
        key_id: String,
    },
    /// SSE-C: the base64 MD5 of the customer's key.
    Customer {
        /// `x-amz-server-side-encryption-customer-key-md5`.
        key_md5: String,
    },
}

/// A bucket's default encryption (`PutBucketEncryption`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketDefault {
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    /// `KMSMasterKeyID`.
    pub kms_key_id: Option<String>,
    /// `BucketKeyEnabled`.
    pub bucket_key: bool,
}

/// The 256-bit key an object's files are derived from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ObjectKey([u8; 32]);

impl std::fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectKey(..)")
    }
}

/// The plane's master key.
#[derive(Clone)]
pub struct Keys {
    master: hmac::Key,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

fn mac(key: &hmac::Key, data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(key, data).as_ref());
    out
}

impl Keys {
    /// Reads `dir/sse.key`, creating it (32 random bytes, mode 0600, fsynced) the first time.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("sse.key");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::Rng::fill(&mut rand::rng(), &mut key[..]);
                let tmp = dir.join("sse.key.tmp");
                {
                    use std::io::Write as _;
                    use std::os::unix::fs::OpenOptionsExt as _;
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&tmp)?;
                    f.write_all(&key)?;
                    f.sync_all()?;
                }
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(dir)?.sync_all()?;
                key.to_vec()
            }
            Err(e) => return Err(e),
        };
        if bytes.len() != 32 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} does not hold a 32-byte key", path.display()),
            ));
        }
        Ok(Self {
            master: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        })
    }

    /// The key of an object encrypted with `enc`; `customer` is the SSE-C key the request
    /// carried (checked against `enc` by [`CustomerKey::matches`]).
    pub fn object_key(
        &self,
        enc: &Encryption,
        customer: Option<&CustomerKey>,
    ) -> Option<ObjectKey> {
        match enc {
            Encryption::S3 => Some(ObjectKey(mac(&self.master, b"sse-s3"))),
            Encryption::Kms { key_id } => Some(ObjectKey(mac(
                &self.master,
                format!("kms:{key_id}").as_bytes(),
            ))),
            Encryption::Customer { .. } => customer.map(|c| ObjectKey(c.key)),
        }
    }
}

/// A customer key a request carries (SSE-C), checked against its MD5.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    /// The base64 MD5 of the key.
    pub md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("md5", &self.md5)
            .finish()
    }
}

impl CustomerKey {
    /// Whether this key is the one `enc` was written with.
    pub fn matches(&self, enc: &Encryption) -> bool {
        matches!(enc, Encryption::Customer { key_md5 } if *key_md5 == self.md5)
    }

    /// The parts of `enc` a response names.
    pub fn encryption(&self) -> Encryption {
        Encryption::Customer {
            key_md5: self.md5.clone(),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The SSE-C headers under `prefix` (`x-amz-server-side-encryption-customer-` or
/// `x-amz-copy-source-server-side-encryption-customer-`), checked as S3 checks them.
pub fn customer_key(headers: &HeaderMap, copy_source: bool) -> Result<Option<CustomerKey>> {
    let prefix = if copy_source {
        "x-amz-copy-source-server-side-encryption-customer-"
    } else {
        "x-amz-server-side-encryption-customer-"
    };
    let algorithm = header(headers, &format!("{prefix}algorithm"));
    let key = header(headers, &format!("{prefix}key"));
    let md5 = header(headers, &format!("{prefix}key-md5"));
    if algorithm.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    let Some(algorithm) = algorithm else {
        return Err(Error::invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            "x-amz-server-side-encryption",
            "null",
        ));
    };
    if algorithm != "AES256" {
        return Err(Error::invalid_argument(
            "The encryption algorithm specified is not valid, must be AES256.",
            "x-amz-server-side-encryption",
            algorithm,
        ));
    }
    let Some(key) = key else {
        return Err(Error::invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            "x-amz-server-side-encryption",
            "null",
        ));
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64.decode(key.trim()).ok().filter(|k| k.len() == 32);
    let Some(raw) = raw else {
        return Err(Error::invalid_argument(
            "The secret key was invalid for the specified algorithm.",
            "x-amz-server-side-encryption",
            "null",
        ));
    };
    let Some(md5) = md5 else {
        return Err(Error::invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
            "x-amz-server-side-encryption",
            "null",
        ));
    };
    let mut h = super::checksum::Md5::default();
    h.update(&raw);
    let computed = b64.encode(h.finish());
    if computed != md5.trim() {
        return Err(Error::invalid_argument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            "x-amz-server-side-encryption",
            "null",
        ));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&raw);
    Ok(Some(CustomerKey { key, md5: computed }))
}

/// The encryption a write asks for (`x-amz-server-side-encryption`,
/// `x-amz-server-side-encryption-aws-kms-key-id`, the SSE-C headers), else the bucket's
/// default. `None`: stored in the clear.
pub fn requested(
    headers: &HeaderMap,
    default: Option<&BucketDefault>,
    region: &str,
) -> Result<(Option<Encryption>, Option<CustomerKey>)> {
    let customer = customer_key(headers, false)?;
    let sse = header(headers, "x-amz-server-side-encryption");
    let kms_key = header(headers, "x-amz-server-side-encryption-aws-kms-key-id");
    if let Some(c) = customer {
        if sse.is_some() || kms_key.is_some() {
            return Err(Error::invalid_argument(
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
                "x-amz-server-side-encryption",
                sse.unwrap_or("aws:kms"),
            ));
        }
        return Ok((Some(c.encryption()), Some(c)));
    }
    let enc = match sse {
        Some("AES256") => {
            if kms_key.is_some() {
                return Err(Error::invalid_argument(
                    "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    kms_key.unwrap_or_default(),
                ));
            }
            Some(Encryption::S3)
        }
        Some("aws:kms" | "aws:kms:dsse") => Some(Encryption::Kms {
            key_id: match kms_key {
                Some(k) if !k.trim().is_empty() => k.trim().to_owned(),
                _ => default_kms_key(region),
            },
        }),
        Some(other) => {
            return Err(Error::invalid_argument(
                "The encryption method specified is not supported",
                "x-amz-server-side-encryption",
                other,
            ));
        }
        None if kms_key.is_some() => {
            return Err(Error::invalid_argument(
                "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id",
                kms_key.unwrap_or_default(),
            ));
        }
        None => default.map(|d| match d.algorithm.as_str() {
            "AES256" => Encryption::S3,
            _ => Encryption::Kms {
                key_id: d
                    .kms_key_id
                    .clone()
                    .unwrap_or_else(|| default_kms_key(region)),
            },
        }),
    };
    Ok((enc, None))
}

/// The key id SSE-KMS uses when a request names none (AWS's `aws/s3` managed key).
fn default_kms_key(region: &str) -> String {
    format!(
        "arn:aws:kms:{region}:{}:alias/aws/s3",
        crate::dynamo::ACCOUNT
    )
}

/// Refuses SSE headers on a read (GET, HEAD): S3 takes the encryption from the object.
pub fn refuse_on_read(headers: &HeaderMap) -> Result<()> {
    for name in [
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
    ] {
        if headers.contains_key(name) {
            return Err(Error::invalid_argument(
                format!("{name} header is not supported for this operation."),
                name,
                header(headers, name).unwrap_or_default(),
            ));
        }
    }
    Ok(())
}

/// The key to read an object encrypted with `enc` (or `None` when it is not), given the SSE-C
/// key the request carried, with S3's errors for a missing, unexpected or wrong key.
pub fn key_for_read(
    keys: &Keys,
    enc: Option<&Encryption>,
    customer: Option<&CustomerKey>,
) -> Result<Option<ObjectKey>> {
    match (enc, customer) {
        (None, None) => Ok(None),
        (Some(Encryption::Customer { .. }), None) => Err(Error::invalid_request(
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        )),
        (Some(e @ Encryption::Customer { .. }), Some(c)) if c.matches(e) => {
            Ok(keys.object_key(e, Some(c)))
        }
        (Some(Encryption::Customer { .. }), Some(_)) => Err(Error::new(
            Code::InvalidRequest,
            "The provided encryption parameters did not match the ones used originally.",
        )),
        (_, Some(_)) => Err(Error::invalid_request(
            "The encryption parameters are not applicable to this object.",
        )),
        (Some(e), None) => Ok(keys.object_key(e, None)),
    }
}

/// The response headers naming `enc`.
pub fn response_headers(h: &mut HeaderMap, enc: Option<&Encryption>) {
    let set = super::api::set;
    match enc {
        None => {}
        Some(Encryption::S3) => set(h, "x-amz-server-side-encryption", "AES256"),
        Some(Encryption::Kms { key_id }) => {
            set(h, "x-amz-server-side-encryption", "aws:kms");
            set(h, "x-amz-server-side-encryption-aws-kms-key-id", key_id);
        }
        Some(Encryption::Customer { key_md5 }) => {
            set(
                h,
                "x-amz-server-side-encryption-customer-algorithm",
                "AES256",
            );
            set(h, "x-amz-server-side-encryption-customer-key-md5", key_md5);
        }
    }
}

/// One file's cipher.
pub(crate) struct FileCipher {
    key: LessSafeKey,
}

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

impl FileCipher {
    /// The cipher of a file with `salt` under `key`.
    pub(crate) fn new(key: &ObjectKey, salt: &[u8]) -> std::io::Result<Self> {
        let derived = mac(&hmac::Key::new(hmac::HMAC_SHA256, &key.0), salt);
        let unbound = UnboundKey::new(&AES_256_GCM, &derived)
            .map_err(|_| std::io::Error::other("not an AES-256 key"))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// A new random salt.
    pub(crate) fn salt() -> [u8; SALT] {
        let mut s = [0u8; SALT];
        rand::Rng::fill(&mut rand::rng(), &mut s[..]);
        s
    }

    /// Seals segment `index` in place and returns its tag.
    pub(crate) fn seal(&self, index: u64, data: &mut [u8]) -> [u8; TAG] {
        let mut out = [0u8; TAG];
        // Sealing fails only for inputs over GCM's limit (64 GiB), far above a segment.
        if let Ok(tag) = self
            .key
            .seal_in_place_separate_tag(nonce(index), Aad::empty(), data)
        {
            out.copy_from_slice(tag.as_ref());
        }
        out
    }

    /// Opens segment `index` (ciphertext followed by its tag) in place; returns the
    /// plaintext's length.
    pub(crate) fn open(&self, index: u64, data: &mut [u8]) -> std::io::Result<usize> {
        self.key
            .open_in_place(nonce(index), Aad::empty(), data)
            .map(|p| p.len())
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "an encrypted object segment failed authentication",
                )
            })
    }
}

/// Where plaintext offset `at` of a file lives: its segment index and the segment's offset in
/// the file.
pub(crate) fn segment_of(at: u64) -> (u64, u64) {
    let index = at / SEGMENT as u64;
    (index, SALT as u64 + index * (SEGMENT + TAG) as u64)
}

/// Parses a `ServerSideEncryptionConfiguration` document.
pub fn parse_config(doc: &[u8]) -> Result<BucketDefault> {
    let root = super::xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "ServerSideEncryptionConfiguration" {
        return Err(Error::malformed_xml());
    }
    let rules: Vec<_> = root.children("Rule").collect();
    let [rule] = rules.as_slice() else {
        return Err(Error::malformed_xml());
    };
    let Some(apply) = rule.child("ApplyServerSideEncryptionByDefault") else {
        return Err(Error::malformed_xml());
    };
    let algorithm = apply
        .text_of("SSEAlgorithm")
        .ok_or_else(Error::malformed_xml)?
        .trim()
        .to_owned();
    if !matches!(algorithm.as_str(), "AES256" | "aws:kms" | "aws:kms:dsse") {
        return Err(Error::malformed_xml());
    }
    let kms_key_id = apply
        .text_of("KMSMasterKeyID")
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    if kms_key_id.is_some() && algorithm == "AES256" {
        return Err(Error::invalid_argument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            "ApplyServerSideEncryptionByDefault",
            "null",
        ));
    }
    Ok(BucketDefault {
        algorithm,
        kms_key_id,
        bucket_key: rule.text_of("BucketKeyEnabled") == Some("true"),
    })
}

/// Writes a bucket's default encryption as `GetBucketEncryption` answers it.
pub fn render_config(d: &BucketDefault) -> String {
    let mut w = super::xml::Writer::new("ServerSideEncryptionConfiguration");
    w.open("Rule").open("ApplyServerSideEncryptionByDefault");
    w.elem("SSEAlgorithm", &d.algorithm);
    if let Some(k) = &d.kms_key_id {
        w.elem("KMSMasterKeyID", k);
    }
    w.close("ApplyServerSideEncryptionByDefault");
    w.elem(
        "BucketKeyEnabled",
        if d.bucket_key { "true" } else { "false" },
    );
    w.close("Rule");
    w.finish("ServerSideEncryptionConfiguration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_seal_and_open_and_refuse_tampering() {
        let key = ObjectKey([7; 32]);
        let salt = FileCipher::salt();
        let c = FileCipher::new(&key, &salt).unwrap();
        let mut buf = b"hello, segment".to_vec();
        let tag = c.seal(3, &mut buf);
        assert_ne!(&buf[..], b"hello, segment");
        buf.extend_from_slice(&tag);
        let mut copy = buf.clone();
        assert_eq!(c.open(3, &mut copy).unwrap(), 14);
        assert_eq!(&copy[..14], b"hello, segment");
        let mut wrong_index = buf.clone();
        assert!(c.open(4, &mut wrong_index).is_err());
        let other = FileCipher::new(&key, &FileCipher::salt()).unwrap();
        let mut wrong_salt = buf.clone();
        assert!(other.open(3, &mut wrong_salt).is_err());
        buf[0] ^= 1;
        assert!(c.open(3, &mut buf).is_err());
    }

    #[test]
    fn customer_keys_are_checked_as_s3_checks_them() {
        let mut h = HeaderMap::new();
        let put = |h: &mut HeaderMap, n: &str, v: &str| {
            h.insert(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        };
        put(
            &mut h,
            "x-amz-server-side-encryption-customer-algorithm",
            "AES256",
        );
        assert_eq!(
            customer_key(&h, false).unwrap_err().code,
            Code::InvalidArgument
        );
        put(
            &mut h,
            "x-amz-server-side-encryption-customer-key",
            "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=",
        );
        put(
            &mut h,
            "x-amz-server-side-encryption-customer-key-md5",
            "AAAAAAAAAAAAAAAAAAAAAA==",
        );
        let e = customer_key(&h, false).unwrap_err();
        assert!(e.message.contains("MD5"), "{e:?}");
        put(
            &mut h,
            "x-amz-server-side-encryption-customer-key-md5",
            "DWygnHRtgiJ77HCm+1rvHw==",
        );
        let k = customer_key(&h, false).unwrap().unwrap();
        assert!(k.matches(&Encryption::Customer {
            key_md5: "DWygnHRtgiJ77HCm+1rvHw==".to_owned()
        }));
        put(&mut h, "x-amz-server-side-encryption", "AES256");
        assert_eq!(
            requested(&h, None, "us-east-1").unwrap_err().code,
            Code::InvalidArgument
        );
    }

    #[test]
    fn the_master_key_is_created_private_and_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::open(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("sse.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Keys::open(dir.path()).unwrap();
        assert_eq!(
            a.object_key(&Encryption::S3, None),
            b.object_key(&Encryption::S3, None)
        );
        assert_ne!(
            a.object_key(&Encryption::S3, None),
            a.object_key(
                &Encryption::Kms {
                    key_id: "k".to_owned()
                },
                None
            )
        );
    }
}
