//! Versioning: the rows of `s3/versions` and how writes and deletes change them, inside the
//! caller's engine transaction so that a version, the current-object copy in `s3/objects` and
//! the files a change releases commit together.
//!
//! In a bucket whose versioning was set, `s3/versions` holds every version of a key, newest
//! first (the key ends with the inverted sequence). A version id is the inverted sequence in
//! hex followed by 16 random hex digits, so a lookup by id is one `get`; the `null` version is
//! found by walking the key's few rows. After any change to a key's versions,
//! [`refresh_current`] makes `s3/objects` hold the newest version when it is an object and
//! nothing when it is a delete marker, which is what unversioned reads and listings see.
//!
//! Files are released only when a version row goes away (an overwrite of the `null` version
//! while suspended, a delete of a specific version); replacing the current copy releases
//! nothing because the version row still names the files.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng as _;
use redb::{ReadableTable, Table};

use super::error::{Code, Error};
use super::store::{
    self, BucketMeta, OBJECTS, ObjectMeta, VERSIONS, VersionRow, Versioning, object_key, successor,
};
use crate::engine::EngineError;

static LAST_SEQ: AtomicU64 = AtomicU64::new(0);

/// A sequence later than any handed out before in this process and than `after`: the clock in
/// nanoseconds, bumped past the last one.
fn next_seq(after: u64) -> u64 {
    let now = u64::try_from(
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 * 1_000_000,
    )
    .unwrap_or(0);
    let mut last = LAST_SEQ.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1).max(after + 1);
        match LAST_SEQ.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// `bucket \0 key \0 !seq`.
pub(crate) fn version_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(&(u64::MAX - seq).to_be_bytes());
    k
}

/// The rows of one key: `bucket \0 key \0` up to the next key.
fn key_bounds(bucket: &str, key: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = object_key(bucket, key);
    lo.push(0);
    let mut hi = object_key(bucket, key);
    hi.push(1);
    (lo, hi)
}

/// A new version id for `seq`.
fn new_version_id(seq: u64) -> String {
    let r: u64 = rand::rng().random();
    format!("{:016x}{r:016x}", u64::MAX - seq)
}

/// The sequence a well-formed, non-null version id carries; `None` when malformed.
pub(crate) fn seq_of(id: &str) -> Option<u64> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&id[..16], 16)
        .ok()
        .map(|inv| u64::MAX - inv)
}

/// Whether `id` could name a version: `null` or an id this store makes.
pub(crate) fn well_formed(id: &str) -> bool {
    id == "null" || seq_of(id).is_some()
}

/// The key and row of every version of `key`, newest first.
pub(crate) fn versions_of<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    bucket: &str,
    key: &str,
) -> Result<Vec<(Vec<u8>, VersionRow)>, EngineError> {
    let (lo, hi) = key_bounds(bucket, key);
    let mut out = Vec::new();
    for e in table.range(lo.as_slice()..hi.as_slice())? {
        let (k, v) = e?;
        out.push((k.value().to_vec(), store::decode("s3/versions", v.value())?));
    }
    Ok(out)
}

/// The version `id` (`null` included) of `key`.
pub(crate) fn find<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Option<(Vec<u8>, VersionRow)>, EngineError> {
    if id == "null" {
        return Ok(versions_of(table, bucket, key)?
            .into_iter()
            .find(|(_, r)| r.version_id.is_none()));
    }
    let Some(seq) = seq_of(id) else {
        return Ok(None);
    };
    let k = version_key(bucket, key, seq);
    match table.get(k.as_slice())? {
        Some(v) => {
            let row: VersionRow = store::decode("s3/versions", v.value())?;
            Ok((row.version_id.as_deref() == Some(id)).then_some((k, row)))
        }
        None => Ok(None),
    }
}

/// The newest version of `key`.
pub(crate) fn newest<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    bucket: &str,
    key: &str,
) -> Result<Option<VersionRow>, EngineError> {
    let (lo, hi) = key_bounds(bucket, key);
    match table.range(lo.as_slice()..hi.as_slice())?.next() {
        Some(e) => {
            let (_, v) = e?;
            Ok(Some(store::decode("s3/versions", v.value())?))
        }
        None => Ok(None),
    }
}

