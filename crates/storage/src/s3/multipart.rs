//! Multipart uploads: Create, UploadPart, Complete, Abort, ListParts, ListMultipartUploads.
//!
//! Each part is a durable file of its own with a row in `s3/parts`. Complete checks the list
//! (ascending part numbers, each part uploaded with that ETag, every part but the last at
//! least 5 MiB) inside the engine job that commits the object, so a part uploaded again or an
//! abort racing the completion cannot slip between the check and the commit. The object's
//! row names the parts' files in order: completion copies no bytes. Its ETag is
//! `hex(md5(part md5s))-N`; its checksum is the parts' CRCs combined (full object) or the
//! checksum of the parts' checksums (composite), as the upload declared.

use http::{Response, StatusCode};
use redb::ReadableTable;

use super::acl::owner_element;
use super::api::{self, Body, Ctx, set};
use super::checksum::{self, Algorithm, Checksum, Kind};
use super::error::{Code, Error, Result};
use super::object::{WriteCondition, stored_headers};
use super::store::{
    self, BUCKETS, OBJECTS, ObjectMeta, PARTS, PartMeta, Segment, UPLOADS, UploadMeta, get_bucket,
    get_object, object_key, part_key, successor, upload_key,
};
use super::xml::{self, Writer};
use super::{S3, iso8601, now_ms};

/// The smallest part that may be followed by another.
pub const MIN_PART: u64 = 5 << 20;
/// The largest part.
pub const MAX_PART: u64 = 5 << 30;
/// The most parts of an upload.
pub const MAX_PARTS: u32 = 10_000;

fn part_number(ctx: &Ctx) -> Result<u32> {
    let raw = ctx.param("partNumber").unwrap_or("");
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_PARTS).contains(&n) => Ok(n),
        _ => Err(Error::invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
            "partNumber",
            raw,
        )),
    }
}

fn upload_id(ctx: &Ctx) -> String {
    ctx.param("uploadId").unwrap_or("").to_owned()
}

fn get_upload<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    bucket: &str,
    key: &str,
    id: &str,
) -> std::result::Result<Option<UploadMeta>, crate::engine::EngineError> {
    match table.get(upload_key(bucket, key, id).as_slice())? {
        Some(v) => Ok(Some(store::decode("s3/uploads", v.value())?)),
        None => Ok(None),
    }
}

/// The parts of upload `id`, in order.
fn parts_of<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    id: &str,
) -> std::result::Result<Vec<(u32, PartMeta)>, crate::engine::EngineError> {
    let (lo, hi) = (part_key(id, 0), part_key(id, u32::MAX));
    let mut out = Vec::new();
    for e in table.range(lo.as_slice()..=hi.as_slice())? {
        let (k, v) = e?;
        let k = k.value();
        let mut n = [0u8; 4];
        n.copy_from_slice(&k[k.len() - 4..]);
        out.push((u32::from_be_bytes(n), store::decode("s3/parts", v.value())?));
    }
    Ok(out)
}

/// A part as CompleteMultipartUpload lists it: number, ETag, checksums by element name.
type Listed = (u32, String, Vec<(String, String)>);

fn strip_etag(e: &str) -> &str {
    e.trim().trim_matches('"')
}

/// How long a finished upload's answer is kept for retried Completes.
const COMPLETED_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Reads and drops a request body that is not needed, checking it as sent.
async fn drain_body(ctx: &mut Ctx) -> Result<()> {
    let mut inbound = ctx.body_of_document()?;
    super::body::read_small(&mut inbound, 4 << 20).await?;
    inbound.finish()?;
    Ok(())
}

/// The CompleteMultipartUploadResult document and headers.
fn complete_response(
    bucket: &str,
    key: &str,
    etag: &str,
    checksum: Option<&Checksum>,
    version: Option<&str>,
    sse: Option<&super::sse::Encryption>,
) -> Response<Body> {
    let mut w = Writer::new("CompleteMultipartUploadResult");
    w.elem("Location", &format!("/{bucket}/{key}"))
        .elem("Bucket", bucket)
        .elem("Key", key)
        .elem("ETag", &format!("\"{etag}\""));
    if let Some(c) = checksum {
        w.elem(c.algorithm.element(), &c.value)
            .elem("ChecksumType", c.kind.as_str());
    }
    let mut r = api::xml(StatusCode::OK, w.finish("CompleteMultipartUploadResult"));
    super::sse::response_headers(r.headers_mut(), sse);
    if let Some(v) = version {
        api::set(r.headers_mut(), "x-amz-version-id", v);
    }
    r
}

