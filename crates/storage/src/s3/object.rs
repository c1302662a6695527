//! Objects: Put, Get, Head, Delete, DeleteObjects and Copy, with S3's headers, ranges and
//! conditions.
//!
//! A write streams the body to a staged file ([`super::store::Staged`]), checks it
//! ([`super::body::Inbound::finish`]), makes the file durable, and only then commits the row
//! in one engine job that also re-checks the bucket and any write condition
//! (`If-None-Match: *`, `If-Match`), so a condition holds at the moment the object becomes
//! visible. A refused or failed write leaves no row, and its file is removed.
//!
//! A read takes a consistent row, opens every file it names, then streams: once open, a file
//! stays readable even if an overwrite unlinks it. If a file vanished between the row read
//! and the open (an overwrite committed in between), the row is read again.

use bytes::BytesMut;
use futures_util::StreamExt as _;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::api::{self, Body, Ctx, set};
use super::body::Inbound;
use super::checksum::{self, Algorithm, Checksum, Kind};
use super::error::{Code, Error, Result};
use super::notification::{Change, Subject};
use super::sse::{FileCipher, ObjectKey};
use super::store::{self, BUCKETS, Headers, OBJECTS, ObjectMeta, Segment, get_bucket, get_object};
use super::xml::{self, Writer};
use super::{S3, http_date, iso8601, now_ms, version};

/// `NoSuchVersion` for `key` and `version`.
fn no_such_version(key: &str, version: &str) -> Error {
    Error::new(Code::NoSuchVersion, "The specified version does not exist.")
        .with("Key", key)
        .with("VersionId", version)
}

/// The most user metadata S3 stores per object, names and values together.
const MAX_USER_METADATA: usize = 2048;
/// The headers stored as they come and given back on reads.
const STANDARD_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-amz-website-redirect-location",
    "x-amz-storage-class",
];
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];
/// How long a file read is, per frame of a response.
const READ_CHUNK: usize = 256 * 1024;

/// The object headers a request sets (Put, CreateMultipartUpload, Copy with REPLACE).
pub(crate) fn stored_headers(headers: &HeaderMap) -> Result<Headers> {
    let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let mut out = Headers {
        content_type: text("content-type").map(str::to_owned),
        ..Headers::default()
    };
    for name in STANDARD_HEADERS {
        let Some(v) = text(name) else { continue };
        let v = if *name == "content-encoding" {
            // `aws-chunked` is the transfer's encoding, not the object's.
            let rest: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|e| !e.eq_ignore_ascii_case("aws-chunked") && !e.is_empty())
                .collect();
            if rest.is_empty() {
                continue;
            }
            rest.join(", ")
        } else {
            v.to_owned()
        };
        if *name == "x-amz-storage-class" && !STORAGE_CLASSES.contains(&v.as_str()) {
            return Err(Error::new(
                Code::InvalidStorageClass,
                "The storage class you specified is not valid",
            )
            .with("StorageClassRequested", v));
        }
        out.standard.push(((*name).to_owned(), v));
    }
    let mut size = 0;
    for (name, value) in headers {
        if let Some(m) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            size += m.len() + v.len();
            out.user.push((m.to_owned(), v));
        }
    }
    if size > MAX_USER_METADATA {
        return Err(Error::new(
            Code::MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size.",
        )
        .with("Size", size.to_string())
        .with("MaxSizeAllowed", MAX_USER_METADATA.to_string()));
    }
    Ok(out)
}

/// Whether an `If-Match`/`If-None-Match` list matches `etag`.
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

fn parse_http_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

/// What the read conditions decide.
pub(crate) enum Condition {
    Proceed,
    NotModified,
}

/// RFC 7232's order as S3 applies it: If-Match, then If-Unmodified-Since (ignored when
/// If-Match is present), then If-None-Match, then If-Modified-Since (ignored when
/// If-None-Match is present).
pub(crate) fn read_conditions(
    headers: &HeaderMap,
    prefix: &str,
    meta: &ObjectMeta,
) -> Result<Condition> {
    let h = |n: &str| {
        headers
            .get(format!("{prefix}{n}"))
            .and_then(|v| v.to_str().ok())
    };
    let modified = meta.modified / 1000;
    let if_match = h("if-match");
    if let Some(m) = if_match
        && !etag_matches(m, &meta.etag)
    {
        return Err(Error::precondition(&format!("{prefix}If-Match")));
    }
    if if_match.is_none()
        && let Some(t) = h("if-unmodified-since").and_then(parse_http_date)
        && modified > t
    {
        return Err(Error::precondition(&format!("{prefix}If-Unmodified-Since")));
    }
    let if_none = h("if-none-match");
    if let Some(m) = if_none
        && etag_matches(m, &meta.etag)
    {
        return if prefix.is_empty() {
            Ok(Condition::NotModified)
        } else {
            Err(Error::precondition(&format!("{prefix}If-None-Match")))
        };
    }
    if if_none.is_none()
        && let Some(t) = h("if-modified-since").and_then(parse_http_date)
        && modified <= t
    {
        return if prefix.is_empty() {
            Ok(Condition::NotModified)
        } else {
            Err(Error::precondition(&format!("{prefix}If-Modified-Since")))
        };
    }
    Ok(Condition::Proceed)
}

/// A write's conditions on the object it replaces, checked inside the commit.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteCondition {
    if_none_match: Option<String>,
    if_match: Option<String>,
}

impl WriteCondition {
    pub(crate) fn from(headers: &HeaderMap) -> Result<Self> {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let c = Self {
            if_none_match: h("if-none-match"),
            if_match: h("if-match"),
        };
        if let Some(v) = &c.if_none_match
            && v.trim() != "*"
        {
            return Err(Error::new(
                Code::NotImplemented,
                "A header you provided implies functionality that is not implemented",
            )
            .with("Header", "If-None-Match"));
        }
        Ok(c)
    }

