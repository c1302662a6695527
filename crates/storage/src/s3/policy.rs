//! Bucket policies and the public access block: a policy document validated as S3 does
//! (`MalformedPolicy`), and evaluated as IAM does for a resource policy in the bucket
//! owner's account (the grammar, callers and conditions are [`crate::iam`]'s).
//!
//! The decision ([`decide`]): an explicit Deny in the bucket policy refuses, whoever asks.
//! For a caller of the bucket owner's account, the request is then allowed when its identity
//! allows it (the account's keys; a session's policy) or a bucket policy statement allows it
//! for this principal. A caller of another account needs both, as IAM's cross-account
//! evaluation: its identity allows (an account's keys do) and the bucket policy grants it.
//! With `RestrictPublicBuckets`, a public policy grants nothing to anonymous callers or other
//! accounts (only to service principals and the owner's account). With `BlockPublicPolicy`, a
//! public policy cannot be put.
//!
//! The condition keys S3 adds to the caller's: `s3:prefix`, `s3:delimiter`, `s3:max-keys`,
//! `s3:VersionId`, `s3:x-amz-acl`, `s3:x-amz-grant-*`, `s3:RequestObjectTag/<key>`, and
//! `s3:ExistingObjectTag/<key>`, read from the object only when a policy asks.

use super::error::{Code, Error, Result};
use crate::iam::Caller;
pub use crate::iam::MAX_POLICY;
use crate::iam::{PolicyDocument, Rules};
use crate::keys::{Decision, wildcard_match};

/// A bucket's policy.
pub type BucketPolicy = PolicyDocument;

impl PolicyDocument {
    /// Parses and validates `doc` as the policy of `bucket`, with S3's refusals.
    pub fn parse(doc: &[u8], bucket: &str) -> Result<Self> {
        let in_bucket = |r: &str| {
            r.strip_prefix("arn:aws:s3:::")
                .map(|rest| rest.split('/').next().unwrap_or(rest))
                .is_some_and(|b| wildcard_match(b, bucket))
        };
        Self::parse_with(
            doc,
            &Rules {
                action_prefix: "s3:",
                resource: &in_bucket,
            },
        )
        .map_err(|e| Error::new(Code::MalformedPolicy, e.message))
    }
}

/// A bucket's access settings, as the request path needs them.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The account that owns the bucket.
    pub owner: crate::keys::Account,
    /// The policy.
    pub policy: Option<BucketPolicy>,
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub block: [bool; 4],
    /// Whether ACLs are evaluated (Object Ownership allows them and the public access block
    /// does not say to ignore public ones).
    pub acls: bool,
    /// The bucket's ACL beyond the owner's full control, when ACLs are evaluated.
    pub grants: Vec<super::acl::Grant>,
}

