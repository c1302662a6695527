//! Where buckets live: metadata rows in the engine, object bytes in files.
//!
//! | table | key → value (JSON) |
//! |---|---|
//! | `s3/buckets` | bucket name → [`BucketMeta`] |
//! | `s3/objects` | `bucket \0 key` → [`ObjectMeta`] |
//! | `s3/uploads` | `bucket \0 key \0 upload id` → [`UploadMeta`] |
//! | `s3/parts` | `upload id \0 part number (4 bytes, big-endian)` → [`PartMeta`] |
//! | `s3/versions` | `bucket \0 key \0 !seq (8 bytes, big-endian)` → [`VersionRow`] |
//! | `s3/completed` | `bucket \0 key \0 upload id` → [`Completed`], for a day |
//!
//! A bucket whose versioning was never set keeps one row per key in `s3/objects`. Once
//! versioning is set (Enabled or Suspended) `s3/versions` holds every version of every key of
//! the bucket, delete markers included, newest first under each key (the sequence is stored
//! inverted); `s3/objects` then holds a copy of each key's newest version when that version
//! is an object, so reads and listings of current objects stay one lookup
//! ([`super::version`]). Setting versioning the first time moves the existing objects into
//! `s3/versions` as `null` versions in the same commit.
//!
//! Bucket names hold no `\0`, so `bucket \0` bounds a bucket's rows and the rows sort by key
//! bytes, which is S3's listing order (UTF-8 binary).
//!
//! The bytes: a body streams into `s3/tmp/<id>`, is fsynced, renamed to
//! `s3/data/<id[..2]>/<id>` and the directory fsynced; only then does the row that names the
//! file commit, and only after that commit is a request acknowledged. A file is never
//! written again once named, so readers need no lock, and a copy is a hard link. A crash before
//! the commit leaves a file no row names, never a row naming a missing or partial file; the
//! temporary directory is emptied at start, and files no row names are removed then too
//! ([`Files::sweep`]). Files a row stopped naming (an overwrite, a delete) are unlinked after
//! the commit that dropped them; a reader that opened one keeps reading it, as Unix keeps an
//! unlinked file until its last descriptor closes.

use std::path::{Path, PathBuf};

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use super::checksum::Checksum;
use super::sse::{Encryption, FileCipher, ObjectKey, SEGMENT, TAG};
use crate::engine::EngineError;

pub(crate) const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("s3/buckets");
pub(crate) const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("s3/objects");
pub(crate) const UPLOADS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("s3/uploads");
pub(crate) const PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("s3/parts");
pub(crate) const VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("s3/versions");
pub(crate) const COMPLETED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("s3/completed");

/// What a finished multipart upload answered, so that a client retrying its
/// CompleteMultipartUpload (its first answer lost) gets the same answer, as S3 gives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completed {
    /// When it completed, Unix milliseconds.
    pub at: i64,
    /// The object's ETag.
    pub etag: String,
    /// The object's checksum.
    pub checksum: Option<Checksum>,
    /// The version it made.
    pub version_id: Option<String>,
    /// Its encryption.
    pub sse: Option<Encryption>,
}

/// A bucket's versioning state, once set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Every write makes a new version.
    Enabled,
    /// Writes replace the `null` version; older versions stay.
    Suspended,
}

impl Versioning {
    /// As S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Suspended => "Suspended",
        }
    }
}

/// One version of a key in a bucket whose versioning was set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRow {
    /// The version id; `None` is the `null` version.
    pub version_id: Option<String>,
    /// The order of versions of a key (larger is newer).
    pub seq: u64,
    /// When it was made, Unix milliseconds.
    pub modified: i64,
    /// The object; `None` for a delete marker.
    pub object: Option<ObjectMeta>,
}

/// A bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BucketMeta {
    /// Creation time, Unix milliseconds.
    pub created: i64,
    /// Its region (`LocationConstraint`).
    pub region: String,
    /// Versioning, once set.
    #[serde(default)]
    pub versioning: Option<Versioning>,
    /// The bucket policy, as the JSON document sent.
    #[serde(default)]
    pub policy: Option<String>,
    /// The public access block: BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
    /// RestrictPublicBuckets.
    #[serde(default)]
    pub public_access_block: Option<[bool; 4]>,
    /// The bucket's tags.
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
    /// The CORS rules.
    #[serde(default)]
    pub cors: Option<Vec<super::cors::Rule>>,
    /// The lifecycle configuration, as put.
    #[serde(default)]
    pub lifecycle: Option<String>,
    /// The default encryption of new objects.
    #[serde(default)]
    pub encryption: Option<super::sse::BucketDefault>,
    /// Object Lock, once enabled (it cannot be disabled).
    #[serde(default)]
    pub object_lock: Option<super::lock::BucketLock>,
    /// Object Ownership; `None` once the controls are deleted (S3 then acts as
    /// `ObjectWriter`).
    #[serde(default = "enforced")]
    pub ownership: Option<String>,
    /// The bucket's ACL beyond the owner's full control.
    #[serde(default)]
    pub acl: Vec<super::acl::Grant>,
    /// The account that created it; `None` for Meridian's own account.
    #[serde(default)]
    pub owner: Option<crate::keys::Account>,
}

