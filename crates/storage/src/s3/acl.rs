//! Object Ownership and ACLs. A bucket is created with Object Ownership
//! `BucketOwnerEnforced`, as AWS creates them since April 2023: ACLs are disabled, only the
//! ACLs that grant nothing beyond the owner (`private`, `bucket-owner-full-control`) are
//! accepted, and access is decided by policies alone. With `BucketOwnerPreferred` or
//! `ObjectWriter` (at creation with `x-amz-object-ownership`, by PutBucketOwnershipControls,
//! or once the controls are deleted) ACLs are stored, returned, and their grants to the
//! `AllUsers` group evaluated for anonymous requests, unless the public access block says
//! `IgnorePublicAcls`; `BlockPublicAcls` refuses setting them. Meridian has one account,
//! the owner of every bucket and object, so grants to other canonical users are stored and
//! returned but give no one else access.

use http::{HeaderMap, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::api::{self, Body, Ctx};
use super::error::{Code, Error, Result};
use super::store::{BUCKETS, BucketMeta, get_bucket};
use super::xml::{self, Writer};
use super::{OWNER_ID, OWNER_NAME, S3};

/// The `AllUsers` group.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The `AuthenticatedUsers` group.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
/// The default Object Ownership of new buckets.
pub const ENFORCED: &str = "BucketOwnerEnforced";
pub(crate) const OWNERSHIPS: [&str; 3] = [ENFORCED, "BucketOwnerPreferred", "ObjectWriter"];
const PERMISSIONS: [&str; 5] = ["FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP"];

/// Who a grant is to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// A group, by URI.
    Group(String),
    /// A canonical user, by id.
    User(String),
    /// A user by e-mail address.
    Email(String),
}

/// One grant beyond the owner's full control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The grantee.
    pub grantee: Grantee,
    /// `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP` or `FULL_CONTROL`.
    pub permission: String,
}

fn group(uri: &str, permission: &str) -> Grant {
    Grant {
        grantee: Grantee::Group(uri.to_owned()),
        permission: permission.to_owned(),
    }
}

fn not_supported() -> Error {
    Error::new(
        Code::AccessControlListNotSupported,
        "The bucket does not allow ACLs",
    )
}

/// The grants of a canned ACL (beyond the owner's full control).
fn canned(name: &str) -> Result<Vec<Grant>> {
    Ok(match name {
        "private" | "bucket-owner-read" | "bucket-owner-full-control" => Vec::new(),
        "public-read" => vec![group(ALL_USERS, "READ")],
        "public-read-write" => vec![group(ALL_USERS, "READ"), group(ALL_USERS, "WRITE")],
        "authenticated-read" => vec![group(AUTHENTICATED_USERS, "READ")],
        "log-delivery-write" => vec![
            group(LOG_DELIVERY, "WRITE"),
            group(LOG_DELIVERY, "READ_ACP"),
        ],
        other => {
            return Err(Error::invalid_argument(
                "Invalid canned ACL",
                "x-amz-acl",
                other,
            ));
        }
    })
}

/// The grants of the `x-amz-grant-*` headers (`id="..."`, `uri="..."`,
/// `emailAddress="..."`, comma-separated).
fn grant_headers(headers: &HeaderMap) -> Result<Option<Vec<Grant>>> {
    let mut out = Vec::new();
    let mut any = false;
    for (header, permission) in [
        ("x-amz-grant-read", "READ"),
        ("x-amz-grant-write", "WRITE"),
        ("x-amz-grant-read-acp", "READ_ACP"),
        ("x-amz-grant-write-acp", "WRITE_ACP"),
        ("x-amz-grant-full-control", "FULL_CONTROL"),
    ] {
        let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        any = true;
        for g in v.split(',') {
            let Some((k, val)) = g.trim().split_once('=') else {
                return Err(Error::invalid_argument("Invalid grant", header, v));
            };
            let val = val.trim().trim_matches('"').to_owned();
            let grantee = match k.trim().to_ascii_lowercase().as_str() {
                "id" => Grantee::User(val),
                "uri" => Grantee::Group(val),
                "emailaddress" => Grantee::Email(val),
                _ => return Err(Error::invalid_argument("Invalid grant", header, v)),
            };
            out.push(Grant {
                grantee,
                permission: permission.to_owned(),
            });
        }
    }
    Ok(any.then_some(out))
}