/// Whether `caller` may do `action` on `resource` given the bucket's `access`.
pub fn decide(
    access: Option<&Access>,
    caller: &Caller,
    action: &str,
    resource: &str,
    keys: &[(String, String)],
) -> Decision {
    let (bucket, public, delegated) = match access.and_then(|a| a.policy.as_ref()) {
        Some(p) => {
            let e = p.evaluate(caller, action, resource, keys);
            (e.decision, e.public, e.delegated)
        }
        None => (Decision::ImplicitDeny, false, false),
    };
    if bucket == Decision::ExplicitDeny {
        return Decision::ExplicitDeny;
    }
    // Without a bucket (ListBuckets) or a bucket row (a name no one owns yet), the caller
    // acts in its own account.
    let own = access.is_none_or(|a| caller.in_account(&a.owner.id));
    let identity = match caller {
        Caller::Account { policy: None, .. } => Decision::Allow,
        Caller::Account {
            policy: Some(p), ..
        } => p.decide(action, resource),
        Caller::Anonymous | Caller::Service { .. } => Decision::ImplicitDeny,
    };
    if identity == Decision::ExplicitDeny {
        return Decision::ExplicitDeny;
    }
    if own && identity == Decision::Allow {
        return Decision::Allow;
    }
    // With RestrictPublicBuckets only service principals and the owner's account may use
    // what a public policy grants.
    let restricted = access.is_some_and(|a| a.block[3]);
    let outsider = !own && !matches!(caller, Caller::Service { .. });
    // In the bucket owner's account, an allow that names only the account delegates to
    // the caller's identity policy, which did not allow it.
    if bucket == Decision::Allow && !(public && restricted && outsider) && !(own && delegated) {
        // Another account's principal also needs its own identity's allow.
        if own || identity == Decision::Allow || !matches!(caller, Caller::Account { .. }) {
            return Decision::Allow;
        }
    }
    Decision::ImplicitDeny
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str) -> Result<BucketPolicy> {
        BucketPolicy::parse(doc.as_bytes(), "site")
    }

    #[test]
    fn policies_are_validated_as_s3_does() {
        for (doc, message) in [
            ("{", "This policy contains invalid Json"),
            (
                r#"{"Version":"2012-10-17"}"#,
                "Missing required field Statement",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#,
                "Missing required field Principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
                "Policy has invalid resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"arn:aws:s3:::site/*"}]}"#,
                "Policy has invalid action",
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site"}]}"#,
                "Invalid effect: Maybe",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site","Condition":{"Sometimes":{"a":"b"}}}]}"#,
                "Invalid Condition type : Sometimes",
            ),
        ] {
            let e = parse(doc).unwrap_err();
            assert_eq!(e.code, Code::MalformedPolicy, "{doc}");
            assert_eq!(e.message, message, "{doc}");
        }
    }

    #[test]
    fn evaluation_as_iam_explicit_deny_wins() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/public/*"},
            {"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject",
             "Resource":"arn:aws:s3:::site/*",
             "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:cloudfront::123456789012:distribution/E*"}}},
            {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"],
             "Condition":{"Bool":{"aws:SecureTransport":"false"},"StringLike":{"s3:prefix":"secret/*"}}},
            {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:List*","Resource":"arn:aws:s3:::site",
             "Condition":{"StringEquals":{"s3:prefix":["public/",""]}}}
        ]}"#,
        )
        .unwrap();
        let access = Access {
            owner: crate::keys::Account::local(),
            policy: Some(p.clone()),
            block: [false; 4],
            acls: false,
            grants: Vec::new(),
        };
        let insecure = vec![("aws:securetransport".to_owned(), "false".to_owned())];
        let anon = Caller::Anonymous;
        let d = |caller: &Caller, action, resource, keys: &[(String, String)]| {
            decide(Some(&access), caller, action, resource, keys)
        };
        assert_eq!(
            d(
                &anon,
                "s3:GetObject",
                "arn:aws:s3:::site/public/a",
                &insecure
            ),
            Decision::Allow
        );
        assert_eq!(
            d(
                &anon,
                "s3:GetObject",
                "arn:aws:s3:::site/private/a",
                &insecure
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            d(
                &anon,
                "s3:PutObject",
                "arn:aws:s3:::site/public/a",
                &insecure
            ),
            Decision::ImplicitDeny
        );
        let cf = |arn: &str| Caller::Service {
            service: "cloudfront.amazonaws.com".into(),
            source_arn: arn.into(),
            source_account: "123456789012".into(),
        };
        let keys_of = |arn: &str| {
            let mut k = insecure.clone();
            k.push(("aws:sourcearn".into(), arn.into()));
            k
        };
        let dist = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE";
        assert_eq!(
            d(
                &cf(dist),
                "s3:GetObject",
                "arn:aws:s3:::site/private/a",
                &keys_of(dist)
            ),
            Decision::Allow
        );
        let other = "arn:aws:cloudfront::999999999999:distribution/EOTHER";
        assert_eq!(
            d(
                &cf(other),
                "s3:GetObject",
                "arn:aws:s3:::site/private/a",
                &keys_of(other)
            ),
            Decision::ImplicitDeny
        );
        // s3:prefix conditions on listings; the Deny beats even the account's own keys.
        let list = |prefix: &str| {
            let mut k = insecure.clone();
            k.push(("s3:prefix".into(), prefix.into()));
            k
        };
        assert_eq!(
            d(
                &anon,
                "s3:ListBucket",
                "arn:aws:s3:::site",
                &list("public/")
            ),
            Decision::Allow
        );
        assert_eq!(
            d(&anon, "s3:ListBucket", "arn:aws:s3:::site", &list("other/")),
            Decision::ImplicitDeny
        );
        let root = Caller::Account {
            arn: "arn:aws:iam::123456789012:root".into(),
            policy: None,
            account: std::sync::Arc::new(crate::keys::Account::local()),
        };
        assert_eq!(
            d(&root, "s3:ListBucket", "arn:aws:s3:::site", &list("other/")),
            Decision::Allow
        );
        assert_eq!(
            d(
                &root,
                "s3:ListBucket",
                "arn:aws:s3:::site",
                &list("secret/x")
            ),
            Decision::ExplicitDeny
        );
        assert!(p.is_public());

        // RestrictPublicBuckets: the public grant is void for anonymous callers only.
        let restricted = Access {
            owner: crate::keys::Account::local(),
            policy: Some(p),
            block: [false, false, false, true],
            acls: false,
            grants: Vec::new(),
        };
        assert_eq!(
            decide(
                Some(&restricted),
                &anon,
                "s3:GetObject",
                "arn:aws:s3:::site/public/a",
                &insecure
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                Some(&restricted),
                &cf(dist),
                "s3:GetObject",
                "arn:aws:s3:::site/x",
                &keys_of(dist)
            ),
            Decision::Allow
        );
        // No policy: anonymous refused, the account allowed.
        assert_eq!(
            decide(None, &anon, "s3:GetObject", "arn:aws:s3:::site/a", &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(None, &root, "s3:GetObject", "arn:aws:s3:::site/a", &[]),
            Decision::Allow
        );

        // Another account: refused without a grant, let in by a statement naming it.
        let alt = Caller::Account {
            arn: "arn:aws:iam::111122223333:root".into(),
            policy: None,
            account: std::sync::Arc::new(crate::keys::Account::parse("111122223333:alt").unwrap()),
        };
        let owned = Access {
            owner: crate::keys::Account::local(),
            ..Access::default()
        };
        let object = "arn:aws:s3:::site/a";
        assert_eq!(
            decide(Some(&owned), &alt, "s3:GetObject", object, &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(None, &alt, "s3:ListAllMyBuckets", "*", &[]),
            Decision::Allow
        );
        let granted = Access {
            policy: Some(
                parse(
                    r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
                    "Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#,
                )
                .unwrap(),
            ),
            ..owned.clone()
        };
        assert_eq!(
            decide(Some(&granted), &alt, "s3:GetObject", object, &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(Some(&granted), &alt, "s3:PutObject", object, &[]),
            Decision::ImplicitDeny
        );
        // A public policy under RestrictPublicBuckets lets no other account in.
        let public = Access {
            policy: Some(
                parse(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#,
                )
                .unwrap(),
            ),
            block: [false, false, false, true],
            ..owned
        };
        assert_eq!(
            decide(Some(&public), &alt, "s3:GetObject", object, &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(Some(&public), &root, "s3:GetObject", object, &[]),
            Decision::Allow
        );
    }
}