/// The account that owns a bucket.
pub fn owner(meta: &BucketMeta) -> crate::keys::Account {
    meta.owner
        .clone()
        .unwrap_or_else(crate::keys::Account::local)
}

fn enforced() -> Option<String> {
    Some(super::acl::ENFORCED.to_owned())
}

/// One file of an object's bytes (a whole object, or one part of a multipart one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The file id under `s3/data`.
    pub id: String,
    /// Its length.
    pub len: u64,
}

/// The headers stored with an object and given back on GET and HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`, `Content-Disposition`, `Content-Language`, `Cache-Control`,
    /// `Expires`, `x-amz-website-redirect-location`, `x-amz-storage-class`: lower-case name
    /// and value.
    pub standard: Vec<(String, String)>,
    /// User metadata: the name after `x-amz-meta-` (lower case) and the value.
    pub user: Vec<(String, String)>,
}

/// An object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Its length.
    pub size: u64,
    /// The ETag, unquoted.
    pub etag: String,
    /// Last modification, Unix milliseconds.
    pub modified: i64,
    /// Its bytes, in order.
    pub segments: Vec<Segment>,
    /// Stored headers.
    pub headers: Headers,
    /// The additional checksum.
    pub checksum: Option<Checksum>,
    /// For a multipart object, the number of parts.
    pub parts: Option<u32>,
    /// Its version id in a versioned bucket; `None` is the `null` version.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The tags.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// How its files are encrypted, when they are.
    #[serde(default)]
    pub sse: Option<Encryption>,
    /// Its Object Lock retention.
    #[serde(default)]
    pub retention: Option<super::lock::Retention>,
    /// Its legal hold, once set.
    #[serde(default)]
    pub legal_hold: Option<bool>,
    /// Its ACL beyond the owner's full control.
    #[serde(default)]
    pub acl: Vec<super::acl::Grant>,
    /// For a multipart object uploaded with a checksum algorithm, each part's checksum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// The account that owns it when not the bucket's owner (another account's write to an
    /// `ObjectWriter` or `BucketOwnerPreferred` bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::keys::Account>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMeta {
    /// Initiation time, Unix milliseconds.
    pub initiated: i64,
    /// The headers the object will carry.
    pub headers: Headers,
    /// The checksum algorithm and type the parts carry.
    pub checksum: Option<(super::checksum::Algorithm, super::checksum::Kind)>,
    /// The tags the object will carry.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// How its parts are encrypted, when they are.
    #[serde(default)]
    pub sse: Option<Encryption>,
    /// The Object Lock retention the object will carry.
    #[serde(default)]
    pub retention: Option<super::lock::Retention>,
    /// The legal hold the object will carry.
    #[serde(default)]
    pub legal_hold: Option<bool>,
    /// The ACL the object will carry.
    #[serde(default)]
    pub acl: Vec<super::acl::Grant>,
    /// The account that owns it when not the bucket's owner (another account's write to an
    /// `ObjectWriter` or `BucketOwnerPreferred` bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::keys::Account>,
}

/// An uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMeta {
    /// Its bytes.
    pub segment: Segment,
    /// The part's MD5 in hex (its ETag).
    pub md5: String,
    /// Upload time, Unix milliseconds.
    pub modified: i64,
    /// Its checksum (base64), in the upload's algorithm.
    pub checksum: Option<String>,
}

/// `bucket \0 key`.
pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// `bucket \0 key \0 upload`.
pub(crate) fn upload_key(bucket: &str, key: &str, upload: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(upload.as_bytes());
    k
}

/// `upload \0 part`.
pub(crate) fn part_key(upload: &str, part: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload.len() + 5);
    k.extend_from_slice(upload.as_bytes());
    k.push(0);
    k.extend_from_slice(&part.to_be_bytes());
    k
}

