//! Buckets: Create, Delete, Head, List, GetBucketLocation, GetBucketVersioning, and the
//! object listings (ListObjectsV2 and V1) with prefix, delimiter, markers and URL encoding.
//!
//! A listing walks the bucket's rows from the later of the prefix and the marker, in key
//! order (UTF-8 bytes, S3's order). With a delimiter, keys sharing the part of the key up to
//! the first delimiter after the prefix roll up into one `CommonPrefixes` entry, which counts
//! once against `max-keys`; a common prefix at or before the marker was already returned and
//! is skipped, which is what makes a continuation from a common prefix resume after it.

use std::ops::Bound;

use http::{Response, StatusCode};
use redb::ReadableTable;

use super::acl::owner_element;
use super::api::{self, Body, Ctx, set};
use super::checksum;
use super::error::{Code, Error, Result};
use super::store::Versioning;
use super::store::{
    self, BUCKETS, BucketMeta, OBJECTS, ObjectMeta, PARTS, UPLOADS, get_bucket, object_key,
    successor,
};
use super::xml::{self, Writer};
use super::{S3, iso8601, now_ms, version};
use crate::iam::Caller;

/// S3's bucket naming rules (general purpose buckets).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return false;
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return false;
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return false;
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return false;
        }
    }
    true
}

/// One page of a listing.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) objects: Vec<(String, ObjectMeta)>,
    pub(crate) prefixes: Vec<String>,
    pub(crate) truncated: bool,
    /// The last key or common prefix returned.
    pub(crate) last: Option<String>,
}

/// Lists `bucket`'s rows after `marker` under `prefix`.
pub(crate) fn list_page(
    txn: &redb::ReadTransaction,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    marker: Option<&str>,
    max: usize,
) -> std::result::Result<Page, crate::engine::EngineError> {
    let table = txn.open_table(OBJECTS)?;
    let mut page = Page::default();
    if max == 0 {
        return Ok(page);
    }
    let lower = object_key(bucket, prefix);
    let mut start = match marker {
        Some(m) if m.as_bytes() >= prefix.as_bytes() => Bound::Excluded(object_key(bucket, m)),
        _ => Bound::Included(lower.clone()),
    };
    let end = match successor(&lower) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    };
    let skip = bucket.len() + 1;
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut count = 0;
    // Once a common prefix is taken (or known taken before the marker), the walk resumes
    // after every key under it instead of reading them one by one.
    'walk: loop {
        let range = (
            start.as_ref().map(Vec::as_slice),
            end.as_ref().map(Vec::as_slice),
        );
        let mut resume = None;
        for entry in table.range(range)? {
            let (k, v) = entry?;
            let Ok(key) = std::str::from_utf8(&k.value()[skip..]) else {
                continue;
            };
            if let Some(d) = delimiter
                && let Some(i) = key[prefix.len()..].find(d)
            {
                let cp = &key[..prefix.len() + i + d.len()];
                let seen = marker.is_some_and(|m| cp.as_bytes() <= m.as_bytes())
                    || page.prefixes.last().is_some_and(|l| l == cp);
                if !seen {
                    if count == max {
                        page.truncated = true;
                        break 'walk;
                    }
                    page.prefixes.push(cp.to_owned());
                    page.last = Some(cp.to_owned());
                    count += 1;
                }
                match successor(&object_key(bucket, cp)) {
                    Some(next) => {
                        resume = Some(next);
                        break;
                    }
                    None => break 'walk,
                }
            }
            if count == max {
                page.truncated = true;
                break 'walk;
            }
            let meta: ObjectMeta = store::decode("s3/objects", v.value())?;
            page.objects.push((key.to_owned(), meta));
            page.last = Some(key.to_owned());
            count += 1;
        }
        match resume {
            Some(next) => start = Bound::Included(next),
            None => break,
        }
    }
    Ok(page)
}

/// One entry of a version listing.
#[derive(Debug)]
pub(crate) struct VersionEntry {
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
    pub(crate) latest: bool,
    pub(crate) modified: i64,
    /// `None` for a delete marker.
    pub(crate) object: Option<ObjectMeta>,
}