impl S3 {
    /// CreateMultipartUpload (`POST ?uploads`).
    pub(crate) async fn create_upload(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let headers = stored_headers(&ctx.headers)?;
        let algorithm = match ctx.header("x-amz-checksum-algorithm") {
            None => None,
            Some(a) => Some(Algorithm::parse(a).ok_or_else(|| {
                Error::invalid_request("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
            })?),
        };
        let kind = match ctx.header("x-amz-checksum-type") {
            None => None,
            Some(t) => Some(Kind::parse(t).ok_or_else(|| {
                Error::invalid_request("Value for x-amz-checksum-type header is invalid.")
            })?),
        };
        let checksum = match (algorithm, kind) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::invalid_request(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
                ));
            }
            (Some(a), k) => {
                let k = k.unwrap_or(if a == Algorithm::Crc64Nvme {
                    Kind::FullObject
                } else {
                    Kind::Composite
                });
                if (k == Kind::FullObject && !a.combines())
                    || (k == Kind::Composite && a == Algorithm::Crc64Nvme)
                {
                    return Err(Error::invalid_request(format!(
                        "The {} checksum type cannot be used with the {} checksum algorithm.",
                        k.as_str(),
                        a.as_str().to_ascii_lowercase()
                    )));
                }
                Some((a, k))
            }
        };
        let bucket_meta = self.bucket_meta(bucket).await?;
        let (sse, _) =
            super::sse::requested(&ctx.headers, bucket_meta.encryption.as_ref(), &self.region)?;
        let (retention, legal_hold) =
            super::lock::for_new_version(&ctx.headers, bucket_meta.object_lock.as_ref(), now_ms())?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (acl, owner) =
            super::acl::for_new_object(&ctx.headers, &ctx.keys, &bucket_meta, &ctx.caller)?;
        let meta = UploadMeta {
            owner,
            sse: sse.clone(),
            retention,
            legal_hold,
            acl,
            initiated: now_ms(),
            headers,
            checksum,
            tags: super::tagging::from_header(ctx.header("x-amz-tagging"))?.unwrap_or_default(),
        };
        let (b, k, i) = (bucket.to_owned(), key.to_owned(), id.clone());
        self.engine
            .write(move |txn| {
                if get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_none() {
                    return Ok(Err(Error::no_such_bucket(&b)));
                }
                txn.open_table(UPLOADS)?.insert(
                    upload_key(&b, &k, &i).as_slice(),
                    store::encode(&meta).as_slice(),
                )?;
                Ok(Ok(()))
            })
            .await??;
        let mut w = Writer::new("InitiateMultipartUploadResult");
        w.elem("Bucket", bucket)
            .elem("Key", key)
            .elem("UploadId", &id);
        let mut r = api::xml(StatusCode::OK, w.finish("InitiateMultipartUploadResult"));
        super::sse::response_headers(r.headers_mut(), sse.as_ref());
        if let Some((a, k)) = checksum {
            set(r.headers_mut(), "x-amz-checksum-algorithm", a.as_str());
            set(r.headers_mut(), "x-amz-checksum-type", k.as_str());
        }
        Ok(r)
    }

    async fn upload(&self, bucket: &str, key: &str, id: &str) -> Result<UploadMeta> {
        let (b, k, i) = (bucket.to_owned(), key.to_owned(), id.to_owned());
        let (found, upload) = self
            .engine
            .read(move |txn| {
                let found = get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_some();
                Ok((found, get_upload(&txn.open_table(UPLOADS)?, &b, &k, &i)?))
            })
            .await?;
        if !found {
            return Err(Error::no_such_bucket(bucket));
        }
        upload.ok_or_else(|| Error::no_such_upload(id))
    }

    /// UploadPart (`PUT ?partNumber&uploadId`).
    pub(crate) async fn upload_part(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let n = part_number(ctx)?;
        let id = upload_id(ctx);
        let upload = self.upload(bucket, key, &id).await?;
        if ctx.header("x-amz-copy-source").is_some() {
            return self
                .upload_part_copy(ctx, bucket, key, &id, n, &upload)
                .await;
        }
        let algorithm = upload.checksum.map(|(a, _)| a);
        if let (Some(want), Some((got, _, _))) = (
            algorithm,
            super::body::declared_checksum(&ctx.headers, None)?,
        ) && want != got
        {
            return Err(Error::invalid_request(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                want.as_str().to_ascii_lowercase(),
                got.as_str().to_ascii_lowercase()
            )));
        }
        let mut inbound = ctx.body(Some(algorithm.unwrap_or(Algorithm::Crc64Nvme)))?;
        if inbound.declared().is_some_and(|d| d > MAX_PART) {
            return Err(Error::new(
                Code::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("ProposedSize", inbound.declared().unwrap_or(0).to_string())
            .with("MaxSizeAllowed", MAX_PART.to_string()));
        }
        let customer = super::sse::customer_key(&ctx.headers, false)?;
        let sealing =
            super::sse::key_for_read(&self.sse_keys, upload.sse.as_ref(), customer.as_ref())?;
        let staged = self.receive(&mut inbound, sealing).await?;
        let received = inbound.finish()?;
        let segment = staged.commit().await?;
        let md5 = checksum::hex(&received.md5);
        let part = PartMeta {
            segment,
            md5: md5.clone(),
            modified: now_ms(),
            checksum: received.checksum.as_ref().map(|(_, v)| v.clone()),
        };
        self.store_part(bucket, key, &id, n, part).await?;
        let mut r = api::empty(StatusCode::OK);
        super::sse::response_headers(r.headers_mut(), upload.sse.as_ref());
        set(r.headers_mut(), "etag", &format!("\"{md5}\""));
        if let (Some(a), Some((_, v))) = (algorithm, &received.checksum) {
            set(r.headers_mut(), a.header(), v);
        }
        Ok(r)
    }

    /// Commits a part's row when its upload still exists (else removes its file); removes
    /// the file of the part it replaces.
    async fn store_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        n: u32,
        part: PartMeta,
    ) -> Result<()> {
        let segment = part.segment.clone();
        let (b, k, i) = (bucket.to_owned(), key.to_owned(), id.to_owned());
        let outcome = self
            .engine
            .write(move |txn| {
                if get_upload(&txn.open_table(UPLOADS)?, &b, &k, &i)?.is_none() {
                    return Ok(Err(Error::no_such_upload(&i)));
                }
                let mut parts = txn.open_table(PARTS)?;
                let old =
                    parts.insert(part_key(&i, n).as_slice(), store::encode(&part).as_slice())?;
                let old = match old {
                    Some(v) => Some(store::decode::<PartMeta>("s3/parts", v.value())?.segment.id),
                    None => None,
                };
                Ok(Ok(old))
            })
            .await;
        match outcome {
            Ok(Ok(old)) => {
                self.files.remove(old.into_iter().collect()).await;
                Ok(())
            }
            Ok(Err(e)) => {
                self.files.remove(vec![segment.id]).await;
                Err(e)
            }
            // The engine failed: whether the group committed is not known for certain, so
            // the file stays; the sweep at the next start removes it if no row names it.
            Err(e) => Err(e.into()),
        }
    }

    /// UploadPartCopy (`PUT ?partNumber&uploadId` with `x-amz-copy-source`): a byte range of
    /// an object (or all of it) copied into a part, streamed file to file.
    async fn upload_part_copy(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
        id: &str,
        n: u32,
        upload: &UploadMeta,
    ) -> Result<Response<Body>> {
        use futures_util::StreamExt as _;
        let (src_bucket, src_key, src_version) =
            super::object::copy_source(ctx.header("x-amz-copy-source").unwrap_or(""))?;
        let src_customer = super::sse::customer_key(&ctx.headers, true)?;
        let customer = super::sse::customer_key(&ctx.headers, false)?;
        let sealing =
            super::sse::key_for_read(&self.sse_keys, upload.sse.as_ref(), customer.as_ref())?;
        let verdict =
            api::authorize_source(self, ctx, &src_bucket, &src_key, src_version.as_deref()).await?;
        let (source, files) = self
            .open_object(&src_bucket, &src_key, src_version.as_deref(), true)
            .await?;
        if verdict == api::Verdict::ObjectAcl
            && !super::acl::object_grants(&source, &ctx.caller, "READ")
        {
            return Err(Error::access_denied());
        }
        super::object::read_conditions(&ctx.headers, "x-amz-copy-source-", &source)?;
        let src_sealed =
            super::sse::key_for_read(&self.sse_keys, source.sse.as_ref(), src_customer.as_ref())?;
        let range = match ctx.header("x-amz-copy-source-range") {
            None => super::object::Range {
                start: 0,
                end: source.size.saturating_sub(1),
            },
            Some(v) => {
                let invalid = || {
                    Error::invalid_argument(
                        format!(
                            "Range specified is not valid for source object of size: {}",
                            source.size
                        ),
                        "x-amz-copy-source-range",
                        v,
                    )
                };
                let (a, b) = v
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .ok_or_else(invalid)?;
                let (Ok(start), Ok(end)) = (a.parse::<u64>(), b.parse::<u64>()) else {
                    return Err(invalid());
                };
                if start > end || end >= source.size {
                    return Err(invalid());
                }
                super::object::Range { start, end }
            }
        };
        let algorithm = upload.checksum.map_or(Algorithm::Crc64Nvme, |(a, _)| a);
        let mut hasher = checksum::Hasher::new(algorithm);
        let mut md5 = checksum::Md5::default();
        let mut staged = self.files.create_sealed(sealing).await?;
        if source.size > 0 {
            let mut bytes = super::object::read_range(files, range, src_sealed);
            while let Some(chunk) = bytes.next().await {
                let chunk = chunk?;
                md5.update(&chunk);
                hasher.update(&chunk);
                staged.write(&chunk).await?;
            }
        }
        let segment = staged.commit().await?;
        let md5 = checksum::hex(&md5.finish());
        let value = hasher.finish_base64();
        let modified = now_ms();
        let part = PartMeta {
            segment,
            md5: md5.clone(),
            modified,
            checksum: Some(value.clone()),
        };
        self.store_part(bucket, key, id, n, part).await?;
        let mut w = Writer::new("CopyPartResult");
        w.elem("LastModified", &iso8601(modified))
            .elem("ETag", &format!("\"{md5}\""));
        if upload.checksum.is_some() {
            w.elem(algorithm.element(), &value);
        }
        let mut r = api::xml(StatusCode::OK, w.finish("CopyPartResult"));
        super::sse::response_headers(r.headers_mut(), upload.sse.as_ref());
        Ok(r)
    }

    /// CompleteMultipartUpload (`POST ?uploadId`).
    pub(crate) async fn complete_upload(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let id = upload_id(ctx);
        let condition = WriteCondition::from(&ctx.headers)?;
        let upload = match self.upload(bucket, key, &id).await {
            Ok(u) => u,
            Err(e) if e.code == Code::NoSuchUpload => {
                return match self.completed(bucket, key, &id).await? {
                    Some(done) => {
                        drain_body(ctx).await?;
                        Ok(complete_response(
                            bucket,
                            key,
                            &done.etag,
                            done.checksum.as_ref(),
                            done.version_id.as_deref(),
                            done.sse.as_ref(),
                        ))
                    }
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        if let Some(e @ super::sse::Encryption::Customer { .. }) = &upload.sse {
            let customer = super::sse::customer_key(&ctx.headers, false)?;
            super::sse::key_for_read(&self.sse_keys, Some(e), customer.as_ref())?;
        }
        let mut inbound = ctx.body_of_document()?;
        let doc = super::body::read_small(&mut inbound, 4 << 20).await?;
        inbound.finish()?;
        let root = xml::parse(&doc).map_err(|_| Error::malformed_xml())?;
        if root.name != "CompleteMultipartUpload" {
            return Err(Error::malformed_xml());
        }
        let mut listed: Vec<Listed> = Vec::new();
        for p in root.children("Part") {
            let n = p
                .text_of("PartNumber")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(Error::malformed_xml)?;
            let etag = p.text_of("ETag").ok_or_else(Error::malformed_xml)?;
            let sums = p
                .children
                .iter()
                .filter(|c| c.name.starts_with("Checksum"))
                .map(|c| (c.name.clone(), c.text.trim().to_owned()))
                .collect();
            listed.push((n, strip_etag(etag).to_owned(), sums));
        }
        if listed.is_empty() {
            return Err(Error::malformed_xml());
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::new(
                Code::InvalidPartOrder,
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            )
            .with("UploadId", &id));
        }
        let expected_full = checksum::ALGORITHMS
            .into_iter()
            .find_map(|a| ctx.header(a.header()).map(|v| (a, v.to_owned())));
        let (b, k, i) = (bucket.to_owned(), key.to_owned(), id.clone());
        let modified = now_ms();
        let raiser = self.raiser();
        let done = self
            .engine
            .write(move |txn| {
                let Some(bucket_meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                let mut uploads = txn.open_table(UPLOADS)?;
                let Some(upload) = get_upload(&uploads, &b, &k, &i)? else {
                    return Ok(Err(Error::no_such_upload(&i)));
                };
                let mut parts = txn.open_table(PARTS)?;
                let stored = parts_of(&parts, &i)?;
                // Every listed part must exist with its ETag before sizes are judged, as S3.
                let mut chosen: Vec<&PartMeta> = Vec::with_capacity(listed.len());
                for (n, etag, sums) in &listed {
                    let found = stored.iter().find(|(m, _)| m == n).map(|(_, p)| p);
                    let invalid = || {
                        Error::new(
                            Code::InvalidPart,
                            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                        )
                        .with("UploadId", &i)
                        .with("PartNumber", n.to_string())
                        .with("ETag", etag)
                    };
                    let Some(p) = found.filter(|p| p.md5 == *etag) else {
                        return Ok(Err(invalid()));
                    };
                    if let Some((a, _)) = upload.checksum {
                        for (name, value) in sums {
                            if name == a.element() && Some(value) != p.checksum.as_ref() {
                                return Ok(Err(invalid()));
                            }
                        }
                    }
                    chosen.push(p);
                }
                let last = chosen.len() - 1;
                for (idx, p) in chosen.iter().enumerate() {
                    if idx < last && p.segment.len < MIN_PART {
                        let (n, etag, _) = &listed[idx];
                        return Ok(Err(Error::new(
                            Code::EntityTooSmall,
                            "Your proposed upload is smaller than the minimum allowed size",
                        )
                        .with("ProposedSize", p.segment.len.to_string())
                        .with("MinSizeAllowed", MIN_PART.to_string())
                        .with("PartNumber", n.to_string())
                        .with("ETag", etag)));
                    }
                }
                let md5s: Vec<[u8; 16]> = chosen
                    .iter()
                    .map(|p| {
                        let mut a = [0u8; 16];
                        if let Some(raw) = checksum::unhex(&p.md5)
                            && raw.len() == 16
                        {
                            a.copy_from_slice(&raw);
                        }
                        a
                    })
                    .collect();
                let etag = checksum::multipart_etag(&md5s);
                let (algorithm, kind) = upload
                    .checksum
                    .unwrap_or((Algorithm::Crc64Nvme, Kind::FullObject));
                let values: Option<Vec<String>> =
                    chosen.iter().map(|p| p.checksum.clone()).collect();
                let checksum = values.and_then(|values| {
                    let value = match kind {
                        Kind::FullObject => checksum::combine(
                            algorithm,
                            &values
                                .iter()
                                .cloned()
                                .zip(chosen.iter().map(|p| p.segment.len))
                                .collect::<Vec<_>>(),
                        ),
                        Kind::Composite => checksum::composite(algorithm, &values),
                    }?;
                    Some(Checksum {
                        algorithm,
                        value,
                        kind,
                    })
                });
                if let Some((a, want)) = &expected_full {
                    let matches = checksum
                        .as_ref()
                        .is_some_and(|c| c.algorithm == *a && c.value == *want);
                    if !matches {
                        return Ok(Err(Error::new(
                            Code::BadDigest,
                            format!(
                                "The {} you specified did not match the calculated checksum.",
                                a.as_str()
                            ),
                        )));
                    }
                }
                let old = get_object(&txn.open_table(OBJECTS)?, &b, &k)?;
                if let Err(e) = condition.check(&k, old.as_ref()) {
                    return Ok(Err(e));
                }
                let segments: Vec<Segment> = chosen.iter().map(|p| p.segment.clone()).collect();
                let used: std::collections::HashSet<&str> =
                    segments.iter().map(|s| s.id.as_str()).collect();
                let mut unused: Vec<String> = stored
                    .iter()
                    .filter(|(_, p)| !used.contains(p.segment.id.as_str()))
                    .map(|(_, p)| p.segment.id.clone())
                    .collect();
                let meta = ObjectMeta {
                    size: segments.iter().map(|s| s.len).sum(),
                    etag: etag.clone(),
                    modified,
                    segments,
                    headers: upload.headers.clone(),
                    checksum: checksum.clone(),
                    parts: Some(chosen.len() as u32),
                    version_id: None,
                    tags: upload.tags.clone(),
                    sse: upload.sse.clone(),
                    retention: upload.retention,
                    legal_hold: upload.legal_hold,
                    acl: upload.acl.clone(),
                    owner: upload.owner.clone(),
                    part_checksums: if upload.checksum.is_some() {
                        chosen.iter().filter_map(|p| p.checksum.clone()).collect()
                    } else {
                        Vec::new()
                    },
                };
                let size = meta.size;
                let written = super::version::write_object(txn, &bucket_meta, &b, &k, meta, old)?;
                let subject = super::notification::Subject {
                    key: &k,
                    object: Some((size, &etag)),
                    version_id: written.version_id.as_deref(),
                };
                raiser.record(
                    txn,
                    &b,
                    super::notification::Change::CompleteMultipartUpload,
                    subject,
                )?;
                unused.extend(written.released);
                uploads.remove(upload_key(&b, &k, &i).as_slice())?;
                let done = store::Completed {
                    at: modified,
                    etag: etag.clone(),
                    checksum: checksum.clone(),
                    version_id: written.version_id.clone(),
                    sse: upload.sse.clone(),
                };
                txn.open_table(store::COMPLETED)?.insert(
                    upload_key(&b, &k, &i).as_slice(),
                    store::encode(&done).as_slice(),
                )?;
                let (lo, hi) = (part_key(&i, 0), part_key(&i, u32::MAX));
                parts.retain_in(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
                Ok(Ok((etag, checksum, unused, written.version_id, upload.sse)))
            })
            .await??;
        let (etag, checksum, unused, version, sse) = done;
        self.events_changed();
        self.files.remove(unused).await;
        Ok(complete_response(
            bucket,
            key,
            &etag,
            checksum.as_ref(),
            version.as_deref(),
            sse.as_ref(),
        ))
    }

    /// What a finished upload answered, while it is kept.
    async fn completed(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<Option<store::Completed>> {
        let k = upload_key(bucket, key, id);
        Ok(self
            .engine
            .read(
                move |txn| match txn.open_table(store::COMPLETED)?.get(k.as_slice())? {
                    Some(v) => Ok(Some(store::decode::<store::Completed>(
                        "s3/completed",
                        v.value(),
                    )?)),
                    None => Ok(None),
                },
            )
            .await?)
    }

    /// Forgets the answers of uploads finished more than [`COMPLETED_KEPT_MS`] ago.
    pub(crate) async fn prune_completed(&self, now: i64) -> Result<()> {
        self.engine
            .write(move |txn| {
                let mut t = txn.open_table(store::COMPLETED)?;
                t.retain(|_, v| {
                    store::decode::<store::Completed>("s3/completed", v)
                        .is_ok_and(|c| c.at + COMPLETED_KEPT_MS > now)
                })?;
                Ok(Ok::<(), ()>(()))
            })
            .await?
            .ok();
        Ok(())
    }

    /// AbortMultipartUpload (`DELETE ?uploadId`).
    pub(crate) async fn abort_upload(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let id = upload_id(ctx);
        let (b, k, i) = (bucket.to_owned(), key.to_owned(), id.clone());
        let files = self
            .engine
            .write(move |txn| {
                if get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_none() {
                    return Ok(Err(Error::no_such_bucket(&b)));
                }
                let mut uploads = txn.open_table(UPLOADS)?;
                if uploads.remove(upload_key(&b, &k, &i).as_slice())?.is_none() {
                    return Ok(Err(Error::no_such_upload(&i)));
                }
                let mut parts = txn.open_table(PARTS)?;
                let files: Vec<String> = parts_of(&parts, &i)?
                    .into_iter()
                    .map(|(_, p)| p.segment.id)
                    .collect();
                let (lo, hi) = (part_key(&i, 0), part_key(&i, u32::MAX));
                parts.retain_in(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
                Ok(Ok(files))
            })
            .await??;
        self.files.remove(files).await;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }

    /// ListParts (`GET ?uploadId`).
    pub(crate) async fn list_parts(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let id = upload_id(ctx);
        let marker = match ctx.param("part-number-marker") {
            None => 0,
            Some(m) => m.parse::<u32>().map_err(|_| {
                Error::invalid_argument(
                    "Provided part-number-marker not an integer or within integer range",
                    "part-number-marker",
                    m,
                )
            })?,
        };
        let max = match ctx.param("max-parts") {
            None => 1000,
            Some(m) => match m.parse::<i64>() {
                Ok(n) if n >= 0 => (n as usize).min(1000),
                _ => {
                    return Err(Error::invalid_argument(
                        "Provided max-parts not an integer or within integer range",
                        "max-parts",
                        m,
                    ));
                }
            },
        };
        let (b, k, i) = (bucket.to_owned(), key.to_owned(), id.clone());
        let (found, upload, parts) = self
            .engine
            .read(move |txn| {
                let found = get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_some();
                let upload = get_upload(&txn.open_table(UPLOADS)?, &b, &k, &i)?;
                let parts = match upload {
                    Some(_) => parts_of(&txn.open_table(PARTS)?, &i)?,
                    None => Vec::new(),
                };
                Ok((found, upload, parts))
            })
            .await?;
        if !found {
            return Err(Error::no_such_bucket(bucket));
        }
        let Some(upload) = upload else {
            return Err(Error::no_such_upload(&id));
        };
        let after: Vec<&(u32, PartMeta)> = parts.iter().filter(|(n, _)| *n > marker).collect();
        let truncated = after.len() > max;
        let page = &after[..after.len().min(max)];
        let mut w = Writer::new("ListPartsResult");
        w.elem("Bucket", bucket)
            .elem("Key", key)
            .elem("UploadId", &id);
        let bucket_owner = self.owner_of(bucket);
        let owner = upload.owner.as_ref().unwrap_or(&bucket_owner);
        owner_element(&mut w, "Initiator", owner);
        owner_element(&mut w, "Owner", owner);
        w.elem("StorageClass", "STANDARD")
            .elem("PartNumberMarker", &marker.to_string());
        if let Some((n, _)) = page.last() {
            w.elem("NextPartNumberMarker", &n.to_string());
        }
        w.elem("MaxParts", &max.to_string())
            .elem("IsTruncated", if truncated { "true" } else { "false" });
        for (n, p) in page {
            w.open("Part")
                .elem("PartNumber", &n.to_string())
                .elem("LastModified", &iso8601(p.modified))
                .elem("ETag", &format!("\"{}\"", p.md5))
                .elem("Size", &p.segment.len.to_string());
            if let (Some((a, _)), Some(v)) = (upload.checksum, &p.checksum) {
                w.elem(a.element(), v);
            }
            w.close("Part");
        }
        if let Some((a, k)) = upload.checksum {
            w.elem("ChecksumAlgorithm", a.as_str())
                .elem("ChecksumType", k.as_str());
        }
        Ok(api::xml(StatusCode::OK, w.finish("ListPartsResult")))
    }

    /// ListMultipartUploads (`GET ?uploads`).
    pub(crate) async fn list_uploads(&self, ctx: &Ctx, bucket: &str) -> Result<Response<Body>> {
        let bucket_owner = self.owner_of(bucket);
        let prefix = ctx.param("prefix").unwrap_or("").to_owned();
        let delimiter = ctx
            .param("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        let key_marker = ctx.param("key-marker").unwrap_or("").to_owned();
        let id_marker = ctx.param("upload-id-marker").unwrap_or("").to_owned();
        let max = match ctx.param("max-uploads") {
            None => 1000,
            Some(m) => match m.parse::<i64>() {
                Ok(n) if n >= 0 => (n as usize).min(1000),
                _ => {
                    return Err(Error::invalid_argument(
                        "Provided max-uploads not an integer or within integer range",
                        "max-uploads",
                        m,
                    ));
                }
            },
        };
        let (b, p) = (bucket.to_owned(), prefix.clone());
        let rows = self
            .engine
            .read(move |txn| {
                if get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_none() {
                    return Ok(None);
                }
                let t = txn.open_table(UPLOADS)?;
                let lo = object_key(&b, &p);
                let hi = successor(&lo).unwrap_or_default();
                let skip = b.len() + 1;
                let mut out = Vec::new();
                for e in t.range(lo.as_slice()..hi.as_slice())? {
                    let (k, v) = e?;
                    let rest = &k.value()[skip..];
                    let Some(z) = rest.iter().rposition(|&c| c == 0) else {
                        continue;
                    };
                    let key = String::from_utf8_lossy(&rest[..z]).into_owned();
                    let id = String::from_utf8_lossy(&rest[z + 1..]).into_owned();
                    let meta: UploadMeta = store::decode("s3/uploads", v.value())?;
                    out.push((key, id, meta));
                }
                Ok(Some(out))
            })
            .await?
            .ok_or_else(|| Error::no_such_bucket(bucket))?;
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut next: Option<(String, String)> = None;
        for (key, id, meta) in &rows {
            let after = if id_marker.is_empty() || key != &key_marker {
                key_marker.is_empty() || key.as_str() > key_marker.as_str()
            } else {
                id.as_str() > id_marker.as_str()
            };
            if !after {
                continue;
            }
            if let Some(d) = &delimiter
                && let Some(i) = key[prefix.len()..].find(d.as_str())
            {
                let cp = key[..prefix.len() + i + d.len()].to_owned();
                if prefixes.last() == Some(&cp) {
                    continue;
                }
                if uploads.len() + prefixes.len() == max {
                    truncated = true;
                    break;
                }
                prefixes.push(cp);
                continue;
            }
            if uploads.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            next = Some((key.clone(), id.clone()));
            uploads.push((key, id, meta));
        }
        let mut w = Writer::new("ListMultipartUploadsResult");
        w.elem("Bucket", bucket)
            .elem("KeyMarker", &key_marker)
            .elem("UploadIdMarker", &id_marker);
        if truncated && let Some((k, i)) = &next {
            w.elem("NextKeyMarker", k).elem("NextUploadIdMarker", i);
        }
        w.elem("Prefix", &prefix);
        if let Some(d) = &delimiter {
            w.elem("Delimiter", d);
        }
        w.elem("MaxUploads", &max.to_string())
            .elem("IsTruncated", if truncated { "true" } else { "false" });
        for (key, id, meta) in uploads {
            w.open("Upload").elem("Key", key).elem("UploadId", id);
            let owner = meta.owner.as_ref().unwrap_or(&bucket_owner);
            owner_element(&mut w, "Initiator", owner);
            owner_element(&mut w, "Owner", owner);
            w.elem("StorageClass", "STANDARD")
                .elem("Initiated", &iso8601(meta.initiated));
            if let Some((a, k)) = meta.checksum {
                w.elem("ChecksumAlgorithm", a.as_str())
                    .elem("ChecksumType", k.as_str());
            }
            w.close("Upload");
        }
        for p in &prefixes {
            w.open("CommonPrefixes")
                .elem("Prefix", p)
                .close("CommonPrefixes");
        }
        Ok(api::xml(
            StatusCode::OK,
            w.finish("ListMultipartUploadsResult"),
        ))
    }
}