/// The first key after every key that starts with `prefix`, or `None` when none is
/// (a prefix of only 0xFF bytes).
pub(crate) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    table: &str,
    bytes: &[u8],
) -> Result<T, EngineError> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::Corrupt {
        table: table.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // The stored types are plain structs of strings and numbers: serialization cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Reads a bucket in `txn`.
pub(crate) fn get_bucket<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    name: &str,
) -> Result<Option<BucketMeta>, EngineError> {
    match table.get(name)? {
        Some(v) => Ok(Some(decode("s3/buckets", v.value())?)),
        None => Ok(None),
    }
}

/// Reads an object row.
pub(crate) fn get_object<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectMeta>, EngineError> {
    match table.get(object_key(bucket, key).as_slice())? {
        Some(v) => Ok(Some(decode("s3/objects", v.value())?)),
        None => Ok(None),
    }
}

/// The object files on disk.
#[derive(Debug, Clone)]
pub struct Files {
    tmp: PathBuf,
    data: PathBuf,
}

impl Files {
    /// Prepares `dir/tmp` (emptied: what it holds was never acknowledged) and `dir/data`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let tmp = dir.join("tmp");
        let data = dir.join("data");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(&data)?;
        Ok(Self { tmp, data })
    }

    /// Where file `id` lives.
    pub fn path(&self, id: &str) -> PathBuf {
        let shard = id.get(..2).unwrap_or("00");
        self.data.join(shard).join(id)
    }

    /// A new temporary file to stream a body into.
    pub async fn create(&self) -> std::io::Result<Staged> {
        self.create_sealed(None).await
    }

    /// A new temporary file to stream a body into, encrypted under `key` when given
    /// ([`super::sse`]'s file format).
    pub async fn create_sealed(&self, key: Option<ObjectKey>) -> std::io::Result<Staged> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = self.tmp.join(&id);
        let file = tokio::fs::File::create(&path).await?;
        let mut staged = Staged {
            id,
            path,
            file: Some(tokio::io::BufWriter::with_capacity(1 << 20, file)),
            files: self.clone(),
            seal: None,
        };
        if let Some(key) = key {
            let salt = FileCipher::salt();
            let cipher = FileCipher::new(&key, &salt)?;
            staged.write_raw(&salt).await?;
            staged.seal = Some(Sealer {
                cipher,
                buf: Vec::with_capacity(SEGMENT + TAG),
                index: 0,
                plain: 0,
            });
        }
        Ok(staged)
    }

    /// A new file id holding the same bytes as `id` (a hard link, fsynced).
    pub async fn link(&self, id: &str) -> std::io::Result<String> {
        let new = uuid::Uuid::new_v4().simple().to_string();
        let (from, to) = (self.path(id), self.path(&new));
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::hard_link(&from, &to)?;
            if let Some(dir) = to.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(new)
    }

    /// Unlinks files no row names any more (best effort: a leftover file is only space).
    pub async fn remove(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let paths: Vec<PathBuf> = ids.iter().map(|id| self.path(id)).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for p in paths {
                if let Err(e) = std::fs::remove_file(&p)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove an object file");
                }
            }
        })
        .await;
    }
}

impl Files {
    /// Removes the files under `data` that `live` does not name: bytes made durable by a
    /// request that crashed before its row committed, or files a crash kept from being
    /// unlinked after the commit that dropped them. Run at start, before any request, so no
    /// write is in flight. Returns how many it removed.
    pub fn sweep(&self, live: &std::collections::HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        for shard in std::fs::read_dir(&self.data)? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&shard)? {
                let f = f?.path();
                let Some(name) = f.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                // Only names this module gives (32 hex digits) are ours to remove.
                let ours = name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit());
                if ours && !live.contains(name) {
                    std::fs::remove_file(&f)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Every file id a row names (objects' segments and uploaded parts).
pub(crate) fn live_files(
    txn: &redb::ReadTransaction,
) -> Result<std::collections::HashSet<String>, EngineError> {
    let mut live = std::collections::HashSet::new();
    for e in txn.open_table(OBJECTS)?.iter()? {
        let (_, v) = e?;
        let meta: ObjectMeta = decode("s3/objects", v.value())?;
        live.extend(meta.segments.into_iter().map(|s| s.id));
    }
    for e in txn.open_table(VERSIONS)?.iter()? {
        let (_, v) = e?;
        let row: VersionRow = decode("s3/versions", v.value())?;
        live.extend(
            row.object
                .into_iter()
                .flat_map(|o| o.segments)
                .map(|s| s.id),
        );
    }
    for e in txn.open_table(PARTS)?.iter()? {
        let (_, v) = e?;
        let part: PartMeta = decode("s3/parts", v.value())?;
        live.insert(part.segment.id);
    }
    Ok(live)
}

/// The encryption of a file being written: the segment filling up.
struct Sealer {
    cipher: FileCipher,
    buf: Vec<u8>,
    index: u64,
    plain: u64,
}

/// A body being written; removed on drop unless [`Staged::commit`] moved it into place.
pub struct Staged {
    /// The file id it will have.
    pub id: String,
    path: PathBuf,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    files: Files,
    seal: Option<Sealer>,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("id", &self.id)
            .field("sealed", &self.seal.is_some())
            .finish()
    }
}

impl Staged {
    async fn write_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(data).await,
            None => Err(std::io::Error::other("the file is closed")),
        }
    }

