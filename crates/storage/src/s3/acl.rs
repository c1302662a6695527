//! Object Ownership and ACLs. A bucket is created with Object Ownership
//! `BucketOwnerEnforced`, as AWS creates them since April 2023: ACLs are disabled, only the
//! ACLs that grant nothing beyond the owner (`private`, `bucket-owner-full-control`) are
//! accepted, and access is decided by policies alone. With `BucketOwnerPreferred` or
//! `ObjectWriter` (at creation with `x-amz-object-ownership`, by PutBucketOwnershipControls,
//! or once the controls are deleted) ACLs are stored, returned, and their grants to the
//! `AllUsers` group evaluated for anonymous requests, unless the public access block says
//! `IgnorePublicAcls`; `BlockPublicAcls` refuses setting them. Grants name accounts by
//! their canonical user id; a grant to an account Meridian does not know is refused. The
//! bucket's owner owns its objects: a grant on an object adds to what its bucket grants.

use http::{HeaderMap, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::S3;
use super::api::{self, Body, Ctx};
use super::error::{Code, Error, Result};
use super::store::{BUCKETS, BucketMeta, get_bucket};
use super::xml::{self, Writer};
use crate::iam::Caller;
use crate::keys::{Account, KeyStore};

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

/// Refuses grantees no account answers to.
fn known_grantees(grants: Vec<Grant>, keys: &KeyStore) -> Result<Vec<Grant>> {
    for g in &grants {
        match &g.grantee {
            Grantee::User(id) if keys.account_by_canonical_id(id).is_none() => {
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
    Ok(grants)
}

/// Drops the grants that only restate `owner`'s full control, which every ACL has.
fn beyond_owner(grants: Vec<Grant>, owner: &Account) -> Vec<Grant> {
    grants
        .into_iter()
        .filter(|g| {
            !(g.grantee == Grantee::User(owner.canonical_id.clone())
                && g.permission == "FULL_CONTROL")
        })
        .collect()
}

/// The ACL a request sets with `x-amz-acl` or the grant headers, if it sets one.
fn requested(headers: &HeaderMap, keys: &KeyStore) -> Result<Option<Requested>> {
    let canned_acl = headers.get("x-amz-acl").and_then(|v| v.to_str().ok());
    let grants = grant_headers(headers)?;
    match (canned_acl, grants) {
        (Some(_), Some(_)) => Err(Error::invalid_request(
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), None) => Ok(Some(Requested {
            grants: canned(c)?,
            canned: Some(c.to_owned()),
        })),
        (None, g) => Ok(g
            .map(|g| known_grantees(g, keys))
            .transpose()?
            .map(|grants| Requested {
                grants,
                canned: None,
            })),
    }
}

/// An ACL a request sets: its grants, and the canned ACL it was named by.
#[derive(Debug, Clone, Default)]
struct Requested {
    grants: Vec<Grant>,
    canned: Option<String>,
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

/// Checks an ACL about to be set on `meta`'s bucket or one of its objects; returns its
/// grants beyond the owner's. `writer` is who writes the object it comes with, `None` for
/// PutBucketAcl and PutObjectAcl.
///
/// With ACLs disabled, S3 accepts only the forms that leave the bucket owner in full control
/// and grant no one else: no ACL, `bucket-owner-full-control`, grants to the owner alone, or,
/// on an object the bucket owner's own account writes, `private` and `bucket-owner-read`
/// (which then mean the same). A canned ACL on PutBucketAcl or PutObjectAcl, or `private` on
/// another account's write, is refused.
fn settle(meta: &BucketMeta, acl: Requested, writer: Option<&Caller>) -> Result<Vec<Grant>> {
    let owner = super::store::owner(meta);
    let grants = beyond_owner(acl.grants, &owner);
    if meta.public_access_block.is_some_and(|b| b[0]) && is_public(&grants) {
        return Err(Error::access_denied());
    }
    let owners_write = writer.is_some_and(|w| w.in_account(&owner.id));
    let owner_only = match acl.canned.as_deref() {
        None | Some("bucket-owner-full-control") => true,
        Some("private" | "bucket-owner-read") => owners_write,
        Some(_) => false,
    };
    let owner_alone = grants.is_empty() && owner_only;
    if !enabled(meta) && !owner_alone {
        return Err(not_supported());
    }
    Ok(grants)
}

/// The ACL and owner of a new object (PutObject, CopyObject, CreateMultipartUpload,
/// PostObject) that `writer` writes: the writer owns it when it is another account than the
/// bucket's and the bucket's Object Ownership leaves it the object (`ObjectWriter`, or
/// `BucketOwnerPreferred` without `bucket-owner-full-control`); `None` is the bucket owner.
pub fn for_new_object(
    headers: &HeaderMap,
    keys: &KeyStore,
    meta: &BucketMeta,
    writer: &Caller,
) -> Result<(Vec<Grant>, Option<Account>)> {
    let acl = requested(headers, keys)?.unwrap_or_default();
    let to_bucket_owner = acl.canned.as_deref() == Some("bucket-owner-full-control");
    let keeps = match meta.ownership.as_deref() {
        Some(ENFORCED) => false,
        Some("BucketOwnerPreferred") => !to_bucket_owner,
        _ => true,
    };
    let owner = match writer {
        Caller::Account { account, .. } if keeps && account.id != super::store::owner(meta).id => {
            Some((**account).clone())
        }
        _ => None,
    };
    Ok((settle(meta, acl, Some(writer))?, owner))
}

/// The ACL a bucket is created with for `owner`; refused unless its ownership allows it.
pub fn for_new_bucket(
    headers: &HeaderMap,
    keys: &KeyStore,
    ownership: &str,
    owner: &Account,
) -> Result<Vec<Grant>> {
    let grants = beyond_owner(requested(headers, keys)?.unwrap_or_default().grants, owner);
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

/// Whether `grants` give `caller` `permission` (`READ`, `WRITE`, `READ_ACP`,
/// `WRITE_ACP`): to everyone, to any signed-in account, or to the caller's account.
pub fn grants_to(grants: &[Grant], caller: &Caller, permission: &str) -> bool {
    grants.iter().any(|g| {
        let to_caller = match (&g.grantee, caller) {
            (Grantee::Group(u), _) if u == ALL_USERS => true,
            (Grantee::Group(u), Caller::Account { .. }) => u == AUTHENTICATED_USERS,
            (Grantee::User(id), Caller::Account { account, .. }) => *id == account.canonical_id,
            _ => false,
        };
        to_caller && (g.permission == permission || g.permission == "FULL_CONTROL")
    })
}

/// Whether an object's owner or ACL gives `caller` `permission`.
pub fn object_grants(o: &super::store::ObjectMeta, caller: &Caller, permission: &str) -> bool {
    o.owner.as_ref().is_some_and(|a| caller.in_account(&a.id))
        || grants_to(&o.acl, caller, permission)
}

/// Parses an `AccessControlPolicy` document into its grants.
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
    Ok(out)
}

/// Writes an `Owner` (or `Initiator`) element naming `account`.
pub(crate) fn owner_element(w: &mut Writer, tag: &str, account: &Account) {
    w.open(tag)
        .elem("ID", &account.canonical_id)
        .elem("DisplayName", &account.display_name)
        .close(tag);
}

/// Writes an `AccessControlPolicy`: `owner`'s full control, then `grants`; `keys` names
/// the accounts grants are to.
fn render(owner: &Account, grants: &[Grant], keys: &KeyStore) -> String {
    let mut w = Writer::new("AccessControlPolicy");
    owner_element(&mut w, "Owner", owner);
    w.open("AccessControlList");
    let owner_grant = Grant {
        grantee: Grantee::User(owner.canonical_id.clone()),
        permission: "FULL_CONTROL".to_owned(),
    };
    for g in std::iter::once(&owner_grant).chain(grants) {
        w.open("Grant");
        let xsi = [("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")];
        match &g.grantee {
            Grantee::User(id) => {
                w.open_with("Grantee", &[xsi[0], ("xsi:type", "CanonicalUser")])
                    .elem("ID", id);
                if let Some(a) = keys.account_by_canonical_id(id) {
                    w.elem("DisplayName", &a.display_name);
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
    async fn acl_of_request(ctx: &mut Ctx) -> Result<Requested> {
        let from_headers = requested(&ctx.headers, &ctx.keys)?;
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
            None => Ok(Requested {
                grants: known_grantees(parse_policy(&doc)?, &ctx.keys)?,
                canned: None,
            }),
        }
    }

    /// GetBucketAcl.
    pub(crate) async fn get_bucket_acl(&self, ctx: &Ctx, bucket: &str) -> Result<Response<Body>> {
        let meta = self.bucket_meta(bucket).await?;
        let owner = super::store::owner(&meta);
        Ok(api::xml(
            StatusCode::OK,
            render(&owner, &meta.acl, &ctx.keys),
        ))
    }

    /// PutBucketAcl.
    pub(crate) async fn put_bucket_acl(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
    ) -> Result<Response<Body>> {
        let acl = Self::acl_of_request(ctx).await?;
        self.update_bucket(bucket, move |meta| {
            meta.acl = settle(meta, acl, None)?;
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
        let owner = o.owner.clone().unwrap_or_else(|| self.owner_of(bucket));
        let mut r = api::xml(StatusCode::OK, render(&owner, &o.acl, &ctx.keys));
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
        let acl = Self::acl_of_request(ctx).await?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let version = ctx.param("versionId").map(str::to_owned);
        let id = self
            .engine
            .write(move |txn| {
                let Some(meta) = get_bucket(&txn.open_table(BUCKETS)?, &b)? else {
                    return Ok(Err(Error::no_such_bucket(&b)));
                };
                let grants = match settle(&meta, acl, None) {
                    Ok(g) => g,
                    Err(e) => return Ok(Err(e)),
                };
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

    fn named(acl: &str) -> Requested {
        Requested {
            grants: canned(acl).unwrap(),
            canned: Some(acl.to_owned()),
        }
    }

    #[test]
    fn canned_acls_expand_to_grants_and_enforced_buckets_refuse_them() {
        assert!(canned("private").unwrap().is_empty());
        let write = canned("public-read-write").unwrap();
        let alt = Caller::Account {
            arn: "arn:aws:iam::111122223333:root".into(),
            policy: None,
            account: std::sync::Arc::new(Account::parse("111122223333:alt").unwrap()),
        };
        let local = Caller::Account {
            arn: Account::local().root_arn(),
            policy: None,
            account: std::sync::Arc::new(Account::local()),
        };
        for (caller, permission, granted) in [
            (&Caller::Anonymous, "READ", true),
            (&Caller::Anonymous, "WRITE", true),
            (&Caller::Anonymous, "READ_ACP", false),
            (&alt, "WRITE", true),
        ] {
            assert_eq!(
                grants_to(&write, caller, permission),
                granted,
                "{permission}"
            );
        }
        let to_alt = vec![Grant {
            grantee: Grantee::User("111122223333".into()),
            permission: "FULL_CONTROL".into(),
        }];
        assert!(grants_to(&to_alt, &alt, "WRITE_ACP"));
        assert!(!grants_to(&to_alt, &Caller::Anonymous, "READ"));
        assert!(!grants_to(
            &canned("authenticated-read").unwrap(),
            &Caller::Anonymous,
            "READ"
        ));
        assert!(grants_to(
            &canned("authenticated-read").unwrap(),
            &alt,
            "READ"
        ));
        let enforced = BucketMeta {
            ownership: Some(ENFORCED.to_owned()),
            ..BucketMeta::default()
        };
        assert_eq!(
            settle(&enforced, named("public-read"), Some(&local))
                .unwrap_err()
                .code,
            Code::AccessControlListNotSupported
        );
        assert!(settle(&enforced, Requested::default(), None).is_ok());
        assert!(settle(&enforced, named("bucket-owner-full-control"), Some(&alt)).is_ok());
        // `private` is the owner's full control when the owner writes, not when another
        // account does, nor on Put*Acl.
        assert!(settle(&enforced, named("private"), Some(&local)).is_ok());
        assert_eq!(
            settle(&enforced, named("private"), Some(&alt))
                .unwrap_err()
                .code,
            Code::AccessControlListNotSupported
        );
        assert_eq!(
            settle(&enforced, named("private"), None).unwrap_err().code,
            Code::AccessControlListNotSupported
        );
        let restated = vec![Grant {
            grantee: Grantee::User(crate::keys::LOCAL_CANONICAL_ID.into()),
            permission: "FULL_CONTROL".into(),
        }];
        assert_eq!(
            settle(
                &enforced,
                Requested {
                    grants: restated,
                    canned: None
                },
                None
            ),
            Ok(Vec::new())
        );
        let writer = BucketMeta {
            ownership: Some("ObjectWriter".to_owned()),
            public_access_block: Some([true, false, false, false]),
            ..BucketMeta::default()
        };
        assert_eq!(
            settle(&writer, named("public-read"), Some(&local))
                .unwrap_err()
                .code,
            Code::AccessDenied
        );
    }

    #[test]
    fn access_control_policies_round_trip() {
        let doc = render(
            &Account::local(),
            &canned("public-read").unwrap(),
            &KeyStore::empty(),
        );
        assert_eq!(
            beyond_owner(parse_policy(doc.as_bytes()).unwrap(), &Account::local()),
            canned("public-read").unwrap()
        );
    }
}