/// One page of a version listing.
#[derive(Debug, Default)]
pub(crate) struct VersionPage {
    pub(crate) entries: Vec<VersionEntry>,
    pub(crate) prefixes: Vec<String>,
    pub(crate) truncated: bool,
}

/// Lists the versions of a versioned bucket's keys under `prefix`, after `key_marker`
/// (all of that key's versions, or only those older than `version_marker`).
pub(crate) fn versions_page(
    txn: &redb::ReadTransaction,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: Option<&str>,
    version_marker: Option<&str>,
    max: usize,
) -> std::result::Result<VersionPage, crate::engine::EngineError> {
    let table = txn.open_table(store::VERSIONS)?;
    let mut page = VersionPage::default();
    if max == 0 {
        return Ok(page);
    }
    let lower = object_key(bucket, prefix);
    let end = match successor(&lower) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    };
    // The key whose rows were partly returned already, so its next row is not its latest.
    let mut previous: Option<String> = None;
    let mut start = Bound::Included(lower.clone());
    if let Some(m) = key_marker.filter(|m| m.as_bytes() >= prefix.as_bytes()) {
        let after_key = {
            let mut k = object_key(bucket, m);
            k.push(1);
            k
        };
        start = Bound::Included(after_key.clone());
        if let Some(v) = version_marker
            && let Some((k, _)) = version::find(&table, bucket, m, v)?
        {
            start = Bound::Excluded(k);
            previous = Some(m.to_owned());
        }
    }
    let skip = bucket.len() + 1;
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut count = 0;
    'walk: loop {
        let range = (
            start.as_ref().map(Vec::as_slice),
            end.as_ref().map(Vec::as_slice),
        );
        let mut resume = None;
        for entry in table.range(range)? {
            let (k, v) = entry?;
            let Some((key, _)) = version::split_key(k.value(), bucket.len()) else {
                continue;
            };
            let _ = skip;
            if let Some(d) = delimiter
                && let Some(i) = key.get(prefix.len()..).and_then(|rest| rest.find(d))
            {
                let cp = &key[..prefix.len() + i + d.len()];
                let seen = key_marker.is_some_and(|m| cp.as_bytes() <= m.as_bytes())
                    || page.prefixes.last().is_some_and(|l| l == cp);
                if !seen {
                    if count == max {
                        page.truncated = true;
                        break 'walk;
                    }
                    page.prefixes.push(cp.to_owned());
                    count += 1;
                }
                match successor(&object_key(bucket, cp)) {
                    Some(next) => {
                        resume = Some(next);
                        break;
                    }
                    None => break 'walk,
                }
            }
            if count == max {
                page.truncated = true;
                break 'walk;
            }
            let row: store::VersionRow = store::decode("s3/versions", v.value())?;
            let latest = previous.as_deref() != Some(key);
            previous = Some(key.to_owned());
            page.entries.push(VersionEntry {
                key: key.to_owned(),
                version_id: row.version_id,
                latest,
                modified: row.modified,
                object: row.object,
            });
            count += 1;
        }
        match resume {
            Some(next) => start = Bound::Included(next),
            None => break,
        }
    }
    Ok(page)
}

/// Writes `s` for a listing: URL-encoded when the request asked `encoding-type=url`.
fn enc(s: &str, url: bool) -> String {
    if url {
        // Spaces as `%20`, as S3 (a literal `+` is already `%2B`).
        form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace("%2F", "/")
            .replace('+', "%20")
    } else {
        s.to_owned()
    }
}

fn max_param(ctx: &Ctx, name: &str, cap: usize) -> Result<usize> {
    match ctx.param(name) {
        None => Ok(cap),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok((n as usize).min(cap)),
            _ => Err(Error::invalid_argument(
                format!("Provided {name} not an integer or within integer range"),
                name,
                v,
            )),
        },
    }
}