/// Makes `s3/objects` hold `key`'s newest version when it is an object, nothing otherwise.
fn refresh_current(
    versions: &Table<&'static [u8], &'static [u8]>,
    objects: &mut Table<&'static [u8], &'static [u8]>,
    bucket: &str,
    key: &str,
) -> Result<(), EngineError> {
    let k = object_key(bucket, key);
    match newest(versions, bucket, key)?.and_then(|r| r.object) {
        Some(o) => {
            objects.insert(k.as_slice(), store::encode(&o).as_slice())?;
        }
        None => {
            objects.remove(k.as_slice())?;
        }
    }
    Ok(())
}

/// Removes the `null` version of `key`, if any; returns the files it named.
fn remove_null(
    versions: &mut Table<&'static [u8], &'static [u8]>,
    bucket: &str,
    key: &str,
) -> Result<Vec<String>, EngineError> {
    let mut files = Vec::new();
    if let Some((k, row)) = find(versions, bucket, key, "null")? {
        versions.remove(k.as_slice())?;
        files.extend(
            row.object
                .into_iter()
                .flat_map(|o| o.segments)
                .map(|s| s.id),
        );
    }
    Ok(files)
}

/// Adds a version of `key` (an object, or a delete marker when `object` is `None`) as its
/// newest, as `versioning` says: a new id when Enabled, the `null` version (replacing the
/// previous one) when Suspended. Returns the version id and the files no row names any more.
fn add_version(
    txn: &redb::WriteTransaction,
    versioning: Versioning,
    bucket: &str,
    key: &str,
    object: Option<ObjectMeta>,
    modified: i64,
) -> Result<(Option<String>, Vec<String>), EngineError> {
    let mut versions = txn.open_table(VERSIONS)?;
    let mut objects = txn.open_table(OBJECTS)?;
    let after = newest(&versions, bucket, key)?.map_or(0, |r| r.seq);
    let seq = next_seq(after);
    let (id, released) = match versioning {
        Versioning::Enabled => (Some(new_version_id(seq)), Vec::new()),
        Versioning::Suspended => (None, remove_null(&mut versions, bucket, key)?),
    };
    let object = object.map(|mut o| {
        o.version_id = id.clone();
        o
    });
    let row = VersionRow {
        version_id: id.clone(),
        seq,
        modified,
        object,
    };
    versions.insert(
        version_key(bucket, key, seq).as_slice(),
        store::encode(&row).as_slice(),
    )?;
    refresh_current(&versions, &mut objects, bucket, key)?;
    Ok((id, released))
}

/// What a write of an object did.
#[derive(Debug)]
pub(crate) struct Written {
    /// The `x-amz-version-id` to answer with, in a bucket with versioning enabled.
    pub(crate) version_id: Option<String>,
    /// Files no row names any more.
    pub(crate) released: Vec<String>,
}

/// Writes `meta` as the current object `key`, versioned as the bucket says; the caller has
/// checked the bucket and any write condition against `old`, the current object.
pub(crate) fn write_object(
    txn: &redb::WriteTransaction,
    bucket_meta: &BucketMeta,
    bucket: &str,
    key: &str,
    meta: ObjectMeta,
    old: Option<ObjectMeta>,
) -> Result<Written, EngineError> {
    match bucket_meta.versioning {
        None => {
            let mut objects = txn.open_table(OBJECTS)?;
            objects.insert(
                object_key(bucket, key).as_slice(),
                store::encode(&meta).as_slice(),
            )?;
            Ok(Written {
                version_id: None,
                released: old
                    .map(|o| o.segments.into_iter().map(|s| s.id).collect())
                    .unwrap_or_default(),
            })
        }
        Some(v) => {
            let modified = meta.modified;
            // S3 answers a write to a suspended bucket without a version id.
            let (version_id, released) = add_version(txn, v, bucket, key, Some(meta), modified)?;
            Ok(Written {
                version_id,
                released,
            })
        }
    }
}

