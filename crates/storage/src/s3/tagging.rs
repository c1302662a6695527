//! Tags: an object's (`?tagging` on a key, the `x-amz-tagging` header on writes,
//! `x-amz-tagging-count` on reads) and a bucket's (`?tagging` on the bucket), with S3's
//! limits (10 tags per object, 50 per bucket, keys up to 128 characters, values up to 256,
//! no key twice).

use http::{Response, StatusCode};

use super::api::{self, Body, Ctx};
use super::error::{Code, Error, Result};
use super::store::{BUCKETS, get_bucket};
use super::xml::{self, Writer};
use super::{S3, version};

/// The tags of an object or bucket, in order.
pub type Tags = Vec<(String, String)>;

fn invalid(message: &'static str) -> Error {
    Error::new(Code::InvalidTag, message)
}

/// Checks `tags` against S3's limits (`max` tags).
pub(crate) fn check(tags: &Tags, max: usize) -> Result<()> {
    if tags.len() > max {
        return Err(invalid(if max == 10 {
            "Object tags cannot be greater than 10"
        } else {
            "Bucket tag count cannot be greater than 50"
        }));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(o, _)| o == k) {
            return Err(invalid("Cannot provide multiple Tags with the same key"));
        }
        // The `aws:` prefix is reserved for tags AWS sets itself.
        if k.starts_with("aws:") {
            return Err(invalid(if max == 10 {
                "Your TagKey cannot be prefixed with aws:"
            } else {
                "System tags cannot be added/updated by requester"
            }));
        }
    }
    Ok(())
}

/// The `x-amz-tagging` header: `k1=v1&k2=v2`, URL-encoded.
pub(crate) fn from_header(value: Option<&str>) -> Result<Option<Tags>> {
    let Some(v) = value else { return Ok(None) };
    let mut tags: Tags = form_urlencoded::parse(v.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    check(&tags, 10)?;
    // S3 gives tags back in key order.
    tags.sort();
    Ok(Some(tags))
}

/// A `<Tagging><TagSet><Tag><Key/><Value/></Tag>...` document.
fn parse(doc: &[u8], max: usize) -> Result<Tags> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "Tagging" {
        return Err(Error::malformed_xml());
    }
    let set = root.child("TagSet").ok_or_else(Error::malformed_xml)?;
    let mut tags = Tags::new();
    for t in set.children("Tag") {
        let k = t.child("Key").ok_or_else(Error::malformed_xml)?;
        let v = t.child("Value").map_or(String::new(), |v| v.text.clone());
        tags.push((k.text.clone(), v));
    }
    check(&tags, max)?;
    tags.sort();
    Ok(tags)
}

fn document(tags: &Tags) -> String {
    let mut w = Writer::new("Tagging");
    w.open("TagSet");
    for (k, v) in tags {
        w.open("Tag").elem("Key", k).elem("Value", v).close("Tag");
    }
    w.close("TagSet");
    w.finish("Tagging")
}

impl S3 {
    /// Changes the tags of `key` (its current object, or version `version`); returns the
    /// version id changed, in a bucket whose versioning was set.
    async fn retag(
        &self,
        bucket: &str,
        key: &str,
        version: Option<String>,
        tags: Tags,
    ) -> Result<Option<String>> {
        if let Some(v) = &version
            && !version::well_formed(v)
        {
            return Err(Error::invalid_argument(
                "Invalid version id specified",
                "versionId",
                v,
            ));
        }
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.engine
            .write(move |txn| {
                let Some(meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                version::update_object(txn, &meta, &b, &k, version.as_deref(), |o| {
                    o.tags = tags;
                    Ok(())
                })
            })
            .await?
    }

    /// PutObjectTagging.
    pub(crate) async fn put_object_tagging(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let tags = parse(&doc, 10)?;
        let version = ctx.param("versionId").map(str::to_owned);
        let v = self.retag(bucket, key, version, tags).await?;
        let mut r = api::empty(StatusCode::OK);
        if let Some(v) = v {
            api::set(r.headers_mut(), "x-amz-version-id", &v);
        }
        Ok(r)
    }

    /// DeleteObjectTagging.
    pub(crate) async fn delete_object_tagging(
        &self,
        ctx: &Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let version = ctx.param("versionId").map(str::to_owned);
        let v = self.retag(bucket, key, version, Tags::new()).await?;
        let mut r = api::empty(StatusCode::NO_CONTENT);
        if let Some(v) = v {
            api::set(r.headers_mut(), "x-amz-version-id", &v);
        }
        Ok(r)
    }

    /// GetObjectTagging.
    pub(crate) async fn get_object_tagging(
        &self,
        ctx: &Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let version = ctx.param("versionId");
        let (meta, _) = self.open_object(bucket, key, version, false).await?;
        let mut r = api::xml(StatusCode::OK, document(&meta.tags));
        if let Some(v) = &meta.version_id {
            api::set(r.headers_mut(), "x-amz-version-id", v);
        }
        Ok(r)
    }

    /// PutBucketTagging.
    pub(crate) async fn put_bucket_tagging(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let tags = parse(&doc, 50)?;
        self.update_bucket(bucket, move |meta| {
            meta.tags = Some(tags);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }

    /// GetBucketTagging.
    pub(crate) async fn get_bucket_tagging(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        match meta.tags {
            Some(tags) if !tags.is_empty() => Ok(api::xml(StatusCode::OK, document(&tags))),
            _ => Err(Error::new(Code::NoSuchTagSet, "The TagSet does not exist")
                .with("BucketName", bucket)),
        }
    }

    /// DeleteBucketTagging.
    pub(crate) async fn delete_bucket_tagging(&self, bucket: &str) -> Result<Response<Body>> {
        self.update_bucket(bucket, |meta| {
            meta.tags = None;
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_s3_limits() {
        let tags = |n: usize| (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(check(&tags(10), 10).is_ok());
        assert_eq!(check(&tags(11), 10).unwrap_err().code, Code::InvalidTag);
        assert!(check(&tags(50), 50).is_ok());
        let dup = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        assert_eq!(check(&dup, 10).unwrap_err().code, Code::InvalidTag);
        assert_eq!(
            check(&vec![("k".repeat(129), String::new())], 10)
                .unwrap_err()
                .code,
            Code::InvalidTag
        );
        assert_eq!(
            from_header(Some("a=1&b=two%20words")).unwrap(),
            Some(vec![
                ("a".into(), "1".into()),
                ("b".into(), "two words".into())
            ])
        );
    }
}