impl S3 {
    /// ListBuckets: the caller's account's buckets.
    pub(crate) async fn list_buckets(&self, ctx: &Ctx) -> Result<Response<Body>> {
        let Caller::Account { account, .. } = &ctx.caller else {
            return Err(Error::access_denied());
        };
        let account = account.clone();
        let id = account.id.clone();
        let prefix = ctx.param("prefix").unwrap_or("").to_owned();
        let max = match ctx.param("max-buckets") {
            None => usize::MAX,
            Some(m) => match m.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => {
                    return Err(Error::invalid_argument(
                        "Invalid maxBuckets value",
                        "max-buckets",
                        m,
                    ));
                }
            },
        };
        let after = ctx
            .param("continuation-token")
            .map(decode_token)
            .transpose()?;
        let (buckets, more) = self
            .engine
            .read(move |txn| {
                let t = txn.open_table(BUCKETS)?;
                let mut out = Vec::new();
                let mut more = false;
                for e in t.iter()? {
                    let (k, v) = e?;
                    if !k.value().starts_with(&prefix)
                        || after.as_deref().is_some_and(|a| k.value() <= a)
                    {
                        continue;
                    }
                    let meta: BucketMeta = store::decode("s3/buckets", v.value())?;
                    if store::owner(&meta).id != id {
                        continue;
                    }
                    if out.len() == max {
                        more = true;
                        break;
                    }
                    out.push((k.value().to_owned(), meta));
                }
                Ok((out, more))
            })
            .await?;
        let mut w = Writer::new("ListAllMyBucketsResult");
        owner_element(&mut w, "Owner", &account);
        w.open("Buckets");
        for (name, meta) in &buckets {
            w.open("Bucket")
                .elem("Name", name)
                .elem("CreationDate", &iso8601(meta.created))
                .elem("BucketRegion", &meta.region)
                .close("Bucket");
        }
        w.close("Buckets");
        if more && let Some((last, _)) = buckets.last() {
            w.elem("ContinuationToken", &encode_token(last));
        }
        if let Some(p) = ctx.param("prefix") {
            w.elem("Prefix", p);
        }
        Ok(api::xml(StatusCode::OK, w.finish("ListAllMyBucketsResult")))
    }

    /// CreateBucket.
    pub(crate) async fn create_bucket(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        if !valid_bucket_name(bucket) {
            return Err(Error::new(
                Code::InvalidBucketName,
                "The specified bucket is not valid.",
            )
            .with("BucketName", bucket));
        }
        let Caller::Account { account, .. } = &ctx.caller else {
            return Err(Error::access_denied());
        };
        let owner = (**account).clone();
        let ownership = super::acl::ownership_header(&ctx.headers, self.default_ownership())?;
        let acl = super::acl::for_new_bucket(&ctx.headers, &ctx.keys, &ownership, &owner)?;
        // A bucket with Object Lock is created versioned, as S3 creates it.
        let object_lock = ctx
            .header("x-amz-bucket-object-lock-enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let mut region = self.region.clone();
        if !doc.iter().all(u8::is_ascii_whitespace) {
            let root = xml::parse(&doc).map_err(|_| Error::malformed_xml())?;
            if root.name != "CreateBucketConfiguration" {
                return Err(Error::malformed_xml());
            }
            if let Some(c) = root.text_of("LocationConstraint") {
                if c.is_empty() || (c == "us-east-1" && self.region == "us-east-1") {
                    return Err(Error::new(
                        Code::InvalidLocationConstraint,
                        "The specified location-constraint is not valid",
                    )
                    .with("LocationConstraint", c));
                }
                if c != self.region {
                    return Err(Error::new(
                        Code::IllegalLocationConstraintException,
                        format!(
                            "The {c} location constraint is incompatible for the region specific endpoint this request was sent to."
                        ),
                    ));
                }
                region = c.to_owned();
            }
        }
        let (b, legacy) = (bucket.to_owned(), self.region == "us-east-1");
        let meta = BucketMeta {
            created: now_ms(),
            region,
            versioning: object_lock.then_some(Versioning::Enabled),
            object_lock: object_lock.then(super::lock::BucketLock::default),
            ownership: Some(ownership),
            acl,
            // Meridian's own account is written as no owner, as rows were before accounts.
            owner: (owner != crate::keys::Account::local()).then(|| owner.clone()),
            ..BucketMeta::default()
        };
        let access = super::config::access_of(bucket, &meta);
        let created = self
            .engine
            .write(move |txn| {
                let mut t = txn.open_table(BUCKETS)?;
                if let Some(existing) = get_bucket(&t, &b)? {
                    if store::owner(&existing).id != owner.id {
                        return Ok(Err(Error::new(
                            Code::BucketAlreadyExists,
                            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                        )
                        .with("BucketName", &b)));
                    }
                    // us-east-1 answers a repeated create of one's own bucket with success.
                    return Ok(if legacy {
                        Ok(false)
                    } else {
                        Err(Error::new(
                            Code::BucketAlreadyOwnedByYou,
                            "Your previous request to create the named bucket succeeded and you already own it.",
                        )
                        .with("BucketName", &b))
                    });
                }
                t.insert(b.as_str(), store::encode(&meta).as_slice())?;
                Ok(Ok(true))
            })
            .await??;
        if created {
            self.set_access(bucket, Some(access));
        }
        let mut r = api::empty(StatusCode::OK);
        set(r.headers_mut(), "location", &format!("/{bucket}"));
        Ok(r)
    }

    /// DeleteBucket: only an empty bucket; its unfinished multipart uploads go with it.
    pub(crate) async fn delete_bucket(&self, bucket: &str) -> Result<Response<Body>> {
        let b = bucket.to_owned();
        let files = self
            .engine
            .write(move |txn| {
                let mut t = txn.open_table(BUCKETS)?;
                if get_bucket(&t, &b)?.is_none() {
                    return Ok(Err(Error::no_such_bucket(&b)));
                }
                let lower = object_key(&b, "");
                let upper = successor(&lower).unwrap_or_default();
                let objects = txn.open_table(OBJECTS)?;
                let has_versions =
                    version::bucket_has_versions(&txn.open_table(store::VERSIONS)?, &b)?;
                if has_versions
                    || objects
                        .range(lower.as_slice()..upper.as_slice())?
                        .next()
                        .is_some()
                {
                    return Ok(Err(Error::new(
                        Code::BucketNotEmpty,
                        "The bucket you tried to delete is not empty",
                    )
                    .with("BucketName", &b)));
                }
                let mut uploads = txn.open_table(UPLOADS)?;
                let mut parts = txn.open_table(PARTS)?;
                let mut ids = Vec::new();
                for e in uploads.range(lower.as_slice()..upper.as_slice())? {
                    let (k, _) = e?;
                    let k = k.value();
                    if let Some(i) = k.iter().rposition(|&c| c == 0) {
                        ids.push(String::from_utf8_lossy(&k[i + 1..]).into_owned());
                    }
                }
                uploads.retain_in(lower.as_slice()..upper.as_slice(), |_, _| false)?;
                txn.open_table(store::COMPLETED)?
                    .retain_in(lower.as_slice()..upper.as_slice(), |_, _| false)?;
                let mut files = Vec::new();
                for id in ids {
                    let plo = store::part_key(&id, 0);
                    let phi = store::part_key(&id, u32::MAX);
                    for e in parts.range(plo.as_slice()..=phi.as_slice())? {
                        let (_, v) = e?;
                        let p: store::PartMeta = store::decode("s3/parts", v.value())?;
                        files.push(p.segment.id);
                    }
                    parts.retain_in(plo.as_slice()..=phi.as_slice(), |_, _| false)?;
                }
                t.remove(b.as_str())?;
                txn.open_table(super::notification::NOTIFICATIONS)?
                    .remove(b.as_str())?;
                Ok(Ok(files))
            })
            .await??;
        self.set_access(bucket, None);
        self.files.remove(files).await;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }

    pub(crate) async fn bucket_meta(&self, bucket: &str) -> Result<BucketMeta> {
        let b = bucket.to_owned();
        self.engine
            .read(move |txn| get_bucket(&txn.open_table(BUCKETS)?, &b))
            .await?
            .ok_or_else(|| Error::no_such_bucket(bucket))
    }

    /// HeadBucket.
    pub(crate) async fn head_bucket(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let mut r = api::empty(StatusCode::OK);
        set(r.headers_mut(), "x-amz-bucket-region", &meta.region);
        set(r.headers_mut(), "x-amz-access-point-alias", "false");
        set(r.headers_mut(), "content-type", "application/xml");
        Ok(r)
    }

    /// GetBucketLocation: empty for us-east-1, as S3.
    pub(crate) async fn bucket_location(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let mut doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\">",
            xml::NS
        );
        if meta.region != "us-east-1" {
            xml::escape(&meta.region, &mut doc);
        }
        doc.push_str("</LocationConstraint>");
        Ok(api::xml(StatusCode::OK, doc))
    }

    /// GetBucketVersioning: no Status for a bucket whose versioning was never set, as S3.
    pub(crate) async fn bucket_versioning(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let mut w = Writer::new("VersioningConfiguration");
        if let Some(v) = meta.versioning {
            w.elem("Status", v.as_str());
        }
        Ok(api::xml(
            StatusCode::OK,
            w.finish("VersioningConfiguration"),
        ))
    }

    /// PutBucketVersioning.
    pub(crate) async fn put_bucket_versioning(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let root = xml::parse(&doc).map_err(|_| Error::malformed_xml())?;
        if root.name != "VersioningConfiguration" {
            return Err(Error::malformed_xml());
        }
        if let Some(m) = root.text_of("MfaDelete")
            && m == "Enabled"
        {
            return Err(Error::new(
                Code::InvalidRequest,
                "DevPay and Mfa are mutually exclusive authorization methods.",
            ));
        }
        let status = match root.text_of("Status") {
            None => None,
            Some("Enabled") => Some(Versioning::Enabled),
            Some("Suspended") => Some(Versioning::Suspended),
            Some(_) => return Err(Error::malformed_xml()),
        };
        let b = bucket.to_owned();
        self.engine
            .write(move |txn| {
                let mut t = txn.open_table(BUCKETS)?;
                let Some(mut meta) = get_bucket(&t, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                let Some(status) = status else {
                    return Ok(Ok(()));
                };
                if meta.object_lock.is_some() && status != Versioning::Enabled {
                    return Ok(Err(Error::new(
                        Code::InvalidBucketState,
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                    )));
                }
                version::set_versioning(txn, &b, &mut meta, status)?;
                t.insert(b.as_str(), store::encode(&meta).as_slice())?;
                Ok(Ok(()))
            })
            .await??;
        Ok(api::empty(StatusCode::OK))
    }

    /// ListObjectVersions (`GET ?versions`).
    pub(crate) async fn list_versions(&self, ctx: &Ctx, bucket: &str) -> Result<Response<Body>> {
        let bucket_owner = self.owner_of(bucket);
        let url = match ctx.param("encoding-type") {
            None => false,
            Some("url") => true,
            Some(other) => {
                return Err(Error::invalid_argument(
                    "Invalid Encoding Method specified in Request",
                    "encoding-type",
                    other,
                ));
            }
        };
        let max = max_param(ctx, "max-keys", 1000)?;
        let prefix = ctx.param("prefix").unwrap_or("").to_owned();
        let delimiter = ctx.param("delimiter").map(str::to_owned);
        let key_marker = ctx.param("key-marker").map(str::to_owned);
        let version_marker = ctx.param("version-id-marker").map(str::to_owned);
        if version_marker.is_some() && key_marker.is_none() {
            return Err(Error::invalid_argument(
                "A version-id marker cannot be specified without a key marker.",
                "version-id-marker",
                version_marker.as_deref().unwrap_or(""),
            ));
        }
        if let Some(v) = &version_marker
            && !v.is_empty()
            && !version::well_formed(v)
        {
            return Err(Error::invalid_argument(
                "Invalid version id specified",
                "version-id-marker",
                v,
            ));
        }
        let b = bucket.to_owned();
        let (p, d, km, vm) = (
            prefix.clone(),
            delimiter.clone(),
            key_marker.clone(),
            version_marker.clone().filter(|v| !v.is_empty()),
        );
        let page = self
            .engine
            .read(move |txn| {
                let Some(meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(None);
                };
                if meta.versioning.is_none() {
                    // Every object is its key's only version, `null`.
                    let page = list_page(txn, &b, &p, d.as_deref(), km.as_deref(), max)?;
                    return Ok(Some(VersionPage {
                        entries: page
                            .objects
                            .into_iter()
                            .map(|(k, o)| VersionEntry {
                                key: k,
                                version_id: None,
                                latest: true,
                                modified: o.modified,
                                object: Some(o),
                            })
                            .collect(),
                        prefixes: page.prefixes,
                        truncated: page.truncated,
                    }));
                }
                versions_page(txn, &b, &p, d.as_deref(), km.as_deref(), vm.as_deref(), max)
                    .map(Some)
            })
            .await?
            .ok_or_else(|| Error::no_such_bucket(bucket))?;
        let root = "ListVersionsResult";
        let mut w = Writer::new(root);
        w.elem("Name", bucket)
            .elem("Prefix", &enc(&prefix, url))
            .elem("KeyMarker", &enc(key_marker.as_deref().unwrap_or(""), url))
            .elem("VersionIdMarker", version_marker.as_deref().unwrap_or(""));
        if page.truncated {
            // The last entry returned: a version, or a common prefix (no version marker).
            let last_entry = page.entries.last();
            let last_prefix = page.prefixes.last();
            let prefix_is_last = match (last_entry, last_prefix) {
                (Some(e), Some(p)) => p.as_str() > e.key.as_str(),
                (None, Some(_)) => true,
                _ => false,
            };
            if prefix_is_last {
                if let Some(p) = last_prefix {
                    w.elem("NextKeyMarker", &enc(p, url));
                }
            } else if let Some(e) = last_entry {
                w.elem("NextKeyMarker", &enc(&e.key, url)).elem(
                    "NextVersionIdMarker",
                    e.version_id.as_deref().unwrap_or("null"),
                );
            }
        }
        w.elem("MaxKeys", &max.to_string());
        if let Some(d) = &delimiter {
            w.elem("Delimiter", &enc(d, url));
        }
        if url {
            w.elem("EncodingType", "url");
        }
        w.elem("IsTruncated", if page.truncated { "true" } else { "false" });
        for e in &page.entries {
            let id = e.version_id.as_deref().unwrap_or("null");
            let latest = if e.latest { "true" } else { "false" };
            match &e.object {
                Some(o) => {
                    w.open("Version")
                        .elem("Key", &enc(&e.key, url))
                        .elem("VersionId", id)
                        .elem("IsLatest", latest)
                        .elem("LastModified", &iso8601(o.modified))
                        .elem("ETag", &format!("\"{}\"", o.etag));
                    if let Some(c) = &o.checksum {
                        w.elem("ChecksumAlgorithm", c.algorithm.as_str())
                            .elem("ChecksumType", c.kind.as_str());
                    }
                    w.elem("Size", &o.size.to_string());
                    let class = o
                        .headers
                        .standard
                        .iter()
                        .find(|(k, _)| k == "x-amz-storage-class")
                        .map_or("STANDARD", |(_, v)| v.as_str());
                    w.elem("StorageClass", class);
                    owner_element(&mut w, "Owner", o.owner.as_ref().unwrap_or(&bucket_owner));
                    w.close("Version");
                }
                None => {
                    w.open("DeleteMarker")
                        .elem("Key", &enc(&e.key, url))
                        .elem("VersionId", id)
                        .elem("IsLatest", latest)
                        .elem("LastModified", &iso8601(e.modified));
                    owner_element(&mut w, "Owner", &bucket_owner);
                    w.close("DeleteMarker");
                }
            }
        }
        for p in &page.prefixes {
            w.open("CommonPrefixes")
                .elem("Prefix", &enc(p, url))
                .close("CommonPrefixes");
        }
        Ok(api::xml(StatusCode::OK, w.finish(root)))
    }

    /// ListObjectsV2 (`v2`) and ListObjects.
    pub(crate) async fn list_objects(
        &self,
        ctx: &Ctx,
        bucket: &str,
        v2: bool,
    ) -> Result<Response<Body>> {
        let bucket_owner = self.owner_of(bucket);
        let url = match ctx.param("encoding-type") {
            None => false,
            Some("url") => true,
            Some(other) => {
                return Err(Error::invalid_argument(
                    "Invalid Encoding Method specified in Request",
                    "encoding-type",
                    other,
                ));
            }
        };
        let max = max_param(ctx, "max-keys", 1000)?;
        let prefix = ctx.param("prefix").unwrap_or("").to_owned();
        let delimiter = ctx
            .param("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        let token = ctx.param("continuation-token");
        let marker = if v2 {
            match token {
                Some(t) => Some(decode_token(t)?),
                None => ctx.param("start-after").map(str::to_owned),
            }
        } else {
            ctx.param("marker").map(str::to_owned)
        };
        let b = bucket.to_owned();
        let (p, d, m) = (prefix.clone(), delimiter.clone(), marker.clone());
        let page = self
            .engine
            .read(move |txn| {
                if get_bucket(&txn.open_table(BUCKETS)?, &b)?.is_none() {
                    return Ok(None);
                }
                list_page(txn, &b, &p, d.as_deref(), m.as_deref(), max).map(Some)
            })
            .await?
            .ok_or_else(|| Error::no_such_bucket(bucket))?;
        let root = "ListBucketResult";
        let mut w = Writer::new(root);
        w.elem("Name", bucket).elem("Prefix", &enc(&prefix, url));
        if v2 {
            if let Some(t) = token {
                w.elem("ContinuationToken", t);
            }
            if let Some(s) = ctx.param("start-after") {
                w.elem("StartAfter", &enc(s, url));
            }
        } else {
            w.elem("Marker", &enc(marker.as_deref().unwrap_or(""), url));
            if page.truncated
                && delimiter.is_some()
                && let Some(l) = &page.last
            {
                w.elem("NextMarker", &enc(l, url));
            }
        }
        if v2 {
            w.elem(
                "KeyCount",
                &(page.objects.len() + page.prefixes.len()).to_string(),
            );
        }
        w.elem("MaxKeys", &max.to_string());
        if let Some(d) = &delimiter {
            w.elem("Delimiter", &enc(d, url));
        }
        if url {
            w.elem("EncodingType", "url");
        }
        w.elem("IsTruncated", if page.truncated { "true" } else { "false" });
        if v2
            && page.truncated
            && let Some(l) = &page.last
        {
            w.elem("NextContinuationToken", &encode_token(l));
        }
        let with_owner = !v2 || ctx.param("fetch-owner") == Some("true");
        for (key, meta) in &page.objects {
            w.open("Contents")
                .elem("Key", &enc(key, url))
                .elem("LastModified", &iso8601(meta.modified))
                .elem("ETag", &format!("\"{}\"", meta.etag));
            if let Some(c) = &meta.checksum {
                w.elem("ChecksumAlgorithm", c.algorithm.as_str())
                    .elem("ChecksumType", c.kind.as_str());
            }
            w.elem("Size", &meta.size.to_string());
            if with_owner {
                owner_element(
                    &mut w,
                    "Owner",
                    meta.owner.as_ref().unwrap_or(&bucket_owner),
                );
            }
            let class = meta
                .headers
                .standard
                .iter()
                .find(|(k, _)| k == "x-amz-storage-class")
                .map_or("STANDARD", |(_, v)| v.as_str());
            w.elem("StorageClass", class).close("Contents");
        }
        for p in &page.prefixes {
            w.open("CommonPrefixes")
                .elem("Prefix", &enc(p, url))
                .close("CommonPrefixes");
        }
        Ok(api::xml(StatusCode::OK, w.finish(root)))
    }
}

/// A continuation token: the last key or common prefix returned, opaque to clients.
fn encode_token(last: &str) -> String {
    checksum::base64(last.as_bytes())
}

fn decode_token(token: &str) -> Result<String> {
    checksum::unbase64(token)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::invalid_argument(
                "The continuation token provided is incorrect",
                "continuation-token",
                token,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["abc", "my-bucket.logs", "a1b", "123", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "abc--ol-s3",
            "a b",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(enc("a b/c+d&é", true), "a%20b/c%2Bd%26%C3%A9");
        assert_eq!(enc("a b", false), "a b");
    }
}