/// What a delete did.
#[derive(Debug, Default)]
pub(crate) struct Deleted {
    /// The version id removed, or of the delete marker made.
    pub(crate) version_id: Option<String>,
    /// Whether a delete marker was made or removed.
    pub(crate) marker: bool,
    /// Files no row names any more.
    pub(crate) released: Vec<String>,
}

/// Deletes `key` (a delete marker in a versioned bucket) or, with `version`, that version.
/// `version` must be well formed ([`well_formed`]).
pub(crate) fn delete(
    txn: &redb::WriteTransaction,
    bucket_meta: &BucketMeta,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Deleted, EngineError> {
    let Some(versioning) = bucket_meta.versioning else {
        // Unversioned: only the `null` version exists.
        if version.is_some_and(|v| v != "null") {
            return Ok(Deleted::default());
        }
        let mut objects = txn.open_table(OBJECTS)?;
        let removed = objects.remove(object_key(bucket, key).as_slice())?;
        let Some(v) = removed else {
            return Ok(Deleted::default());
        };
        let meta: ObjectMeta = store::decode("s3/objects", v.value())?;
        return Ok(Deleted {
            version_id: version.map(str::to_owned),
            marker: false,
            released: meta.segments.into_iter().map(|s| s.id).collect(),
        });
    };
    match version {
        None => {
            let (id, released) = add_version(txn, versioning, bucket, key, None, super::now_ms())?;
            Ok(Deleted {
                version_id: Some(id.unwrap_or_else(|| "null".to_owned())),
                marker: true,
                released,
            })
        }
        Some(id) => {
            let mut versions = txn.open_table(VERSIONS)?;
            let Some((k, row)) = find(&versions, bucket, key, id)? else {
                return Ok(Deleted {
                    version_id: Some(id.to_owned()),
                    ..Deleted::default()
                });
            };
            versions.remove(k.as_slice())?;
            let mut objects = txn.open_table(OBJECTS)?;
            refresh_current(&versions, &mut objects, bucket, key)?;
            Ok(Deleted {
                version_id: Some(id.to_owned()),
                marker: row.object.is_none(),
                released: row
                    .object
                    .map(|o| o.segments.into_iter().map(|s| s.id).collect())
                    .unwrap_or_default(),
            })
        }
    }
}

/// Changes `key`'s current object, or version `version`, with `change` (the tags), in the
/// version row and the current-object copy alike. Returns the version id changed in a
/// bucket whose versioning was set, or S3's error when there is no such object.
pub(crate) fn update_object(
    txn: &redb::WriteTransaction,
    bucket_meta: &BucketMeta,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    change: impl FnOnce(&mut ObjectMeta) -> Result<(), Error>,
) -> Result<Result<Option<String>, Error>, EngineError> {
    let no_key = || Error::no_such_key(key);
    let no_version = |v: &str| {
        Error::new(Code::NoSuchVersion, "The specified version does not exist.")
            .with("Key", key)
            .with("VersionId", v)
    };
    let mut objects = txn.open_table(OBJECTS)?;
    if bucket_meta.versioning.is_none() {
        if let Some(v) = version.filter(|v| *v != "null") {
            return Ok(Err(no_version(v)));
        }
        let k = object_key(bucket, key);
        let Some(mut meta) = objects
            .get(k.as_slice())?
            .map(|v| store::decode::<ObjectMeta>("s3/objects", v.value()))
            .transpose()?
        else {
            return Ok(Err(no_key()));
        };
        if let Err(e) = change(&mut meta) {
            return Ok(Err(e));
        }
        objects.insert(k.as_slice(), store::encode(&meta).as_slice())?;
        return Ok(Ok(None));
    }
    let mut versions = txn.open_table(VERSIONS)?;
    let found = match version {
        Some(v) => match find(&versions, bucket, key, v)? {
            Some(f) => f,
            None => return Ok(Err(no_version(v))),
        },
        None => {
            let (lo, hi) = key_bounds(bucket, key);
            let first = versions.range(lo.as_slice()..hi.as_slice())?.next();
            match first {
                Some(e) => {
                    let (k, v) = e?;
                    (k.value().to_vec(), store::decode("s3/versions", v.value())?)
                }
                None => return Ok(Err(no_key())),
            }
        }
    };
    let (k, mut row) = found;
    let id = row.version_id.clone().unwrap_or_else(|| "null".to_owned());
    let Some(object) = row.object.as_mut() else {
        return Ok(Err(if version.is_some() {
            Error::new(
                Code::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            )
            .with("Method", "PUT")
            .with("ResourceType", "DeleteMarker")
            .header("x-amz-delete-marker", "true")
            .header("x-amz-version-id", id)
        } else {
            no_key()
                .header("x-amz-delete-marker", "true")
                .header("x-amz-version-id", id)
        }));
    };
    if let Err(e) = change(object) {
        return Ok(Err(e));
    }
    versions.insert(k.as_slice(), store::encode(&row).as_slice())?;
    refresh_current(&versions, &mut objects, bucket, key)?;
    Ok(Ok(Some(id)))
}

/// Sets a bucket's versioning; the first time, moves its objects into `s3/versions` as
/// `null` versions.
pub(crate) fn set_versioning(
    txn: &redb::WriteTransaction,
    bucket: &str,
    meta: &mut BucketMeta,
    status: Versioning,
) -> Result<(), EngineError> {
    if meta.versioning.is_none() {
        let objects = txn.open_table(OBJECTS)?;
        let mut versions = txn.open_table(VERSIONS)?;
        let lower = object_key(bucket, "");
        let upper = successor(&lower).unwrap_or_default();
        let skip = lower.len();
        for e in objects.range(lower.as_slice()..upper.as_slice())? {
            let (k, v) = e?;
            let Ok(key) = std::str::from_utf8(&k.value()[skip..]) else {
                continue;
            };
            let object: ObjectMeta = store::decode("s3/objects", v.value())?;
            let seq = next_seq(0);
            let row = VersionRow {
                version_id: None,
                seq,
                modified: object.modified,
                object: Some(object),
            };
            versions.insert(
                version_key(bucket, key, seq).as_slice(),
                store::encode(&row).as_slice(),
            )?;
        }
    }
    meta.versioning = Some(status);
    Ok(())
}

/// Whether any version row of `bucket` exists.
pub(crate) fn bucket_has_versions<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    bucket: &str,
) -> Result<bool, EngineError> {
    let lower = object_key(bucket, "");
    let upper = successor(&lower).unwrap_or_default();
    Ok(table
        .range(lower.as_slice()..upper.as_slice())?
        .next()
        .is_some())
}