    pub(crate) fn check(&self, key: &str, existing: Option<&ObjectMeta>) -> Result<()> {
        if self.if_none_match.is_some() && existing.is_some() {
            return Err(Error::precondition("If-None-Match"));
        }
        if let Some(m) = &self.if_match {
            match existing {
                None => return Err(Error::no_such_key(key)),
                Some(o) if !etag_matches(m, &o.etag) => {
                    return Err(Error::precondition("If-Match"));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// A single byte range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// Parses `Range: bytes=...` against an object of `size` bytes: `Ok(None)` when absent or not
/// a single byte range (S3 then sends the whole object), `InvalidRange` when unsatisfiable.
pub(crate) fn parse_range(value: Option<&str>, size: u64) -> Result<Option<Range>> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = || {
        Error::new(Code::InvalidRange, "The requested range is not satisfiable")
            .with("RangeRequested", format!("bytes={spec}"))
            .with("ActualObjectSize", size.to_string())
            .header("content-range", format!("bytes */{size}"))
    };
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        Range {
            start: size.saturating_sub(n),
            end: size - 1,
        }
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            u64::MAX
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e,
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(unsatisfiable());
        }
        Range {
            start,
            end: end.min(size - 1),
        }
    };
    Ok(Some(range))
}

/// Streams `range` of the object made of `files` (opened, in order, with their lengths),
/// decrypted with `key` when the object is encrypted.
fn stream(files: Vec<(tokio::fs::File, u64)>, range: Range, key: Option<ObjectKey>) -> Body {
    BodyExt::boxed(StreamBody::new(
        read_range(files, range, key).map(|r| r.map(hyper::body::Frame::data)),
    ))
}

/// The bytes of `range` of the object made of `files` (their plaintext lengths), decrypted
/// with `key` when the object is encrypted.
pub(crate) fn read_range(
    files: Vec<(tokio::fs::File, u64)>,
    range: Range,
    key: Option<ObjectKey>,
) -> std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync>>
{
    match key {
        None => Box::pin(read_plain(files, range)),
        Some(key) => Box::pin(read_sealed(files, range, key)),
    }
}

/// The bytes of `range` of encrypted files, one sealed segment (64 KiB) at a time: only the
/// segments the range covers are read and opened.
fn read_sealed(
    files: Vec<(tokio::fs::File, u64)>,
    range: Range,
    key: ObjectKey,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    use super::sse::{SALT, SEGMENT, TAG};
    struct Current {
        cipher: FileCipher,
        index: u64,
        within: usize,
    }
    struct State {
        files: std::collections::VecDeque<(tokio::fs::File, u64)>,
        skip: u64,
        left: u64,
        current: Option<Current>,
        key: ObjectKey,
    }
    async fn start(
        file: &mut tokio::fs::File,
        key: &ObjectKey,
        at: u64,
    ) -> std::io::Result<Current> {
        let mut salt = [0u8; SALT];
        file.read_exact(&mut salt).await?;
        let cipher = FileCipher::new(key, &salt)?;
        let (index, offset) = super::sse::segment_of(at);
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        Ok(Current {
            cipher,
            index,
            within: (at - index * SEGMENT as u64) as usize,
        })
    }
    let state = State {
        files: files.into(),
        skip: range.start,
        left: range.end + 1 - range.start,
        current: None,
        key,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if st.left == 0 {
                return None;
            }
            let (file, len) = st.files.front_mut()?;
            let len = *len;
            if st.current.is_none() {
                if st.skip >= len {
                    st.skip -= len;
                    st.files.pop_front();
                    continue;
                }
                match start(file, &st.key, st.skip).await {
                    Ok(c) => st.current = Some(c),
                    Err(e) => {
                        st.left = 0;
                        return Some((Err(e), st));
                    }
                }
                st.skip = 0;
            }
            let Some(cur) = st.current.as_mut() else {
                continue;
            };
            let seg_start = cur.index * SEGMENT as u64;
            if seg_start >= len {
                st.files.pop_front();
                st.current = None;
                continue;
            }
            let plain = (len - seg_start).min(SEGMENT as u64) as usize;
            let mut buf = vec![0u8; plain + TAG];
            let opened = match file.read_exact(&mut buf).await {
                Ok(_) => cur.cipher.open(cur.index, &mut buf),
                Err(e) => Err(e),
            };
            if let Err(e) = opened {
                st.left = 0;
                return Some((Err(e), st));
            }
            buf.truncate(plain);
            let from = cur.within;
            let take = ((plain - from) as u64).min(st.left) as usize;
            cur.within = 0;
            cur.index += 1;
            st.left -= take as u64;
            let bytes = bytes::Bytes::from(buf).slice(from..from + take);
            return Some((Ok(bytes), st));
        }
    })
}