    /// Seals the segment in the buffer and writes it with its tag.
    async fn seal_segment(&mut self) -> std::io::Result<()> {
        let Some(s) = &mut self.seal else {
            return Ok(());
        };
        let tag = s.cipher.seal(s.index, &mut s.buf);
        s.index += 1;
        s.buf.extend_from_slice(&tag);
        let buf = std::mem::take(&mut s.buf);
        let out = self.write_raw(&buf).await;
        if let Some(s) = &mut self.seal {
            s.buf = buf;
            s.buf.clear();
        }
        out
    }

    /// Appends bytes (encrypting them when the file is sealed).
    pub async fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        if self.seal.is_none() {
            return self.write_raw(data).await;
        }
        while !data.is_empty() {
            let full = match &mut self.seal {
                Some(s) => {
                    let take = (SEGMENT - s.buf.len()).min(data.len());
                    s.buf.extend_from_slice(&data[..take]);
                    s.plain += take as u64;
                    data = &data[take..];
                    s.buf.len() == SEGMENT
                }
                None => false,
            };
            if full {
                self.seal_segment().await?;
            }
        }
        Ok(())
    }

    /// Flushes, fsyncs, renames into place and fsyncs the directory: once this returns the
    /// bytes survive a crash.
    pub async fn commit(mut self) -> std::io::Result<Segment> {
        if self.seal.as_ref().is_some_and(|s| !s.buf.is_empty()) {
            self.seal_segment().await?;
        }
        let plain = self.seal.as_ref().map(|s| s.plain);
        let Some(mut file) = self.file.take() else {
            return Err(std::io::Error::other("the file is closed"));
        };
        file.flush().await?;
        let file = file.into_inner();
        file.sync_all().await?;
        let len = match plain {
            Some(n) => n,
            None => file.metadata().await?.len(),
        };
        drop(file);
        let to = self.files.path(&self.id);
        let from = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let dir = to.parent().map(Path::to_owned);
            if let Some(d) = &dir {
                std::fs::create_dir_all(d)?;
            }
            std::fs::rename(&from, &to)?;
            if let Some(d) = &dir {
                std::fs::File::open(d)?.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(std::io::Error::other)??;
        // Renamed: nothing left to clean up on drop.
        self.path = PathBuf::new();
        Ok(Segment {
            id: std::mem::take(&mut self.id),
            len,
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates the plane's tables so that readers never meet a missing one.
pub(crate) fn create_tables(txn: &redb::WriteTransaction) -> Result<(), EngineError> {
    txn.open_table(BUCKETS)?;
    txn.open_table(OBJECTS)?;
    txn.open_table(UPLOADS)?;
    txn.open_table(PARTS)?;
    txn.open_table(VERSIONS)?;
    txn.open_table(COMPLETED)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staged_files_become_durable_or_vanish_and_sweep_keeps_only_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let mut kept = files.create().await.unwrap();
        kept.write(b"kept").await.unwrap();
        let kept = kept.commit().await.unwrap();
        let mut orphan = files.create().await.unwrap();
        orphan.write(b"orphan").await.unwrap();
        let orphan = orphan.commit().await.unwrap();
        let mut dropped = files.create().await.unwrap();
        dropped.write(b"never committed").await.unwrap();
        drop(dropped);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        assert_eq!(std::fs::read(files.path(&kept.id)).unwrap(), b"kept");
        assert_eq!(kept.len, 4);
        let foreign = files.path(&kept.id).with_file_name("notes.txt");
        std::fs::write(&foreign, b"not ours").unwrap();

        let live = std::collections::HashSet::from([kept.id.clone()]);
        assert_eq!(files.sweep(&live).unwrap(), 1);
        assert!(files.path(&kept.id).exists());
        assert!(!files.path(&orphan.id).exists());
        assert!(foreign.exists());

        // What a crash leaves in the staging directory is gone at the next open.
        std::fs::write(dir.path().join("tmp/partial"), b"half").unwrap();
        Files::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