/// Splits a `s3/versions` key into the object key (after `bucket \0`) and the sequence.
pub(crate) fn split_key(k: &[u8], bucket_len: usize) -> Option<(&str, u64)> {
    if k.len() < bucket_len + 1 + 9 {
        return None;
    }
    let (head, tail) = k.split_at(k.len() - 8);
    let key = std::str::from_utf8(head.get(bucket_len + 1..head.len() - 1)?).ok()?;
    let inv = u64::from_be_bytes(tail.try_into().ok()?);
    Some((key, u64::MAX - inv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_carry_their_order() {
        let (a, b) = (next_seq(0), next_seq(0));
        assert!(b > a);
        let id = new_version_id(a);
        assert_eq!(id.len(), 32);
        assert_eq!(seq_of(&id), Some(a));
        assert!(well_formed("null") && well_formed(&id));
        assert!(!well_formed("nope") && !well_formed(&"g".repeat(32)));
        // Newer versions sort first under a key, and every row of a key sorts before the
        // next key.
        assert!(version_key("b", "k", b) < version_key("b", "k", a));
        assert!(version_key("b", "k", a) < object_key("b", "k\u{1}"));
        assert!(version_key("b", "k", a) < object_key("b", "k/"));
        assert_eq!(split_key(&version_key("b", "k/x", a), 1), Some(("k/x", a)));
    }
}