/// The bytes of `range` of files in the clear, in pieces of at most 256 KiB.
fn read_plain(
    files: Vec<(tokio::fs::File, u64)>,
    range: Range,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    struct State {
        files: std::collections::VecDeque<(tokio::fs::File, u64)>,
        skip: u64,
        left: u64,
        seeked: bool,
    }
    let state = State {
        files: files.into(),
        skip: range.start,
        left: range.end + 1 - range.start,
        seeked: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if st.left == 0 {
                return None;
            }
            let (file, len) = st.files.front_mut()?;
            if !st.seeked {
                if st.skip >= *len {
                    st.skip -= *len;
                    st.files.pop_front();
                    continue;
                }
                if st.skip > 0
                    && let Err(e) = file.seek(std::io::SeekFrom::Start(st.skip)).await
                {
                    st.left = 0;
                    return Some((Err(e), st));
                }
                *len -= st.skip;
                st.skip = 0;
                st.seeked = true;
            }
            if *len == 0 {
                st.files.pop_front();
                st.seeked = false;
                continue;
            }
            let want = (*len).min(st.left).min(READ_CHUNK as u64);
            let mut buf = BytesMut::with_capacity(want as usize);
            match file.take(want).read_buf(&mut buf).await {
                Ok(0) => {
                    st.left = 0;
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "an object file is shorter than its record",
                        )),
                        st,
                    ));
                }
                Ok(n) => {
                    *len -= n as u64;
                    st.left -= n as u64;
                    return Some((Ok(buf.freeze()), st));
                }
                Err(e) => {
                    st.left = 0;
                    return Some((Err(e), st));
                }
            }
        }
    })
}