/// Drops the grants that only restate the owner's full control; refuses grantees no account
/// answers to (Meridian's one account is the only canonical user).
fn beyond_owner(grants: Vec<Grant>) -> Result<Vec<Grant>> {
    for g in &grants {
        match &g.grantee {
            Grantee::User(id) if id != OWNER_ID => {
                return Err(Error::invalid_argument(
                    "Invalid id",
                    "CanonicalUser/ID",
                    id,
                ));
            }
            Grantee::Email(e) => {
                return Err(Error::new(
                    Code::UnresolvableGrantByEmailAddress,
                    "The e-mail address you provided does not match any account on record.",
                )
                .with("EmailAddress", e));
            }
            _ => {}
        }
    }
    Ok(grants
        .into_iter()
        .filter(|g| {
            !(g.grantee == Grantee::User(OWNER_ID.to_owned()) && g.permission == "FULL_CONTROL")
        })
        .collect())
}

/// The ACL a request sets with `x-amz-acl` or the grant headers, if it sets one.
fn requested(headers: &HeaderMap) -> Result<Option<Vec<Grant>>> {
    let canned_acl = headers.get("x-amz-acl").and_then(|v| v.to_str().ok());
    let grants = grant_headers(headers)?;
    match (canned_acl, grants) {
        (Some(_), Some(_)) => Err(Error::invalid_request(
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), None) => canned(c).map(Some),
        (None, g) => g.map(beyond_owner).transpose(),
    }
}

fn is_public(grants: &[Grant]) -> bool {
    grants.iter().any(
        |g| matches!(&g.grantee, Grantee::Group(u) if u == ALL_USERS || u == AUTHENTICATED_USERS),
    )
}

/// Whether `meta`'s Object Ownership lets ACLs be set.
pub fn enabled(meta: &BucketMeta) -> bool {
    meta.ownership.as_deref() != Some(ENFORCED)
}

/// Checks an ACL about to be set on `meta`'s bucket or one of its objects.
fn check_settable(meta: &BucketMeta, grants: &[Grant]) -> Result<()> {
    if meta.public_access_block.is_some_and(|b| b[0]) && is_public(grants) {
        return Err(Error::access_denied());
    }
    if !enabled(meta) && !grants.is_empty() {
        return Err(not_supported());
    }
    Ok(())
}

/// The ACL of a new object (PutObject, CopyObject, CreateMultipartUpload, PostObject).
pub fn for_new_object(headers: &HeaderMap, meta: &BucketMeta) -> Result<Vec<Grant>> {
    let grants = requested(headers)?.unwrap_or_default();
    check_settable(meta, &grants)?;
    Ok(grants)
}

/// The ACL a bucket is created with; refused unless its ownership allows it.
pub fn for_new_bucket(headers: &HeaderMap, ownership: &str) -> Result<Vec<Grant>> {
    let grants = requested(headers)?.unwrap_or_default();
    if ownership == ENFORCED && !grants.is_empty() {
        return Err(Error::new(
            Code::InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        ));
    }
    Ok(grants)
}

/// The Object Ownership a new bucket asks for (`x-amz-object-ownership`), else `default`.
pub fn ownership_header(headers: &HeaderMap, default: &str) -> Result<String> {
    match headers
        .get("x-amz-object-ownership")
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(default.to_owned()),
        Some(o) if OWNERSHIPS.contains(&o) => Ok(o.to_owned()),
        Some(o) => Err(Error::invalid_argument(
            "Invalid x-amz-object-ownership header",
            "x-amz-object-ownership",
            o,
        )),
    }
}

/// What the `AllUsers` group may do on a bucket through its ACL: READ (list), WRITE
/// (put and delete objects), READ_ACP.
pub fn public_grants(grants: &[Grant]) -> [bool; 3] {
    let has = |p: &str| {
        grants.iter().any(|g| {
            g.grantee == Grantee::Group(ALL_USERS.to_owned())
                && (g.permission == p || g.permission == "FULL_CONTROL")
        })
    };
    [has("READ"), has("WRITE"), has("READ_ACP")]
}

