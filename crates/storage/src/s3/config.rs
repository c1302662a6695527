//! A bucket's configuration documents: policy, public access block and policy status. Each
//! lives in the bucket's row and changes in one commit; the access settings the request
//! path consults are kept in memory ([`S3::access`]) and replaced after each commit.

use std::sync::Arc;

use http::{Response, StatusCode};

use super::api::{self, Body, Ctx};
use super::error::{Code, Error, Result};
use super::policy::{Access, BucketPolicy};
use super::store::{self, BUCKETS, BucketMeta, get_bucket};
use super::xml::{self, Writer};
use super::{S3, policy};

/// The access settings of a bucket row.
pub(crate) fn access_of(name: &str, meta: &BucketMeta) -> Access {
    let block = meta.public_access_block.unwrap_or_default();
    let acls = super::acl::enabled(meta) && !block[1];
    Access {
        owner: store::owner(meta),
        acls,
        grants: if acls { meta.acl.clone() } else { Vec::new() },
        // A stored policy was valid when put; one that no longer parses grants nothing.
        policy: meta
            .policy
            .as_deref()
            .and_then(|p| BucketPolicy::parse(p.as_bytes(), name).ok()),
        block: meta.public_access_block.unwrap_or_default(),
    }
}

const BLOCK_FIELDS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

impl S3 {
    /// The owner of `bucket` (Meridian's account for a bucket that is not there).
    pub(crate) fn owner_of(&self, bucket: &str) -> crate::keys::Account {
        self.access(bucket)
            .map_or_else(crate::keys::Account::local, |a| a.owner.clone())
    }

    /// The access settings of `bucket`, when it exists.
    pub(crate) fn access(&self, bucket: &str) -> Option<Arc<Access>> {
        self.access.read().ok().and_then(|m| m.get(bucket).cloned())
    }

    pub(crate) fn set_access(&self, bucket: &str, access: Option<Access>) {
        if let Ok(mut m) = self.access.write() {
            match access {
                Some(a) => m.insert(bucket.to_owned(), Arc::new(a)),
                None => m.remove(bucket),
            };
        }
    }

    /// Changes `bucket`'s row with `change` in one commit and refreshes its access settings.
    pub(crate) async fn update_bucket<T: Send + 'static>(
        &self,
        bucket: &str,
        change: impl FnOnce(&mut BucketMeta) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let b = bucket.to_owned();
        let (value, meta) = self
            .engine
            .write(move |txn| {
                let mut t = txn.open_table(BUCKETS)?;
                let Some(mut meta) = get_bucket(&t, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                let value = match change(&mut meta) {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                t.insert(b.as_str(), store::encode(&meta).as_slice())?;
                Ok(Ok((value, meta)))
            })
            .await??;
        self.set_access(bucket, Some(access_of(bucket, &meta)));
        Ok(value)
    }

    /// PutBucketPolicy.
    pub(crate) async fn put_bucket_policy(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, policy::MAX_POLICY + 1).await?;
        inbound.finish()?;
        let parsed = BucketPolicy::parse(&doc, bucket)?;
        // S3 refuses a principal no account answers to: an account id is twelve digits, or
        // one of the accounts this endpoint knows.
        for account in parsed.named_accounts() {
            let twelve_digits = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
            if !twelve_digits && ctx.keys.account(account).is_none() {
                return Err(Error::new(
                    Code::MalformedPolicy,
                    "Invalid principal in policy",
                ));
            }
        }
        let text = String::from_utf8(doc)
            .map_err(|_| Error::new(Code::MalformedPolicy, "This policy contains invalid Json"))?;
        let public = parsed.is_public();
        self.update_bucket(bucket, move |meta| {
            if public && meta.public_access_block.is_some_and(|b| b[2]) {
                return Err(Error::access_denied());
            }
            meta.policy = Some(text);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }

    /// GetBucketPolicy: the document as it was put.
    pub(crate) async fn get_bucket_policy(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let Some(p) = meta.policy else {
            return Err(
                Error::new(Code::NoSuchBucketPolicy, "The bucket policy does not exist")
                    .with("BucketName", bucket),
            );
        };
        let mut r = Response::new(api::full(p));
        api::set(r.headers_mut(), "content-type", "application/json");
        Ok(r)
    }

    /// DeleteBucketPolicy.
    pub(crate) async fn delete_bucket_policy(&self, bucket: &str) -> Result<Response<Body>> {
        self.update_bucket(bucket, |meta| {
            meta.policy = None;
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }

    /// GetBucketPolicyStatus.
    pub(crate) async fn bucket_policy_status(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let Some(p) = meta.policy else {
            return Err(
                Error::new(Code::NoSuchBucketPolicy, "The bucket policy does not exist")
                    .with("BucketName", bucket),
            );
        };
        let public = BucketPolicy::parse(p.as_bytes(), bucket).is_ok_and(|p| p.is_public());
        let mut w = Writer::new("PolicyStatus");
        w.elem("IsPublic", if public { "true" } else { "false" });
        Ok(api::xml(StatusCode::OK, w.finish("PolicyStatus")))
    }

    /// PutPublicAccessBlock.
    pub(crate) async fn put_public_access_block(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let root = xml::parse(&doc).map_err(|_| Error::malformed_xml())?;
        if root.name != "PublicAccessBlockConfiguration" {
            return Err(Error::malformed_xml());
        }
        let mut block = [false; 4];
        for (i, f) in BLOCK_FIELDS.iter().enumerate() {
            block[i] = match root.text_of(f) {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(Error::malformed_xml()),
            };
        }
        self.update_bucket(bucket, move |meta| {
            meta.public_access_block = Some(block);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// GetPublicAccessBlock.
    pub(crate) async fn get_public_access_block(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let Some(block) = meta.public_access_block else {
            return Err(Error::new(
                Code::NoSuchPublicAccessBlockConfiguration,
                "The public access block configuration was not found",
            )
            .with("BucketName", bucket));
        };
        let mut w = Writer::new("PublicAccessBlockConfiguration");
        for (i, f) in BLOCK_FIELDS.iter().enumerate() {
            w.elem(f, if block[i] { "true" } else { "false" });
        }
        Ok(api::xml(
            StatusCode::OK,
            w.finish("PublicAccessBlockConfiguration"),
        ))
    }

    /// DeletePublicAccessBlock.
    pub(crate) async fn delete_public_access_block(&self, bucket: &str) -> Result<Response<Body>> {
        self.update_bucket(bucket, |meta| {
            meta.public_access_block = None;
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }
}

impl S3 {
    /// PutBucketEncryption: the default encryption of the bucket's new objects.
    pub(crate) async fn put_bucket_encryption(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        self.require_bucket(bucket).await?;
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let config = super::sse::parse_config(&doc)?;
        self.update_bucket(bucket, move |meta| {
            meta.encryption = Some(config);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// GetBucketEncryption.
    pub(crate) async fn get_bucket_encryption(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let Some(d) = meta.encryption else {
            return Err(Error::new(
                Code::ServerSideEncryptionConfigurationNotFoundError,
                "The server side encryption configuration was not found",
            )
            .with("BucketName", bucket));
        };
        Ok(api::xml(StatusCode::OK, super::sse::render_config(&d)))
    }

    /// DeleteBucketEncryption.
    pub(crate) async fn delete_bucket_encryption(&self, bucket: &str) -> Result<Response<Body>> {
        self.update_bucket(bucket, |meta| {
            meta.encryption = None;
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::NO_CONTENT))
    }
}