/// The headers of GET and HEAD.
fn object_headers(h: &mut HeaderMap, meta: &ObjectMeta) {
    set(h, "etag", &format!("\"{}\"", meta.etag));
    set(h, "last-modified", &http_date(meta.modified));
    set(h, "accept-ranges", "bytes");
    set(
        h,
        "content-type",
        meta.headers
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    for (k, v) in &meta.headers.standard {
        if k == "x-amz-storage-class" && v == "STANDARD" {
            continue;
        }
        set(h, k, v);
    }
    for (k, v) in &meta.headers.user {
        set(h, &format!("x-amz-meta-{k}"), v);
    }
    if let Some(n) = meta.parts {
        set(h, "x-amz-mp-parts-count", &n.to_string());
    }
    if !meta.tags.is_empty() {
        set(h, "x-amz-tagging-count", &meta.tags.len().to_string());
    }
    super::sse::response_headers(h, meta.sse.as_ref());
    super::lock::response_headers(h, meta);
}

fn checksum_headers(h: &mut HeaderMap, c: &Checksum) {
    set(h, c.algorithm.header(), &c.value);
    set(h, "x-amz-checksum-type", c.kind.as_str());
}

impl S3 {
    /// Fails with NoSuchBucket unless `bucket` exists.
    pub(crate) async fn require_bucket(&self, bucket: &str) -> Result<()> {
        let b = bucket.to_owned();
        let found = self
            .engine
            .read(move |txn| get_bucket(&txn.open_table(BUCKETS)?, &b))
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::no_such_bucket(bucket)),
        }
    }

    /// Streams a request body into a durable file, encrypted under `key` when given.
    pub(crate) async fn receive(
        &self,
        inbound: &mut Inbound,
        key: Option<ObjectKey>,
    ) -> Result<store::Staged> {
        let mut staged = self.files.create_sealed(key).await?;
        while let Some(d) = inbound.next().await? {
            staged.write(&d).await?;
        }
        Ok(staged)
    }

    /// PutObject.
    pub(crate) async fn put_object(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        if ctx.header("x-amz-copy-source").is_some() {
            return self.copy_object(ctx, bucket, key).await;
        }
        let headers = stored_headers(&ctx.headers)?;
        let tags = super::tagging::from_header(ctx.header("x-amz-tagging"))?.unwrap_or_default();
        let condition = WriteCondition::from(&ctx.headers)?;
        let bucket_meta = self.bucket_meta(bucket).await?;
        let (sse, customer) =
            super::sse::requested(&ctx.headers, bucket_meta.encryption.as_ref(), &self.region)?;
        let sealing = sse
            .as_ref()
            .and_then(|e| self.sse_keys.object_key(e, customer.as_ref()));
        let (retention, legal_hold) =
            super::lock::for_new_version(&ctx.headers, bucket_meta.object_lock.as_ref(), now_ms())?;
        let (acl, owner) =
            super::acl::for_new_object(&ctx.headers, &ctx.keys, &bucket_meta, &ctx.caller)?;
        let mut inbound = ctx.body(Some(Algorithm::Crc64Nvme))?;
        let staged = self.receive(&mut inbound, sealing).await?;
        let received = inbound.finish()?;
        let segment = staged.commit().await?;
        let etag = checksum::hex(&received.md5);
        let checksum = received.checksum.as_ref().map(|(a, v)| Checksum {
            algorithm: *a,
            value: v.clone(),
            kind: Kind::FullObject,
        });
        let meta = ObjectMeta {
            size: received.size,
            etag: etag.clone(),
            modified: now_ms(),
            segments: vec![segment.clone()],
            headers,
            checksum: checksum.clone(),
            parts: None,
            version_id: None,
            tags,
            sse: sse.clone(),
            retention,
            legal_hold,
            acl,
            part_checksums: Vec::new(),
            owner,
        };
        let version = self
            .commit_object(bucket, key, meta, condition, vec![segment], Change::Put)
            .await?;
        let mut r = api::empty(StatusCode::OK);
        set(r.headers_mut(), "etag", &format!("\"{etag}\""));
        super::sse::response_headers(r.headers_mut(), sse.as_ref());
        if let Some(v) = &version {
            set(r.headers_mut(), "x-amz-version-id", v);
        }
        if let Some(c) = &checksum {
            checksum_headers(r.headers_mut(), c);
        }
        Ok(r)
    }

    /// Commits `meta` as `bucket/key` when the bucket exists and `condition` holds (a new
    /// version in a versioned bucket); removes the files it replaced, or on refusal `own` (the
    /// files the new row would have named). Returns the version id, in a bucket whose
    /// versioning was set.
    pub(crate) async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        condition: WriteCondition,
        own: Vec<Segment>,
        change: Change,
    ) -> Result<Option<String>> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let raiser = self.raiser();
        let outcome = self
            .engine
            .write(move |txn| {
                let Some(bucket_meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                let old = get_object(&txn.open_table(OBJECTS)?, &b, &k)?;
                if let Err(e) = condition.check(&k, old.as_ref()) {
                    return Ok(Err(e));
                }
                let (size, etag) = (meta.size, meta.etag.clone());
                let written = version::write_object(txn, &bucket_meta, &b, &k, meta, old)?;
                let subject = Subject {
                    key: &k,
                    object: Some((size, &etag)),
                    version_id: written.version_id.as_deref(),
                };
                raiser.record(txn, &b, change, subject)?;
                Ok(Ok(written))
            })
            .await;
        match outcome {
            Ok(Ok(written)) => {
                self.events_changed();
                self.files.remove(written.released).await;
                Ok(written.version_id)
            }
            Ok(Err(e)) => {
                self.files
                    .remove(own.into_iter().map(|s| s.id).collect())
                    .await;
                Err(e)
            }
            // The engine failed: whether the group committed is not known for certain, so
            // the files stay; the sweep at the next start removes them if no row names them.
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a row (the current object, or version `version`) and opens its files (again if
    /// an overwrite unlinked one in between). The row's version id is `Some` (`null`
    /// included) in a bucket whose versioning was set.
    pub(crate) async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        open: bool,
    ) -> Result<(ObjectMeta, Vec<(tokio::fs::File, u64)>)> {
        if let Some(v) = version
            && !version::well_formed(v)
        {
            return Err(Error::invalid_argument(
                "Invalid version id specified",
                "versionId",
                v,
            ));
        }
        let mut tries = 0;
        loop {
            let (b, k, v) = (
                bucket.to_owned(),
                key.to_owned(),
                version.map(str::to_owned),
            );
            let found = self
                .engine
                .read(move |txn| {
                    let Some(bm) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                        return Ok(Err(Error::no_such_bucket(&b)));
                    };
                    let versioned = bm.versioning.is_some();
                    let with_id = |mut o: ObjectMeta| {
                        if versioned && o.version_id.is_none() {
                            o.version_id = Some("null".to_owned());
                        }
                        o
                    };
                    let marker = |row: &store::VersionRow, e: Error| {
                        e.header(
                            "x-amz-version-id",
                            row.version_id.clone().unwrap_or_else(|| "null".to_owned()),
                        )
                        .header("x-amz-delete-marker", "true")
                    };
                    match v.as_deref() {
                        Some(id) if versioned => {
                            let versions = txn.open_table(store::VERSIONS)?;
                            match version::find(&versions, &b, &k, id)? {
                                None => Ok(Err(no_such_version(&k, id))),
                                Some((_, row)) => match &row.object {
                                    Some(o) => Ok(Ok(with_id(o.clone()))),
                                    None => Ok(Err(marker(
                                        &row,
                                        Error::new(
                                            Code::MethodNotAllowed,
                                            "The specified method is not allowed against this resource.",
                                        )
                                        .header("allow", "DELETE")
                                        .header("last-modified", http_date(row.modified)),
                                    ))),
                                },
                            }
                        }
                        Some(id) if id != "null" => Ok(Err(no_such_version(&k, id))),
                        _ => match get_object(&txn.open_table(OBJECTS)?, &b, &k)? {
                            Some(o) => Ok(Ok(with_id(o))),
                            None if versioned && v.is_none() => {
                                let versions = txn.open_table(store::VERSIONS)?;
                                match version::newest(&versions, &b, &k)? {
                                    Some(row) if row.object.is_none() => {
                                        Ok(Err(marker(&row, Error::no_such_key(&k))))
                                    }
                                    _ => Ok(Err(Error::no_such_key(&k))),
                                }
                            }
                            None if v.is_some() => Ok(Err(no_such_version(&k, "null"))),
                            None => Ok(Err(Error::no_such_key(&k))),
                        },
                    }
                })
                .await?;
            let meta = found?;
            if !open {
                return Ok((meta, Vec::new()));
            }
            let mut files = Vec::with_capacity(meta.segments.len());
            let mut vanished = false;
            for s in &meta.segments {
                match tokio::fs::File::open(self.files.path(&s.id)).await {
                    Ok(f) => files.push((f, s.len)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => {
                        vanished = true;
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if !vanished {
                return Ok((meta, files));
            }
            tries += 1;
        }
    }

    /// GetObject and HeadObject.
    pub(crate) async fn get_object(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
        head: bool,
    ) -> Result<Response<Body>> {
        let part_number = match ctx.param("partNumber") {
            None => None,
            Some(p) => match p.parse::<u32>() {
                Ok(n) if (1..=10_000).contains(&n) => Some(n),
                _ => {
                    return Err(Error::invalid_argument(
                        "Part number must be an integer between 1 and 10000, inclusive",
                        "partNumber",
                        p,
                    ));
                }
            },
        };
        let version = ctx.param("versionId").map(str::to_owned);
        super::sse::refuse_on_read(&ctx.headers)?;
        let customer = super::sse::customer_key(&ctx.headers, false)?;
        let (meta, files) = self
            .open_object(bucket, key, version.as_deref(), !head)
            .await?;
        if ctx.object_acl.load(std::sync::atomic::Ordering::Relaxed)
            && !super::acl::object_grants(&meta, &ctx.caller, "READ")
        {
            return Err(Error::access_denied());
        }
        let sealed =
            super::sse::key_for_read(&self.sse_keys, meta.sse.as_ref(), customer.as_ref())?;
        let validators = |e: Error| {
            e.header("etag", format!("\"{}\"", meta.etag))
                .header("last-modified", http_date(meta.modified))
        };
        if let Condition::NotModified =
            read_conditions(&ctx.headers, "", &meta).map_err(validators)?
        {
            return Err(validators(Error::new(Code::NotModified, "Not Modified")));
        }
        let mut range = parse_range(ctx.header("range"), meta.size)?;
        if let Some(n) = part_number {
            let bounds = match meta.parts {
                Some(_) => {
                    let idx = (n - 1) as usize;
                    meta.segments.get(idx).map(|s| {
                        let start: u64 = meta.segments[..idx].iter().map(|s| s.len).sum();
                        (start, s.len)
                    })
                }
                None if n == 1 => Some((0, meta.size)),
                None => None,
            };
            let Some((start, len)) = bounds else {
                return Err(Error::new(
                    Code::InvalidPartNumber,
                    "The requested partnumber is not satisfiable",
                )
                .with("PartNumberRequested", n.to_string())
                .with("ActualPartCount", meta.parts.unwrap_or(1).to_string()));
            };
            if len > 0 {
                range = Some(Range {
                    start,
                    end: start + len - 1,
                });
            }
        }
        let whole = Range {
            start: 0,
            end: meta.size.saturating_sub(1),
        };
        let (status, served) = match range {
            Some(r) => (StatusCode::PARTIAL_CONTENT, r),
            None => (StatusCode::OK, whole),
        };
        let length = if meta.size == 0 {
            0
        } else {
            served.end + 1 - served.start
        };
        let mut r = if head || length == 0 {
            api::empty(status)
        } else {
            let mut r = Response::new(stream(files, served, sealed));
            *r.status_mut() = status;
            r
        };
        let h = r.headers_mut();
        object_headers(h, &meta);
        if let Some(v) = &meta.version_id {
            set(h, "x-amz-version-id", v);
        }
        set(h, "content-length", &length.to_string());
        if range.is_some() {
            set(
                h,
                "content-range",
                &format!("bytes {}-{}/{}", served.start, served.end, meta.size),
            );
        }
        if ctx.header("x-amz-checksum-mode") == Some("ENABLED")
            && let Some(c) = &meta.checksum
        {
            match part_number {
                // A part of a multipart object: that part's own checksum, when kept, for a
                // composite checksum; a full-object checksum does not apply to a part, and S3
                // leaves it out.
                Some(n) if meta.parts.is_some() => {
                    if c.kind == Kind::Composite
                        && let Some(v) = meta.part_checksums.get(n as usize - 1)
                    {
                        checksum_headers(
                            h,
                            &Checksum {
                                algorithm: c.algorithm,
                                value: v.clone(),
                                kind: c.kind,
                            },
                        );
                    }
                }
                _ if range.is_none() || part_number.is_some() => checksum_headers(h, c),
                _ => {}
            }
        }
        for (param, header) in [
            ("response-content-type", "content-type"),
            ("response-content-language", "content-language"),
            ("response-expires", "expires"),
            ("response-cache-control", "cache-control"),
            ("response-content-disposition", "content-disposition"),
            ("response-content-encoding", "content-encoding"),
        ] {
            if let Some(v) = ctx.param(param) {
                set(h, header, v);
            }
        }
        Ok(r)
    }

    /// DeleteObject: 204 whether or not the key existed, as S3; a delete marker in a
    /// versioned bucket, or with `versionId` that version.
    pub(crate) async fn delete_object(
        &self,
        ctx: &Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let version = ctx.param("versionId").map(str::to_owned);
        if let Some(v) = &version
            && !version::well_formed(v)
        {
            return Err(Error::invalid_argument(
                "Invalid version id specified",
                "versionId",
                v,
            ));
        }
        let bypass = super::lock::bypass(&ctx.headers);
        let if_match = ctx.header("if-match").map(str::to_owned);
        let mut done = self
            .remove_objects(bucket, vec![(key.to_owned(), version, if_match)], bypass)
            .await?;
        let mut r = api::empty(StatusCode::NO_CONTENT);
        if let Some((_, d)) = done.pop() {
            let d = d?;
            if let Some(v) = &d.version_id {
                set(r.headers_mut(), "x-amz-version-id", v);
            }
            if d.marker {
                set(r.headers_mut(), "x-amz-delete-marker", "true");
            }
        }
        Ok(r)
    }

    /// Deletes `keys` (each the current object or one version) in one commit; a version
    /// Object Lock protects is refused (unless `bypass` lifts its GOVERNANCE retention), as
    /// is a key whose current object does not match its `If-Match` ETag (`NoSuchKey` when
    /// there is none).
    async fn remove_objects(
        &self,
        bucket: &str,
        keys: Vec<(String, Option<String>, Option<String>)>,
        bypass: bool,
    ) -> Result<Vec<(String, Result<version::Deleted>)>> {
        let b = bucket.to_owned();
        let raiser = self.raiser();
        let outcome = self
            .engine
            .write(move |txn| {
                let Some(bucket_meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                let mut done = Vec::with_capacity(keys.len());
                let now = now_ms();
                for (k, v, if_match) in keys {
                    if let Some(want) = &if_match {
                        let refusal = match get_object(&txn.open_table(OBJECTS)?, &b, &k)? {
                            None => Some(Error::no_such_key(&k)),
                            Some(o) if !etag_matches(want, &o.etag) => {
                                Some(Error::precondition("If-Match"))
                            }
                            Some(_) => None,
                        };
                        if let Some(e) = refusal {
                            done.push((k, Err(e)));
                            continue;
                        }
                    }
                    if bucket_meta.object_lock.is_some()
                        && let Some(id) = v.as_deref()
                        && let Some((_, row)) =
                            version::find(&txn.open_table(store::VERSIONS)?, &b, &k, id)?
                        && let Some(o) = &row.object
                        && let Err(e) = super::lock::check_delete(o, bypass, now)
                    {
                        done.push((k, Err(e)));
                        continue;
                    }
                    let d = version::delete(txn, &bucket_meta, &b, &k, v.as_deref())?;
                    // A delete that changed nothing (no such key or version) raises nothing.
                    let change = match (v.is_none() && d.marker, d.marker || !d.released.is_empty())
                    {
                        (true, _) => Some(Change::DeleteMarkerCreated),
                        (false, true) => Some(Change::Delete),
                        (false, false) => None,
                    };
                    if let Some(change) = change {
                        let subject = Subject {
                            key: &k,
                            object: None,
                            version_id: d.version_id.as_deref(),
                        };
                        raiser.record(txn, &b, change, subject)?;
                    }
                    done.push((k, Ok(d)));
                }
                Ok(Ok(done))
            })
            .await??;
        self.events_changed();
        let mut done = outcome;
        let files = done
            .iter_mut()
            .filter_map(|(_, d)| d.as_mut().ok())
            .flat_map(|d| std::mem::take(&mut d.released))
            .collect();
        self.files.remove(files).await;
        Ok(done)
    }

    /// DeleteObjects (`POST ?delete`).
    pub(crate) async fn delete_objects(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        self.require_bucket(bucket).await?;
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 2 << 20).await?;
        inbound.finish()?;
        let root = xml::parse(&doc).map_err(|_| Error::malformed_xml())?;
        if root.name != "Delete" {
            return Err(Error::malformed_xml());
        }
        let quiet = root.text_of("Quiet") == Some("true");
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        for o in root.children("Object") {
            let Some(k) = o.child("Key").map(|k| k.text.clone()) else {
                return Err(Error::malformed_xml());
            };
            if k.len() > api::MAX_KEY {
                errors.push((k, "KeyTooLongError", "Your key is too long"));
                continue;
            }
            let v = o.text_of("VersionId").map(str::to_owned);
            if let Some(id) = &v
                && !version::well_formed(id)
            {
                errors.push((k, "NoSuchVersion", "The specified version does not exist."));
                continue;
            }
            // S3 authorizes each key's deletion, as a DeleteObject of that key: what the
            // caller may not delete is refused for that key alone.
            if api::authorize_deletion(self, ctx, bucket, &k, v.as_deref())
                .await
                .is_err()
            {
                errors.push((k, "AccessDenied", "Access Denied"));
                continue;
            }
            let etag = o.text_of("ETag").map(str::to_owned);
            keys.push((k, v, etag));
        }
        if keys.len() + errors.len() > 1000 {
            return Err(Error::malformed_xml());
        }
        if keys.is_empty() && errors.is_empty() {
            return Err(Error::malformed_xml());
        }
        let asked: Vec<Option<String>> = keys.iter().map(|(_, v, _)| v.clone()).collect();
        let done = self
            .remove_objects(bucket, keys, super::lock::bypass(&ctx.headers))
            .await?;
        let mut w = Writer::new("DeleteResult");
        let mut refused = Vec::new();
        for ((k, d), asked) in done.iter().zip(asked) {
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    refused.push((k, asked, e));
                    continue;
                }
            };
            let asked = asked.is_some();
            if !quiet {
                w.open("Deleted").elem("Key", k);
                match (&d.version_id, asked) {
                    (Some(v), true) => {
                        w.elem("VersionId", v);
                        if d.marker {
                            w.elem("DeleteMarker", "true");
                        }
                    }
                    (Some(v), false) => {
                        w.elem("DeleteMarker", "true")
                            .elem("DeleteMarkerVersionId", v);
                    }
                    (None, _) => {}
                }
                w.close("Deleted");
            }
        }
        for (k, version, e) in refused {
            w.open("Error").elem("Key", k);
            if let Some(v) = &version {
                w.elem("VersionId", v);
            }
            w.elem("Code", e.code.as_str())
                .elem("Message", &e.message)
                .close("Error");
        }
        for (k, code, msg) in &errors {
            w.open("Error")
                .elem("Key", k)
                .elem("Code", code)
                .elem("Message", msg)
                .close("Error");
        }
        Ok(api::xml(StatusCode::OK, w.finish("DeleteResult")))
    }

    /// CopyObject (`PUT` with `x-amz-copy-source`): the new object shares the source's files
    /// through hard links.
    async fn copy_object(&self, ctx: &mut Ctx, bucket: &str, key: &str) -> Result<Response<Body>> {
        let (src_bucket, src_key, src_version) =
            copy_source(ctx.header("x-amz-copy-source").unwrap_or(""))?;
        let directive = ctx.header("x-amz-metadata-directive").unwrap_or("COPY");
        if !matches!(directive, "COPY" | "REPLACE") {
            return Err(Error::invalid_argument(
                "Unknown metadata directive.",
                "x-amz-metadata-directive",
                directive,
            ));
        }
        let replace = directive == "REPLACE";
        let new_headers = stored_headers(&ctx.headers)?;
        let wanted_checksum = match ctx.header("x-amz-checksum-algorithm") {
            None => None,
            Some(a) => Some(Algorithm::parse(a).ok_or_else(|| {
                Error::invalid_request("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
            })?),
        };
        let tag_directive = ctx.header("x-amz-tagging-directive").unwrap_or("COPY");
        let new_tags = match tag_directive {
            "COPY" => None,
            "REPLACE" => {
                Some(super::tagging::from_header(ctx.header("x-amz-tagging"))?.unwrap_or_default())
            }
            other => {
                return Err(Error::invalid_argument(
                    "Unknown tagging directive.",
                    "x-amz-tagging-directive",
                    other,
                ));
            }
        };
        let condition = WriteCondition::from(&ctx.headers)?;
        let dest_bucket = self.bucket_meta(bucket).await?;
        let (dest_sse, dest_customer) =
            super::sse::requested(&ctx.headers, dest_bucket.encryption.as_ref(), &self.region)?;
        let src_customer = super::sse::customer_key(&ctx.headers, true)?;
        let (retention, legal_hold) =
            super::lock::for_new_version(&ctx.headers, dest_bucket.object_lock.as_ref(), now_ms())?;
        let (acl, owner) =
            super::acl::for_new_object(&ctx.headers, &ctx.keys, &dest_bucket, &ctx.caller)?;
        let changes_encryption =
            ctx.headers.contains_key("x-amz-server-side-encryption") || dest_customer.is_some();
        if src_bucket == bucket
            && src_key == key
            && src_version.is_none()
            && !replace
            && !changes_encryption
            && !ctx.headers.contains_key("x-amz-storage-class")
        {
            return Err(Error::invalid_request(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let verdict =
            api::authorize_source(self, ctx, &src_bucket, &src_key, src_version.as_deref()).await?;
        let (probe, _) = self
            .open_object(&src_bucket, &src_key, src_version.as_deref(), false)
            .await?;
        if verdict == api::Verdict::ObjectAcl
            && !super::acl::object_grants(&probe, &ctx.caller, "READ")
        {
            return Err(Error::access_denied());
        }
        let src_sealed =
            super::sse::key_for_read(&self.sse_keys, probe.sse.as_ref(), src_customer.as_ref())?;
        let dest_key = dest_sse
            .as_ref()
            .and_then(|e| self.sse_keys.object_key(e, dest_customer.as_ref()));
        // The key the copy's files are read back with: the source's when they are its files
        // linked, the destination's when they were written anew.
        let linked = probe.sse == dest_sse;
        let (source, segments) = if linked {
            self.link_source(
                ctx,
                &src_bucket,
                &src_key,
                src_version.as_deref(),
                dest_sse.as_ref(),
            )
            .await?
        } else {
            let (source, files) = self
                .open_object(&src_bucket, &src_key, src_version.as_deref(), true)
                .await?;
            read_conditions(&ctx.headers, "x-amz-copy-source-", &source)?;
            let mut segments: Vec<Segment> = Vec::with_capacity(files.len());
            for (file, len) in files {
                match self.transcode(file, len, src_sealed, dest_key).await {
                    Ok(s) => segments.push(s),
                    Err(e) => {
                        self.files
                            .remove(segments.into_iter().map(|s| s.id).collect())
                            .await;
                        return Err(e);
                    }
                }
            }
            (source, segments)
        };
        let mut headers = if replace {
            new_headers
        } else {
            // The storage class a copy names is its own (STANDARD when it names none), and
            // so is the website redirect it names, whatever the metadata directive.
            let own =
                |k: &str| k == "x-amz-storage-class" || k == "x-amz-website-redirect-location";
            let mut h = source.headers.clone();
            let given: Vec<(String, String)> = new_headers
                .standard
                .into_iter()
                .filter(|(k, _)| own(k))
                .collect();
            h.standard
                .retain(|(k, _)| k != "x-amz-storage-class" && !given.iter().any(|(g, _)| g == k));
            h.standard.extend(given);
            h
        };
        headers.standard.dedup();
        // A checksum algorithm other than the source's is computed over the copy's bytes.
        let (checksum, part_checksums) = match wanted_checksum {
            Some(a) if source.checksum.as_ref().is_none_or(|c| c.algorithm != a) => {
                let copy_key = if linked { src_sealed } else { dest_key };
                let copied = self.checksum_of(&segments, source.size, copy_key, a).await;
                match copied {
                    Ok(value) => (
                        Some(Checksum {
                            algorithm: a,
                            value,
                            kind: Kind::FullObject,
                        }),
                        Vec::new(),
                    ),
                    Err(e) => {
                        self.files
                            .remove(segments.into_iter().map(|s| s.id).collect())
                            .await;
                        return Err(e);
                    }
                }
            }
            _ => (source.checksum.clone(), source.part_checksums.clone()),
        };
        let modified = now_ms();
        let meta = ObjectMeta {
            size: source.size,
            etag: source.etag.clone(),
            modified,
            segments: segments.clone(),
            headers,
            checksum: checksum.clone(),
            parts: source.parts,
            version_id: None,
            tags: new_tags.unwrap_or_else(|| source.tags.clone()),
            sse: dest_sse.clone(),
            retention,
            legal_hold,
            acl,
            part_checksums,
            owner,
        };
        let version = self
            .commit_object(bucket, key, meta, condition, segments, Change::Copy)
            .await?;
        let mut w = Writer::new("CopyObjectResult");
        w.elem("LastModified", &iso8601(modified))
            .elem("ETag", &format!("\"{}\"", source.etag));
        if let Some(c) = &checksum {
            w.elem(c.algorithm.element(), &c.value);
        }
        let mut r = api::xml(StatusCode::OK, w.finish("CopyObjectResult"));
        super::sse::response_headers(r.headers_mut(), dest_sse.as_ref());
        if let Some(v) = &version {
            set(r.headers_mut(), "x-amz-version-id", v);
        }
        if let Some(v) = &source.version_id {
            set(r.headers_mut(), "x-amz-copy-source-version-id", v);
        }
        Ok(r)
    }

    /// The checksum with `algorithm` of the `size` bytes of `segments` (decrypted with
    /// `key`).
    async fn checksum_of(
        &self,
        segments: &[Segment],
        size: u64,
        key: Option<ObjectKey>,
        algorithm: Algorithm,
    ) -> Result<String> {
        let mut hasher = checksum::Hasher::new(algorithm);
        if size > 0 {
            let mut files = Vec::with_capacity(segments.len());
            for s in segments {
                files.push((tokio::fs::File::open(self.files.path(&s.id)).await?, s.len));
            }
            let range = Range {
                start: 0,
                end: size - 1,
            };
            let mut bytes = read_range(files, range, key);
            while let Some(chunk) = bytes.next().await {
                hasher.update(&chunk?);
            }
        }
        Ok(hasher.finish_base64())
    }

    /// A copy of one file of an object, decrypted with `from` and encrypted with `to` (either
    /// absent for a file in the clear), made durable.
    pub(crate) async fn transcode(
        &self,
        file: tokio::fs::File,
        len: u64,
        from: Option<ObjectKey>,
        to: Option<ObjectKey>,
    ) -> Result<Segment> {
        let mut staged = self.files.create_sealed(to).await?;
        if len > 0 {
            let range = Range {
                start: 0,
                end: len - 1,
            };
            let mut bytes = read_range(vec![(file, len)], range, from);
            while let Some(chunk) = bytes.next().await {
                staged.write(&chunk?).await?;
            }
        }
        Ok(staged.commit().await?)
    }

    /// The source of a copy whose encryption does not change, with its files hard-linked.
    async fn link_source(
        &self,
        ctx: &Ctx,
        src_bucket: &str,
        src_key: &str,
        src_version: Option<&str>,
        expect: Option<&super::sse::Encryption>,
    ) -> Result<(ObjectMeta, Vec<Segment>)> {
        let mut tries = 0;
        loop {
            let (source, _) = self
                .open_object(src_bucket, src_key, src_version, false)
                .await?;
            read_conditions(&ctx.headers, "x-amz-copy-source-", &source)?;
            if source.sse.as_ref() != expect {
                // Overwritten with another encryption since the copy looked at it.
                return Err(Error::new(
                    Code::InternalError,
                    "The source object changed during the copy. Please try again.",
                ));
            }
            let mut linked = Vec::with_capacity(source.segments.len());
            let mut vanished = false;
            for s in &source.segments {
                match self.files.link(&s.id).await {
                    Ok(id) => linked.push(Segment { id, len: s.len }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => {
                        vanished = true;
                        break;
                    }
                    Err(e) => {
                        self.files
                            .remove(linked.into_iter().map(|s| s.id).collect())
                            .await;
                        return Err(e.into());
                    }
                }
            }
            if !vanished {
                return Ok((source, linked));
            }
            self.files
                .remove(linked.into_iter().map(|s| s.id).collect())
                .await;
            tries += 1;
        }
    }
}

/// Parses `x-amz-copy-source` (`bucket/key` or `/bucket/key`, URL-encoded, optionally
/// `?versionId=`).
pub(crate) fn copy_source(value: &str) -> Result<(String, String, Option<String>)> {
    let invalid = || {
        Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            value,
        )
    };
    let v = value.strip_prefix('/').unwrap_or(value);
    let (path, query) = match v.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (v, None),
    };
    let version = match query.map(|q| q.strip_prefix("versionId=")) {
        None => None,
        Some(Some(v)) if version::well_formed(v) => Some(v.to_owned()),
        Some(Some(v)) => {
            return Err(Error::invalid_argument(
                "Invalid version id specified",
                "x-amz-copy-source",
                v,
            ));
        }
        Some(None) => return Err(invalid()),
    };
    let (b, k) = path.split_once('/').ok_or_else(invalid)?;
    let decode = |s: &str| percent_decode(s).ok_or_else(invalid);
    let (b, k) = (decode(b)?, decode(k)?);
    if b.is_empty() || k.is_empty() {
        return Err(invalid());
    }
    Ok((b, k, version))
}

/// Strict `%XX` decoding: a malformed escape or bytes that are not UTF-8 refuse the copy
/// source, as S3 does, where the lenient decoders of `percent-encoding` would keep them.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_s3_reads_them() {
        let r = |v: &str, size| parse_range(Some(v), size);
        assert_eq!(
            r("bytes=0-9", 100).unwrap(),
            Some(Range { start: 0, end: 9 })
        );
        assert_eq!(
            r("bytes=90-", 100).unwrap(),
            Some(Range { start: 90, end: 99 })
        );
        assert_eq!(
            r("bytes=-10", 100).unwrap(),
            Some(Range { start: 90, end: 99 })
        );
        assert_eq!(
            r("bytes=-1000", 100).unwrap(),
            Some(Range { start: 0, end: 99 })
        );
        assert_eq!(
            r("bytes=50-1000", 100).unwrap(),
            Some(Range { start: 50, end: 99 })
        );
        assert_eq!(r("bytes=9-0", 100).unwrap(), None);
        assert_eq!(r("bytes=0-1,3-4", 100).unwrap(), None);
        assert_eq!(r("items=0-1", 100).unwrap(), None);
        assert_eq!(r("bytes=100-", 100).unwrap_err().code, Code::InvalidRange);
        assert_eq!(r("bytes=0-", 0).unwrap_err().code, Code::InvalidRange);
    }

    #[test]
    fn copy_sources_decode() {
        assert_eq!(
            copy_source("/b/a%20b/c").unwrap(),
            ("b".to_owned(), "a b/c".to_owned(), None)
        );
        assert_eq!(
            copy_source("b/k?versionId=null").unwrap(),
            ("b".to_owned(), "k".to_owned(), Some("null".to_owned()))
        );
        assert!(copy_source("nokey").is_err());
    }

    #[test]
    fn etag_lists_match() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }
}