/// Whether an object's ACL lets anyone read it.
pub fn public_read(grants: &[Grant]) -> bool {
    public_grants(grants)[0]
}

/// Parses an `AccessControlPolicy` document into the grants beyond the owner's.
pub(crate) fn parse_policy(doc: &[u8]) -> Result<Vec<Grant>> {
    let root = xml::parse(doc).map_err(|_| Error::malformed_xml())?;
    if root.name != "AccessControlPolicy" {
        return Err(Error::malformed_xml());
    }
    let mut out = Vec::new();
    let Some(list) = root.child("AccessControlList") else {
        return Ok(out);
    };
    for g in list.children("Grant") {
        let permission = g
            .text_of("Permission")
            .filter(|p| PERMISSIONS.contains(p))
            .ok_or_else(Error::malformed_xml)?
            .to_owned();
        let who = g.child("Grantee").ok_or_else(Error::malformed_xml)?;
        let grantee = if let Some(u) = who.text_of("URI") {
            Grantee::Group(u.to_owned())
        } else if let Some(id) = who.text_of("ID") {
            Grantee::User(id.to_owned())
        } else if let Some(e) = who.text_of("EmailAddress") {
            Grantee::Email(e.to_owned())
        } else {
            return Err(Error::malformed_xml());
        };
        out.push(Grant {
            grantee,
            permission,
        });
    }
    beyond_owner(out)
}

/// Writes an `AccessControlPolicy`: the owner's full control, then `grants`.
fn render(grants: &[Grant]) -> String {
    let mut w = Writer::new("AccessControlPolicy");
    w.open("Owner")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", OWNER_NAME)
        .close("Owner");
    w.open("AccessControlList");
    let owner = Grant {
        grantee: Grantee::User(OWNER_ID.to_owned()),
        permission: "FULL_CONTROL".to_owned(),
    };
    for g in std::iter::once(&owner).chain(grants) {
        w.open("Grant");
        let xsi = [("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")];
        match &g.grantee {
            Grantee::User(id) => {
                w.open_with("Grantee", &[xsi[0], ("xsi:type", "CanonicalUser")])
                    .elem("ID", id);
                if id == OWNER_ID {
                    w.elem("DisplayName", OWNER_NAME);
                }
            }
            Grantee::Group(uri) => {
                w.open_with("Grantee", &[xsi[0], ("xsi:type", "Group")])
                    .elem("URI", uri);
            }
            Grantee::Email(e) => {
                w.open_with("Grantee", &[xsi[0], ("xsi:type", "AmazonCustomerByEmail")])
                    .elem("EmailAddress", e);
            }
        }
        w.close("Grantee")
            .elem("Permission", &g.permission)
            .close("Grant");
    }
    w.close("AccessControlList");
    w.finish("AccessControlPolicy")
}

impl S3 {
    /// The ACL a Put*Acl request sets: its headers, else its body.
    async fn acl_of_request(ctx: &mut Ctx) -> Result<Vec<Grant>> {
        let from_headers = requested(&ctx.headers)?;
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        match from_headers {
            Some(g) => Ok(g),
            None if doc.iter().all(u8::is_ascii_whitespace) => Err(Error::new(
                Code::MissingSecurityHeader,
                "Your request was missing a required header",
            )
            .with("MissingHeaderName", "x-amz-acl")),
            None => parse_policy(&doc),
        }
    }

    /// GetBucketAcl.
    pub(crate) async fn get_bucket_acl(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        Ok(api::xml(StatusCode::OK, render(&meta.acl)))
    }

    /// PutBucketAcl.
    pub(crate) async fn put_bucket_acl(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let grants = Self::acl_of_request(ctx).await?;
        self.update_bucket(bucket, move |meta| {
            check_settable(meta, &grants)?;
            meta.acl = grants;
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// GetObjectAcl.
    pub(crate) async fn get_object_acl(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let (o, _) = self
            .open_object(bucket, key, ctx.param("versionId"), false)
            .await?;
        let mut r = api::xml(StatusCode::OK, render(&o.acl));
        if let Some(v) = &o.version_id {
            api::set(r.headers_mut(), "x-amz-version-id", v);
        }
        Ok(r)
    }

    /// PutObjectAcl.
    pub(crate) async fn put_object_acl(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let grants = Self::acl_of_request(ctx).await?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let version = ctx.param("versionId").map(str::to_owned);
        let id = self
            .engine
            .write(move |txn| {
                let Some(meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                if let Err(e) = check_settable(&meta, &grants) {
                    return Ok(Err(e));
                }
                super::version::update_object(txn, &meta, &b, &k, version.as_deref(), |o| {
                    o.acl = grants;
                    Ok(())
                })
            })
            .await??;
        let mut r = api::empty(StatusCode::OK);
        if let Some(v) = id {
            api::set(r.headers_mut(), "x-amz-version-id", &v);
        }
        Ok(r)
    }

    /// PutBucketOwnershipControls.
    pub(crate) async fn put_ownership_controls(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let mut inbound = ctx.body(None)?;
        let doc = super::body::read_small(&mut inbound, 64 << 10).await?;
        inbound.finish()?;
        let root = xml::parse(&doc).map_err(|_| Error::malformed_xml())?;
        let rules: Vec<_> = root.children("Rule").collect();
        let ownership = match (root.name.as_str(), rules.as_slice()) {
            ("OwnershipControls", [rule]) => rule
                .text_of("ObjectOwnership")
                .filter(|o| OWNERSHIPS.contains(o))
                .ok_or_else(Error::malformed_xml)?
                .to_owned(),
            _ => return Err(Error::malformed_xml()),
        };
        self.update_bucket(bucket, move |meta| {
            if ownership == ENFORCED && !meta.acl.is_empty() {
                return Err(Error::new(
                    Code::InvalidBucketAclWithObjectOwnership,
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
                ));
            }
            meta.ownership = Some(ownership);
            Ok(())
        })
        .await?;
        Ok(api::empty(StatusCode::OK))
    }

    /// GetBucketOwnershipControls.
    pub(crate) async fn get_ownership_controls(&self, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let Some(o) = meta.ownership else {
            return Err(Error::new(
                Code::OwnershipControlsNotFoundError,
                "The bucket ownership controls were not found",
            )
            .with("BucketName", bucket));
        };
        let mut w = Writer::new("OwnershipControls");
        w.open("Rule").elem("ObjectOwnership", &o).close("Rule");
        Ok(api::xml(StatusCode::OK, w.finish("OwnershipControls")))
    }

    /// DeleteBucketOwnershipControls: the bucket then behaves as `ObjectWriter`.
    pub(crate) async fn delete_ownership_controls(&self, bucket: &str) -> Result<Response<Body>> {
        self.update_bucket(bucket, |meta| {
            meta.ownership = None;
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
    fn canned_acls_expand_to_grants_and_enforced_buckets_refuse_them() {
        assert!(canned("private").unwrap().is_empty());
        assert_eq!(
            public_grants(&canned("public-read-write").unwrap()),
            [true, true, false]
        );
        let enforced = BucketMeta {
            ownership: Some(ENFORCED.to_owned()),
            ..BucketMeta::default()
        };
        assert_eq!(
            check_settable(&enforced, &canned("public-read").unwrap())
                .unwrap_err()
                .code,
            Code::AccessControlListNotSupported
        );
        assert!(check_settable(&enforced, &[]).is_ok());
        let writer = BucketMeta {
            ownership: Some("ObjectWriter".to_owned()),
            public_access_block: Some([true, false, false, false]),
            ..BucketMeta::default()
        };
        assert_eq!(
            check_settable(&writer, &canned("public-read").unwrap())
                .unwrap_err()
                .code,
            Code::AccessDenied
        );
    }

    #[test]
    fn access_control_policies_round_trip() {
        let doc = render(&canned("public-read").unwrap());
        assert_eq!(
            parse_policy(doc.as_bytes()).unwrap(),
            canned("public-read").unwrap()
        );
    }
}
